/// Denoising diffusion as a family of the shared training loop: Adam on the simple loss with
/// warm-up and clipping, and an exponential moving average of the weights (saved with the run as
/// buffers, "ema.*") that sampling, validation and evaluation use.
module Research.Core.Models.Diffusion.DiffusionRun

open System
open Research.Core
open Research.Core.Data
open Research.Core.IO
open Research.Core.Nn
open Research.Core.Optim
open Research.Core.Training

/// A diffusion model: its schedule, the network in training and its average, with both under one
/// state dict ("model.*" parameters, "ema.*" buffers).
type Diffusion =
    { Schedule: Schedule
      Net: UNet.Net
      Ema: UNet.Net
      Parameters: Parameters
      Image: ImageShape }

    /// The averaged network's noise prediction.
    member d.Predict: Ddpm.Predictor = d.Ema.Forward

/// Images in [0, 1] as the model's [-1, 1].
let toModelRange (x: Tensor) = x * 2.0 - 1.0

/// A fresh model drawn from the generator, its average starting at the same weights.
let create (generator: Generator) (config: DiffusionConfig) (image: ImageShape) =
    let net = UNet.create generator image.Channels config.Channels config.Attention
    let ema = UNet.create generator image.Channels config.Channels config.Attention
    use _ = torch.no_grad ()
    for t, source in Array.zip ema.Parameters.tensors net.Parameters.tensors do
        t.requires_grad_ false |> ignore
        t.copy_ source |> ignore
    { Schedule = Schedule.create config.Schedule config.Steps
      Net = net
      Ema = ema
      Parameters = Parameters.compose [ "model", net.Parameters; "ema", Parameters.create ([], ema.Parameters.named) ]
      Image = image }

/// The average's update after step n: ema <- d ema + (1 - d) theta, with d = min(decay, (1 + n) / (10 + n))
/// so that the average is not stuck near the initial weights in a short run.
let updateAverage (diffusion: Diffusion) (decay: float) (step: int64) =
    use _ = torch.no_grad ()
    let d = min decay ((1.0 + float step) / (10.0 + float step))
    for average, weight in Array.zip diffusion.Ema.Parameters.tensors diffusion.Net.Parameters.tensors do
        average.mul_(d).add_ (weight, alpha = 1.0 - d) |> ignore

/// The mean simple loss over a subset, with fixed steps and noise (the generator's), by the average.
let validationLoss (diffusion: Diffusion) (subset: ImageSubset) (seed: int64) =
    use _ = torch.no_grad ()
    use generator = new Generator(seed)
    let mutable total = 0.0
    for batch in subset.batches (250, shuffle = false) do
        use scope = new TensorScope()
        let loss, _ = Ddpm.simpleLoss diffusion.Schedule diffusion.Predict (toModelRange batch.x) generator
        total <- total + loss.sum().item ()
    total / float subset.count

/// Images [n; C; H; W] in [0, 1] from the average: DDIM over `steps` steps with eta, or ancestral
/// sampling over all T steps with None.
let sample (diffusion: Diffusion) (steps: int option) (eta: float) (seed: int64) =
    let shape = [| int64 diffusion.Image.Channels; int64 diffusion.Image.Height; int64 diffusion.Image.Width |]
    SampleFiles.drawing seed (fun generator count ->
        let x = Ddpm.sample diffusion.Schedule diffusion.Predict shape count steps eta generator (fun _ _ -> ())
        ((x + 1.0) / 2.0).clamp (0.0, 1.0))

/// The samples the report and each epoch's grid show: DDIM with 50 steps (or T), eta 0.
let gridSteps (config: DiffusionConfig) = min 50 config.Steps

/// 64 samples from the same noise at every epoch, as one PNG grid.
let private sampleGrid (diffusion: Diffusion) (config: DiffusionConfig) (seed: int) =
    use scope = new TensorScope()
    let x = (sample diffusion (Some(gridSteps config)) 0.0 (int64 seed + 2L)).Collect(SampleFiles.draw ignore 64)
    Png.Grid(x.toFloat32Array (), diffusion.Image.Height, diffusion.Image.Width, 8, 8)

/// A fresh model (drawn from the run's generator) lowering DDPM's simple loss (Ho et al. 2020, eq.
/// 14) with Adam after a linear warm-up; the weights' average follows every step.
let trainer (config: DiffusionConfig) (settings: RunSettings) (data: Mnist) (generator: Generator) : TrainingRun =
    let diffusion = create generator config data.train.imageShape
    TrainingRun.Lowering(
        "loss",
        diffusion.Parameters,
        new Adam(diffusion.Net.Parameters, lr = config.LearningRate, ClipNorm = config.Clip),
        (fun batch -> fst (Ddpm.simpleLoss diffusion.Schedule diffusion.Net.Forward (toModelRange batch.x) generator)),
        (fun () -> validationLoss diffusion data.validation (int64 settings.Seed + 1L)),
        (fun _ -> [ "samples", sampleGrid diffusion config settings.Seed ]),
        learningRate = (fun step -> config.LearningRate * Warmup.factor config.Warmup step),
        afterStep = updateAverage diffusion config.EmaDecay)

let family = Family.create "diffusion" DiffusionConfig.settings DiffusionConfig.runDefaults trainer

/// A trained model from a run folder's checkpoint ("best" or "last"), with the run's settings; the
/// caller disposes its Parameters.
let load (folder: string, checkpoint: string) =
    Loop.loadModel family (folder, checkpoint) (fun config -> use generator = new Generator(0L) in create generator config Mnist.imageShape) _.Parameters

/// Checks a sampler's settings before any work: DDIM steps at least 1, eta finite and >= 0.
let checkSampler (steps: int) (eta: float) =
    if steps < 1 then invalidArg "steps" $"--steps must be at least 1 (got {steps})"
    if not (eta >= 0.0 && Double.IsFinite eta) then invalidArg "eta" $"--eta must be a finite number, 0 or more (got {eta})"

/// Checks that a run has the DDIM steps asked of it: at most its T.
let checkSteps (config: DiffusionConfig) (steps: int) =
    if steps > config.Steps then
        invalidArg "steps" $"--steps {steps} is more than the run's T = {config.Steps} diffusion steps; pass --steps {config.Steps} or fewer"

/// `diffusion sample`: a checkpoint's images by DDIM over `steps` steps with eta, or by ancestral
/// sampling over all T steps, handed to `save` (which writes them).
let writeSamples (folder: string, checkpoint: string, steps: int, ancestral: bool, eta: float, seed: int, threads: int) (save: SampleFiles.Drawing -> 'T) =
    checkSampler steps eta
    let config, _, diffusion = load (folder, checkpoint)
    use _ = diffusion.Parameters
    if not ancestral then checkSteps config steps
    Family.useThreadsOf family config threads
    save (sample diffusion (if ancestral then None else Some steps) eta (int64 seed))

/// `diffusion eval`: the variational bound on the test images (the first `limit`; 0: all) in bits
/// per dimension, Monte Carlo over one step per image, or exact over all T with `allSteps`; written
/// as an Evaluation into the run's eval/ folder. Returns it and its path.
let evaluateRun (folder: string, checkpoint: string, limit: int, allSteps: bool, seed: int, threads: int, dataFolder: string option)
                (report: Progress -> unit) =
    if limit < 0 then invalidArg "limit" $"--limit must be positive, or 0 for all images (got {limit})"
    let config, settings, diffusion = load (folder, checkpoint)
    use _ = diffusion.Parameters
    Family.useThreadsOf family config threads
    use mnist = Family.mnist settings dataFolder
    use test = mnist.test.all ()
    use images = if limit > 0 then test.x.narrow (0, 0L, min (int64 limit) (test.x.size 0)) else test.x.clone ()
    use _ = torch.no_grad ()
    use generator = new Generator(int64 seed)
    let n = images.size 0
    let mutable sum, sumSq = 0.0, 0.0
    // Over all T steps, the images count as done in the share of their steps summed.
    let imagesDone = Progress.counter "the bound" n report
    for start in 0L .. 250L .. n - 1L do
        use scope = new TensorScope()
        // The 8-bit pixel values, scaled to [-1, 1]: the bins of the discretized decoder.
        let x0 = toModelRange ((images.narrow (0, start, min 250L (n - start)) * 255.0).round () / 255.0)
        let stepsDone t = if t < config.Steps then imagesDone (start + x0.size 0 * int64 t / int64 config.Steps)
        let nats = Bound.perImage stepsDone diffusion.Schedule diffusion.Predict x0 allSteps generator
        sum <- sum + nats.sum().item ()
        sumSq <- sumSq + nats.square().sum().item ()
        imagesDone (start + x0.size 0)
    let count = float n
    let mean = sum / count
    // Over the images (and, by Monte Carlo, the steps drawn): the test set is a sample either way.
    let stderr = sqrt (max 0.0 (sumSq / count - mean * mean) / count)
    let dims = diffusion.Image.Pixels
    let run = RunFolder folder
    let source = "test" + (if limit > 0 then $"-first{n}" else "")
    let evaluation =
        { Measure = "variational bound"; Unit = "bits per dimension"
          Estimate = Bound.bitsPerDim mean dims; StdErr = Bound.bitsPerDim stderr dims; Bound = None
          Checkpoint = checkpoint; Epoch = Checkpoint.epoch (run.Checkpoint checkpoint)
          Data = "MNIST test set"; Images = int n; Samples = (if allSteps then config.Steps else 1); Seed = seed
          Settings = Evaluation.settings source (if allSteps then config.Steps else 1) seed [ (if allSteps then "all-steps" else "monte-carlo") ]
          Details = [ "nats", mean ] }
    evaluation, Evaluation.write run evaluation
