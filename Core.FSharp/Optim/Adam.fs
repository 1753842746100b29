namespace Research.Core.Optim

open System
open Research.Core
open Research.Core.Native
open Research.Core.Nn

/// torch.optim.Adam (Kingma & Ba 2015; AMSGrad: Reddi et al. 2018) with PyTorch's defaults and
/// arithmetic, for step t of each parameter p with gradient g:
///   g <- g + weight_decay p                      (L2 added to the gradient, as torch.optim.Adam)
///   m <- beta1 m + (1 - beta1) g
///   v <- beta2 v + (1 - beta2) g^2
///   vmax <- max(vmax, v)                         (amsgrad)
///   p <- p - lr / (1 - beta1^t) * m / (sqrt(v or vmax) / sqrt(1 - beta2^t) + eps)
/// One native call updates every parameter (native/optim.cpp).
[<Sealed>]
type Adam(parameters: Parameters, ?lr: float, ?beta1: float, ?beta2: float, ?eps: float, ?weight_decay: float, ?amsgrad: bool) =
    inherit Optimizer(parameters, [ "exp_avg"; "exp_avg_sq"; if defaultArg amsgrad false then "max_exp_avg_sq" ])
    let beta1 = defaultArg beta1 0.9
    let beta2 = defaultArg beta2 0.999
    let eps = defaultArg eps 1e-8
    let weightDecay = defaultArg weight_decay 0.0
    let amsgrad = defaultArg amsgrad false
    do
        if not (0.0 <= beta1 && beta1 < 1.0) then invalidArg "beta1" $"invalid beta1: {beta1}"
        if not (0.0 <= beta2 && beta2 < 1.0) then invalidArg "beta2" $"invalid beta2: {beta2}"
        if not (0.0 <= eps) then invalidArg "eps" $"invalid epsilon: {eps}"
        if not (0.0 <= weightDecay) then invalidArg "weight_decay" $"invalid weight_decay: {weightDecay}"
    let mutable learningRate = defaultArg lr 1e-3
    do if not (0.0 <= learningRate) then invalidArg "lr" $"invalid learning rate: {learningRate}"
    let n = parameters.tensors.Length
    let expAvg, expAvgSq, maxExpAvgSq = Array.zeroCreate<nativeint> n, Array.zeroCreate<nativeint> n, Array.zeroCreate<nativeint> n

    /// The learning rate, settable between steps (for schedules).
    member _.lr
        with get () = learningRate
        and set (value: float) =
            if not (0.0 <= value) then invalidArg "lr" $"invalid learning rate: {value}"
            learningRate <- value

    override o.step() =
        let maxHandles = if amsgrad then o.StateHandles("max_exp_avg_sq", maxExpAvgSq) else null
        check (
            OptimNative.ts_optim_adam_step (o.Handles(), o.StateHandles("exp_avg", expAvg), o.StateHandles("exp_avg_sq", expAvgSq),
                                            maxHandles, o.Steps, n, learningRate, beta1, beta2, eps, weightDecay, (if amsgrad then 1 else 0))
        )
        GC.KeepAlive o
