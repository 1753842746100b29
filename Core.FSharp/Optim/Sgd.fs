namespace Research.Core.Optim

open System
open Research.Core.Native
open Research.Core.Nn

/// torch.optim.SGD with PyTorch's arithmetic, for each parameter p with gradient g:
///   g <- g + weight_decay p
///   b <- g on the first step, else momentum b + (1 - dampening) g      (when momentum > 0)
///   g <- g + momentum b (nesterov) or b
///   p <- p - lr g
/// One native call updates every parameter (native/optim.cpp).
[<Sealed>]
type Sgd(parameters: Parameters, lr: float, ?momentum: float, ?dampening: float, ?weight_decay: float, ?nesterov: bool) =
    inherit Optimizer(parameters, [ if defaultArg momentum 0.0 <> 0.0 then "momentum_buffer" ])
    let momentum = defaultArg momentum 0.0
    let dampening = defaultArg dampening 0.0
    let weightDecay = defaultArg weight_decay 0.0
    let nesterov = defaultArg nesterov false
    do
        if not (0.0 <= momentum) then invalidArg "momentum" $"invalid momentum value: {momentum}"
        if not (0.0 <= weightDecay) then invalidArg "weight_decay" $"invalid weight_decay value: {weightDecay}"
        if nesterov && (momentum <= 0.0 || dampening <> 0.0) then
            invalidArg "nesterov" "Nesterov momentum requires a momentum and zero dampening"
    let mutable learningRate = lr
    do if not (0.0 <= learningRate) then invalidArg "lr" $"invalid learning rate: {learningRate}"
    let n = parameters.tensors.Length
    let buffers = Array.zeroCreate<nativeint> n

    /// The learning rate, settable between steps (for schedules).
    member _.lr
        with get () = learningRate
        and set (value: float) =
            if not (0.0 <= value) then invalidArg "lr" $"invalid learning rate: {value}"
            learningRate <- value

    override o.step() =
        let bufferHandles = if momentum <> 0.0 then o.StateHandles("momentum_buffer", buffers) else null
        check (
            OptimNative.ts_optim_sgd_step (o.Handles(), bufferHandles, o.Steps, n, learningRate, momentum, dampening, weightDecay,
                                           (if nesterov then 1 else 0))
        )
        GC.KeepAlive o
