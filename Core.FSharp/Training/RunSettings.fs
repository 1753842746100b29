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

    let write (w: Text.Json.Utf8JsonWriter) (s: RunSettings) =
        w.WriteNumber("epochs", s.Epochs)
        w.WriteNumber("batch_size", s.BatchSize)
        w.WriteNumber("seed", s.Seed)
        w.WriteNumber("threads", s.Threads)
        w.WriteNumber("validation_size", s.ValidationSize)
        w.WriteNumber("train_limit", s.TrainLimit)
        ConfigWriter.ints w "image_epochs" s.ImageEpochs

    let read (r: ConfigReader) =
        { Epochs = r.Int "epochs"
          BatchSize = r.Int "batch_size"
          Seed = r.Int "seed"
          Threads = r.Int "threads"
          ValidationSize = r.Int "validation_size"
          TrainLimit = r.Int "train_limit"
          ImageEpochs = r.Ints "image_epochs" }

    /// A resume's settings: those the command line left out (named by their flags, "batch-size")
    /// are the run's own, its threads at most this machine's cores.
    let resumed (saved: RunSettings) (leftOut: string list) (s: RunSettings) =
        let pick flag own given = if List.contains flag leftOut then own else given
        { Epochs = pick "epochs" saved.Epochs s.Epochs
          BatchSize = pick "batch-size" saved.BatchSize s.BatchSize
          Seed = pick "seed" saved.Seed s.Seed
          Threads = pick "threads" (min saved.Threads Environment.ProcessorCount) s.Threads
          ValidationSize = pick "validation" saved.ValidationSize s.ValidationSize
          TrainLimit = pick "limit" saved.TrainLimit s.TrainLimit
          ImageEpochs = pick "image-epochs" saved.ImageEpochs s.ImageEpochs }

    /// What a resumed run must keep (it may ask for more epochs, other threads or image epochs):
    /// one line per differing field.
    let differences: RunSettings -> RunSettings -> string list =
        Differences.between
            [ "batch size", (fun s -> box s.BatchSize)
              "seed", (fun s -> box s.Seed)
              "validation size", (fun s -> box s.ValidationSize)
              "train limit", (fun s -> box s.TrainLimit) ]
