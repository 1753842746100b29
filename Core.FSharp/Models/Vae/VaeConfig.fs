namespace Research.Core.Models.Vae

open System
open System.IO
open Research.Core.Training
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

/// The VAE's own settings (the run's are RunSettings); written into config.json.
type VaeConfig =
    { /// Latent size: 20 as in pytorch/examples; 2 to draw the manifold.
      Latent: int
      /// Hidden layer sizes of the MLP encoder (the decoder mirrors them); for conv, the channels
      /// of the two strided convolutions.
      Hidden: int list
      Architecture: Architecture
      Likelihood: LikelihoodKind
      Binarization: Binarization
      /// Adam's step size (1e-3 as in pytorch/examples).
      LearningRate: float
      /// Samples per image in the training objective: 1 trains on the ELBO (closed-form KL, as
      /// pytorch/examples); k > 1 on the tighter importance-weighted bound L_k (Burda et al. 2016).
      ImportanceSamples: int }

module VaeConfig =
    /// pytorch/examples' VAE: 784-400-20, Bernoulli, Adam 1e-3 (batch 128: RunSettings.defaults).
    let defaults =
        { Latent = 20
          Hidden = [ 400 ]
          Architecture = Mlp
          Likelihood = Bernoulli
          Binarization = Dynamic
          LearningRate = 1e-3
          ImportanceSamples = 1 }

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
            | true, v when v > 0.0 && Double.IsFinite v -> GaussianFixed v
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
        let positive name v = if v <= 0 then invalidArg name $"--{name} must be positive (got {v})"
        positive "latent" c.Latent
        positive "importance-samples" c.ImportanceSamples
        if c.Hidden.IsEmpty || c.Hidden |> List.exists (fun h -> h <= 0) then
            invalidArg "hidden" "--hidden must be a non-empty list of positive numbers"
        if c.Architecture = Conv && c.Hidden.Length <> 2 then
            invalidArg "hidden" "the conv architecture takes two channel counts (e.g. --hidden 32,64)"
        match c.Likelihood with
        | GaussianFixed sigma when not (sigma > 0.0 && Double.IsFinite sigma) ->
            invalidArg "likelihood" $"the fixed Gaussian sigma must be a positive number (got {sigma})"
        | _ -> ()
        if not (c.LearningRate > 0.0 && Double.IsFinite c.LearningRate) then
            invalidArg "lr" $"--lr must be a positive, finite number (got {c.LearningRate})"
        c

    let write (w: Utf8JsonWriter) (c: VaeConfig) =
        w.WriteNumber("latent", c.Latent)
        ConfigWriter.ints w "hidden" c.Hidden
        w.WriteString("architecture", architectureName c.Architecture)
        w.WriteString("likelihood", likelihoodName c.Likelihood)
        match c.Likelihood with
        | GaussianFixed sigma -> ConfigWriter.number w "gaussian_sigma" sigma
        | GaussianLearned -> w.WriteString("gaussian_sigma", "learned")
        | Bernoulli -> ()
        w.WriteString("binarization", binarizationName c.Binarization)
        ConfigWriter.number w "lr" c.LearningRate
        w.WriteNumber("importance_samples", c.ImportanceSamples)

    let read (r: ConfigReader) =
        let likelihood =
            match r.String "likelihood" with
            | "gaussian" when (r.Prop "gaussian_sigma").ValueKind = JsonValueKind.Number -> GaussianFixed(r.Number "gaussian_sigma")
            | "gaussian" -> GaussianLearned
            | other -> parseLikelihood other
        { Latent = r.Int "latent"
          Hidden = r.Ints "hidden"
          Architecture = parseArchitecture (r.String "architecture")
          Likelihood = likelihood
          Binarization = parseBinarization (r.String "binarization")
          LearningRate = r.Number "lr"
          // Absent from configs written before the option existed; those runs trained on the ELBO.
          ImportanceSamples = r.IntOr("importance_samples", 1) }

    /// The VAE's settings as a config.json of their own (the run's settings live beside them in a run's).
    let toJson (c: VaeConfig) = ConfigWriter.toText (fun w -> w.WriteString("model", "vae"); write w c)

    /// Reads the VAE's settings from a config.json's text; `source` names the file in error messages.
    let ofJson (source: string) (json: string) = ConfigReader.Parse(source, json, read)

    /// Every VAE setting fixes the model or its training, so a resumed run must agree on all of them.
    let differences: VaeConfig -> VaeConfig -> string list =
        Differences.between
            [ "latent", (fun c -> box c.Latent)
              "hidden", (fun c -> box c.Hidden)
              "architecture", (fun c -> box c.Architecture)
              "likelihood", (fun c -> box c.Likelihood)
              "binarization", (fun c -> box c.Binarization)
              "learning rate", (fun c -> box c.LearningRate)
              "importance samples", (fun c -> box c.ImportanceSamples) ]

/// The C# runner's way in: options as they come from the command line, parsed and validated.
type VaeConfig with
    static member Default = VaeConfig.defaults

    static member Create(latent: int, hidden: int[], architecture: string, likelihood: string, binarization: string,
                         learningRate: float, importanceSamples: int) =
        VaeConfig.validate
            { Latent = latent
              Hidden = List.ofArray hidden
              Architecture = VaeConfig.parseArchitecture architecture
              Likelihood = VaeConfig.parseLikelihood likelihood
              Binarization = VaeConfig.parseBinarization binarization
              LearningRate = learningRate
              ImportanceSamples = importanceSamples }
