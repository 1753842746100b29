/// The VAE as a family of the shared training loop (Training/Loop.fs), and the evaluation of a
/// trained run. Its run folder holds images/samples-epoch-NNN.png (decoder means | draws from the
/// same z every epoch) and images/recon-epoch-NNN.png (validation images over their reconstructions).
module Research.Core.Models.Vae.VaeRun

open System
open System.Diagnostics
open System.IO
open Research.Core
open Research.Core.Data
open Research.Core.IO
open Research.Core.Optim
open Research.Core.Training

/// Images as the model sees them under the configured binarization: dynamic binarization draws
/// afresh from the generator, static binarization was applied once to the whole data set.
let private prepare (config: VaeConfig) (generator: Generator) (x: Tensor) =
    match config.Binarization with
    | Dynamic -> torch.bernoulli (x, generator)
    | Static | NoBinarization -> x

/// The data a run sees: MNIST with the run's validation split, statically binarized once if asked.
let loadData (config: VaeConfig) (settings: RunSettings) (dataFolder: string option) =
    let mnist = Family.mnist settings dataFolder
    match config.Binarization with
    | Static ->
        let b = mnist.binarized (int64 settings.Seed + 7L)
        mnist.Dispose()
        b
    | Dynamic | NoBinarization -> mnist

/// Means over a data subset without gradients, with fixed randomness (`seed`) so that epochs
/// compare: (ELBO, KL, reconstruction term) per example.
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

/// The sample grid (decoder means | Bernoulli or Gaussian draws) from fixed latents, and
/// reconstructions (originals over decodings) of the first 16 validation images.
let private images (vae: Vae) (config: VaeConfig) (seed: int) (validation: ImageSubset) =
    use _ = torch.no_grad ()
    use scope = new TensorScope()
    use latentGenerator = new Generator(int64 seed + 2L)
    use drawGenerator = new Generator(int64 seed + 3L)
    let image = vae.Image
    let pixels = int64 image.Pixels
    let z = torch.randn ([| 64L; int64 config.Latent |], generator = latentGenerator)
    let p = vae.Decode z
    let grid (images: Tensor) rows cols = Png.Grid(images.toFloat32Array (), image.Height, image.Width, rows, cols)
    let samples = torch.cat ([ p.mean.view (8L, 8L, pixels); p.sample(drawGenerator).view (8L, 8L, pixels) ], 1)
    // A batch lives only while it is enumerated, so keep a copy of the first one.
    let originals = validation.batches (16, shuffle = false) |> Seq.map (fun b -> b.x.clone ()) |> Seq.head
    let x = prepare config drawGenerator originals
    let decoded = (vae.Decode((vae.Encode(x.flatten (1))).mu)).mean
    [ "samples", grid samples 8 16
      "recon", grid (torch.cat ([ x.flatten (1); decoded ], 0)) 2 16 ]

/// One Adam step on a minibatch's negative ELBO (or -L_k with importance samples), summed over the
/// batch as pytorch/examples does; the sums of the ELBO and its terms are logged.
let private step (vae: Vae) (adam: Adam) (config: VaeConfig) (generator: Generator) (batch: Batch) =
    let x = prepare config generator batch.x
    adam.zero_grad ()
    let terms, bound =
        if config.ImportanceSamples = 1 then Objectives.elboTerms vae (Some generator) x, None
        else
            let bound, terms = Objectives.iwaeWithTerms vae (Some generator) config.ImportanceSamples x
            terms, Some bound
    let kl, recon = terms.Kl.sum (), terms.Recon.sum ()
    // The loss: -ELBO summed over the batch (= sum KL - sum E_q[log p(x|z)]), or -L_k.
    let total =
        match bound with
        | None -> kl - recon
        | Some b -> -b.sum ()
    total.backward ()
    adam.step ()
    let kl, recon = kl.item (), recon.item ()
    { Loss = total.item (); Sums = [| recon - kl; kl; recon |] }

/// A freshly initialised VAE (drawn from the run's generator) with its Adam, for the training loop.
let trainer (config: VaeConfig) (settings: RunSettings) (data: Mnist) (generator: Generator) : TrainingRun =
    let vae = VaeModel.create generator config data.train.imageShape
    let adam = new Adam(vae.Parameters, lr = config.LearningRate)
    { Model = vae.Parameters
      Optimizers = [ "adam", adam ]
      Generators = []
      TrainColumns = [ "train_elbo"; "kl"; "recon" ]
      ValidationColumns = [ "val_elbo"; "val_kl"; "val_recon" ]
      Headline = Some { Column = "val_elbo"; Better = Higher }
      Step = step vae adam config generator
      Objective = SumOverImages
      Validate =
        fun () ->
            let elbo, kl, recon = evaluateElbo vae config data.validation (int64 settings.Seed + 1L)
            [| elbo; kl; recon |]
      Images = fun _ -> images vae config settings.Seed data.validation }

/// The VAE family: what the shared training loop needs to know of it.
let family =
    { Family.create "vae" VaeConfig.settings RunSettings.defaults trainer with LoadData = loadData }

/// Trains the configured VAE in `folder`, or resumes it (see Loop.train).
let train (config: VaeConfig, settings: RunSettings, folder: string, resume: bool, dataFolder: string option, report: Progress -> unit) =
    Loop.train family config settings folder resume dataFolder report

/// A run's saved settings.
let readConfig (folder: string) = Family.readConfig family (RunFolder folder)

/// A trained VAE from a run folder's checkpoint ("best" or "last") with the run's settings; the
/// caller disposes its Parameters.
let load (folder: string, checkpoint: string) =
    Loop.loadModel family (folder, checkpoint) (fun config -> use generator = new Generator(0L) in VaeModel.create generator config Mnist.imageShape) _.Parameters

/// Images from the prior through the decoder, [n; C; H; W] in [0, 1]: the decoder means, or draws
/// from p(x|z) when `draw` (a Gaussian decoder's draws clamped to [0, 1]).
let sample (vae: Vae) (config: VaeConfig) (seed: int64) (draw: bool) =
    SampleFiles.drawing seed (fun generator count ->
        let p = vae.Decode(torch.randn ([| int64 count; int64 config.Latent |], generator = generator))
        let images = if draw then p.sample generator else p.mean
        images.clamp(min = 0.0, max = 1.0).view (Array.append [| int64 count |] vae.Image.Dims))

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
/// [n; C; H; W] or [n; pixels] in [0, 1]; `binarize` draws each image once from Bernoulli(intensity)
/// with the seeded generator (how a binarized model must see grey-level test images).
let evaluate (vae: Vae, images: Tensor, binarize: bool, k: int, chunk: int, seed: int64, report: Progress -> unit) =
    use _ = torch.no_grad ()
    use generator = new Generator(seed)
    let total = images.size 0
    if total = 0L then invalidArg "images" "there are no images to evaluate"
    let progress = Progress.withRunning $"log p(x), k={k}" total "log p(x)" report
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
        // A batch at a large k takes minutes: within it, the images count as done in the share of
        // their k samples drawn, and the running mean is that of the batches finished.
        let drawn samples =
            if samples < k then progress (start + x.size 0 * int64 samples / int64 k) (if start = 0L then nan else sum / float start)
        let ll = Objectives.logLikelihoodReporting drawn vae (Some generator) k chunk x
        sum <- sum + ll.sum().item ()
        sumSq <- sumSq + ll.square().sum().item ()
        let seen = start + x.size 0
        progress seen (sum / float seen)
    let n = float total
    let mean = sum / n
    { Images = total; Elbo = (recon - kl) / n; Kl = kl / n; Recon = recon / n; LogLikelihood = mean
      LogLikelihoodStdErr = sqrt (max 0.0 (sumSq / n - mean * mean) / n); K = k }
