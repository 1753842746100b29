/// The diffusion model's own report: the loss by step, the denoising chain from x_T to x_0, and the
/// sample quality against the number of sampling steps (`diffusion sweep`).
module Research.Core.Models.Diffusion.DiffusionFigures

open System
open System.IO
open System.Text.Json
open Research.Core
open Research.Core.Data
open Research.Core.IO
open Research.Core.Training
open Research.Core.Families

/// The simple loss of the average network by step, over ten equal ranges of t, on the first 64
/// validation images (fixed steps within each range and fixed noise): which steps the model finds
/// hard (the loss is largest near t = 0, where the noise is faint). 64 images keep the report quick:
/// 640 network passes.
let lossBySteps (diffusion: DiffusionRun.Diffusion) (images: Tensor) =
    use _ = torch.no_grad ()
    use generator = new Generator(5L)
    let x0 = DiffusionRun.toModelRange images
    let n = x0.size 0
    let T = diffusion.Schedule.Steps
    [| for bucket in 0 .. 9 ->
           use scope = new TensorScope()
           let low, high = bucket * T / 10, max (bucket * T / 10 + 1) ((bucket + 1) * T / 10)
           let t = torch.randint (int64 low, int64 high, [| n |], generator = generator)
           let noise = torch.randn (x0.shape, generator = generator)
           (diffusion.Predict (Ddpm.qSample diffusion.Schedule x0 t noise) t - noise).square().mean().item () |]

/// Eight images denoised by DDIM over the grid's steps, each shown at eight points of the chain
/// from pure noise (left) to the image (right).
let chain (diffusion: DiffusionRun.Diffusion) (steps: int) =
    use _ = torch.no_grad ()
    use scope = new TensorScope()
    use generator = new Generator(7L)
    let shown = Collections.Generic.List<Tensor>()
    let keep = set [ for i in 0 .. 6 -> i * steps / 7 ]
    let mutable k = 0
    let shape = [| int64 diffusion.Image.Channels; int64 diffusion.Image.Height; int64 diffusion.Image.Width |]
    let record _ (x: Tensor) =
        if keep.Contains k then shown.Add(x.clone ())
        k <- k + 1
    let start = torch.randn (Array.append [| 8L |] shape, generator = generator)
    use generator = new Generator(7L)
    let final = Ddpm.sample diffusion.Schedule diffusion.Predict shape 8 (Some steps) 0.0 generator record
    let frames = start :: List.ofSeq shown @ [ final ]                            // each [8; C; H; W]
    let grid = (torch.stack (frames, 1) + 1.0) / 2.0                              // [8; frames; C; H; W]
    Png.Grid(grid.clamp(0.0, 1.0).toFloat32Array (), diffusion.Image.Height, diffusion.Image.Width, 8, frames.Length)

/// What `diffusion sweep` writes into a run: FID of the average network's samples against the
/// number of sampling steps.
type Sweep = { Checkpoint: string; Images: int; Seed: int; Points: (string * int * float) list }

let sweepPath (folder: string) = Path.Combine(folder, "fid-by-steps.json")

let writeSweep (folder: string) (sweep: Sweep) =
    let json =
        JsonSerializer.Serialize(
            {| checkpoint = sweep.Checkpoint; images = sweep.Images; seed = sweep.Seed
               points = [ for sampler, steps, fid in sweep.Points -> {| sampler = sampler; steps = steps; fid = fid |} ] |},
            JsonSerializerOptions(WriteIndented = true))
    AtomicFile.writeText (sweepPath folder) json

let readSweep (folder: string) =
    let path = sweepPath folder
    if not (File.Exists path) then None
    else
        use doc = JsonDocument.Parse(File.ReadAllText path)
        let o = doc.RootElement
        Some
            { Checkpoint = o.GetProperty("checkpoint").GetString()
              Images = o.GetProperty("images").GetInt32()
              Seed = o.GetProperty("seed").GetInt32()
              Points = [ for p in o.GetProperty("points").EnumerateArray() ->
                             p.GetProperty("sampler").GetString(), p.GetProperty("steps").GetInt32(), p.GetProperty("fid").GetDouble() ] }

/// The panels of a diffusion run, from its best checkpoint (its last if it has none yet).
let panels (folder: string) (dataFolder: string option) =
    let run = RunFolder folder
    let checkpoint = run.BestOrLast
    let config, settings, diffusion = DiffusionRun.load (folder, checkpoint)
    use _ = diffusion.Parameters
    use scope = new TensorScope()
    use data = Family.mnist { settings with TrainLimit = 1 } dataFolder
    use validation = data.validation.all ()
    let first = validation.x.narrow (0, 0L, min 64L (validation.x.size 0))
    let T = config.Steps
    let ranges = [ for b in 0 .. 9 -> $"{b * T / 10}-{(b + 1) * T / 10 - 1}" ]
    [ Bars("The loss by step", "steps t (0 = the faintest noise)", ranges, [ $"{checkpoint} checkpoint, average weights", lossBySteps diffusion first ])
      Images("The denoising chain", $"DDIM over {DiffusionRun.gridSteps config} steps, eta 0: from x_T (left) to x_0 (right)",
             [ checkpoint, chain diffusion (DiffusionRun.gridSteps config) ])
      match readSweep folder with
      | Some sweep ->
          Bars($"FID against the sampling steps ({sweep.Images} samples each, {sweep.Checkpoint} checkpoint)", "sampler and steps",
               [ for sampler, steps, _ in sweep.Points -> $"{sampler} {steps}" ], [ "FID", [| for _, _, fid in sweep.Points -> fid |] ])
      | None -> () ]

/// `diffusion sweep`: the FID of n samples of the average network against the MNIST test set for
/// DDIM with each number of `steps` (eta 0) and, with `ancestral`, ancestral sampling over all T
/// steps: the trade of quality for speed; written into the run for its report. Returns the sweep.
let sweep (folder: string, checkpoint: string, n: int, steps: int list, ancestral: bool, seed: int, threads: int, dataFolder: string option,
           out: Output) =
    if n < 2 then invalidArg "n" $"--n must be at least 2 (got {n})"
    for s in steps do DiffusionRun.checkSampler s 0.0
    let config, settings, diffusion = DiffusionRun.load (folder, checkpoint)
    use _ = diffusion.Parameters
    for s in steps do DiffusionRun.checkSteps config s
    Family.useThreadsOf DiffusionRun.family config threads
    use net = Metrics.FeatureNet.load None
    use mnist = Family.mnist { settings with TrainLimit = 1 } dataFolder
    use test = mnist.test.all ()
    use reference = Metrics.FeatureNet.features net test.x
    let fid (label: string) (sampler: int option) =
        let clock = Diagnostics.Stopwatch.StartNew()
        use images = (DiffusionRun.sample diffusion sampler 0.0 (int64 seed)).Collect(SampleFiles.draw (Progress.counter $"drawing {label}" (int64 n) out.Report) n)
        use features = Metrics.FeatureNet.features net images
        let value = Metrics.SampleQuality.fid reference.Features features.Features
        out.Print $"{label}: FID {value:F2} ({n} samples in {clock.Elapsed.TotalSeconds:F0} s)"
        value
    let points =
        [ for s in steps do
              yield "DDIM", s, fid $"DDIM, {s} steps" (Some s)
          if ancestral then
              yield "ancestral", config.Steps, fid $"ancestral, {config.Steps} steps" None ]
    let result = { Checkpoint = checkpoint; Images = n; Seed = seed; Points = points }
    writeSweep folder result
    result
