/// The fused Bernoulli log-likelihood (native/bernoulli.cpp) against PyTorch's BCE with logits,
/// its closed-form derivatives, and the ATen path it falls back to.
module Research.Core.Tests.BernoulliLogProbTests

open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Probability
open Research.Core.Tests.TensorTestSupport

/// float32 logits with the extremes the kernel must survive: far beyond exp's range, and zero.
let private logits (seed: int64) (shape: int64 list) =
    let l = (randn64 seed shape * 8.0).flatten ()
    let n = l.numel
    for i, v in [ 0L, 100.0; 1L, -100.0; 2L, 0.0; 3L, 30.0; 4L, -30.0; 5L, 1e-6 ] do
        if i < n then l.narrow(0, i, 1L).fill_ v |> ignore
    (l.view (List.toArray shape)).``to`` Float32

/// A shape as a Python tuple.
let private tuple (shape: int64 list) = "(" + String.concat ", " (List.map string shape) + ",)"

let private targets (seed: int64) (shape: int64 list) =
    use g = new Generator(seed)
    torch.rand (List.toArray shape, generator = g)

[<Tests>]
let tests =
    testList "BernoulliLogProbTests" [
        testList "BernoulliLogProb" [
            testCase "log_prob and its gradient match PyTorch's BCE with logits" <| fun () ->
                withPyTorch (fun () ->
                    use scope = new TensorScope()
                    // [6; 37]: rows whose width is not a multiple of the vector width; [3; 4; 16] with x [4; 16]:
                    // the same images under several samples of z.
                    for shape, xshape in [ [ 6L; 37L ], [ 6L; 37L ]; [ 3L; 4L; 16L ], [ 4L; 16L ]; [ 128L; 784L ], [ 128L; 784L ] ] do
                        let l = (logits 21L shape).requires_grad_ ()
                        let x = targets 22L xshape
                        let out = Bernoulli.log_prob (l, x)
                        let w = (randn64 23L (List.take (shape.Length - 1) shape)).``to`` Float32
                        (out * w).sum().backward ()
                        let py =
                            runPython $"""
d = torch.float64
l = torch.tensor({pyList (l.detach().toFloat64Array ())}, dtype=d).reshape({tuple shape}).requires_grad_()
x = torch.tensor({pyList (x.toFloat64Array ())}, dtype=d).reshape({tuple xshape})
w = torch.tensor({pyList (w.toFloat64Array ())}, dtype=d).reshape({tuple (List.take (shape.Length - 1) shape)})
out = -torch.nn.functional.binary_cross_entropy_with_logits(l, x.expand_as(l), reduction='none').sum(-1)
(out * w).sum().backward()
print(json.dumps({{'out': out.flatten().tolist(), 'grad': l.grad.flatten().tolist()}}))
"""
                        Expect.equal out.shape (List.toArray (List.take (shape.Length - 1) shape)) "out.shape"
                        // float32 rounding of sums of up to 784 terms of a few nats each.
                        assertClose $"log_prob {shape}" 1e-5 1e-4 (floats (py.GetProperty "out")) (out.detach().toFloat64Array ())
                        assertClose $"gradient {shape}" 1e-5 1e-6 (floats (py.GetProperty "grad")) (l.grad.toFloat64Array ()))
            testCase "the second derivative is -sigmoid(l) (1 - sigmoid(l))" <| fun () ->
                use scope = new TensorScope()
                let l = logits 31L [ 5L; 24L ]
                let x = targets 32L [ 5L; 24L ]
                let w = (randn64 33L [ 5L; 24L ]).``to`` Float32
                // d/dl <w, d/dl log_prob(l)> = w * d2/dl2 log_prob = -w s (1 - s), elementwise.
                let second =
                    Autodiff.grad (fun (l: Tensor) -> ((Autodiff.grad (fun (l: Tensor) -> (Bernoulli.log_prob (l, x)).sum ()) l) * w).sum ()) l
                let s = l.sigmoid ()
                assertClose "d2/dl2" 1e-5 1e-7 ((-(s * (1.0 - s)) * w).toFloat64Array ()) (second.toFloat64Array ())
            testCase "inputs the fused loops do not take give the same numbers through ATen" <| fun () ->
                use scope = new TensorScope()
                let l = logits 41L [ 7L; 20L ]
                let x = targets 42L [ 7L; 20L ]
                let fused = (Bernoulli.log_prob (l, x)).toFloat64Array ()
                // float64, a transposed (strided) view, and targets that want a gradient (d/dx = l).
                assertClose "float64" 1e-5 1e-4 fused ((Bernoulli.log_prob (l.``to`` Float64, x.``to`` Float64)).toFloat64Array ())
                let strided = l.t().contiguous().t ()
                Expect.isFalse strided.is_contiguous "strided.is_contiguous"
                assertClose "strided" 1e-5 1e-4 fused ((Bernoulli.log_prob (strided, x)).toFloat64Array ())
                let xg = x.clone().requires_grad_ ()
                let out = Bernoulli.log_prob (l, xg)
                assertClose "with x.requires_grad" 1e-5 1e-4 fused (out.detach().toFloat64Array ())
                out.sum().backward ()
                assertClose "d/dx" 1e-6 1e-6 (l.toFloat64Array ()) (xg.grad.toFloat64Array ())
            testCase "mismatched shapes fail with libtorch's message" <| fun () ->
                use scope = new TensorScope()
                let ex = raises<TorchException> (fun () -> Bernoulli.log_prob (torch.zeros [| 3L; 4L |], torch.zeros [| 5L |]) |> ignore)
                Expect.stringContains ex.Message "expand" "ex.Message"
        ]
    ]
