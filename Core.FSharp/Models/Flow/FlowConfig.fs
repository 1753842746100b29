namespace Research.Core.Models.Flow

open System
open System.Text.Json
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

    let architectureName = function SingleScale -> "single" | MultiScale -> "multiscale"

    let parseArchitecture (s: string) =
        match s.ToLowerInvariant() with
        | "single" -> SingleScale
        | "multiscale" -> MultiScale
        | _ -> invalidArg "arch" $"unknown flow architecture '{s}' (expected single or multiscale)"

    let dequantizationName = function Uniform -> "uniform" | Variational -> "variational"

    let parseDequantization (s: string) =
        match s.ToLowerInvariant() with
        | "uniform" -> Uniform
        | "variational" -> Variational
        | _ -> invalidArg "dequantization" $"unknown dequantization '{s}' (expected uniform or variational)"

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

    let write (w: Utf8JsonWriter) (c: FlowConfig) =
        w.WriteString("architecture", architectureName c.Architecture)
        ConfigWriter.ints w "couplings" c.Couplings
        ConfigWriter.ints w "hidden" c.Hidden
        w.WriteString("dequantization", dequantizationName c.Dequantization)
        ConfigWriter.number w "lr" c.LearningRate
        w.WriteNumber("warmup", c.Warmup)
        ConfigWriter.number w "decay" c.Decay
        ConfigWriter.number w "clip" c.Clip

    let read (r: ConfigReader) =
        { Architecture = parseArchitecture (r.String "architecture")
          Couplings = r.Ints "couplings"
          Hidden = r.Ints "hidden"
          Dequantization = parseDequantization (r.String "dequantization")
          LearningRate = r.Number "lr"
          Warmup = r.Int "warmup"
          Decay = r.Number "decay"
          Clip = r.Number "clip" }

    let differences: FlowConfig -> FlowConfig -> string list =
        Differences.between
            [ "architecture", (fun c -> box c.Architecture)
              "couplings", (fun c -> box c.Couplings)
              "hidden", (fun c -> box c.Hidden)
              "dequantization", (fun c -> box c.Dequantization)
              "learning rate", (fun c -> box c.LearningRate)
              "warmup", (fun c -> box c.Warmup)
              "decay", (fun c -> box c.Decay)
              "clip", (fun c -> box c.Clip) ]

type FlowConfig with
    static member Create(architecture: string, couplings: int[], hidden: int[], dequantization: string, learningRate: float, warmup: int, decay: float, clip: float) =
        FlowConfig.validate
            { Architecture = FlowConfig.parseArchitecture architecture
              Couplings = List.ofArray couplings
              Hidden = List.ofArray hidden
              Dequantization = FlowConfig.parseDequantization dequantization
              LearningRate = learningRate
              Warmup = warmup
              Decay = decay
              Clip = clip }
