/// Checkpoints of a run, in safetensors files that carry the epoch in their metadata:
/// - the model file (last, best): the model's state_dict alone, which PyTorch's load_state_dict
///   reads as it is; its metadata carries the config;
/// - the resume file: the model, every named optimizer's state and every named random generator's
///   state in one file, so one atomic rename commits a whole epoch: a crash at any instant leaves
///   either the previous epoch's file or the new one, never a mixed pair.
module Research.Core.Training.Checkpoint

open System
open System.Collections.Generic
open System.IO
open Research.Core
open Research.Core.Nn
open Research.Core.Optim
open Research.Core.Checkpoints

let private withEpoch (epoch: int) (metadata: (string * string) list) : IReadOnlyDictionary<string, string> =
    dict (("epoch", string epoch) :: metadata) |> Dictionary :> _

let private detached (d: StateDict) = d.entries |> Array.map (fun (n, t) -> n, t.detach ())

/// Writes the model alone after `epoch` (atomically).
let saveModel (path: string, epoch: int, model: Parameters, metadata: (string * string) list) =
    use weights = model.state_dict ()
    use file = new StateDict(detached weights, withEpoch epoch metadata)
    Safetensors.save (path, file)

/// Writes everything an exact resume needs after `epoch`, in one atomic write: "model.<name>",
/// "optimizer.<optimizer>.<name>" and "rng.<generator>" entries (the generators' states).
let saveResume (path: string, epoch: int, model: Parameters, optimizers: (string * Optimizer) list,
                generators: (string * byte[]) list, metadata: (string * string) list) =
    use scope = new TensorScope()
    use weights = model.state_dict ()
    let optimizerStates = [ for name, o in optimizers -> name, o.state_dict () ]
    try
        let entries =
            [ for n, t in detached weights -> $"model.{n}", t
              for name, state in optimizerStates do
                  for n, t in detached state -> $"optimizer.{name}.{n}", t
              for name, state in generators -> $"rng.{name}", torch.tensor state ]
        use file = new StateDict(entries, withEpoch epoch metadata)
        Safetensors.save (path, file)
    finally
        for _, s in optimizerStates do s.Dispose()

// Commits of this process: a signal handler stops them before it reports the last one.
let private commits = obj ()
let mutable private commitsStopped = false

/// Runs `commit`, the write that commits an epoch, unless commits have been stopped.
let commitUnlessStopped (commit: unit -> unit) = lock commits (fun () -> if not commitsStopped then commit ())

/// Stops this process's commits, once the one under way (if any) is done: the last commit on disk
/// then stays the last, while the process ends.
let stopCommits () = lock commits (fun () -> commitsStopped <- true)

let private epochOf (path: string) (metadata: IReadOnlyDictionary<string, string>) =
    match metadata.TryGetValue "epoch" with
    | true, e ->
        match Int32.TryParse e with
        | true, v -> v
        | _ -> raise (InvalidDataException $"{path}: metadata 'epoch' is '{e}', not a number")
    | _ -> raise (InvalidDataException $"{path}: no 'epoch' in its metadata; not a checkpoint written by this workspace")

let private loadInto (path: string) (what: string) (load: unit -> unit) =
    try load ()
    with :? ArgumentException as e -> raise (InvalidDataException($"{path}: {what}: {e.Message}", e))

/// The epoch a checkpoint file was saved after, from its header alone: no tensor is made, so a
/// signal handler can ask it while the training thread runs.
let epoch (path: string) =
    if not (File.Exists path) then raise (FileNotFoundException($"safetensors file '{path}' does not exist", path))
    epochOf path (snd (SafetensorsFormat.parse (path, File.ReadAllBytes path)))

let private allFinite (t: Tensor) =
    use scope = new TensorScope()
    t.isfinite().logical_not().sum().item () = 0.0

/// Loads a model file into the model: `check` sees its metadata first (the settings it was written
/// with); then the names, shapes and dtypes must match, and every value be finite (a run that
/// diverged keeps only finite checkpoints; anything else was damaged elsewhere). Returns its epoch.
/// The one checkpoint loader of every family.
let loadModel (path: string, model: Parameters, check: IReadOnlyDictionary<string, string> -> unit) =
    use d = Safetensors.load path
    check d.metadata
    for name, t in Array.append model.named model.buffers do
        match d.TryFind name with
        | Some s when s.dtype <> t.dtype ->
            raise (InvalidDataException $"{path}: {name} is {s.dtype} in the file, {t.dtype} in the model")
        | Some s when s.dtype.IsFloatingPoint && not (allFinite s) ->
            raise (InvalidDataException $"{path}: the weights of {name} are not finite numbers")
        | _ -> ()
    loadInto path "the model" (fun () -> model.load_state_dict d)
    epochOf path d.metadata

/// Loads a resume file's contents (read from `path`) into the model, the optimizers and the
/// generators (every one must be in the file); returns the epoch it was saved after.
let loadResumeFrom (path: string, d: StateDict, model: Parameters, optimizers: (string * Optimizer) list,
                    generators: (string * Generator) list) =
    let epoch = epochOf path d.metadata
    (use weights = d.sub "model."
     loadInto path "the model" (fun () -> model.load_state_dict weights))
    for name, o in optimizers do
        use state = d.sub $"optimizer.{name}."
        // Every optimizer has taken steps by the end of an epoch, so its state is never empty.
        if state.Count = 0 then
            raise (InvalidDataException $"{path}: no state for the optimizer '{name}'")
        loadInto path $"the optimizer '{name}'" (fun () -> o.load_state_dict state)
    for name, g in generators do
        match d.TryFind $"rng.{name}" with
        | Some t -> g.state <- t.toArray<byte> ()
        | None -> raise (InvalidDataException $"{path}: no state for the random generator '{name}'")
    epoch

/// Loads a resume file into the model, the optimizers and the generators (every one must be in
/// the file); returns the epoch it was saved after.
let loadResume (path: string, model: Parameters, optimizers: (string * Optimizer) list, generators: (string * Generator) list) =
    use d = Safetensors.load path
    loadResumeFrom (path, d, model, optimizers, generators)
