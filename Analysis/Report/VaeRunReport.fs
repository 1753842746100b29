/// Reads a VAE run folder (config, metrics, saved grids) and computes, from its best checkpoint, the
/// figures that need the model: the 2-D manifold, the test set's latent means by digit, and
/// interpolations between test digits.
module Research.Analysis.Report.VaeRunReport

open System.IO
open MathNet.Numerics.Distributions
open Research.Core
open Research.Core.IO
open Research.Core.Models.Vae

/// Digits at which the latent means are drawn (a few thousand points keep the page light).
let private latentPoints = 5000L

let private epochOf (file: string) =
    let name = Path.GetFileNameWithoutExtension file
    int (name.Substring(name.LastIndexOf '-' + 1))

let private grids (folder: string) (kind: string) =
    let dir = Path.Combine(folder, "images")
    if Directory.Exists dir then
        Directory.GetFiles(dir, $"{kind}-epoch-*.png") |> Array.sortBy epochOf
    else [||]

/// Decoder means over a rows x rows grid of the 2-D latent space, placed at the standard normal's
/// quantiles z = Phi^-1(p) for p evenly spaced in (0, 1), so the grid covers the prior's mass evenly.
let manifold (vae: Vae) (rows: int) =
    use _ = torch.no_grad ()
    use scope = new TensorScope()
    let q = [| for i in 0 .. rows - 1 -> Normal.InvCDF(0.0, 1.0, (float i + 0.5) / float rows) |]
    // Row r (top to bottom) has z2 falling, column c has z1 rising, as in Kingma & Welling's figure 4.
    let z = [| for r in 0 .. rows - 1 do for c in 0 .. rows - 1 do yield float32 q.[c]; yield float32 q.[rows - 1 - r] |]
    let means = (vae.Decode(torch.tensor (z, [| int64 (rows * rows); 2L |]))).mean
    Png.Grid(means.toFloat32Array (), 28, 28, rows, rows, padding = 0)

/// The latent means of test images, as given or projected to 2-D by PCA, with their digits.
let latents (vae: Vae) (x: Tensor) (labels: int64[]) =
    use _ = torch.no_grad ()
    use scope = new TensorScope()
    let mu = (vae.Encode(x.flatten (1))).mu
    let dim = int (mu.size 1)
    let values = mu.toFloat32Array ()
    let labels = labels |> Array.map int
    if dim = 2 then
        { X = Array.init labels.Length (fun i -> float values.[2 * i])
          Y = Array.init labels.Length (fun i -> float values.[2 * i + 1])
          Labels = labels
          Method = "latent means (2-d)" }
    else
        let p = Pca.project2D values labels.Length dim
        let v1, v2 = p.ExplainedVariance
        { X = p.X; Y = p.Y; Labels = labels
          Method = $"PCA of the {dim}-d latent means (axes explain {100.0 * v1:F0}%% and {100.0 * v2:F0}%% of the variance)" }

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
    Png.Grid(means.toFloat32Array (), 28, 28, int n, steps)

/// Test images and labels for the figures: binarized once (seeded) when the run trained on binary images.
let private testImages (config: VaeConfig) (dataFolder: string option) =
    use mnist = VaeRun.loadData { config with Binarization = NoBinarization } dataFolder
    use scope = new TensorScope()
    let test = mnist.test.all ()
    let x = test.x.narrow (0, 0L, min latentPoints (test.x.size 0))
    let labels = test.y.narrow(0, 0L, x.size 0).toInt64Array ()
    test.x.Dispose()
    test.y.Dispose()
    let x =
        if config.Binarization = NoBinarization then x
        else
            use g = new Generator(int64 config.Seed + 11L)
            torch.bernoulli (x, g)
    scope.MoveToOuter x, labels

/// Pairs of test images of different digits: the first test image of digit d beside that of d + 5.
let private pairsOfDigits (x: Tensor) (labels: int64[]) =
    let first d = Array.findIndex ((=) (int64 d)) labels
    let a = [ for d in 0 .. 4 -> first d ]
    let b = [ for d in 0 .. 4 -> first (d + 5) ]
    x.index_select (0, torch.tensor (List.toArray (a @ b) |> Array.map int64))

/// Everything the report shows for one VAE run folder; dataFolder holds mnist/ (null: the default).
let build (folder: string, dataFolder: string) : RunReportData =
    let dataFolder = if System.String.IsNullOrEmpty dataFolder then None else Some dataFolder
    let folder = Path.GetFullPath folder
    let checkpoint = if File.Exists(Training.Checkpoint.modelPath (VaeRun.checkpoints folder) "best") then "best" else "last"
    let config, vae = VaeRun.load (folder, checkpoint)
    use _ = vae.Parameters
    use scope = new TensorScope()
    let x, labels = testImages config dataFolder
    let samples =
        [| for file in grids folder "samples" ->
               { Epoch = epochOf file
                 Png = File.ReadAllBytes file
                 Caption = "left: decoder means; right: draws from p(x|z); the same z at every epoch" } |]
    { Name = Path.GetFileName folder
      Config = ConfigJson.read (VaeRun.configPath folder)
      Metrics = MetricsTable.read (VaeRun.metricsPath folder)
      Samples = samples
      Reconstructions = grids folder "recon" |> Array.tryLast |> Option.map File.ReadAllBytes
      Manifold = if config.Latent = 2 then Some(manifold vae 20) else None
      Latents = Some(latents vae x labels)
      Interpolations = Some(interpolations vae (pairsOfDigits x labels) 10) }
