namespace Research.Core.Nn

#nowarn "9"

open System
open System.Runtime.InteropServices
open Research.Core
open Research.Core.Native

/// The tensors of a model under their PyTorch state_dict names ("fc1.weight", "enc.conv1.bias"):
/// learnable parameters (requires_grad) and buffers (batch-norm running statistics), in order.
/// Built by composing the collections of a model's layers under prefixes. The tensors belong to
/// the model; Dispose frees them.
[<Sealed>]
type Parameters private (parameters: (string * Tensor)[], buffers: (string * Tensor)[]) =
    let all = Array.append parameters buffers
    let index = dict all

    static let shapeText (t: Tensor) = "[" + (t.shape |> Array.map string |> String.concat ", ") + "]"

    /// A collection of parameters (which must require grad) and buffers (which must not).
    static member create(parameters: (string * Tensor) seq, ?buffers: (string * Tensor) seq) =
        let parameters = Seq.toArray parameters
        let buffers = buffers |> Option.map Seq.toArray |> Option.defaultValue [||]
        let names = Collections.Generic.HashSet<string>()
        for name, t in Array.append parameters buffers do
            if isNull t then nullArg name
            if not (names.Add name) then invalidArg "parameters" $"the name '{name}' appears twice"
        for name, t in parameters do
            if not t.requires_grad then invalidArg "parameters" $"parameter '{name}' does not require grad"
        for name, t in buffers do
            if t.requires_grad then invalidArg "buffers" $"buffer '{name}' requires grad"
        new Parameters(parameters, buffers)

    /// "weight" and, when there is one, "bias": the parameters of linear and convolution layers.
    static member weightAndBias(weight: Tensor, bias: Tensor option) =
        Parameters.create [ "weight", weight
                            match bias with
                            | Some b -> "bias", b
                            | None -> () ]

    /// The collections of a model's parts, each under "name." (PyTorch's submodule naming).
    static member compose(parts: (string * Parameters) seq) =
        let parts = Seq.toArray parts
        let prefixed (select: Parameters -> (string * Tensor)[]) =
            [| for prefix, p in parts do
                   for name, t in select p -> prefix + "." + name, t |]
        Parameters.create (prefixed (fun p -> p.named), prefixed (fun p -> p.buffers))

    /// The learnable tensors with their names, in order (torch.nn.Module.named_parameters).
    member _.named = parameters
    /// The buffers with their names (torch.nn.Module.named_buffers).
    member _.buffers = buffers
    /// The learnable tensors, in order (torch.nn.Module.parameters).
    member _.tensors = parameters |> Array.map snd
    /// The number of learnable scalars: sum of numel over the parameters.
    member _.count = parameters |> Array.sumBy (fun (_, t) -> t.numel)

    member _.Item
        with get (name: string) =
            match index.TryGetValue name with
            | true, t -> t
            | _ -> raise (Collections.Generic.KeyNotFoundException $"no parameter or buffer named '{name}'")

    /// Parameters and buffers as a StateDict of detached aliases (torch.nn.Module.state_dict):
    /// they share memory with the model; the caller disposes the StateDict.
    member _.state_dict() =
        new StateDict([ for name, t in all -> name, t.detach () ])

    /// Copies a state dict's tensors into this model's, checking names and shapes as
    /// torch.nn.Module.load_state_dict does; strict (the default) also rejects missing and
    /// unexpected names. Converts dtype and device where they differ.
    member _.load_state_dict(state: StateDict, [<Optional; DefaultParameterValue(true)>] strict: bool) =
        let problems =
            [ for name, t in all do
                  match state.TryFind name with
                  | Some s when s.shape <> t.shape ->
                      $"size mismatch for {name}: copying a tensor of shape {shapeText s} from the state dict, the shape in the model is {shapeText t}"
                  | Some _ -> ()
                  | None -> if strict then $"missing key {name}"
              if strict then
                  for name in state.names do
                      if not (index.ContainsKey name) then $"unexpected key {name}" ]
        if not problems.IsEmpty then
            invalidArg "state" ("error(s) in loading the state dict: " + String.concat "; " problems)
        use _ = torch.no_grad ()
        for name, t in all do
            state.TryFind name |> Option.iter (fun s -> t.copy_ s |> ignore)

    /// Moves every parameter and buffer to a device in place: the same Tensor objects (and the
    /// optimizer state that refers to them) now live there (torch.nn.Module.to).
    member _.``to``(device: Device) =
        for _, t in all do
            if t.device <> device then
                use moved = t.``to`` device
                check (ts_param_set_data (t.Handle, moved.Handle))
                GC.KeepAlive t

    /// Frees every tensor.
    member _.Dispose() =
        for _, t in all do
            t.Dispose()

    interface IDisposable with
        member p.Dispose() = p.Dispose()

/// A layer or model: something with named parameters.
type IModule =
    abstract parameters: Parameters
