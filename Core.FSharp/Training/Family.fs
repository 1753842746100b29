namespace Research.Core.Training

open System
open System.Text.Json
open Research.Core
open Research.Core.Data
open Research.Core.Nn
open Research.Core.Optim

/// Which way a metric improves.
type Better =
    | Higher
    | Lower

/// The validation column that picks the best checkpoint (the ELBO, higher; bits per dimension, lower).
type Headline = { Column: string; Better: Better }

/// One training step's outcome.
type StepResult =
    { /// The minimised objective of the batch, summed over its images: checked for divergence and
      /// shown, per image, as the running figure.
      Loss: float
      /// The batch's sums over its images of the run's TrainColumns, in order (the loop logs
      /// each epoch's per-image means).
      Sums: float[] }

/// How a step's minimised objective combines its batch's images: their mean (most objectives) or
/// their sum (pytorch/examples' VAE). Data-parallel training weighs each rank's gradients by it, so
/// that an update equals that of one process on the whole batch.
type BatchObjective =
    | MeanOverImages
    | SumOverImages

/// A model in training, as the shared loop drives it: built by a family for one run, it owns its
/// networks, optimizers and generators.
type TrainingRun =
    { /// Every network's parameters and buffers under their PyTorch state_dict names: what
      /// last.safetensors and best.safetensors hold.
      Model: Parameters
      Optimizers: (string * Optimizer) list
      /// The random generators the model draws from, besides the run's "train" generator (which
      /// the loop owns and also draws the batch order from); all are saved for an exact resume.
      Generators: (string * Generator) list
      TrainColumns: string list
      ValidationColumns: string list
      /// The validation column that picks best.safetensors; None for a family without one (a GAN:
      /// no validation figure says which epoch's generator is best), which then has no best file.
      Headline: Headline option
      /// One optimisation step (in training mode) on a batch of images [B, C, H, W] in [0, 1].
      Step: Batch -> StepResult
      Objective: BatchObjective
      /// The ValidationColumns on the validation images (in evaluation mode), in order.
      Validate: unit -> float[]
      /// The grids to save after an epoch (0: before training), as (kind, PNG bytes): they go to
      /// images/<kind>-epoch-NNN.png.
      Images: int -> (string * byte[]) list }

    interface IDisposable with
        member t.Dispose() =
            for _, o in t.Optimizers do o.Dispose()
            for _, g in t.Generators do g.Dispose()
            t.Model.Dispose()

    /// The run of a model that lowers one objective, averaged over each batch's images, with one
    /// Adam (a flow's bits per dimension, DDPM's simple loss): train_<name> logs the objective's
    /// mean, val_<name> is `validate ()`, and the best checkpoint has the lowest. `learningRate`
    /// gives step n's rate (n counts from 1 in Adam's state, so a resumed run continues its
    /// schedule; default: Adam's own); `afterStep` runs after each update with n (a weight average).
    static member Lowering
        (
            name: string,
            model: Parameters,
            adam: Adam,
            objective: Batch -> Tensor,
            validate: unit -> float,
            images: int -> (string * byte[]) list,
            ?learningRate: int64 -> float,
            ?afterStep: int64 -> unit
        ) =
        { Model = model
          Optimizers = [ "adam", adam :> Optimizer ]
          Generators = []
          TrainColumns = [ $"train_{name}" ]
          ValidationColumns = [ $"val_{name}" ]
          Headline = Some { Column = $"val_{name}"; Better = Lower }
          Step =
            fun batch ->
                let step = adam.stepCount + 1L
                learningRate |> Option.iter (fun rate -> adam.lr <- rate step)
                adam.zero_grad ()
                let perImage = objective batch
                perImage.mean().backward ()
                adam.step ()
                afterStep |> Option.iter (fun f -> f step)
                let sum = perImage.sum().item ()
                { Loss = sum; Sums = [| sum |] }
          Objective = MeanOverImages
          Validate = fun () -> [| validate () |]
          Images = images }

/// A model family: its settings, declared once (the command line's options, config.json and a
/// resume's checks derive from them), and how a run of it is built. A new family gives one of
/// these to `Loop.train`; the loop does the rest.
type Family<'Config> =
    { /// The config's "model" value, e.g. "vae".
      Name: string
      Settings: Settings<'Config>
      /// The run settings it starts from (its epochs and image epochs).
      RunDefaults: RunSettings
      /// (libtorch intra-op threads, OpenBLAS threads) for a run given `threads`.
      Threads: 'Config -> int -> int * int
      /// The images the run trains on, with the run's validation split.
      LoadData: 'Config -> RunSettings -> string option -> Mnist
      /// A freshly initialised model in training, drawing its initial weights and its noise from
      /// the run's generator.
      Create: 'Config -> RunSettings -> Mnist -> Generator -> TrainingRun }

module Family =
    /// MNIST with the run's validation split and training limit (from <dataFolder>/mnist, or the
    /// workspace's data folder).
    let mnist (settings: RunSettings) (dataFolder: string option) =
        let folder = dataFolder |> Option.map (fun f -> IO.Path.Combine(f, "mnist"))
        Mnist.load (?folder = folder, validationSize = settings.ValidationSize, seed = int64 settings.Seed,
                    trainLimit = settings.TrainLimit)

    /// A family of `settings` that trains on MNIST (the run's split) with every thread in libtorch's
    /// pool: its convolutions run there, and so do its linear layers' products (oneDNN's sgemm,
    /// native/linear.cpp); a family whose work runs on OpenBLAS (libtorch's mm and bmm), or that
    /// reads other data, changes that with `{ Family.create ... with Threads = ... }`.
    let create (name: string) (settings: Settings<'C>) (runDefaults: RunSettings) (trainer: 'C -> RunSettings -> Mnist -> Generator -> TrainingRun) =
        { Name = name
          Settings = settings
          RunDefaults = runDefaults
          Threads = fun _ threads -> threads, 1
          LoadData = fun _ run dataFolder -> mnist run dataFolder
          Create = trainer }

    /// A run's saved configuration, read as the family's settings and the run settings; the family
    /// must be the one that wrote it.
    let readConfig (family: Family<'C>) (run: RunFolder) =
        run.ReadConfig(fun r ->
            let name = r.String "model"
            if name <> family.Name then r.Fail $"this is a {name} run, not a {family.Name} run"
            Settings.read family.Settings r, RunSettings.read r)

    /// Applies a (libtorch intra-op, OpenBLAS) thread split.
    let useThreads (intraOp: int, blas: int) =
        torch.set_num_threads intraOp
        torch.set_openblas_threads blas |> ignore

    /// Applies the family's own split of `threads` (at most the machine's cores), as its runs do.
    let useThreadsOf (family: Family<'C>) (config: 'C) (threads: int) =
        useThreads (family.Threads config (RunSettings.validate { RunSettings.defaults with Threads = threads }).Threads)
