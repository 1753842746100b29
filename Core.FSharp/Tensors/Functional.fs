namespace Research.Core

open System
open Research.Core.Native

/// torch.nn.functional: names, argument order and defaults as in PyTorch. Spatial arguments
/// (stride, padding, ...) are one int used for both height and width.
[<AbstractClass; Sealed>]
type F =
    static member private HandleOf(t: Tensor option) =
        match t with
        | Some t when not (isNull t) -> t.Handle
        | _ -> 0n
    static member private Reduction(reduction: string option) =
        match defaultArg reduction "mean" with
        | "none" -> 0
        | "mean" -> 1
        | "sum" -> 2
        | r -> invalidArg "reduction" $"reduction must be 'none', 'mean' or 'sum', got '{r}'"
    static member private Pair(v: int) = [| int64 v; int64 v |]
    /// Keeps optional tensors alive across a native call.
    static member private KeepAlive(ts: Tensor option list) = ts |> List.iter (Option.iter GC.KeepAlive)

    /// x W^T + b.
    static member linear(x: Tensor, weight: Tensor, ?bias: Tensor) =
        let r = x.Op2(weight, fun (a, w, o) -> ts_linear (a, w, F.HandleOf bias, o))
        F.KeepAlive [ bias ]
        r
    static member conv2d(x: Tensor, weight: Tensor, ?bias: Tensor, ?stride: int, ?padding: int, ?dilation: int, ?groups: int) =
        let r =
            x.Op2(weight, fun (a, w, o) ->
                ts_conv2d (a, w, F.HandleOf bias, F.Pair(defaultArg stride 1), F.Pair(defaultArg padding 0),
                           F.Pair(defaultArg dilation 1), int64 (defaultArg groups 1), o))
        F.KeepAlive [ bias ]
        r
    /// Weight shape [in, out/groups, kH, kW], as in PyTorch.
    static member conv_transpose2d(x: Tensor, weight: Tensor, ?bias: Tensor, ?stride: int, ?padding: int,
                                   ?output_padding: int, ?groups: int, ?dilation: int) =
        let r =
            x.Op2(weight, fun (a, w, o) ->
                ts_conv_transpose2d (a, w, F.HandleOf bias, F.Pair(defaultArg stride 1), F.Pair(defaultArg padding 0),
                                     F.Pair(defaultArg output_padding 0), int64 (defaultArg groups 1),
                                     F.Pair(defaultArg dilation 1), o))
        F.KeepAlive [ bias ]
        r
    /// Batch normalisation (Ioffe & Szegedy 2015). In training, normalises with the batch
    /// statistics and updates the running ones in place (momentum 0.1, unbiased variance);
    /// otherwise uses the running statistics. Running statistics may be null in training.
    static member batch_norm(x: Tensor, running_mean: Tensor, running_var: Tensor, ?weight: Tensor, ?bias: Tensor,
                             ?training: bool, ?momentum: float, ?eps: float) =
        let opt (t: Tensor) = if isNull t then None else Some t
        let r =
            x.Op1(fun (a, o) ->
                ts_batch_norm (a, F.HandleOf weight, F.HandleOf bias, F.HandleOf(opt running_mean), F.HandleOf(opt running_var),
                               (if defaultArg training false then 1 else 0), defaultArg momentum 0.1, defaultArg eps 1e-5, o))
        F.KeepAlive [ weight; bias; opt running_mean; opt running_var ]
        r
    /// Group normalisation (Wu & He 2018): each sample's channels in `groups` groups, each normalised
    /// over its channels and positions, then scaled and shifted per channel.
    static member group_norm(x: Tensor, groups: int, ?weight: Tensor, ?bias: Tensor, ?eps: float) =
        let r = x.Op1(fun (a, o) -> ts_group_norm (a, int64 groups, F.HandleOf weight, F.HandleOf bias, defaultArg eps 1e-5, o))
        F.KeepAlive [ weight; bias ]
        r
    /// silu(group_norm(x, groups, weight, bias, eps)) as one operation with its own gradient: each
    /// group's values cross from memory once each way (ATen's two ops: five passes forward, eight back).
    static member group_norm_silu(x: Tensor, groups: int, ?weight: Tensor, ?bias: Tensor, ?eps: float) =
        let r = x.Op1(fun (a, o) -> ts_group_norm_silu (a, int64 groups, F.HandleOf weight, F.HandleOf bias, defaultArg eps 1e-5, o))
        F.KeepAlive [ weight; bias ]
        r
    /// Inverted dropout: zero with probability p, scale the rest by 1/(1-p); identity unless training.
    static member dropout(x: Tensor, ?p: float, ?training: bool, ?generator: Generator) =
        x.Op1(fun (a, o) ->
            ts_dropout (a, defaultArg p 0.5, (if defaultArg training true then 1 else 0), Generator.handleOf generator, o))
    static member relu(x: Tensor) = x.relu ()
    static member leaky_relu(x: Tensor, ?negative_slope: float) =
        x.Op1(fun (a, o) -> ts_leaky_relu (a, defaultArg negative_slope 0.01, o))
    static member elu(x: Tensor, ?alpha: float) = x.Op1(fun (a, o) -> ts_elu (a, defaultArg alpha 1.0, o))
    static member gelu(x: Tensor) = x.gelu ()
    static member silu(x: Tensor) = x.silu ()
    static member tanh(x: Tensor) = x.tanh ()
    static member sigmoid(x: Tensor) = x.sigmoid ()
    static member softplus(x: Tensor, ?beta: float, ?threshold: float) = x.softplus (?beta = beta, ?threshold = threshold)
    static member logsigmoid(x: Tensor) = x.logsigmoid ()
    static member softmax(x: Tensor, dim: int) = x.softmax dim
    static member log_softmax(x: Tensor, dim: int) = x.log_softmax dim
    static member one_hot(x: Tensor, num_classes: int) = x.Op1(fun (a, o) -> ts_one_hot (a, int64 num_classes, o))

    // ---- losses (reduction "mean" by default) ----
    /// -[y log sigmoid(z) + (1-y) log(1-sigmoid(z))], computed stably from logits z.
    static member binary_cross_entropy_with_logits(input: Tensor, target: Tensor, ?weight: Tensor, ?pos_weight: Tensor, ?reduction: string) =
        let red = F.Reduction reduction
        let r = input.Op2(target, fun (a, y, o) -> ts_bce_with_logits (a, y, F.HandleOf weight, F.HandleOf pos_weight, red, o))
        F.KeepAlive [ weight; pos_weight ]
        r
    /// -[y log p + (1-y) log(1-p)] for probabilities p (log clamped at -100 as in PyTorch).
    static member binary_cross_entropy(input: Tensor, target: Tensor, ?weight: Tensor, ?reduction: string) =
        let red = F.Reduction reduction
        let r = input.Op2(target, fun (a, y, o) -> ts_bce (a, y, F.HandleOf weight, red, o))
        F.KeepAlive [ weight ]
        r
    static member mse_loss(input: Tensor, target: Tensor, ?reduction: string) =
        let red = F.Reduction reduction
        input.Op2(target, fun (a, y, o) -> ts_mse_loss (a, y, red, o))
    /// Negative log-likelihood of int64 class targets given log-probabilities [N, C].
    static member nll_loss(input: Tensor, target: Tensor, ?weight: Tensor, ?ignore_index: int64, ?reduction: string) =
        let red = F.Reduction reduction
        let r = input.Op2(target, fun (a, y, o) -> ts_nll_loss (a, y, F.HandleOf weight, red, defaultArg ignore_index -100L, o))
        F.KeepAlive [ weight ]
        r
    /// nll_loss(log_softmax(logits, 1), target) with optional label smoothing.
    static member cross_entropy(input: Tensor, target: Tensor, ?weight: Tensor, ?ignore_index: int64, ?reduction: string, ?label_smoothing: float) =
        let red = F.Reduction reduction
        let r =
            input.Op2(target, fun (a, y, o) ->
                ts_cross_entropy (a, y, F.HandleOf weight, red, defaultArg ignore_index -100L, defaultArg label_smoothing 0.0, o))
        F.KeepAlive [ weight ]
        r

    // ---- pooling, padding, resizing ----
    static member max_pool2d(x: Tensor, kernel_size: int, ?stride: int, ?padding: int, ?dilation: int, ?ceil_mode: bool) =
        x.Op1(fun (a, o) ->
            ts_max_pool2d (a, F.Pair kernel_size, F.Pair(defaultArg stride kernel_size), F.Pair(defaultArg padding 0),
                           F.Pair(defaultArg dilation 1), (if defaultArg ceil_mode false then 1 else 0), o))
    static member avg_pool2d(x: Tensor, kernel_size: int, ?stride: int, ?padding: int, ?ceil_mode: bool, ?count_include_pad: bool) =
        x.Op1(fun (a, o) ->
            ts_avg_pool2d (a, F.Pair kernel_size, F.Pair(defaultArg stride kernel_size), F.Pair(defaultArg padding 0),
                           (if defaultArg ceil_mode false then 1 else 0), (if defaultArg count_include_pad true then 1 else 0), o))
    /// Constant padding; pad lists (before, after) pairs starting from the last dimension, as in PyTorch.
    static member pad(x: Tensor, pad: int[], ?value: float) =
        if pad.Length % 2 <> 0 then invalidArg "pad" $"pad needs (before, after) pairs, got {pad.Length} numbers"
        let p = Array.map int64 pad
        x.Op1(fun (a, o) -> ts_constant_pad (a, p, p.Length, defaultArg value 0.0, o))
    /// Nearest-neighbour resizing of [N, C, H, W] to size = (H', W') or by an integer-valued scale factor.
    static member interpolate(x: Tensor, ?size: int * int, ?scale_factor: float, ?mode: string) =
        if defaultArg mode "nearest" <> "nearest" then invalidArg "mode" "only mode = \"nearest\" is supported"
        let s = x.shape
        if s.Length <> 4 then invalidArg "x" $"interpolate expects [N, C, H, W], got {s.Length} dimensions"
        let h, w =
            match size, scale_factor with
            | Some (h, w), None -> int64 h, int64 w
            | None, Some f -> int64 (floor (float s.[2] * f)), int64 (floor (float s.[3] * f))
            | _ -> invalidArg "size" "give exactly one of size and scale_factor"
        x.Op1(fun (a, o) -> ts_upsample_nearest2d (a, h, w, o))
