/// The functional autodiff layer: Hessian-vector products, Jacobians, nesting, no leaks.
module Research.Core.Tests.GradFunctionalTests

open System
open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Tests.TensorTestSupport

/// f(x) = x^T A x with a non-symmetric A: gradient (A + A^T) x, Hessian A + A^T.
let private quadratic (a: Tensor) (x: Tensor) = x.matmul(a).matmul x

/// A non-polynomial test function of a vector.
let private wavy (x: Tensor) = (x.sin () * x * x).sum () + x.logsumexp 0 + (x * x.sum ()).sigmoid().sum ()

[<Tests>]
let tests =
    testList "GradFunctionalTests" [
        testCase "hvp of x^T A x is (A + A^T) v" <| fun () ->
            use scope = new TensorScope()
            let a, x, v = randn64 1L [ 4; 4 ], randn64 2L [ 4 ], randn64 3L [ 4 ]
            let expected = (a + a.t ()).matmul v
            assertClose "hvp" 1e-12 1e-12 (expected.toFloat64Array ()) ((Autodiff.hvp (quadratic a) x v).toFloat64Array ())
            assertClose "hessian" 1e-12 1e-12 ((a + a.t ()).toFloat64Array ()) ((Autodiff.hessian (quadratic a) x).toFloat64Array ())
            assertClose "grad" 1e-12 1e-12 (((a + a.t ()).matmul x).toFloat64Array ()) ((Autodiff.grad (quadratic a) x).toFloat64Array ())
        testCase "hvp equals a central difference of gradients" <| fun () ->
            use scope = new TensorScope()
            let x, v = randn64 4L [ 5 ], randn64 5L [ 5 ]
            let h = 1e-5
            let gradAt (d: float) = (Autodiff.grad wavy (x + v * d)).toFloat64Array ()
            let numeric = Array.map2 (fun p m -> (p - m) / (2.0 * h)) (gradAt h) (gradAt -h)
            assertClose "hvp" 1e-6 1e-7 numeric ((Autodiff.hvp wavy x v).toFloat64Array ())
            // The Hessian is symmetric and its product with v is the hvp.
            let hess = Autodiff.hessian wavy x
            assertClose "symmetric" 1e-10 1e-12 (hess.t().contiguous().toFloat64Array ()) (hess.toFloat64Array ())
            assertClose "H v" 1e-10 1e-12 ((hess.matmul v).toFloat64Array ()) ((Autodiff.hvp wavy x v).toFloat64Array ())
        testCase "nested grad gives higher derivatives" <| fun () ->
            use scope = new TensorScope()
            let x = f64 [ 3 ] [| -1.0; 0.5; 2.0 |]
            // d/dx sum(x^3) = 3x^2; d/dx sum(3x^2) = 6x; d/dx sum(6x) = 6.
            let d2 = Autodiff.grad (fun x -> (Autodiff.grad (fun x -> (x ** 3.0).sum ()) x).sum ()) x
            Expect.equal (d2.toFloat64Array ()) [| -6.0; 3.0; 12.0 |] "d2.toFloat64Array ()"
            let d3 = Autodiff.grad (fun x -> (Autodiff.grad (fun x -> (Autodiff.grad (fun x -> (x ** 3.0).sum ()) x).sum ()) x).sum ()) x
            Expect.equal (d3.toFloat64Array ()) [| 6.0; 6.0; 6.0 |] "d3.toFloat64Array ()"
            Expect.isFalse d2.requires_grad "results of a top-level call carry no graph"
        testCase "jacobian, vjp and jvp agree with finite differences" <| fun () ->
            use scope = new TensorScope()
            let f (x: Tensor) = torch.cat ([ x.sin () * x.sum (); (x.exp () * 0.5).cumsum 0 ], 0) // R^3 -> R^6
            let x, u, v = randn64 6L [ 3 ], randn64 7L [ 3 ], randn64 8L [ 6 ]
            let jac = Autodiff.jacobian f x
            Expect.equal jac.shape [| 6L; 3L |] "jac.shape"
            // Column j of J by central differences.
            let h = 1e-6
            let numericJ =
                Array.init 3 (fun j ->
                    let e = torch.zeros ([| 3L |], Float64)
                    e.[j].fill_ 1.0 |> ignore
                    let diff = (f (x + e * h) - f (x - e * h)) / (2.0 * h)
                    diff.toFloat64Array ())
            let numericRowMajor = Array.init 18 (fun k -> numericJ.[k % 3].[k / 3])
            assertClose "jacobian" 1e-6 1e-8 numericRowMajor (jac.toFloat64Array ())
            let value, vj = Autodiff.vjp f x v
            assertClose "vjp value" 0.0 0.0 ((f x).toFloat64Array ()) (value.toFloat64Array ())
            assertClose "vjp" 1e-12 1e-12 ((v.matmul jac).toFloat64Array ()) (vj.toFloat64Array ())
            let value2, ju = Autodiff.jvp f x u
            assertClose "jvp value" 0.0 0.0 ((f x).toFloat64Array ()) (value2.toFloat64Array ())
            assertClose "jvp" 1e-12 1e-12 ((jac.matmul u).toFloat64Array ()) (ju.toFloat64Array ())
        testCase "valueAndGrads over parameters leaves their grad untouched" <| fun () ->
            use scope = new TensorScope()
            let w = (randn64 9L [ 3; 2 ]).requires_grad_ ()
            let b = (randn64 10L [ 2 ]).requires_grad_ ()
            let x = randn64 11L [ 4; 3 ]
            let loss (ps: Tensor[]) = (F.linear (x, ps.[0].t (), ps.[1])).square().mean ()
            let value, grads = Autodiff.valueAndGrads loss [| w; b |]
            Expect.equal (value.item ()) ((loss [| w; b |]).item ()) "value.item ()"
            Expect.isNull w.grad "w.grad"
            // The same gradients as backward().
            (loss [| w; b |]).backward ()
            Expect.equal (grads.[0].toFloat64Array ()) (w.grad.toFloat64Array ()) "grads.[0].toFloat64Array ()"
            Expect.equal (grads.[1].toFloat64Array ()) (b.grad.toFloat64Array ()) "grads.[1].toFloat64Array ()"
            // An input the function ignores has a zero gradient.
            let g = Autodiff.gradN (fun ps -> ps.[0].sum ()) [| w; b |]
            Expect.equal (g.[1].toFloat64Array ()) [| 0.0; 0.0 |] "g.[1].toFloat64Array ()"
        testCase "a non-scalar function is rejected with a clear message" <| fun () ->
            use scope = new TensorScope()
            let e = raises<ArgumentException> (fun () -> Autodiff.grad (fun x -> x * 2.0) (randn64 1L [ 3 ]) |> ignore)
            Expect.stringContains e.Message "scalar" "e.Message"
        testCase "autodiff works inside no_grad" <| fun () ->
            use scope = new TensorScope()
            use _ = torch.no_grad ()
            let g = Autodiff.grad (fun x -> (x * x).sum ()) (f64 [ 2 ] [| 1.0; -2.0 |])
            Expect.equal (g.toFloat64Array ()) [| 2.0; -4.0 |] "g.toFloat64Array ()"
            Expect.isFalse (torch.is_grad_enabled ()) "torch.is_grad_enabled ()"
    ]
