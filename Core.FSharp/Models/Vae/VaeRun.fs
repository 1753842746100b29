/// A VAE experiment in a run folder: train (or resume), with metrics, checkpoints and image grids
/// per epoch, and evaluate a trained run. The C# runner calls these with a config and a folder.
///
/// Run folder:  config.json  metrics.csv  checkpoints/{last,best}.safetensors (+ -state files)
///              images/samples-epoch-NNN.png (means | Bernoulli draws)  images/recon-epoch-NNN.png
module Research.Core.Models.Vae.VaeRun

open System
open System.Diagnostics
open System.IO
open Research.Core
open Research.Core.Data
open Research.Core.IO
open Research.Core.Nn
open Research.Core.Optim
open Research.Core.Training

let metricsColumns = [ "epoch"; "train_elbo"; "val_elbo"; "kl"; "recon"; "val_kl"; "val_recon"; "seconds" ]

let configPath (folder: string) = Path.Combine(folder, "config.json")
let checkpoints (folder: string) = Path.Combine(folder, "checkpoints")
let metricsPath (folder: string) = Path.Combine(folder, "metrics.csv")
let imagePath (folder: string) (kind: string) (epoch: int) = Path.Combine(folder, "images", $"{kind}-epoch-{epoch:D3}.png")

/// The configuration saved in a run folder.
let readConfig (folder: string) =
    let path = configPath folder
    if not (File.Exists path) then raise (FileNotFoundException($"{folder} is not a VAE run folder: it has no config.json", path))
    VaeConfig.ofJson path (File.ReadAllText path)

/// How a run's threads are split between libtorch's intra-op pool (OpenMP) and OpenBLAS's:
/// (intra-op threads, OpenBLAS threads). One of the two pools gets them all, since two pools on the
/// same cores oversubscribe them: OpenBLAS for the MLP, whose work is matrix products, and OpenMP
/// for the conv VAE, whose convolutions run in libtorch's own kernels. Measured on the idle 2-core
/// machine with `research bench vae` and the training step at batch 128: the MLP takes 1.8-2.6 s per
/// epoch with (1, 2), 2.7-3.0 s with (1, 1) or (2, 1) and several times longer with (2, 2); the conv
/// VAE 57 ms per step with (1, 1), 66 ms with (2, 1) and 97 ms with (1, 2). While other jobs load the
/// cores, one thread (--threads 1) is fastest for both.
let threadSettings (architecture: Architecture, threads: int) =
    match architecture with
    | Mlp -> 1, threads
    | Conv -> threads, 1

/// Applies threadSettings.
let useThreads (architecture: Architecture, threads: int) =
    let intraOp, blas = threadSettings (architecture, threads)
    torch.set_num_threads intraOp
    torch.set_openblas_threads blas |> ignore

/// Images as the model sees them under the configured binarization: dynamic binarization draws
/// afresh from the generator, static binarization was applied once to the whole data set.
let private prepare (config: VaeConfig) (generator: Generator) (x: Tensor) =
    match config.Binarization with
    | Dynamic -> torch.bernoulli (x, generator)
    | Static | NoBinarization -> x

/// The data a run sees: MNIST (from <dataFolder>/mnist, by default the workspace's data folder) with
/// the run's validation split, statically binarized once if asked.
let loadData (config: VaeConfig) (dataFolder: string option) =
    let folder = dataFolder |> Option.map (fun f -> Path.Combine(f, "mnist"))
    let mnist = Mnist.load (?folder = folder, validationSize = config.ValidationSize, seed = int64 config.Seed, trainLimit = config.TrainLimit)
    match config.Binarization with
    | Static ->
        let b = mnist.binarized (int64 config.Seed + 7L)
        mnist.Dispose()
        b
    | Dynamic | NoBinarization -> mnist

/// Sum of the ELBO terms over a data subset without gradients, with fixed randomness (`seed`) so
/// that epochs compare: (mean ELBO, mean KL, mean reconstruction term) per example.
let evaluateElbo (vae: Vae) (config: VaeConfig) (subset: ImageSubset) (seed: int64) =
    use _ = torch.no_grad ()
    use generator = new Generator(seed)
    let mutable kl, recon = 0.0, 0.0
    for batch in subset.batches (500, shuffle = false) do
        use scope = new TensorScope()
        let terms = Objectives.elboTerms vae (Some generator) (prepare config generator batch.x)
        kl <- kl + terms.Kl.sum().item ()
        recon <- recon + terms.Recon.sum().item ()
    let n = float subset.count
    (recon - kl) / n, kl / n, recon / n

/// Sample grid (decoder means | Bernoulli or Gaussian draws) from fixed latents, and reconstructions
/// (originals over decodings) of fixed validation images, as PNG files for this epoch.
let private saveImages (folder: string) (vae: Vae) (config: VaeConfig) (data: Mnist) (epoch: int) =
    use _ = torch.no_grad ()
    use scope = new TensorScope()
    use latentGenerator = new Generator(int64 config.Seed + 2L)
    use drawGenerator = new Generator(int64 config.Seed + 3L)
    let z = torch.randn ([| 64L; int64 config.Latent |], generator = latentGenerator)
    let p = vae.Decode z
    let grid (images: Tensor) rows cols = Png.Grid(images.toFloat32Array (), 28, 28, rows, cols)
    let samples = torch.cat ([ p.mean.view (8L, 8L, 784L); p.sample(drawGenerator).view (8L, 8L, 784L) ], 1)
    AtomicFile.writeBytes (imagePath folder "samples" epoch) (grid samples 8 16)
    // A batch lives only while it is enumerated, so keep a copy of the first one.
    let originals = data.validation.batches (16, shuffle = false) |> Seq.map (fun b -> b.x.clone ()) |> Seq.head
    let x = prepare config drawGenerator originals
    let decoded = (vae.Decode((vae.Encode(x.flatten (1))).mu)).mean
    AtomicFile.writeBytes (imagePath folder "recon" epoch) (grid (torch.cat ([ x.flatten (1); decoded ], 0)) 2 16)

/// Sums over one training epoch: the loss (the negative training bound), the ELBO's KL and
/// reconstruction terms, and the number of images they cover.
type EpochSums = { Loss: float; Kl: float; Recon: float; Images: int64 }

/// One epoch of Adam steps over the training images, in an order drawn from the generator: each
/// minibatch's negative ELBO (or L_k with importance samples), summed over the batch as
/// pytorch/examples does, is minimised. The
/// training step of `train` (and of `research bench vae`, which times it).
let trainEpoch (vae: Vae, adam: Adam, config: VaeConfig, images: ImageSubset, generator: Generator, epoch: int, report: Progress -> unit) =
    let clock = Stopwatch.StartNew()
    let steps = (images.count + int64 config.BatchSize - 1L) / int64 config.BatchSize
    let mutable loss, kl, recon, seen, step = 0.0, 0.0, 0.0, 0L, 0
    for batch in images.batches (config.BatchSize, generator = generator) do
        use scope = new TensorScope()
        step <- step + 1
        let x = prepare config generator batch.x
        adam.zero_grad ()
        let terms, bound =
            if config.ImportanceSamples = 1 then Objectives.elboTerms vae (Some generator) x, None
            else
                let bound, terms = Objectives.iwaeWithTerms vae (Some generator) config.ImportanceSamples x
                terms, Some bound
        let batchKl, batchRecon = terms.Kl.sum (), terms.Recon.sum ()
        // The loss: -ELBO summed over the batch (= sum KL - sum E_q[log p(x|z)]), or -L_k.
        let total = match bound with None -> batchKl - batchRecon | Some b -> -b.sum ()
        total.backward ()
        let value = total.item ()
        Divergence.check epoch step value
        adam.step ()
        loss <- loss + value
        kl <- kl + batchKl.item ()
        recon <- recon + batchRecon.item ()
        seen <- seen + batch.x.size 0
        report { Stage = $"epoch {epoch}/{config.Epochs}"; Done = int64 step; Total = steps
                 ItemsPerSecond = float seen / clock.Elapsed.TotalSeconds; Running = loss / float seen }
    { Loss = loss; Kl = kl; Recon = recon; Images = seen }

/// Trains the configured VAE in `folder`, or resumes it from its last checkpoint, reporting progress
/// as it goes. Returns the metrics log. A NaN or exploding loss raises TrainingDivergedException
/// after the last good checkpoint (the previous epoch's) is already on disk.
let train (config: VaeConfig, folder: string, resume: bool, dataFolder: string option, report: Progress -> unit) =
    let config = VaeConfig.validate config
    let folder = Path.GetFullPath folder
    useThreads (config.Architecture, config.Threads)
    let existing = File.Exists(configPath folder)
    if existing && not resume then
        raise (InvalidOperationException $"{folder} already holds a run; pass --resume to continue it or choose another --out folder")
    if resume && not existing then
        raise (FileNotFoundException($"nothing to resume: {folder} has no config.json", configPath folder))
    if resume then
        match VaeConfig.differences (readConfig folder) config with
        | [] -> ()
        | diffs -> raise (InvalidOperationException($"the run in {folder} was made with another configuration: " + String.concat "; " diffs))
    Directory.CreateDirectory folder |> ignore
    AtomicFile.writeText (configPath folder) (VaeConfig.toJson config)
    use data = loadData config dataFolder
    use generator = new Generator(int64 config.Seed)
    let vae = VaeModel.create generator config
    use _ = vae.Parameters
    use adam = new Adam(vae.Parameters, lr = config.LearningRate)
    let metadata = [ "config", VaeConfig.toJson config; "format", "research-vae" ]
    let generators = [ "train", generator ]
    let startEpoch, metrics =
        if resume && File.Exists(Checkpoint.modelPath (checkpoints folder) "last") then
            let epoch = Checkpoint.load (checkpoints folder, "last", vae.Parameters, adam, generators)
            let log = MetricsLog.Open(metricsPath folder)
            log.TruncateAfter epoch
            epoch + 1, log
        else
            1, MetricsLog.Create(metricsPath folder, metricsColumns)
    let mutable best =
        match metrics.Column "val_elbo" with
        | [||] -> Double.NegativeInfinity
        | v -> Array.max v
    if startEpoch = 1 && List.contains 0 config.ImageEpochs then saveImages folder vae config data 0
    for epoch in startEpoch .. config.Epochs do
        let clock = Stopwatch.StartNew()
        let sums = trainEpoch (vae, adam, config, data.train, generator, epoch, report)
        let seconds = clock.Elapsed.TotalSeconds
        let valElbo, valKl, valRecon = evaluateElbo vae config data.validation (int64 config.Seed + 1L)
        let n = float sums.Images
        metrics.Append [| float epoch; (sums.Recon - sums.Kl) / n; valElbo; sums.Kl / n; sums.Recon / n; valKl; valRecon; seconds |]
        Checkpoint.save (checkpoints folder, "last", epoch, vae.Parameters, metadata, Some(adam :> Optimizer, generators))
        if valElbo > best then
            best <- valElbo
            Checkpoint.save (checkpoints folder, "best", epoch, vae.Parameters, metadata, None)
        if List.contains epoch config.ImageEpochs then saveImages folder vae config data epoch
    metrics

/// A trained VAE from a run folder's checkpoint ("best" or "last"); the caller disposes its Parameters.
let load (folder: string, checkpoint: string) =
    let config = readConfig folder
    use generator = new Generator(0L)
    let vae = VaeModel.create generator config
    let path = Checkpoint.modelPath (checkpoints folder) checkpoint
    try
        Checkpoint.loadModel (path, vae.Parameters) |> ignore
    with _ ->
        vae.Parameters.Dispose()
        reraise ()
    config, vae

/// Test-set figures of a trained VAE, per example, in nats.
type Evaluation =
    { Images: int64
      Elbo: float
      Kl: float
      Recon: float
      /// Importance-sampled log p(x) with K samples per image.
      LogLikelihood: float
      /// Standard error of the mean log p(x) across images.
      LogLikelihoodStdErr: float
      K: int }

/// The ELBO and the importance-sampled log p(x) (k samples, drawn `chunk` at a time) over images
/// [n; 1; 28; 28] or [n; 784] in [0, 1]; `binarize` draws each image once from Bernoulli(intensity)
/// with the seeded generator (how a binarized model must see grey-level test images).
let evaluate (vae: Vae, images: Tensor, binarize: bool, k: int, chunk: int, seed: int64, report: Progress -> unit) =
    use _ = torch.no_grad ()
    use generator = new Generator(seed)
    let clock = Stopwatch.StartNew()
    let total = images.size 0
    if total = 0L then invalidArg "images" "there are no images to evaluate"
    // Batches small enough that one chunk of k samples stays around 100 MB of activations.
    let batchSize = int64 (max 1 (min 100 (20000 / max 1 (min k chunk))))
    let mutable elbo, kl, recon, sum, sumSq = 0.0, 0.0, 0.0, 0.0, 0.0
    for start in 0L .. batchSize .. total - 1L do
        use scope = new TensorScope()
        let x = images.narrow (0, start, min batchSize (total - start))
        let x = if binarize then torch.bernoulli (x, generator) else x
        let terms = Objectives.elboTerms vae (Some generator) x
        kl <- kl + terms.Kl.sum().item ()
        recon <- recon + terms.Recon.sum().item ()
        let ll = Objectives.logLikelihood vae (Some generator) k chunk x
        sum <- sum + ll.sum().item ()
        sumSq <- sumSq + ll.square().sum().item ()
        let seen = start + x.size 0
        report { Stage = $"log p(x), k={k}"; Done = seen; Total = total
                 ItemsPerSecond = float seen / clock.Elapsed.TotalSeconds; Running = sum / float seen }
    let n = float total
    let mean = sum / n
    { Images = total; Elbo = (recon - kl) / n; Kl = kl / n; Recon = recon / n; LogLikelihood = mean
      LogLikelihoodStdErr = sqrt (max 0.0 (sumSq / n - mean * mean) / n); K = k }
