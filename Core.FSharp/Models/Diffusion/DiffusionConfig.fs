namespace Research.Core.Models.Diffusion

open System
open Research.Core.Training

/// The variance schedule beta_1..beta_T of the forward process.
type NoiseSchedule =
    /// Linear from 1e-4 to 0.02 over T = 1000 steps (Ho et al. 2020, section 4), scaled by 1000 / T for other T.
    | Linear
    /// alphabar(t) = cos^2((t/T + s)/(1 + s) pi/2) / alphabar(0), s = 0.008, each beta at most 0.999
    /// (Nichol & Dhariwal 2021, eq. 17).
    | Cosine

/// The diffusion model's own settings (the run's are RunSettings); written into config.json.
type DiffusionConfig =
    { Schedule: NoiseSchedule
      /// T, the number of diffusion steps.
      Steps: int
      /// The U-Net's base channel count C (levels of C, 2C, 2C at 28, 14 and 7 pixels).
      Channels: int
      /// Self-attention at 7 x 7.
      Attention: bool
      LearningRate: float
      /// Steps of linear learning-rate warm-up from 0.
      Warmup: int
      /// Gradients clipped to this global L2 norm (0: none).
      Clip: float
      /// The decay of the exponential moving average of the weights, which sampling and
      /// evaluation use.
      EmaDecay: float }

module DiffusionConfig =
    let defaults =
        { Schedule = Linear; Steps = 1000; Channels = 32; Attention = true; LearningRate = 1e-3; Warmup = 200; Clip = 1.0
          EmaDecay = 0.999 }

    let runDefaults = { RunSettings.defaults with Epochs = 4; ImageEpochs = [ 0; 1; 2; 4 ] }

    let check (c: DiffusionConfig) =
        let finitePositive name v =
            if not (v > 0.0 && Double.IsFinite v) then invalidArg name $"--{name} must be a positive, finite number (got {v})"
        if c.Steps < 2 || c.Steps > 10000 then invalidArg "steps" $"--steps (T) must be between 2 and 10000 (got {c.Steps})"
        if c.Channels < 8 || c.Channels % 8 <> 0 then
            invalidArg "channels" $"--channels must be a positive multiple of 8, the GroupNorm groups (got {c.Channels})"
        finitePositive "lr" c.LearningRate
        if c.Warmup < 0 then invalidArg "warmup" $"--warmup must be 0 or more (got {c.Warmup})"
        if not (c.Clip >= 0.0 && Double.IsFinite c.Clip) then invalidArg "clip" $"--clip must be 0 (none) or a positive number (got {c.Clip})"
        if not (c.EmaDecay >= 0.0 && c.EmaDecay < 1.0) then invalidArg "ema" $"--ema must be in [0, 1) (got {c.EmaDecay})"
        c

    /// The diffusion model's settings, declared once.
    let settings: Settings<DiffusionConfig> =
        Settings.declare
            [ Setting.choice "schedule" "schedule" "noise schedule: linear (beta 1e-4 to 0.02 over T = 1000, Ho et al.; scaled by 1000 / T otherwise) | cosine (Nichol & Dhariwal 2021)"
                  [ Linear, "linear"; Cosine, "cosine" ] _.Schedule (fun v c -> { c with Schedule = v })
              Setting.int "steps" "steps" "T, the number of diffusion steps" _.Steps (fun v c -> { c with Steps = v })
              Setting.int "channels" "channels" "the U-Net's base channels C (C, 2C, 2C at 28, 14, 7 pixels; a multiple of 8)" _.Channels (fun v c -> { c with Channels = v })
              Setting.switch "attention" "attention" "self-attention at 7 x 7 (--attention false leaves it out)" _.Attention (fun v c -> { c with Attention = v })
              Setting.number "lr" "lr" "Adam learning rate" _.LearningRate (fun v c -> { c with LearningRate = v })
              Setting.int "warmup" "warmup" "steps of linear learning-rate warm-up" _.Warmup (fun v c -> { c with Warmup = v })
              Setting.number "clip" "clip" "clip gradients to this global L2 norm (0 = no clipping)" _.Clip (fun v c -> { c with Clip = v })
              Setting.number "ema" "ema" "decay of the weights' moving average, which sampling and evaluation use" _.EmaDecay (fun v c -> { c with EmaDecay = v }) ]
            defaults
            check
