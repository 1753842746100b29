namespace Research.Core.Optim

open System
open System.Runtime.InteropServices
open Research.Core.Native
open Research.Core.Nn

/// torch.optim.SGD with PyTorch's arithmetic, for each parameter p with gradient g:
///   g <- g + weight_decay p
///   b <- g on the first step, else momentum b + (1 - dampening) g      (when momentum > 0)
///   g <- g + momentum b (nesterov) or b
///   p <- p - lr g
/// One native call updates every parameter (native/optim.cpp).
[<Sealed>]
type Sgd
    (
        parameters: Parameters,
        lr: float,
        [<Optional; DefaultParameterValue(0.0)>] momentum: float,
        [<Optional; DefaultParameterValue(0.0)>] dampening: float,
        [<Optional; DefaultParameterValue(0.0)>] weight_decay: float,
        [<Optional; DefaultParameterValue(false)>] nesterov: bool
    ) =
    inherit Optimizer(parameters, [ if momentum <> 0.0 then "momentum_buffer" ], lr)
    do
        if not (0.0 <= momentum) then invalidArg "momentum" $"invalid momentum value: {momentum}"
        if not (0.0 <= weight_decay) then invalidArg "weight_decay" $"invalid weight_decay value: {weight_decay}"
        if nesterov && (momentum <= 0.0 || dampening <> 0.0) then
            invalidArg "nesterov" "Nesterov momentum requires a momentum and zero dampening"
    let n = parameters.tensors.Length
    let buffers = Array.zeroCreate<nativeint> n

    override o.update() =
        let bufferHandles = if momentum <> 0.0 then o.StateHandles("momentum_buffer", buffers) else null
        check (
            ts_optim_sgd_step (o.Handles(), bufferHandles, o.Steps, n, o.lr, momentum, dampening, weight_decay,
                                           (if nesterov then 1 else 0))
        )
        GC.KeepAlive o
