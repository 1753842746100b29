namespace Research.Core.Models.Gan

open System
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

    /// The GAN's settings, declared once; the architecture picks the defaults of the widths.
    let settings: Settings<GanConfig> =
        { Settings.declare
              [ Setting.choice "arch" "architecture" "architecture: mlp (seed 004's) | dcgan" [ MlpGan, "mlp"; Dcgan, "dcgan" ]
                    _.Architecture (fun v c -> { c with Architecture = v })
                Setting.int "latent" "latent" "latent size (2 draws a latent grid in the report)" _.Latent (fun v c -> { c with Latent = v })
                Setting.ints "gen-hidden" "generator_hidden" "G's hidden widths, comma-separated (mlp) or base channels ngf (dcgan)"
                    _.GeneratorHidden (fun v c -> { c with GeneratorHidden = v })
                Setting.ints "disc-hidden" "discriminator_hidden" "D's hidden widths (mlp) or base channels ndf (dcgan)"
                    _.DiscriminatorHidden (fun v c -> { c with DiscriminatorHidden = v })
                Setting.number "dropout" "dropout" "dropout after each hidden layer of the MLP discriminator" _.Dropout (fun v c -> { c with Dropout = v })
                Setting.number "lr-g" "lr_generator" "generator's Adam learning rate" _.GeneratorLr (fun v c -> { c with GeneratorLr = v })
                Setting.number "lr-d" "lr_discriminator" "discriminator's Adam learning rate" _.DiscriminatorLr (fun v c -> { c with DiscriminatorLr = v })
                Setting.number "beta1" "beta1" "Adam's beta1 for both networks (DCGAN's 0.5)" _.Beta1 (fun v c -> { c with Beta1 = v })
                Setting.number "beta2" "beta2" "Adam's beta2 for both networks" _.Beta2 (fun v c -> { c with Beta2 = v })
                Setting.int "d-steps" "discriminator_steps" "discriminator steps per generator step (on each batch, fresh noise each)"
                    _.DiscriminatorSteps (fun v c -> { c with DiscriminatorSteps = v })
                Setting.choice "loss" "generator_loss" "generator loss: non-saturating (-log D(G(z))) | saturating (log(1 - D(G(z))))"
                    [ NonSaturating, "non-saturating"; Saturating, "saturating" ] _.Loss (fun v c -> { c with Loss = v }) ]
              mlp
              validate with
                Presets = [ mlp; dcgan ]
                PresetBy = Some "arch" }
