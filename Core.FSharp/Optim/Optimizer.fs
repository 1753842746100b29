namespace Research.Core.Optim

open System
open System.Runtime.InteropServices
open Research.Core
open Research.Core.Native
open Research.Core.Nn

/// The native handles of tensors, written into a reused array (no allocation per step).
module internal OptimNative =
    let handles (tensors: Tensor[]) (into: nativeint[]) =
        for i in 0 .. tensors.Length - 1 do
            into.[i] <- tensors.[i].Handle
        into

/// What Adam and SGD share: the named parameters they update, per-parameter step counts and
/// state tensors (created zero, each the shape of its parameter), and how that state is named in a
/// state dict: "state.<parameter name>.<state name>" as in PyTorch's optimizer state_dict (which
/// numbers parameters where we name them).
[<AbstractClass>]
type Optimizer(parameters: Parameters, stateNames: string list, lr: float) =
    do if not (0.0 <= lr) then invalidArg "lr" $"invalid learning rate: {lr}"
    let mutable learningRate = lr
    let named = parameters.named
    let tensors = parameters.tensors
    let handles = Array.zeroCreate<nativeint> tensors.Length
    // Steps taken by each parameter (those without a gradient at a step are skipped, as in torch.optim).
    let steps = Array.zeroCreate<int64> tensors.Length
    let state =
        stateNames
        |> List.map (fun s ->
            s,
            tensors
            |> Array.map (fun p ->
                use _ = torch.no_grad ()
                let z = torch.zeros_like p
                // Optimizer state lives as long as the optimizer, not the caller's scope.
                if isNull z.Owner then z else z.Owner.Detach z))
        |> Map.ofList

    /// The native handles of the parameters and of one kind of state, read afresh on each call so
    /// that a disposed tensor raises ObjectDisposedException instead of reaching native code.
    member internal _.Handles() = OptimNative.handles tensors handles
    member internal _.StateHandles(name: string, into: nativeint[]) = OptimNative.handles state.[name] into
    member internal _.Steps = steps
    /// Steps taken so far (restored by load_state_dict, so a schedule resumes where it was).
    member _.stepCount = if steps.Length = 0 then 0L else Array.max steps

    /// The learning rate, settable between steps (for schedules).
    member _.lr
        with get () = learningRate
        and set (value: float) =
            if not (0.0 <= value) then invalidArg "lr" $"invalid learning rate: {value}"
            learningRate <- value

    /// The parameters, in order.
    member _.parameters = tensors

    /// Runs on the parameters before each update: data-parallel training averages their gradients
    /// over the ranks there (as Horovod's DistributedOptimizer does at step()).
    member val BeforeStep: (Tensor[] -> unit) option = None with get, set

    /// The global L2 norm the gradients are scaled down to before each update, after BeforeStep
    /// (torch.nn.utils.clip_grad_norm_); 0 clips nothing.
    member val ClipNorm = 0.0 with get, set

    /// Updates every parameter that has a gradient.
    abstract update: unit -> unit

    /// One optimisation step: BeforeStep, the clipping, then the update.
    member o.step() =
        o.BeforeStep |> Option.iter (fun f -> f tensors)
        if o.ClipNorm > 0.0 then Clip.gradientNorm tensors o.ClipNorm
        o.update ()

    /// Drops the gradients (set_to_none, the default as in PyTorch 2) or zeroes them.
    member o.zero_grad([<Optional; DefaultParameterValue(true)>] set_to_none: bool) =
        check (ts_optim_zero_grad (o.Handles(), tensors.Length, (if set_to_none then 1 else 0)))
        GC.KeepAlive tensors

    /// The state of every parameter that has taken a step, as detached aliases (the caller disposes
    /// the StateDict): "state.<name>.step" (a float32 scalar, as PyTorch stores it) and one entry
    /// per state tensor.
    member _.state_dict() =
        new StateDict(
            [ for i, (name, _) in Array.indexed named do
                  if steps.[i] > 0L then
                      yield $"state.{name}.step", torch.scalar_tensor (float steps.[i])
                      for s in stateNames do
                          yield $"state.{name}.{s}", state.[s].[i].detach () ]
        )

    /// Restores the state saved by state_dict, for an exact resume: parameters without a saved
    /// step start afresh; entries naming no parameter or lacking a state tensor are errors.
    member _.load_state_dict(dict: StateDict) =
        let known = set [ for name, _ in named do
                              yield $"state.{name}.step"
                              for s in stateNames -> $"state.{name}.{s}" ]
        match dict.names |> Array.tryFind (fun n -> not (known.Contains n)) with
        | Some n -> invalidArg "dict" $"the optimizer state dict has an entry '{n}' for no parameter of this optimizer"
        | None -> ()
        use _ = torch.no_grad ()
        for i, (name, _) in Array.indexed named do
            match dict.TryFind $"state.{name}.step" with
            | Some step ->
                for s in stateNames do
                    match dict.TryFind $"state.{name}.{s}" with
                    | Some t when t.shape = state.[s].[i].shape -> state.[s].[i].copy_ t |> ignore
                    | Some _ -> invalidArg "dict" $"state.{name}.{s} does not have the shape of parameter '{name}'"
                    | None -> invalidArg "dict" $"the optimizer state dict has a step for '{name}' but no state.{name}.{s}"
                steps.[i] <- int64 (step.item ())
            | None ->
                for s in stateNames do
                    state.[s].[i].zero_ () |> ignore
                steps.[i] <- 0L

    member _.Dispose() =
        for KeyValue(_, ts) in state do
            for t in ts do
                t.Dispose()

    interface IDisposable with
        member o.Dispose() = o.Dispose()
