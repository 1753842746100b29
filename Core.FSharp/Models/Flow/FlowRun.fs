/// The normalizing flow as a family of the shared training loop: Adam on the mean bits per
/// dimension, with linear warm-up, per-epoch decay and gradient-norm clipping.
module Research.Core.Models.Flow.FlowRun

open System
open Research.Core
open Research.Core.Data
open Research.Core.IO
open Research.Core.Optim
open Research.Core.Training

/// Images in [0, 1] as pixel values 0..255.
let pixels (x: Tensor) = (x * 255.0).round ()

/// Mean bits per dimension over a subset, with fixed dequantization noise (`seed`).
let evaluate (flow: Flow) (subset: ImageSubset) (seed: int64) =
    use _ = torch.no_grad ()
    use noise = new Generator(seed)
    Flow.withNoise flow noise (fun () ->
        let mutable total = 0.0
        for batch in subset.batches (500, shuffle = false) do
            use scope = new TensorScope()
            total <- total + (Flow.bitsPerDim flow (Flow.logLikelihood flow (pixels batch.x))).sum().item ()
        total / float subset.count)

/// 64 samples from the same z at every epoch, at temperature 1 and 0.7, as one PNG grid each.
let private sampleGrids (flow: Flow) (seed: int) =
    use _ = torch.no_grad ()
    [ for kind, temperature in [ "samples", 1.0; "samples-t0.7", 0.7 ] ->
          use scope = new TensorScope()
          use fixedNoise = new Generator(int64 seed + 2L)
          let x = Flow.sample flow 64 temperature fixedNoise / 255.0
          kind, Png.Grid(x.toFloat32Array (), flow.Image.Height, flow.Image.Width, 8, 8) ]

/// A fresh flow (drawn from the run's generator) lowering the mean bits per dimension with Adam:
/// a linear warm-up, then the rate times `decay` each epoch.
let trainer (config: FlowConfig) (settings: RunSettings) (data: Mnist) (generator: Generator) : TrainingRun =
    let flow = FlowModel.create generator config data.train.imageShape Float32
    let stepsPerEpoch = float ((data.train.count + int64 settings.BatchSize - 1L) / int64 settings.BatchSize)
    TrainingRun.Lowering(
        "bpd",
        flow.Parameters,
        new Adam(flow.Parameters, lr = config.LearningRate, ClipNorm = config.Clip),
        (fun batch -> Flow.bitsPerDim flow (Flow.logLikelihood flow (pixels batch.x))),
        (fun () -> evaluate flow data.validation (int64 settings.Seed + 1L)),
        (fun _ -> sampleGrids flow settings.Seed),
        learningRate = fun step -> config.LearningRate * Warmup.factor config.Warmup step * config.Decay ** floor (float (step - 1L) / stepsPerEpoch))

let family = Family.create "flow" FlowConfig.settings FlowConfig.runDefaults trainer

/// A trained flow from a run folder's checkpoint ("best" or "last"), with the run's settings; the
/// caller disposes its Parameters.
let load (folder: string, checkpoint: string) =
    Loop.loadModel family (folder, checkpoint) (fun config -> FlowModel.create Generator.Default config Mnist.imageShape Float32) _.Parameters

/// Test bits per dimension, with the importance-weighted estimate over K dequantization samples
/// (the UvA tutorial): log p(x) ~ log (1/K) sum_k p(x, u_k), tighter than one sample's bound.
/// Returns (one-sample bpd, K-sample bpd, the K-sample bpd's standard error), over the images.
let evaluateTest (flow: Flow) (images: Tensor) (k: int) (seed: int64) (report: Progress -> unit) =
    if k < 1 then invalidArg "samples" $"--samples must be at least 1 (got {k})"
    use _ = torch.no_grad ()
    use noise = new Generator(seed)
    Flow.withNoise flow noise (fun () ->
        let n = images.size 0
        let mutable single, weighted, weightedSq = 0.0, 0.0, 0.0
        let imagesDone = Progress.counter "test bits per dimension" n report
        for start in 0L .. 200L .. n - 1L do
            use scope = new TensorScope()
            let x = pixels (images.narrow (0, start, min 200L (n - start)))
            let draws = torch.stack ([ for _ in 1 .. k -> Flow.logLikelihood flow x ], 0)
            single <- single + (Flow.bitsPerDim flow (draws.select (0, 0L))).sum().item ()
            let bpd = Flow.bitsPerDim flow (draws.logsumexp (dim = 0) - log (float k))
            weighted <- weighted + bpd.sum().item ()
            weightedSq <- weightedSq + bpd.square().sum().item ()
            imagesDone (start + x.size 0)
        let count = float n
        let mean = weighted / count
        single / count, mean, sqrt (max 0.0 (weightedSq / count - mean * mean) / count))

/// `flow eval`: the test bits per dimension of a run's checkpoint on the MNIST test set (its first
/// `limit` images; 0: all), importance-weighted over `samples` dequantization samples, beside the
/// one-sample figure (an upper bound: the dequantization bound of Ho et al. 2019); written as an
/// Evaluation into the run's eval/ folder. Returns it and its path.
let evaluateRun (folder: string, checkpoint: string, samples: int, limit: int, seed: int, threads: int, dataFolder: string option)
                (report: Progress -> unit) =
    if limit < 0 then invalidArg "limit" $"--limit must be positive, or 0 for all images (got {limit})"
    let config, settings, flow = load (folder, checkpoint)
    use _ = flow.Parameters
    Family.useThreadsOf family config threads
    use mnist = Family.mnist settings dataFolder
    use test = mnist.test.all ()
    use images = if limit > 0 then test.x.narrow (0, 0L, min (int64 limit) (test.x.size 0)) else test.x.clone ()
    let single, weighted, stderr = evaluateTest flow images samples (int64 seed) report
    let run = RunFolder folder
    let source = "test" + (if limit > 0 then $"-first{images.size 0}" else "")
    let evaluation =
        { Measure = "bits per dimension"; Unit = "bits per dimension"; Estimate = weighted; StdErr = stderr
          Bound = Some("one dequantization sample", single)
          Checkpoint = checkpoint; Epoch = Checkpoint.epoch (run.Checkpoint checkpoint)
          Data = "MNIST test set"; Images = int (images.size 0); Samples = samples; Seed = seed
          Settings = Evaluation.settings source samples seed []
          Details = [] }
    evaluation, Evaluation.write run evaluation

/// Images at a temperature, [n; C; H; W] in [0, 1].
let sample (flow: Flow) (temperature: float) (seed: int64) =
    SampleFiles.drawing seed (fun generator count -> Flow.sample flow count temperature generator / 255.0)

/// `flow sample`: a checkpoint's images at a temperature, handed to `save` (which writes them).
let writeSamples (folder: string, checkpoint: string, temperature: float, seed: int, threads: int) (save: SampleFiles.Drawing -> 'T) =
    if not (temperature > 0.0 && Double.IsFinite temperature) then
        invalidArg "temperature" $"--temperature must be a positive, finite number (got {temperature})"
    let config, _, flow = load (folder, checkpoint)
    use _ = flow.Parameters
    Family.useThreadsOf family config threads
    save (sample flow temperature (int64 seed))
