namespace Research.Core.Models.Vae

open System
open System.IO
open System.Text.Json

type Architecture =
    /// Fully connected layers on the flat 784-pixel image (pytorch/examples' VAE).
    | Mlp
    /// Strided convolutions in the encoder, transposed convolutions in the decoder (DCGAN-like).
    | Conv

type LikelihoodKind =
    /// Bernoulli pixels (logits), for binarized images.
    | Bernoulli
    /// Gaussian pixels with a fixed standard deviation, for grey-level images.
    | GaussianFixed of sigma: float
    /// Gaussian pixels with one learned log-variance, for grey-level images.
    | GaussianLearned

type Binarization =
    /// A fresh Bernoulli draw of every image each time it is used (the IWAE paper's protocol).
    | Dynamic
    /// One seeded draw, fixed for the whole run.
    | Static
    /// Grey levels in [0, 1] as they are.
    | NoBinarization

/// Everything that defines a VAE run; written as config.json in the run folder.
type VaeConfig =
    { /// Latent size: 20 as in pytorch/examples; 2 to draw the manifold.
      Latent: int
      /// Hidden layer sizes of the MLP encoder (the decoder mirrors them); for conv, the channels
      /// of the two strided convolutions.
      Hidden: int list
      Architecture: Architecture
      Likelihood: LikelihoodKind
      Binarization: Binarization
      Epochs: int
      BatchSize: int
      /// Adam's step size (1e-3 as in pytorch/examples).
      LearningRate: float
      /// Samples per image in the training objective: 1 trains on the ELBO (closed-form KL, as
      /// pytorch/examples); k > 1 on the tighter importance-weighted bound L_k (Burda et al. 2016).
      ImportanceSamples: int
      Seed: int
      /// libtorch intra-op threads (OpenBLAS itself is kept at one thread to avoid oversubscription).
      Threads: int
      /// Images held out of the 60k MNIST training set for validation.
      ValidationSize: int
      /// Train on N of the training images, a seeded random subset (0 = all); for quick runs and tests.
      TrainLimit: int
      /// Epochs at which sample and reconstruction grids are saved (0 = before training).
      ImageEpochs: int list }

module VaeConfig =
    /// pytorch/examples' VAE: 784-400-20, Bernoulli, batch 128, Adam 1e-3.
    let defaults =
        { Latent = 20
          Hidden = [ 400 ]
          Architecture = Mlp
          Likelihood = Bernoulli
          Binarization = Dynamic
          Epochs = 10
          BatchSize = 128
          LearningRate = 1e-3
          ImportanceSamples = 1
          Seed = 1
          Threads = 2
          ValidationSize = 10000
          TrainLimit = 0
          ImageEpochs = [ 0; 1; 5; 10 ] }

    let architectureName = function Mlp -> "mlp" | Conv -> "conv"

    let parseArchitecture (s: string) =
        match s.ToLowerInvariant() with
        | "mlp" -> Mlp
        | "conv" -> Conv
        | _ -> invalidArg "architecture" $"unknown architecture '{s}' (expected mlp or conv)"

    let likelihoodName = function Bernoulli -> "bernoulli" | GaussianFixed _ | GaussianLearned -> "gaussian"

    /// "bernoulli", "gaussian" (learned variance) or "gaussian:0.1" (fixed sigma).
    let parseLikelihood (s: string) =
        match s.ToLowerInvariant().Split(':') with
        | [| "bernoulli" |] -> Bernoulli
        | [| "gaussian" |] -> GaussianLearned
        | [| "gaussian"; sigma |] ->
            match Double.TryParse(sigma, Globalization.NumberStyles.Float, Globalization.CultureInfo.InvariantCulture) with
            | true, v when v > 0.0 -> GaussianFixed v
            | _ -> invalidArg "likelihood" $"the fixed sigma in '{s}' must be a positive number"
        | _ -> invalidArg "likelihood" $"unknown likelihood '{s}' (expected bernoulli, gaussian or gaussian:SIGMA)"

    let binarizationName = function Dynamic -> "dynamic" | Static -> "static" | NoBinarization -> "none"

    let parseBinarization (s: string) =
        match s.ToLowerInvariant() with
        | "dynamic" -> Dynamic
        | "static" -> Static
        | "none" -> NoBinarization
        | _ -> invalidArg "binarization" $"unknown binarization '{s}' (expected dynamic, static or none)"

    /// Rejects configurations that cannot train, with the reason.
    let validate (c: VaeConfig) =
        let positive name v = if v <= 0 then invalidArg name $"{name} must be positive (got {v})"
        positive "latent" c.Latent
        positive "epochs" c.Epochs
        positive "batch-size" c.BatchSize
        positive "threads" c.Threads
        positive "importance-samples" c.ImportanceSamples
        if c.Hidden.IsEmpty || c.Hidden |> List.exists (fun h -> h <= 0) then
            invalidArg "hidden" "hidden sizes must be a non-empty list of positive numbers"
        if c.Architecture = Conv && c.Hidden.Length <> 2 then
            invalidArg "hidden" "the conv architecture takes two channel counts (e.g. 32,64)"
        match c.Likelihood with
        | GaussianFixed sigma when not (sigma > 0.0) -> invalidArg "likelihood" $"the fixed Gaussian sigma must be positive (got {sigma})"
        | _ -> ()
        if not (c.LearningRate > 0.0) then invalidArg "lr" $"the learning rate must be positive (got {c.LearningRate})"
        if c.TrainLimit < 0 then invalidArg "limit" $"the training limit must be positive, or 0 for all (got {c.TrainLimit})"
        if c.ValidationSize < 0 || c.ValidationSize >= 60000 then
            invalidArg "validation" $"the validation size must be in [0, 60000) (got {c.ValidationSize})"
        c

    let toJson (c: VaeConfig) =
        use stream = new MemoryStream()
        (use w = new Utf8JsonWriter(stream, JsonWriterOptions(Indented = true))
         w.WriteStartObject()
         w.WriteString("model", "vae")
         w.WriteNumber("latent", c.Latent)
         w.WriteStartArray("hidden")
         for h in c.Hidden do w.WriteNumberValue h
         w.WriteEndArray()
         w.WriteString("architecture", architectureName c.Architecture)
         w.WriteString("likelihood", likelihoodName c.Likelihood)
         match c.Likelihood with
         | GaussianFixed sigma -> w.WriteNumber("gaussian_sigma", sigma)
         | GaussianLearned -> w.WriteString("gaussian_sigma", "learned")
         | Bernoulli -> ()
         w.WriteString("binarization", binarizationName c.Binarization)
         w.WriteNumber("epochs", c.Epochs)
         w.WriteNumber("batch_size", c.BatchSize)
         w.WriteNumber("lr", c.LearningRate)
         w.WriteNumber("importance_samples", c.ImportanceSamples)
         w.WriteNumber("seed", c.Seed)
         w.WriteNumber("threads", c.Threads)
         w.WriteNumber("validation_size", c.ValidationSize)
         w.WriteNumber("train_limit", c.TrainLimit)
         w.WriteStartArray("image_epochs")
         for e in c.ImageEpochs do w.WriteNumberValue e
         w.WriteEndArray()
         w.WriteEndObject())
        Text.Encoding.UTF8.GetString(stream.ToArray())

    /// Reads config.json; `source` names the file in error messages.
    let ofJson (source: string) (json: string) =
        let fail (what: string) = raise (InvalidDataException $"{source}: {what}")
        let doc =
            try JsonDocument.Parse json
            with :? JsonException as e -> fail $"not valid JSON ({e.Message})"
        use doc = doc
        let root = doc.RootElement
        let prop (name: string) =
            match root.TryGetProperty name with
            | true, v -> v
            | _ -> fail $"missing \"{name}\""
        let int name = try (prop name).GetInt32() with :? InvalidOperationException | :? FormatException -> fail $"\"{name}\" is not an integer"
        // Absent from configs written before the field existed; those runs trained on the ELBO.
        let optionalInt name fallback = if root.TryGetProperty(name: string) |> fst then int name else fallback
        let ints name =
            try [ for e in (prop name).EnumerateArray() -> e.GetInt32() ]
            with :? InvalidOperationException | :? FormatException -> fail $"\"{name}\" is not a list of integers"
        let str name =
            let v = prop name
            if v.ValueKind = JsonValueKind.String then v.GetString() else fail $"\"{name}\" is not a string"
        let number name =
            let v = prop name
            let mutable value = 0.0
            if v.ValueKind = JsonValueKind.Number && v.TryGetDouble(&value) then value else fail $"\"{name}\" is not a number"
        try
            let likelihood =
                match str "likelihood" with
                | "gaussian" ->
                    let s = prop "gaussian_sigma"
                    if s.ValueKind = JsonValueKind.Number then GaussianFixed(number "gaussian_sigma") else GaussianLearned
                | other -> parseLikelihood other
            { Latent = int "latent"
              Hidden = ints "hidden"
              Architecture = parseArchitecture (str "architecture")
              Likelihood = likelihood
              Binarization = parseBinarization (str "binarization")
              Epochs = int "epochs"
              BatchSize = int "batch_size"
              LearningRate = number "lr"
              ImportanceSamples = optionalInt "importance_samples" 1
              Seed = int "seed"
              Threads = int "threads"
              ValidationSize = int "validation_size"
              TrainLimit = int "train_limit"
              ImageEpochs = ints "image_epochs" }
        with :? ArgumentException as e -> fail e.Message

    /// The fields that fix the model and the data stream; a resumed run must agree on all of them
    /// (it may ask for more epochs, other threads or other image epochs).
    let private fixedFields: (string * (VaeConfig -> obj)) list =
        [ "latent", (fun c -> box c.Latent)
          "hidden", (fun c -> box c.Hidden)
          "architecture", (fun c -> box c.Architecture)
          "likelihood", (fun c -> box c.Likelihood)
          "binarization", (fun c -> box c.Binarization)
          "batch size", (fun c -> box c.BatchSize)
          "learning rate", (fun c -> box c.LearningRate)
          "importance samples", (fun c -> box c.ImportanceSamples)
          "seed", (fun c -> box c.Seed)
          "validation size", (fun c -> box c.ValidationSize)
          "train limit", (fun c -> box c.TrainLimit) ]

    /// What differs between a saved run's configuration and a requested one, one line per field.
    let differences (saved: VaeConfig) (requested: VaeConfig) =
        [ for name, get in fixedFields do
              let a, b = get saved, get requested
              if a <> b then $"{name}: saved {a}, requested {b}" ]

/// The C# runner's way in: options as they come from the command line, parsed and validated.
type VaeConfig with
    static member Default = VaeConfig.defaults

    static member Create(latent: int, hidden: int[], architecture: string, likelihood: string, binarization: string, epochs: int,
                         batchSize: int, learningRate: float, importanceSamples: int, seed: int, threads: int, validationSize: int, trainLimit: int,
                         imageEpochs: int[]) =
        VaeConfig.validate
            { Latent = latent
              Hidden = List.ofArray hidden
              Architecture = VaeConfig.parseArchitecture architecture
              Likelihood = VaeConfig.parseLikelihood likelihood
              Binarization = VaeConfig.parseBinarization binarization
              Epochs = epochs
              BatchSize = batchSize
              LearningRate = learningRate
              ImportanceSamples = importanceSamples
              Seed = seed
              Threads = threads
              ValidationSize = validationSize
              TrainLimit = trainLimit
              ImageEpochs = List.ofArray imageEpochs }

    member c.ToJson() = VaeConfig.toJson c
