/// The GAN's own report: the optimum lines of its loss curves and D's outputs, and latent
/// interpolations (straight lines between random z; for a 2-D latent, a grid of z at the normal's
/// quantiles, as seed 004 does).
module Research.Core.Models.Gan.GanFigures

open System.IO
open MathNet.Numerics.Distributions
open Research.Core
open Research.Core.IO
open Research.Core.Training

/// Reference lines for metrics.csv's columns (column, label, value): at the optimum D = 1/2
/// everywhere, D's loss is log 4 and G's non-saturating loss log 2 (its saturating one -log 2).
let references (config: GanConfig) =
    let g =
        match config.Loss with
        | NonSaturating -> "log 2: G's loss at the optimum", Objectives.optimumGeneratorLoss
        | Saturating -> "-log 2: G's loss at the optimum", -Objectives.optimumGeneratorLoss
    [ yield "d_loss", "log 4: D's loss at the optimum", Objectives.optimumDiscriminatorLoss
      yield "g_loss", fst g, snd g
      for c in [ "d_real"; "d_fake"; "val_d_real"; "val_d_fake" ] -> c, "1/2: D at the equilibrium", 0.5 ]

let private grid (gan: Gan) (z: Tensor) rows cols =
    let images = Gan.ofTanhRange (gan.Generate false z)
    Png.Grid(images.toFloat32Array (), gan.Image.Height, gan.Image.Width, rows, cols)

/// `rows` straight lines between pairs of random z, `steps` points each from a to b inclusive.
let interpolations (gan: Gan) (rows: int) (steps: int) (seed: int64) =
    use _ = torch.no_grad ()
    use scope = new TensorScope()
    use generator = new Generator(seed)
    let a = torch.randn ([| int64 rows; 1L; int64 gan.Latent |], generator = generator)
    let b = torch.randn ([| int64 rows; 1L; int64 gan.Latent |], generator = generator)
    let t = (torch.linspace (0.0, 1.0, steps)).view (1L, int64 steps, 1L)
    let z = (a + (b - a) * t).reshape (int64 (rows * steps), int64 gan.Latent)
    grid gan z rows steps

/// G over a rows x rows grid of a 2-D latent space at the standard normal's quantiles.
let latentGrid (gan: Gan) (rows: int) =
    use _ = torch.no_grad ()
    use scope = new TensorScope()
    let q = [| for i in 0 .. rows - 1 -> Normal.InvCDF(0.0, 1.0, (float i + 0.5) / float rows) |]
    let z = [| for r in 0 .. rows - 1 do for c in 0 .. rows - 1 do yield float32 q.[c]; yield float32 q.[rows - 1 - r] |]
    grid gan (torch.tensor (z, [| int64 (rows * rows); 2L |])) rows rows

/// The panels of a GAN run, from its last checkpoint.
let panels (folder: string) =
    let _, settings, gan = GanRun.load (folder, "last")
    use _ = gan.Parameters
    [ Panel.Images("Latent interpolations", "G along straight lines between random z (one pair per row)",
                   [ "last", interpolations gan 8 10 (int64 settings.Seed + 5L) ])
      if gan.Latent = 2 then
          Panel.Images("2-d latent grid", "G over a grid of z at the standard normal's quantiles", [ "last", latentGrid gan 20 ]) ]
