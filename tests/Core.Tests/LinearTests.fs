/// The linear layer's products on float32 CPU matrices (native/linear.cpp: oneDNN's sgemm): its
/// output and every gradient against ATen's own linear in float64, on the MLPs' shapes, without a
/// bias and on strided inputs; its second derivatives; the same at one and two threads; and the
/// cases it leaves to ATen, with ATen's errors.
module Research.Core.Tests.LinearTests

open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Tests.TensorTestSupport

/// A float32 leaf with the values of a float64 one.
let private leaf (t: Tensor) = (t.detach().``to`` Float32).requires_grad_ ()

/// y = x W^T + b and the gradients of <y, u> in float32 and in float64, compared.
let private agrees (what: string) (x64: Tensor) (w64: Tensor) (b64: Tensor option) (prepare: Tensor -> Tensor) =
    let x64, w64 = x64.requires_grad_ (), w64.requires_grad_ ()
    b64 |> Option.iter (fun b -> b.requires_grad_ () |> ignore)
    let x32, w32, b32 = leaf x64, leaf w64, b64 |> Option.map leaf
    let y64 = F.linear (x64, w64, ?bias = b64)
    let y32 = F.linear (prepare x32, prepare w32, ?bias = b32)
    Expect.equal y32.shape y64.shape $"{what}: y.shape"
    Expect.equal y32.dtype Float32 $"{what}: y.dtype"
    closeToScale $"{what}: output" (y64.detach ()) (y32.detach ())
    let u = randn64 9L (List.ofArray y64.shape)
    (y64 * u).sum().backward ()
    (y32 * u.``to`` Float32).sum().backward ()
    closeToScale $"{what}: d/dx" x64.grad x32.grad
    closeToScale $"{what}: d/dw" w64.grad w32.grad
    match b64, b32 with
    | Some b64, Some b32 -> closeToScale $"{what}: d/db" b64.grad b32.grad
    | _ -> ()

[<Tests>]
let tests =
    testList "LinearTests" [
        // The MLP GAN's widest layers at batch 128, the VAE's first at an odd batch, a single
        // feature in and out, and a single example.
        for (batch, inputs, outputs, bias) in
            [ 128L, 512L, 1024L, true
              128L, 1024L, 784L, true
              7L, 784L, 400L, true
              5L, 1L, 1L, false
              1L, 33L, 17L, false ] do
            let withBias = if bias then "with a bias" else "no bias"
            testCase $"{batch} x {inputs} -> {outputs}, {withBias}: output and gradients equal ATen's in float64" <| fun () ->
                use scope = new TensorScope()
                agrees "plain" (randn64 1L [ batch; inputs ]) (randn64 2L [ outputs; inputs ]) (if bias then Some(randn64 3L [ outputs ]) else None) id
        testCase "a transposed input and weight (strided, not contiguous) give the contiguous result" <| fun () ->
            use scope = new TensorScope()
            // x and W stored transposed, each read through .t().
            let x64, w64 = randn64 4L [ 20L; 6L ], randn64 5L [ 9L; 6L ]
            let strided (t: Tensor) =
                let s = t.t().contiguous().t ()
                Expect.isFalse s.is_contiguous "the operand is strided"
                s
            agrees "strided" x64 w64 (Some(randn64 6L [ 9L ])) strided
        testCase "one and two threads give the same products" <| fun () ->
            use scope = new TensorScope()
            let threads = torch.get_num_threads ()
            let x, w = (randn64 7L [ 128L; 512L ]).``to`` Float32, (randn64 8L [ 256L; 512L ]).``to`` Float32
            try
                torch.set_num_threads 1
                let one = F.linear (x, w)
                torch.set_num_threads 2
                let two = F.linear (x, w)
                closeToScale "2 threads against 1" one two
            finally
                torch.set_num_threads threads
        testCase "second derivatives (through the gradient) equal ATen's" <| fun () ->
            use scope = new TensorScope()
            let w64 = randn64 11L [ 6L; 5L ]
            let x64 = randn64 12L [ 4L; 5L ]
            let v = randn64 13L [ 4L; 5L ]
            // d/dw <v, d/dx sum(tanh(y))>: the input gradient depends on w directly and through y.
            let second (w: Tensor) (x: Tensor) =
                Autodiff.grad (fun w -> ((Autodiff.grad (fun x -> (F.linear (x, w)).tanh().sum ()) x) * v.``to`` x.dtype).sum ()) w
            let d64 = second w64 x64
            let d32 = second (w64.``to`` Float32) (x64.``to`` Float32)
            Expect.isGreaterThan (d64.abs().max().item ()) 0.1 "the second derivative is not zero"
            closeToScale "d/dw <v, d/dx>" d64 d32
        testCase "a batch of sequences goes through ATen; mismatched sizes raise ATen's error" <| fun () ->
            use scope = new TensorScope()
            agrees "3-d input" (randn64 14L [ 2L; 3L; 5L ]) (randn64 15L [ 4L; 5L ]) (Some(randn64 16L [ 4L ])) id
            let ex = raises<TorchException> (fun () -> F.linear (torch.zeros [| 3L; 5L |], torch.zeros [| 4L; 6L |]) |> ignore)
            Expect.stringContains ex.Message "cannot be multiplied" "ex.Message"
    ]
