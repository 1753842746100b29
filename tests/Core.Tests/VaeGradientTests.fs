/// Gradients of the VAE objectives through the reparameterisation z = mu + sigma * eps against
/// central finite differences in float64, with eps held fixed by re-seeding the generator.
module Research.Core.Tests.VaeGradientTests

open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Models.Vae
open Research.Core.Tests.TensorTestSupport
open Research.Core.Tests.VaeTestSupport

/// The objective at the current parameter values, with the same eps draws at every evaluation.
let private objective (vae: Vae) (x: Tensor) (value: Vae -> Generator option -> Tensor -> Tensor) () =
    use g = new Generator(17L)
    (value vae (Some g) x).sum ()

/// d objective / d(every parameter element) by autograd and by central differences (h = 1e-6),
/// perturbing each element in place.
let private checkGradients (vae: Vae) (x: Tensor) (value: Vae -> Generator option -> Tensor -> Tensor) =
    let f = objective vae x value
    let parameters = vae.Parameters.tensors
    let value, grads = Autodiff.valueAndGrads (fun _ -> f ()) parameters
    value.Dispose()
    for (name, p), g in Array.zip vae.Parameters.named grads do
        let start = p.toFloat64Array ()
        let at (i: int) (delta: float) =
            use scope = new TensorScope()
            use _ = torch.no_grad ()
            let moved = Array.copy start
            moved.[i] <- moved.[i] + delta
            p.copy_ (torch.tensor (moved, p.shape)) |> ignore
            let v = (f ()).item ()
            p.copy_ (torch.tensor (start, p.shape)) |> ignore
            v
        let h = 1e-6
        let numeric = Array.init start.Length (fun i -> (at i h - at i -h) / (2.0 * h))
        assertClose $"d/d {name}" 1e-6 1e-7 numeric (g.toFloat64Array ())
        g.Dispose()

/// Four 6-pixel images: binary for Bernoulli pixels, grey levels for Gaussian ones.
let private images (binary: bool) =
    use g = new Generator(5L)
    use scope = new TensorScope()
    let u = torch.rand ([| 4L; 6L |], Float64, generator = g)
    scope.Detach(if binary then u.gt(0.5).double () else u)

[<Tests>]
let tests =
    testList "VaeGradientTests" [
        testCase "ELBO gradients with Bernoulli pixels match finite differences" <| fun () ->
            let vae = tinyVae64 1L 6 5 2 None
            use _ = vae.Parameters
            use x = images true
            checkGradients vae x (fun vae g x -> (Objectives.elboTerms vae g x).Elbo)
        testCase "ELBO gradients with Gaussian pixels and a learned variance match finite differences" <| fun () ->
            let vae = tinyVae64 2L 6 5 2 (Some -1.0)
            use _ = vae.Parameters
            use x = images false
            checkGradients vae x (fun vae g x -> (Objectives.elboTerms vae g x).Elbo)
        testCase "IWAE bound gradients (k = 3) match finite differences" <| fun () ->
            let vae = tinyVae64 3L 6 5 2 None
            use _ = vae.Parameters
            use x = images true
            checkGradients vae x (fun vae g x -> Objectives.iwae vae g 3 x)
    ]
