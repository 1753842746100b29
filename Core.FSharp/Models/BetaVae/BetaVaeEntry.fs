/// The beta-VAE in the registry: `beta-vae train`, and the panel its report draws from the best
/// checkpoint (latent traversals).
module Research.Core.Models.BetaVae.BetaVaeEntry

open Research.Core
open Research.Core.Data
open Research.Core.Families
open Research.Core.IO
open Research.Core.Probability
open Research.Core.Training
open Research.Core.Models.BetaVae.BetaVae

/// Latent traversals (Higgins et al. 2017, figure 7): the decoder's means as one latent coordinate
/// sweeps from -3 to 3 with the others at 0, a row per coordinate.
let traversals (decode: Tensor -> PixelDistribution) (latent: int) (image: ImageShape) =
    use _ = torch.no_grad ()
    use scope = new TensorScope()
    let n = int64 latent
    let steps = torch.linspace (-3.0, 3.0, 10)
    // Row d * 10 + s: coordinate d at steps[s], the others 0.
    let z = (torch.eye latent).unsqueeze(1).expand(n, 10L, n).reshape (n * 10L, n) * (steps.repeat n).unsqueeze 1
    Png.Grid((decode z).mean.toFloat32Array (), image.Height, image.Width, latent, 10)

let private panels (folder: string) (_: string option) =
    let run = RunFolder folder
    let config, _ = Family.readConfig BetaVaeRun.family run
    use g = new Generator(0L)
    let parameters, _, decode = networks config Mnist.imageShape g
    use _ = parameters
    Checkpoint.loadModel (run.Trained run.BestOrLast, parameters) |> ignore
    [ Images("Latent traversals", "decoder means as each latent coordinate sweeps -3..3, the others 0",
             [ run.BestOrLast, traversals decode config.Latent Mnist.imageShape ]) ]

let entry =
    { FamilyEntry.plain BetaVaeRun.family "The beta-VAE on MNIST (Higgins et al. 2017): the KL term weighted by beta, a decoder of two tanh layers."
          "Train a beta-VAE; writes config.json, metrics.csv (the objective, the ELBO, the KL), checkpoints and sample grids."
          "a bound: the ELBO (the objective at beta = 1)" with
        Panels = panels }
