namespace Research.Core.Models.Gan

open System
open System.Text.Json
open Research.Core.Training

type GanArchitecture =
    /// Fully connected G and D (seed 004: latent-128-256-512-1024-784 and 784-512-256-1; seed 003:
    /// 16-300-784 and 784-300-1).
    | MlpGan
    /// Transposed convolutions with BatchNorm in G, strided convolutions with LeakyReLU in D
    /// (Radford et al. 2016; pytorch/examples' dcgan, for 28x28 images).
    | Dcgan

type GeneratorLoss =
    /// min -E[log D(G(z))]: strong gradients while D rejects the fakes (Goodfellow et al. 2014, sec. 3).
    | NonSaturating
    /// min E[log(1 - D(G(z)))]: the minimax game as written, whose gradient vanishes early on.
    | Saturating

/// The GAN's own settings (the run's are RunSettings); written into config.json.
type GanConfig =
    { Architecture: GanArchitecture
      Latent: int
      /// MLP: G's hidden widths; DCGAN: G's base channel count (ngf), one value.
      GeneratorHidden: int list
      /// MLP: D's hidden widths; DCGAN: D's base channel count (ndf), one value.
      DiscriminatorHidden: int list
      /// Dropout after each of the MLP discriminator's hidden layers (seed 004: 0.3).
      Dropout: float
      GeneratorLr: float
      DiscriminatorLr: float
      /// Adam's betas for both networks (DCGAN: 0.5, 0.999).
      Beta1: float
      Beta2: float
      /// Discriminator steps per generator step (Goodfellow et al. 2014, algorithm 1's k).
      DiscriminatorSteps: int
      Loss: GeneratorLoss }

module GanConfig =
    /// Seed 004's MLP GAN with DCGAN's optimiser settings.
    let mlp =
        { Architecture = MlpGan
          Latent = 100
          GeneratorHidden = [ 128; 256; 512; 1024 ]
          DiscriminatorHidden = [ 512; 256 ]
          Dropout = 0.3
          GeneratorLr = 2e-4
          DiscriminatorLr = 2e-4
          Beta1 = 0.5
          Beta2 = 0.999
          DiscriminatorSteps = 1
          Loss = NonSaturating }

    /// pytorch/examples' DCGAN adapted to 28x28 (ngf = ndf = 64 there; 32 here keeps it quick on a CPU).
    let dcgan = { mlp with Architecture = Dcgan; GeneratorHidden = [ 32 ]; DiscriminatorHidden = [ 32 ] }

    /// The run settings a GAN starts from: DCGAN's batch of 128, 20 epochs.
    let runDefaults = { RunSettings.defaults with Epochs = 20; ImageEpochs = [ 0; 1; 5; 10; 20 ] }

    let architectureName = function MlpGan -> "mlp" | Dcgan -> "dcgan"

    let parseArchitecture (s: string) =
        match s.ToLowerInvariant() with
        | "mlp" -> MlpGan
        | "dcgan" -> Dcgan
        | _ -> invalidArg "arch" $"unknown GAN architecture '{s}' (expected mlp or dcgan)"

    let lossName = function NonSaturating -> "non-saturating" | Saturating -> "saturating"

    let parseLoss (s: string) =
        match s.ToLowerInvariant() with
        | "non-saturating" -> NonSaturating
        | "saturating" -> Saturating
        | _ -> invalidArg "loss" $"unknown generator loss '{s}' (expected non-saturating or saturating)"

    let validate (c: GanConfig) =
        if c.Latent <= 0 then invalidArg "latent" $"--latent must be positive (got {c.Latent})"
        for name, sizes in [ "gen-hidden", c.GeneratorHidden; "disc-hidden", c.DiscriminatorHidden ] do
            if sizes.IsEmpty || sizes |> List.exists (fun h -> h <= 0) then
                invalidArg name $"--{name} must be a non-empty list of positive numbers"
            if c.Architecture = Dcgan && sizes.Length <> 1 then
                invalidArg name $"the DCGAN takes one base channel count for --{name} (e.g. 32)"
        if not (c.Dropout >= 0.0 && c.Dropout < 1.0) then invalidArg "dropout" $"--dropout must be in [0, 1) (got {c.Dropout})"
        for name, lr in [ "lr-g", c.GeneratorLr; "lr-d", c.DiscriminatorLr ] do
            if not (lr > 0.0 && Double.IsFinite lr) then invalidArg name $"--{name} must be a positive, finite number (got {lr})"
        for name, b in [ "beta1", c.Beta1; "beta2", c.Beta2 ] do
            if not (b >= 0.0 && b < 1.0) then invalidArg name $"--{name} must be in [0, 1) (got {b})"
        if c.DiscriminatorSteps < 1 then invalidArg "d-steps" $"--d-steps must be at least 1 (got {c.DiscriminatorSteps})"
        c

    let write (w: Utf8JsonWriter) (c: GanConfig) =
        w.WriteString("architecture", architectureName c.Architecture)
        w.WriteNumber("latent", c.Latent)
        ConfigWriter.ints w "generator_hidden" c.GeneratorHidden
        ConfigWriter.ints w "discriminator_hidden" c.DiscriminatorHidden
        ConfigWriter.number w "dropout" c.Dropout
        ConfigWriter.number w "lr_generator" c.GeneratorLr
        ConfigWriter.number w "lr_discriminator" c.DiscriminatorLr
        ConfigWriter.number w "beta1" c.Beta1
        ConfigWriter.number w "beta2" c.Beta2
        w.WriteNumber("discriminator_steps", c.DiscriminatorSteps)
        w.WriteString("generator_loss", lossName c.Loss)

    let read (r: ConfigReader) =
        { Architecture = parseArchitecture (r.String "architecture")
          Latent = r.Int "latent"
          GeneratorHidden = r.Ints "generator_hidden"
          DiscriminatorHidden = r.Ints "discriminator_hidden"
          Dropout = r.Number "dropout"
          GeneratorLr = r.Number "lr_generator"
          DiscriminatorLr = r.Number "lr_discriminator"
          Beta1 = r.Number "beta1"
          Beta2 = r.Number "beta2"
          DiscriminatorSteps = r.Int "discriminator_steps"
          Loss = parseLoss (r.String "generator_loss") }

    /// Every GAN setting fixes the model or its training, so a resumed run must agree on all of them.
    let differences: GanConfig -> GanConfig -> string list =
        Differences.between
            [ "architecture", (fun c -> box c.Architecture)
              "latent", (fun c -> box c.Latent)
              "generator hidden", (fun c -> box c.GeneratorHidden)
              "discriminator hidden", (fun c -> box c.DiscriminatorHidden)
              "dropout", (fun c -> box c.Dropout)
              "generator learning rate", (fun c -> box c.GeneratorLr)
              "discriminator learning rate", (fun c -> box c.DiscriminatorLr)
              "beta1", (fun c -> box c.Beta1)
              "beta2", (fun c -> box c.Beta2)
              "discriminator steps", (fun c -> box c.DiscriminatorSteps)
              "generator loss", (fun c -> box c.Loss) ]

/// The C# runner's way in.
type GanConfig with
    static member Create(architecture: string, latent: int, generatorHidden: int[], discriminatorHidden: int[], dropout: float,
                         generatorLr: float, discriminatorLr: float, beta1: float, beta2: float, discriminatorSteps: int, loss: string) =
        GanConfig.validate
            { Architecture = GanConfig.parseArchitecture architecture
              Latent = latent
              GeneratorHidden = List.ofArray generatorHidden
              DiscriminatorHidden = List.ofArray discriminatorHidden
              Dropout = dropout
              GeneratorLr = generatorLr
              DiscriminatorLr = discriminatorLr
              Beta1 = beta1
              Beta2 = beta2
              DiscriminatorSteps = discriminatorSteps
              Loss = GanConfig.parseLoss loss }
