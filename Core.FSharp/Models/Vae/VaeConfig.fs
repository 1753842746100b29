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

    let binarizations = [ Dynamic, "dynamic"; Static, "static"; NoBinarization, "none" ]

    let binarizationName (b: Binarization) = binarizations |> List.find (fst >> (=) b) |> snd

    let parseBinarization (s: string) = Setting.named "binarize" "binarization" binarizations s

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

    let private likelihoodText =
        function
        | GaussianFixed sigma -> "gaussian:" + sigma.ToString("R", Globalization.CultureInfo.InvariantCulture)
        | l -> likelihoodName l

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

    /// The likelihood as the command line gives it ("gaussian:0.1"); config.json keeps the kind
    /// and, for a Gaussian, its sigma (a number, or "learned") apart.
    let private likelihood: Setting<VaeConfig> =
        { Setting.text "likelihood" "likelihood" "p(x|z): bernoulli | gaussian (learned variance) | gaussian:SIGMA (fixed)"
              (_.Likelihood >> likelihoodText) (fun v c -> { c with Likelihood = parseLikelihood v }) with
            Write =
                fun w v ->
                    match parseLikelihood (string v) with
                    | GaussianFixed sigma -> w.WriteString("likelihood", "gaussian"); ConfigWriter.number w "gaussian_sigma" sigma
                    | GaussianLearned -> w.WriteString("likelihood", "gaussian"); w.WriteString("gaussian_sigma", "learned")
                    | Bernoulli -> w.WriteString("likelihood", "bernoulli")
            Read =
                fun r ->
                    match r.String "likelihood" with
                    | "gaussian" when (r.Prop "gaussian_sigma").ValueKind = JsonValueKind.Number ->
                        Text(likelihoodText (GaussianFixed(r.Number "gaussian_sigma")))
                    | other -> Text other }

    /// The VAE's settings, declared once.
    let settings: Settings<VaeConfig> =
        Settings.declare
            [ Setting.int "latent" "latent" "latent size (2 draws the manifold)" _.Latent (fun v c -> { c with Latent = v })
              Setting.ints "hidden" "hidden" "hidden sizes, comma-separated (mlp: layer widths; conv: the two channel counts, e.g. 32,64)"
                  _.Hidden (fun v c -> { c with Hidden = v })
              Setting.choice "arch" "architecture" "architecture: mlp | conv" [ Mlp, "mlp"; Conv, "conv" ] _.Architecture (fun v c -> { c with Architecture = v })
              likelihood
              Setting.choice "binarize" "binarization" "dynamic (fresh draw each use) | static (one seeded draw) | none (grey levels)"
                  binarizations _.Binarization (fun v c -> { c with Binarization = v })
              Setting.number "lr" "lr" "Adam learning rate" _.LearningRate (fun v c -> { c with LearningRate = v })
              // Runs from before the option trained on the ELBO.
              Setting.int "importance-samples" "importance_samples" "samples per image in the training objective: 1 = the ELBO, k > 1 = the IWAE bound L_k"
                  _.ImportanceSamples (fun v c -> { c with ImportanceSamples = v })
              |> Setting.since (Int 1) ]
            defaults
            validate

    /// The VAE's settings as a config.json of their own (the run's settings live beside them in a run's).
    let toJson (c: VaeConfig) = ConfigWriter.toText (fun w -> w.WriteString("model", "vae"); Settings.write settings w c)

    /// Reads the VAE's settings from a config.json's text; `source` names the file in error messages.
    let ofJson (source: string) (json: string) = ConfigReader.Parse(source, json, Settings.read settings)
