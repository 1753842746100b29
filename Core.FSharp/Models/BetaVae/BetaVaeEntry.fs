/// The beta-VAE in the registry: `beta-vae train`, the panel its report draws from the best
/// checkpoint (latent traversals), and its samples for `score`.
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

/// A trained beta-VAE from a run's checkpoint: its config, run settings and networks.
let private load (folder: string, checkpoint: string) =
    Loop.loadModel BetaVaeRun.family (folder, checkpoint) (fun config -> use g = new Generator(0L) in networks config Mnist.imageShape g)
        (fun (parameters, _, _) -> parameters)

let private panels (folder: string) (_: string option) =
    let checkpoint = (RunFolder folder).BestOrLast
    let config, _, (parameters, _, decode) = load (folder, checkpoint)
    use _ = parameters
    [ Images("Latent traversals", "decoder means as each latent coordinate sweeps -3..3, the others 0",
             [ checkpoint, traversals decode config.Latent Mnist.imageShape ]) ]

/// The sample set `score` draws: the decoder's means at draws from the prior N(0, I).
let private scoreSamples (r: SampleRequest) (config: BetaVaeConfig) (_, _, decode: Tensor -> PixelDistribution) =
    [ "decoder means",
      SampleFiles.drawing r.Seed (fun generator count ->
          (decode (torch.randn ([| int64 count; int64 config.Latent |], generator = generator))).mean.view (Array.append [| int64 count |] Mnist.imageShape.Dims)) ]

let entry =
    { FamilyEntry.plain BetaVaeRun.family "The beta-VAE on MNIST (Higgins et al. 2017): the KL term weighted by beta, a decoder of two tanh layers."
          "Train a beta-VAE; writes config.json, metrics.csv (the objective, the ELBO, the KL), checkpoints and sample grids."
          "a bound: the ELBO (the objective at beta = 1)" with
        Panels = panels
        Samples = FamilyEntry.samplesOf BetaVaeRun.family load (fun (parameters, _, _) -> parameters) scoreSamples }
