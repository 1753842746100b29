/// The transposed convolution on float32 CPU tensors (native/conv_transpose.cpp: the adjoint of a
/// convolution on oneDNN's kernels, and a matrix product on a 1 x 1 input): its output and every
/// gradient against ATen's own transposed convolution in float64, its second derivatives, and the
/// cases it leaves to ATen.
module Research.Core.Tests.ConvTransposeTests

open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Tests.TensorTestSupport

[<Tests>]
let tests =
    testList "ConvTransposeTests" [
        // The DCGAN's three layers (the projection of z, then two upsamplings by 2), an output
        // padding, odd sizes with a non-square stride's worth of padding, and no bias. The DCGAN's
        // activations are channels-last (NHWC in memory): its two upsamplings (kernel 4) on such input too.
        for (cin, cout, k, stride, padding, outputPadding, size, batch, bias) in
            [ 16L, 8L, 7, 1, 0, 0, 1L, 5L, false
              8L, 4L, 4, 2, 1, 0, 7L, 3L, false
              4L, 1L, 4, 2, 1, 0, 14L, 2L, true
              6L, 3L, 3, 2, 1, 1, 5L, 2L, true
              5L, 7L, 3, 1, 1, 0, 6L, 4L, true
              3L, 2L, 5, 3, 2, 2, 4L, 1L, false ] do
          for channelsLast in (if k = 4 then [ false; true ] else [ false ]) do
            let layout = if channelsLast then ", channels-last input" else ""
            testCase $"{cin} -> {cout}, kernel {k}, stride {stride}, padding {padding}, output padding {outputPadding} on {batch} x {size} x {size}{layout}: output and gradients equal ATen's in float64" <| fun () ->
                use scope = new TensorScope()
                let w64 = (randn64 1L [ cin; cout; int64 k; int64 k ]).requires_grad_ ()
                let b64 = (randn64 2L [ cout ]).requires_grad_ ()
                let x64 = (randn64 3L [ batch; cin; size; size ]).requires_grad_ ()
                let leaf (t: Tensor) = (t.detach().``to`` Float32).requires_grad_ ()
                let w32, b32 = leaf w64, leaf b64
                let x32 =
                    if channelsLast then
                        let x = (x64.detach().``to`` Float32).channelsLast().requires_grad_ ()
                        Expect.isFalse x.is_contiguous $"{cin} channels: the input is not NCHW-contiguous"
                        closeToScale "the input's values" (x64.detach ()) (x.detach ())
                        x
                    else leaf x64
                let run (x: Tensor) (w: Tensor) (b: Tensor) =
                    F.conv_transpose2d (x, w, ?bias = (if bias then Some b else None), stride = stride, padding = padding,
                                        output_padding = outputPadding)
                let y64, y32 = run x64 w64 b64, run x32 w32 b32
                Expect.equal y32.shape y64.shape "y.shape"
                closeToScale "output" (y64.detach ()) (y32.detach ())
                let u = randn64 4L (List.ofArray y64.shape)
                (y64 * u).sum().backward ()
                (y32 * u.``to`` Float32).sum().backward ()
                closeToScale "d/dx" x64.grad x32.grad
                closeToScale "d/dw" w64.grad w32.grad
                if bias then closeToScale "d/db" b64.grad b32.grad
        testCase "second derivatives (through the gradient) equal ATen's" <| fun () ->
            use scope = new TensorScope()
            for size in [ 1L; 5L ] do
                let w64 = randn64 11L [ 4L; 3L; 4L; 4L ]
                let x64 = randn64 12L [ 2L; 4L; size; size ]
                let v = randn64 13L [ 2L; 4L; size; size ]
                let padding = if size = 1L then 0 else 1
                // d/dw <v, d/dx sum(y^2)>: the input gradient is linear in w for fixed y, and y in w.
                let second (w: Tensor) (x: Tensor) =
                    Autodiff.grad (fun w -> ((Autodiff.grad (fun x -> (F.conv_transpose2d (x, w, stride = 2, padding = padding)).square().sum ()) x) * v.``to`` x.dtype).sum ()) w
                let d64 = second w64 x64
                let d32 = second (w64.``to`` Float32) (x64.``to`` Float32)
                Expect.isGreaterThan (d64.abs().max().item ()) 0.1 "the second derivative is not zero"
                closeToScale $"d/dw <v, d/dx> on {size} x {size}" d64 d32
        testCase "groups, dilation and mismatched channels go through ATen, with its errors" <| fun () ->
            use scope = new TensorScope()
            let x = randn64 21L [ 2L; 4L; 5L; 5L ]
            let w = randn64 22L [ 4L; 3L; 3L; 3L ]
            for name, run in [ "groups 2", (fun (x: Tensor) (w: Tensor) -> F.conv_transpose2d (x, w, groups = 2))
                               "dilation 2", (fun x w -> F.conv_transpose2d (x, w, dilation = 2, stride = 2)) ] do
                let w = if name = "groups 2" then randn64 23L [ 4L; 3L; 3L; 3L ] else w
                closeToScale name (run x w) (run (x.``to`` Float32) (w.``to`` Float32))
            let ex = raises<TorchException> (fun () -> F.conv_transpose2d (torch.zeros [| 1L; 3L; 5L; 5L |], torch.zeros [| 4L; 2L; 3L; 3L |]) |> ignore)
            Expect.stringContains ex.Message "channels" "ex.Message"
    ]
