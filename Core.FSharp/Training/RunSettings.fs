namespace Research.Core.Training

open System

/// The settings every training run shares, whatever its model: written into config.json beside the
/// model's own settings.
type RunSettings =
    { Epochs: int
      BatchSize: int
      /// Seeds the initialisation, the validation split, the batch order and the model's noise.
      Seed: int
      /// Threads for the run (how they are split between libtorch's and OpenBLAS's pools is the
      /// model's choice); at most the machine's cores.
      Threads: int
      /// Images held out of the 60k MNIST training set for validation and for choosing the best checkpoint.
      ValidationSize: int
      /// Train on N of the training images, a seeded random subset (0 = all); for quick runs and tests.
      TrainLimit: int
      /// Epochs at which the model's image grids are saved (0 = before training).
      ImageEpochs: int list }

module RunSettings =
    let defaults =
        { Epochs = 10
          BatchSize = 128
          Seed = 1
          Threads = 2
          ValidationSize = 10000
          TrainLimit = 0
          ImageEpochs = [ 0; 1; 5; 10 ] }

    /// Rejects settings that cannot train, with the reason (ArgumentException).
    let validate (s: RunSettings) =
        let positive name v = if v <= 0 then invalidArg name $"--{name} must be positive (got {v})"
        positive "epochs" s.Epochs
        positive "batch-size" s.BatchSize
        let cores = Environment.ProcessorCount
        if s.Threads < 1 || s.Threads > cores then
            invalidArg "threads" $"--threads must be between 1 and this machine's {cores} cores (got {s.Threads})"
        if s.ValidationSize < 1 || s.ValidationSize >= 60000 then
            invalidArg "validation" $"--validation must be between 1 and 59999 images: the best checkpoint is chosen on them (got {s.ValidationSize})"
        if s.TrainLimit < 0 then invalidArg "limit" $"--limit must be positive, or 0 for all images (got {s.TrainLimit})"
        let left = 60000 - s.ValidationSize
        if s.TrainLimit > left then
            invalidArg "limit" $"--limit {s.TrainLimit} asks for more training images than the {left} that MNIST's 60000 leave after --validation {s.ValidationSize}"
        if s.ImageEpochs |> List.exists (fun e -> e < 0) then invalidArg "image-epochs" "--image-epochs must be epochs, 0 or more"
        s

    /// The run settings' declaration, with a family's defaults (its epochs and image epochs).
    let settings (defaults: RunSettings) : Settings<RunSettings> =
        Settings.declare
            [ Setting.int "epochs" "epochs" "epochs to train (with --resume: the total to reach)" _.Epochs (fun v s -> { s with Epochs = v })
              |> Setting.resumable
              Setting.int "batch-size" "batch_size" "minibatch size (data-parallel: the global batch, shared out among the ranks)" _.BatchSize (fun v s -> { s with BatchSize = v })
              Setting.int "seed" "seed" "random seed (initialisation, validation split, batch order, noise)" _.Seed (fun v s -> { s with Seed = v })
              Setting.int "threads" "threads" $"threads, at most the machine's {Environment.ProcessorCount} cores (the model splits them between libtorch and OpenBLAS; data-parallel: per rank)"
                  _.Threads (fun v s -> { s with Threads = v })
              |> Setting.resumable
              Setting.int "validation" "validation_size" "training images held out for validation (at least 1: the best checkpoint is chosen on them)"
                  _.ValidationSize (fun v s -> { s with ValidationSize = v })
              Setting.int "limit" "train_limit" "train on N training images only, a seeded random subset (0 = all)" _.TrainLimit (fun v s -> { s with TrainLimit = v })
              Setting.ints "image-epochs" "image_epochs" "epochs at which image grids are saved, comma-separated (0 = before training)"
                  _.ImageEpochs (fun v s -> { s with ImageEpochs = v })
              |> Setting.resumable ]
            defaults
            validate

    let private declared = settings defaults

    let write (w: Text.Json.Utf8JsonWriter) (s: RunSettings) = Settings.write declared w s

    let read (r: ConfigReader) = Settings.read declared r

    /// A resume's settings: those the command line left out (named by their flags, "batch-size")
    /// are the run's own, its threads at most this machine's cores.
    let resumed (saved: RunSettings) (leftOut: string list) (s: RunSettings) =
        let s = Settings.resumed declared saved leftOut s
        { s with Threads = min s.Threads Environment.ProcessorCount }

    /// What a resumed run must keep (it may ask for more epochs, other threads or image epochs):
    /// one line per differing setting.
    let differences (saved: RunSettings) (requested: RunSettings) = Settings.differences declared saved requested

    /// The settings a resumed run must keep that differ between two records: (flag, a, b).
    let differing (a: RunSettings) (b: RunSettings) = Settings.differing declared a b
