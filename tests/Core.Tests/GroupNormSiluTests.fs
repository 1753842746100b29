/// The fused SiLU(GroupNorm(x)) (native/group_norm_silu.cpp) against PyTorch's group_norm then silu,
/// ATen's own composite in float64 at the U-Net's sizes, and the ATen path it falls back to.
module Research.Core.Tests.GroupNormSiluTests

open Expecto
open Research.Core
open Research.Tests.Checks
open Research.Core.Tests.TensorTestSupport

/// A shape as a Python tuple.
let private tuple (shape: int64 list) = "(" + String.concat ", " (List.map string shape) + ",)"

/// x, weight, bias and an upstream gradient for [N; C; ...] in float32, drawn from the seed; x off
/// centre and scaled, as activations are.
let private inputs (seed: int64) (shape: int64 list) =
    let c = shape[1]
    let x = (randn64 seed shape * 3.0 + 2.0).``to`` Float32
    let w = (randn64 (seed + 1L) [ c ] * 0.5 + 1.0).``to`` Float32
    let b = (randn64 (seed + 2L) [ c ] * 0.5).``to`` Float32
    let g = (randn64 (seed + 3L) shape).``to`` Float32
    x, w, b, g

/// The output and the gradients of <out, g> for x, weight and bias, by `f` on leaf copies.
let private run (f: Tensor -> Tensor -> Tensor -> Tensor) (x: Tensor, w: Tensor, b: Tensor, g: Tensor) =
    let x, w, b = x.detach().requires_grad_ (), w.detach().requires_grad_ (), b.detach().requires_grad_ ()
    let out = f x w b
    (out * g).sum().backward ()
    out.detach (), x.grad, w.grad, b.grad

let private fused groups = fun x w b -> F.group_norm_silu (x, groups, w, b)
let private composite groups = fun x w b -> (F.group_norm (x, groups, w, b)).silu ()

[<Tests>]
let tests =
    testList "GroupNormSiluTests" [
        testCase "output and gradients match PyTorch's group_norm then silu" <| fun () ->
            withPyTorch (fun () ->
                use scope = new TensorScope()
                // 35 positions: not a multiple of the vector width; one channel per group; 3 dimensions.
                for shape, groups in [ [ 3L; 12L; 5L; 7L ], 4; [ 2L; 8L; 4L; 4L ], 8; [ 2L; 6L; 9L ], 2 ] do
                    let x, w, b, g = inputs 11L shape
                    let out, dx, dw, db = run (fused groups) (x, w, b, g)
                    let py =
                        runPython $"""
d = torch.float64
x = torch.tensor({pyList (x.toFloat64Array ())}, dtype=d).reshape({tuple shape}).requires_grad_()
w = torch.tensor({pyList (w.toFloat64Array ())}, dtype=d).requires_grad_()
b = torch.tensor({pyList (b.toFloat64Array ())}, dtype=d).requires_grad_()
g = torch.tensor({pyList (g.toFloat64Array ())}, dtype=d).reshape({tuple shape})
out = torch.nn.functional.silu(torch.nn.functional.group_norm(x, {groups}, w, b))
(out * g).sum().backward()
print(json.dumps({{'out': out.flatten().tolist(), 'dx': x.grad.flatten().tolist(), 'dw': w.grad.tolist(), 'db': b.grad.tolist()}}))
"""
                    for name, actual in [ "out", out; "dx", dx; "dw", dw; "db", db ] do
                        let expected = floats (py.GetProperty name)
                        closeToScale $"{name} {shape}" (f64 [ int64 expected.Length ] expected) (actual.flatten ()))
        testCase "at the U-Net's sizes, output and gradients match ATen's composite in float64" <| fun () ->
            use scope = new TensorScope()
            // The diffusion U-Net's norms at C = 32 (a batch of 16): 96 x 28 x 28 is up0's input.
            for shape in [ [ 16L; 96L; 28L; 28L ]; [ 16L; 64L; 14L; 14L ]; [ 16L; 64L; 7L; 7L ]; [ 16L; 32L; 28L; 28L ] ] do
                let x, w, b, g = inputs 21L shape
                let f32 = run (fused 8) (x, w, b, g)
                let reference = run (composite 8) (x.``to`` Float64, w.``to`` Float64, b.``to`` Float64, g.``to`` Float64)
                let names = [ "out"; "dx"; "dw"; "db" ]
                let pick (a, b, c, d) = [ a; b; c; d ]
                for name, expected, actual in List.zip3 names (pick reference) (pick f32) do
                    closeToScale $"{name} {shape}" expected actual
        testCase "channels-last inputs: output and gradients match ATen's composite in float64, in their layout" <| fun () ->
            use scope = new TensorScope()
            // Groups of 4, 12 and 8 channels, so that a block of eight spans two groups, crosses a
            // group's end, or holds one; 12 channels (not a block of eight) go through ATen.
            for shape, groups in [ [ 4L; 32L; 7L; 9L ], 8; [ 3L; 96L; 5L; 6L ], 8; [ 2L; 16L; 3L; 3L ], 2; [ 2L; 12L; 4L; 4L ], 4 ] do
                let x, w, b, g = inputs 71L shape
                let x, g = x.channelsLast (), g.channelsLast ()
                Expect.isFalse x.is_contiguous "a channels-last input"
                let out, dx, dw, db = run (fused groups) (x, w, b, g)
                Expect.isFalse (out.is_contiguous || dx.is_contiguous) $"output and gradient keep the channels-last layout {shape}"
                let reference = run (composite groups) (x.``to`` Float64, w.``to`` Float64, b.``to`` Float64, g.``to`` Float64)
                let pick (a, b, c, d) = [ a; b; c; d ]
                for name, expected, actual in List.zip3 [ "out"; "dx"; "dw"; "db" ] (pick reference) [ out; dx; dw; db ] do
                    closeToScale $"{name} {shape}" (expected.contiguous ()) (actual.contiguous ())
            // A mean 1000 standard deviations away, as below.
            let x, w, b, g = inputs 72L [ 2L; 16L; 6L; 6L ]
            let x, g = (x + 3000.0).channelsLast (), g.channelsLast ()
            let out, dx, _, _ = run (fused 4) (x, w, b, g)
            let eout, edx, _, _ = run (composite 4) (x.``to`` Float64, w.``to`` Float64, b.``to`` Float64, g.``to`` Float64)
            closeToScale "out, far from zero" (eout.contiguous ()) (out.contiguous ())
            closeToScale "dx, far from zero" (edx.contiguous ()) (dx.contiguous ())
        testCase "values far from zero: the moments in two passes keep the variance" <| fun () ->
            use scope = new TensorScope()
            // A mean 1000 standard deviations away: sum of squares minus squared sum would cancel in float32.
            let x, w, b, g = inputs 31L [ 4L; 16L; 6L; 6L ]
            let x = x + 3000.0
            let out, dx, _, _ = run (fused 4) (x, w, b, g)
            let eout, edx, _, _ = run (composite 4) (x.``to`` Float64, w.``to`` Float64, b.``to`` Float64, g.``to`` Float64)
            closeToScale "out" eout out
            closeToScale "dx" edx dx
        testCase "a second derivative goes through ATen's composite and equals its own" <| fun () ->
            use scope = new TensorScope()
            let x, w, b, _ = inputs 41L [ 2L; 8L; 3L; 5L ]
            let v = (randn64 44L [ 2L; 8L; 3L; 5L ]).``to`` Float32
            // d/dx <v, d/dx sum(f(x))>: a Hessian-vector product through the gradient's own graph.
            let hvp f = Autodiff.grad (fun (x: Tensor) -> ((Autodiff.grad (fun (x: Tensor) -> (f x w b : Tensor).sum ()) x) * v).sum ()) x
            closeToScale "Hessian-vector product" (hvp (composite 4)) (hvp (fused 4))
        testCase "inputs the fused loops do not take give the same numbers through ATen" <| fun () ->
            use scope = new TensorScope()
            let x, w, b, _ = inputs 51L [ 3L; 8L; 5L; 5L ]
            let expected = composite 4 x w b
            closeToScale "float64" expected ((fused 4 (x.``to`` Float64) (w.``to`` Float64) (b.``to`` Float64)).``to`` Float32)
            let strided = x.transpose(2, 3).contiguous().transpose (2, 3)
            Expect.isFalse strided.is_contiguous "strided.is_contiguous"
            closeToScale "strided" expected (fused 4 strided w b)
            closeToScale "no weight or bias" ((F.group_norm (x, 4)).silu ()) (F.group_norm_silu (x, 4))
        testCase "channels that do not split into the groups fail with libtorch's message" <| fun () ->
            use scope = new TensorScope()
            let x, w, b, _ = inputs 61L [ 2L; 6L; 4L; 4L ]
            let e = raises<TorchException> (fun () -> F.group_norm_silu (x, 4, w, b) |> ignore)
            Expect.stringContains e.Message "divisible" "libtorch's message"
    ]
