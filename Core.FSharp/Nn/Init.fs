namespace Research.Core.Nn

open System
open Research.Core

/// torch.nn.init: fills tensors in place from a seeded Generator with the formulas PyTorch uses,
/// so a model built from Generator(seed) equals PyTorch's after torch.manual_seed(seed).
[<AbstractClass; Sealed>]
type Init =
    /// (fan_in, fan_out) of a weight [out, in, k...]: in * prod(k) and out * prod(k). For a
    /// ConvTranspose2d weight [in, out/groups, kH, kW] this gives PyTorch's fan_in from dim 1.
    static member fans(weight: Tensor) =
        let s = weight.shape
        if s.Length < 2 then
            invalidArg "weight" $"fan in and fan out need at least 2 dimensions, got {s.Length}"
        let receptive = Array.fold (*) 1L s.[2..]
        s.[1] * receptive, s.[0] * receptive

    /// The recommended gain for a nonlinearity (torch.nn.init.calculate_gain).
    static member gain(nonlinearity: string, ?param: float) =
        match nonlinearity with
        | "linear" | "conv1d" | "conv2d" | "conv3d" | "conv_transpose1d" | "conv_transpose2d" | "conv_transpose3d"
        | "sigmoid" -> 1.0
        | "tanh" -> 5.0 / 3.0
        | "relu" -> sqrt 2.0
        | "leaky_relu" ->
            let slope = defaultArg param 0.01
            sqrt (2.0 / (1.0 + slope * slope))
        | "selu" -> 0.75
        | other -> invalidArg "nonlinearity" $"unsupported nonlinearity '{other}'"

    /// He et al. 2015's standard deviation gain / sqrt(fan), PyTorch's defaults a = 0, mode
    /// fan_in, leaky_relu.
    static member private KaimingStd(weight: Tensor, a: float option, mode: string option, nonlinearity: string option) =
        let fanIn, fanOut = Init.fans weight
        let fan =
            match defaultArg mode "fan_in" with
            | "fan_in" -> fanIn
            | "fan_out" -> fanOut
            | other -> invalidArg "mode" $"mode must be 'fan_in' or 'fan_out', got '{other}'"
        Init.gain (defaultArg nonlinearity "leaky_relu", defaultArg a 0.0) / sqrt (float fan)

    static member uniform_(t: Tensor, low: float, high: float, generator: Generator) =
        use _ = torch.no_grad ()
        t.uniform_ (low, high, generator)

    static member normal_(t: Tensor, mean: float, std: float, generator: Generator) =
        use _ = torch.no_grad ()
        t.normal_ (mean, std, generator)

    /// He et al. 2015: U(-b, b) with b = sqrt(3) gain / sqrt(fan).
    static member kaiming_uniform_(t: Tensor, generator: Generator, ?a: float, ?mode: string, ?nonlinearity: string) =
        let bound = sqrt 3.0 * Init.KaimingStd(t, a, mode, nonlinearity)
        Init.uniform_ (t, -bound, bound, generator)

    /// He et al. 2015: N(0, (gain / sqrt(fan))^2).
    static member kaiming_normal_(t: Tensor, generator: Generator, ?a: float, ?mode: string, ?nonlinearity: string) =
        Init.normal_ (t, 0.0, Init.KaimingStd(t, a, mode, nonlinearity), generator)

    /// Glorot & Bengio 2010: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)).
    static member xavier_uniform_(t: Tensor, generator: Generator, ?gain: float) =
        let fanIn, fanOut = Init.fans t
        let std = defaultArg gain 1.0 * sqrt (2.0 / float (fanIn + fanOut))
        Init.uniform_ (t, -sqrt 3.0 * std, sqrt 3.0 * std, generator)

    /// Glorot & Bengio 2010: N(0, gain^2 * 2 / (fan_in + fan_out)).
    static member xavier_normal_(t: Tensor, generator: Generator, ?gain: float) =
        let fanIn, fanOut = Init.fans t
        Init.normal_ (t, 0.0, defaultArg gain 1.0 * sqrt (2.0 / float (fanIn + fanOut)), generator)

    /// A weight of the given shape and an optional bias of biasSize, initialised as torch.nn.Linear
    /// and ConvNd do (reset_parameters) and requiring grad: the weight by kaiming_uniform_ with
    /// a = sqrt(5), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), then the bias from the same
    /// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn in that order.
    static member pytorchDefault(generator: Generator, weightShape: int64[], biasSize: int64 option, ?dtype: Dtype) =
        let dtype = defaultArg dtype Float32
        let weight = torch.empty (weightShape, dtype)
        Init.kaiming_uniform_ (weight, generator, a = sqrt 5.0) |> ignore
        let bias =
            biasSize
            |> Option.map (fun n ->
                let fanIn, _ = Init.fans weight
                let bound = if fanIn > 0L then 1.0 / sqrt (float fanIn) else 0.0
                (Init.uniform_ (torch.empty ([| n |], dtype), -bound, bound, generator)).requires_grad_ ())
        weight.requires_grad_ (), bias

    /// PyTorch's default initialisation of a square-kernel convolution's weight and optional bias.
    /// The weight is [out, in/groups, k, k], or [in, out/groups, k, k] when transposed (PyTorch's
    /// layout, whose fan_in then comes from out/groups * k * k).
    static member convolution(generator: Generator, inChannels: int, outChannels: int, kernelSize: int, groups: int,
                              transposed: bool, bias: bool, dtype: Dtype option) =
        if inChannels % groups <> 0 || outChannels % groups <> 0 then
            invalidArg "groups" $"in_channels {inChannels} and out_channels {outChannels} must be divisible by groups {groups}"
        let k = int64 kernelSize
        let first, second = if transposed then inChannels, outChannels / groups else outChannels, inChannels / groups
        let biasSize = if bias then Some(int64 outChannels) else None
        Init.pytorchDefault (generator, [| int64 first; int64 second; k; k |], biasSize, ?dtype = dtype)
