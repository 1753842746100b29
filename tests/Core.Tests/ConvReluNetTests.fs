/// The coupling's conv net as one native operation on oneDNN (native/convnet.cpp): its output and
/// every gradient against the same layers composed in float64 (ATen's float64 convolutions, which
/// do not go through oneDNN), its second derivatives, the inputs it leaves to ATen, and its memory.
module Research.Core.Tests.ConvReluNetTests

open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Nn
open Research.Core.Tests.TensorTestSupport

/// conv3x3 layers through the given widths, with nonzero weights (the coupling's last layer starts
/// at zero, which would hide the paths through it) and biases, in `dtype`, wanting gradients.
let private layers (seed: int64) (widths: int64 list) (dtype: Dtype) =
    widths
    |> List.pairwise
    |> List.mapi (fun i (a, b) ->
        { weight = ((randn64 (seed + int64 i) [ b; a; 3L; 3L ]) / sqrt (9.0 * float a)).``to``(dtype).requires_grad_ ()
          bias = Some(((randn64 (seed + 10L + int64 i) [ b ]) * 0.1).``to``(dtype).requires_grad_ ())
          stride = 1
          padding = 1
          dilation = 1
          groups = 1 })
    |> function
        | [ c1; c2; c3 ] -> c1, c2, c3
        | _ -> failwith "three layers"

let private composed (c1: Conv2d, c2: Conv2d, c3: Conv2d) (x: Tensor) = c3.forward ((c2.forward ((c1.forward x).relu ())).relu ())

let private parameters (c1: Conv2d, c2: Conv2d, c3: Conv2d) =
    [ for c in [ c1; c2; c3 ] do
          c.weight
          c.bias.Value ]

[<Tests>]
let tests =
    testList "ConvReluNetTests" [
        testList "ConvReluNet" [
            // The coupling nets of the flows (1 -> 32 -> 2 on the image, 4 -> 48 -> 8 and 8 -> 64 -> 16
            // after squeezes), a conditioned one (2 inputs), and widths that are not multiples of
            // oneDNN's channel block with odd map sizes; the first coupling's input wants no gradient.
            for (cin, hidden, cout, height, width, batch, inputGrad) in
                [ 1L, 32L, 2L, 8L, 8L, 5L, false
                  1L, 32L, 2L, 8L, 8L, 3L, true
                  2L, 32L, 2L, 6L, 6L, 2L, true
                  4L, 48L, 8L, 6L, 6L, 3L, true
                  8L, 64L, 16L, 7L, 7L, 2L, true
                  // at the training batch, where oneDNN's choice of kernels differs (AVX-512: the first
                  // layer's weight gradient takes the 8-channel blocked layouts, see native/convnet.cpp)
                  8L, 64L, 16L, 7L, 7L, 128L, true
                  3L, 12L, 5L, 5L, 7L, 4L, true ] do
                testCase $"{cin} -> {hidden} -> {hidden} -> {cout} on {batch} x {height} x {width} (input gradient {inputGrad}): output and gradients equal the layers composed" <| fun () ->
                    use scope = new TensorScope()
                    let net32, net64 = layers 11L [ cin; hidden; hidden; cout ] Float32, layers 11L [ cin; hidden; hidden; cout ] Float64
                    let x64 = randn64 21L [ batch; cin; height; width ]
                    let x32 = x64.``to`` Float32
                    if inputGrad then
                        x32.requires_grad_ () |> ignore
                        x64.requires_grad_ () |> ignore
                    Expect.isTrue (ConvReluNet.fused net32 x32) "float32 runs fused"
                    let out32, out64 = ConvReluNet.forward net32 x32, composed net64 x64
                    Expect.equal out32.shape out64.shape "out.shape"
                    closeToScale "output" (out64.detach ()) (out32.detach ())
                    let u = randn64 22L (List.ofArray out64.shape)
                    (out32 * u.``to`` Float32).sum().backward ()
                    (out64 * u).sum().backward ()
                    for name, p32, p64 in List.zip3 [ "w1"; "b1"; "w2"; "b2"; "w3"; "b3" ] (parameters net32) (parameters net64) do
                        closeToScale $"d/d{name}" p64.grad p32.grad
                    if inputGrad then closeToScale "d/dx" x64.grad x32.grad
            testCase "second derivatives (through the gradient) equal those of the layers composed" <| fun () ->
                use scope = new TensorScope()
                let net32, net64 = layers 31L [ 2L; 16L; 16L; 4L ] Float32, layers 31L [ 2L; 16L; 16L; 4L ] Float64
                let x64 = randn64 32L [ 3L; 2L; 6L; 6L ]
                let v = randn64 33L [ 3L; 2L; 6L; 6L ]
                // d/dw3 <v, d/dx sum(net(x))>: the input gradient is linear in w3, so this is not zero.
                // (The net holds w3 itself, which wants a gradient, so the outer function ignores its argument.)
                let second (forward: Tensor -> Tensor) (w3: Tensor) (x: Tensor) =
                    Autodiff.grad (fun _ -> ((Autodiff.grad (fun x' -> (forward x').sum ()) x) * v.``to`` x.dtype).sum ()) w3
                let _, _, c3 = net32
                let _, _, c3' = net64
                Expect.isTrue (ConvReluNet.fused net32 (x64.``to`` Float32)) "float32 runs fused"
                let d32 = second (ConvReluNet.forward net32) c3.weight (x64.``to`` Float32)
                let d64 = second (composed net64) c3'.weight x64
                Expect.isGreaterThan (d64.abs().max().item ()) 0.1 "the second derivative is not zero"
                closeToScale "d/dw3 <v, d/dx>" d64 d32
            testCase "float64, layers without bias or of other padding, and mismatched widths go through ATen" <| fun () ->
                use scope = new TensorScope()
                let net64 = layers 41L [ 2L; 8L; 8L; 4L ] Float64
                let x = randn64 42L [ 2L; 2L; 5L; 5L ]
                Expect.isFalse (ConvReluNet.fused net64 x) "float64 is not fused"
                Expect.equal ((ConvReluNet.forward net64 x).toFloat64Array ()) ((composed net64 x).toFloat64Array ()) "float64"
                let c1, c2, c3 = layers 41L [ 2L; 8L; 8L; 4L ] Float32
                let x32 = x.``to`` Float32
                for name, net in [ "no bias", ({ c1 with bias = None }, c2, c3); "padding 0", (c1, c2, { c3 with padding = 0 }) ] do
                    Expect.isFalse (ConvReluNet.fused net x32) $"{name} is not fused"
                    Expect.equal ((ConvReluNet.forward net x32).toFloat64Array ()) ((composed net x32).toFloat64Array ()) name
                let ex = raises<TorchException> (fun () -> ConvReluNet.forward (c1, c2, c3) (torch.zeros [| 1L; 3L; 5L; 5L |]) |> ignore)
                Expect.stringContains ex.Message "channels" "ex.Message"
        ]
        testSequenced <| testList "ConvReluNetMemory" [
            testCase "2000 fused forward and backward passes keep LiveCount and RSS flat" <| fun () ->
                settle ()
                use setup = new TensorScope()
                let net = layers 51L [ 1L; 32L; 32L; 2L ] Float32
                let x = (randn64 52L [ 8L; 1L; 14L; 14L ]).``to`` Float32
                Expect.isTrue (ConvReluNet.fused net x) "float32 runs fused"
                let start = Tensor.LiveCount
                let mutable rssAt200 = 0L
                for step in 1..2000 do
                    use _ = new TensorScope()
                    (ConvReluNet.forward net x).square().sum().backward ()
                    for p in parameters net do
                        p.grad <- null
                    if step = 200 then
                        settle ()
                        rssAt200 <- rss ()
                expectFlatMemory "2000 passes, warm-up 200" start rssAt200
        ]
    ]
