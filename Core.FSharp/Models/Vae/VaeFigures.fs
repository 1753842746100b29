/// The VAE's own report panels, which need its model: the 2-D manifold, the test set's latent
/// means by digit, and interpolations between test digits.
module Research.Core.Models.Vae.VaeFigures

open System.IO
open MathNet.Numerics.Distributions
open Research.Core
open Research.Core.Data
open Research.Core.IO
open Research.Core.Training

/// Test images whose latent means are drawn (a few thousand points keep the page light).
let private latentPoints = 5000L

/// Decoder means over a rows x rows grid of the 2-D latent space, placed at the standard normal's
/// quantiles z = Phi^-1(p) for p evenly spaced in (0, 1), so the grid covers the prior's mass evenly.
let manifold (vae: Vae) (rows: int) =
    use _ = torch.no_grad ()
    use scope = new TensorScope()
    let q = [| for i in 0 .. rows - 1 -> Normal.InvCDF(0.0, 1.0, (float i + 0.5) / float rows) |]
    // Row r (top to bottom) has z2 falling, column c has z1 rising, as in Kingma & Welling's figure 4.
    let z = [| for r in 0 .. rows - 1 do for c in 0 .. rows - 1 do yield float32 q.[c]; yield float32 q.[rows - 1 - r] |]
    let means = (vae.Decode(torch.tensor (z, [| int64 (rows * rows); 2L |]))).mean
    Png.Grid(means.toFloat32Array (), vae.Image.Height, vae.Image.Width, rows, rows, padding = 0)

/// The latent means of images [n; C; H; W], one row per image.
let latentMeans (vae: Vae) (x: Tensor) =
    use _ = torch.no_grad ()
    use scope = new TensorScope()
    let mu = (vae.Encode(x.flatten (1))).mu
    let dim = int (mu.size 1)
    let values = mu.toFloat32Array ()
    Array.init (int (mu.size 0)) (fun i -> Array.init dim (fun j -> float values.[i * dim + j]))

/// For each pair of images (rows of `pairs`: 2n images, a then b), decoder means along the straight
/// line between their latent means, `steps` points from a to b inclusive.
let interpolations (vae: Vae) (pairs: Tensor) (steps: int) =
    use _ = torch.no_grad ()
    use scope = new TensorScope()
    let mu = (vae.Encode(pairs.flatten (1))).mu
    let n = mu.size 0 / 2L
    let a, b = mu.narrow (0, 0L, n), mu.narrow (0, n, n)
    let t = (torch.linspace (0.0, 1.0, steps)).view (1L, int64 steps, 1L)
    let z = a.unsqueeze 1 + (b - a).unsqueeze 1 * t // [n; steps; latent]
    let means = (vae.Decode z).mean
    Png.Grid(means.toFloat32Array (), vae.Image.Height, vae.Image.Width, int n, steps)

/// Test images and labels for the figures: binarized once (seeded) when the run trained on binary images.
let private testImages (config: VaeConfig) (settings: RunSettings) (dataFolder: string option) =
    use mnist = VaeRun.loadData { config with Binarization = NoBinarization } settings dataFolder
    use scope = new TensorScope()
    use test = mnist.test.all ()
    let x = test.x.narrow (0, 0L, min latentPoints (test.x.size 0))
    let labels = test.y.narrow(0, 0L, x.size 0).toInt64Array () |> Array.map int
    let x =
        if config.Binarization = NoBinarization then x.clone ()
        else
            use g = new Generator(int64 settings.Seed + 11L)
            torch.bernoulli (x, g)
    scope.MoveToOuter x, labels

/// Pairs of test images of different digits: the first test image of digit d beside that of d + 5.
let private pairsOfDigits (x: Tensor) (labels: int[]) =
    let first d = Array.findIndex ((=) d) labels
    let rows = Array.append [| for d in 0 .. 4 -> first d |] [| for d in 0 .. 4 -> first (d + 5) |]
    x.index_select (0, torch.tensor (Array.map int64 rows))

/// The panels of a VAE run, from its best checkpoint (its last if it has none yet).
let panels (folder: string) (dataFolder: string option) =
    let run = RunFolder folder
    let checkpoint = run.BestOrLast
    let config, settings, vae = VaeRun.load (folder, checkpoint)
    use _ = vae.Parameters
    use scope = new TensorScope()
    let x, labels = testImages config settings dataFolder
    let dim = config.Latent
    [ if dim = 2 then
          Images("2-d latent manifold", "decoder means over a grid of z at the standard normal's quantiles", [ checkpoint, manifold vae 20 ])
      Points((if dim = 2 then "Latent means of test images, by digit" else $"Latent means of test images ({dim}-d), by digit"),
             latentMeans vae x, labels)
      Images("Latent interpolations", "decoder means along straight lines between the latent means of two test digits",
             [ checkpoint, interpolations vae (pairsOfDigits x labels) 10 ]) ]
