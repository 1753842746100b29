namespace Research.Core.Optim

open System
open System.Runtime.InteropServices
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
type Adam
    (
        parameters: Parameters,
        [<Optional; DefaultParameterValue(1e-3)>] lr: float,
        [<Optional; DefaultParameterValue(0.9)>] beta1: float,
        [<Optional; DefaultParameterValue(0.999)>] beta2: float,
        [<Optional; DefaultParameterValue(1e-8)>] eps: float,
        [<Optional; DefaultParameterValue(0.0)>] weight_decay: float,
        [<Optional; DefaultParameterValue(false)>] amsgrad: bool
    ) =
    inherit Optimizer(parameters, [ "exp_avg"; "exp_avg_sq"; if amsgrad then "max_exp_avg_sq" ], lr)
    do
        if not (0.0 <= beta1 && beta1 < 1.0) then invalidArg "beta1" $"invalid beta1: {beta1}"
        if not (0.0 <= beta2 && beta2 < 1.0) then invalidArg "beta2" $"invalid beta2: {beta2}"
        if not (0.0 <= eps) then invalidArg "eps" $"invalid epsilon: {eps}"
        if not (0.0 <= weight_decay) then invalidArg "weight_decay" $"invalid weight_decay: {weight_decay}"
    let n = parameters.tensors.Length
    let expAvg, expAvgSq, maxExpAvgSq = Array.zeroCreate<nativeint> n, Array.zeroCreate<nativeint> n, Array.zeroCreate<nativeint> n

    override o.update() =
        let maxHandles = if amsgrad then o.StateHandles("max_exp_avg_sq", maxExpAvgSq) else null
        check (
            ts_optim_adam_step (o.Handles(), o.StateHandles("exp_avg", expAvg), o.StateHandles("exp_avg_sq", expAvgSq),
                                            maxHandles, o.Steps, n, o.lr, beta1, beta2, eps, weight_decay, (if amsgrad then 1 else 0))
        )
        GC.KeepAlive o
