namespace Research.Core.Nn

open System
open System.Collections.Generic
open Research.Core

/// Named tensors in order plus string metadata: what PyTorch calls a state_dict and what a
/// checkpoint file holds ("fc1.weight", "state.fc1.weight.exp_avg", ...). It owns its tensors
/// (the state dicts of models and optimizers hold detached aliases of the live tensors) and
/// frees them when disposed.
[<Sealed>]
type StateDict(entries: (string * Tensor) seq, metadata: IReadOnlyDictionary<string, string>) =
    let items = Seq.toArray entries
    let index = Dictionary<string, Tensor>()
    do
        for name, t in items do
            if isNull t then nullArg name
            if not (index.TryAdd(name, t)) then
                invalidArg "entries" $"the name '{name}' appears twice"

    new(entries: (string * Tensor) seq) = new StateDict(entries, Dictionary())

    /// The entries in order.
    member _.entries = items
    member _.names = items |> Array.map fst
    member _.metadata = metadata
    member _.Count = items.Length
    member _.TryFind(name: string) =
        match index.TryGetValue name with
        | true, t -> Some t
        | _ -> None
    member _.Item
        with get (name: string) =
            match index.TryGetValue name with
            | true, t -> t
            | _ -> raise (KeyNotFoundException $"no tensor named '{name}' in the state dict")

    /// The entries of several state dicts under name prefixes, e.g. [ "model.", m; "optimizer.", o ]
    /// to keep a model and its optimizer in one checkpoint (sub takes them apart again). Takes
    /// ownership of their tensors.
    static member concat(parts: (string * StateDict) seq, ?metadata: IReadOnlyDictionary<string, string>) =
        let parts = Seq.toArray parts
        new StateDict(
            [ for prefix, d in parts do
                  for name, t in d.entries -> prefix + name, t ],
            defaultArg metadata (Dictionary())
        )

    /// The entries whose names start with prefix, with the prefix removed (aliases: the caller
    /// owns and disposes the result; this state dict keeps its own tensors).
    member _.sub(prefix: string) =
        new StateDict(
            [ for name, t in items do
                  if name.StartsWith(prefix, StringComparison.Ordinal) then
                      name.Substring prefix.Length, t.detach () ],
            metadata
        )

    member _.Dispose() =
        for _, t in items do
            t.Dispose()

    interface IDisposable with
        member d.Dispose() = d.Dispose()
