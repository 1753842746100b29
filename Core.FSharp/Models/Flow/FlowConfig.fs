namespace Research.Core.Models.Flow

open System
open Research.Core.Training

type FlowArchitecture =
    /// Checkerboard couplings on the 28 x 28 image (seed 004's flow).
    | SingleScale
    /// Checkerboard couplings, squeeze, channel couplings, split, squeeze, channel couplings
    /// (RealNVP's multi-scale architecture, as the UvA tutorial's MNIST flow).
    | MultiScale

type DequantizationKind =
    /// v = (x + u) / 256 with u ~ U[0, 1) (Dinh et al. 2017).
    | Uniform
    /// u ~ q(u | x), a flow conditioned on the image (Ho et al. 2019, Flow++).
    | Variational

/// The flow's own settings (the run's are RunSettings); written into config.json.
type FlowConfig =
    { Architecture: FlowArchitecture
      /// Coupling layers: single scale, one count; multi-scale, one per scale (e.g. 4, 2, 4).
      Couplings: int list
      /// Hidden channels of the couplings' conv nets, one per scale.
      Hidden: int list
      Dequantization: DequantizationKind
      LearningRate: float
      /// Steps of linear learning-rate warm-up from 0.
      Warmup: int
      /// Learning rate multiplied by this after each epoch.
      Decay: float
      /// Gradients clipped to this global L2 norm (0: no clipping).
      Clip: float }

module FlowConfig =
    let multiScale =
        { Architecture = MultiScale; Couplings = [ 4; 2; 4 ]; Hidden = [ 32; 48; 64 ]; Dequantization = Uniform; LearningRate = 1e-3; Warmup = 200; Decay = 0.99; Clip = 10.0 }

    let singleScale = { multiScale with Architecture = SingleScale; Couplings = [ 8 ]; Hidden = [ 64 ] }

    let runDefaults = { RunSettings.defaults with Epochs = 10; ImageEpochs = [ 0; 1; 5; 10 ] }

    let private architectures = [ SingleScale, "single"; MultiScale, "multiscale" ]

    let architectureName (a: FlowArchitecture) = architectures |> List.find (fst >> (=) a) |> snd

    let validate (c: FlowConfig) =
        let scales = match c.Architecture with SingleScale -> 1 | MultiScale -> 3
        for name, values in [ "couplings", c.Couplings; "hidden", c.Hidden ] do
            if values.Length <> scales || values |> List.exists (fun v -> v <= 0) then
                invalidArg name $"--{name} takes {scales} positive number(s) for the {architectureName c.Architecture} flow"
        if not (c.LearningRate > 0.0 && Double.IsFinite c.LearningRate) then invalidArg "lr" $"--lr must be a positive, finite number (got {c.LearningRate})"
        if c.Warmup < 0 then invalidArg "warmup" $"--warmup must be 0 or more steps (got {c.Warmup})"
        if not (c.Decay > 0.0 && c.Decay <= 1.0) then invalidArg "decay" $"--decay must be in (0, 1] (got {c.Decay})"
        if not (c.Clip >= 0.0 && Double.IsFinite c.Clip) then invalidArg "clip" $"--clip must be 0 (none) or a positive norm (got {c.Clip})"
        c

    /// The flow's settings, declared once; the architecture picks the defaults of the couplings and widths.
    let settings: Settings<FlowConfig> =
        { Settings.declare
              [ Setting.choice "arch" "architecture" "single (checkerboard couplings on 28x28) | multiscale (squeeze, channel couplings, split)"
                    architectures _.Architecture (fun v c -> { c with Architecture = v })
                Setting.ints "couplings" "couplings" "coupling layers per scale (single: one count; multiscale: three)" _.Couplings (fun v c -> { c with Couplings = v })
                Setting.ints "hidden" "hidden" "hidden channels of the couplings' nets per scale" _.Hidden (fun v c -> { c with Hidden = v })
                Setting.choice "dequantization" "dequantization" "uniform ((x + u) / 256, u ~ U[0,1)) | variational (u ~ q(u|x), a flow conditioned on the image, Flow++)"
                    [ Uniform, "uniform"; Variational, "variational" ] _.Dequantization (fun v c -> { c with Dequantization = v })
                Setting.number "lr" "lr" "Adam learning rate" _.LearningRate (fun v c -> { c with LearningRate = v })
                Setting.int "warmup" "warmup" "steps of linear learning-rate warm-up" _.Warmup (fun v c -> { c with Warmup = v })
                Setting.number "decay" "decay" "learning rate multiplied by this after each epoch" _.Decay (fun v c -> { c with Decay = v })
                Setting.number "clip" "clip" "clip gradients to this global L2 norm (0 = no clipping)" _.Clip (fun v c -> { c with Clip = v }) ]
              multiScale
              validate with
                Presets = [ multiScale; singleScale ]
                PresetBy = Some "arch" }
