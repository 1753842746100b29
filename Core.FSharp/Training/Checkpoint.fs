/// A training checkpoint in a run folder: `<name>.safetensors` holds the model's state_dict alone
/// (PyTorch's load_state_dict reads it as is; its metadata carries the config), and
/// `<name>-state.safetensors` holds what an exact resume also needs: the optimizer's state and the
/// random generators' states. Both carry the epoch, so a resume can tell they belong together.
module Research.Core.Training.Checkpoint

open System
open System.Collections.Generic
open System.IO
open Research.Core
open Research.Core.Nn
open Research.Core.Optim
open Research.Core.Checkpoints

let modelPath (folder: string) (name: string) = Path.Combine(folder, name + ".safetensors")
let statePath (folder: string) (name: string) = Path.Combine(folder, name + "-state.safetensors")

let private withEpoch (epoch: int) (metadata: (string * string) list) : IReadOnlyDictionary<string, string> =
    dict (("epoch", string epoch) :: metadata) |> Dictionary :> _

/// Saves the model (and, with an optimizer, the training state) after `epoch`. Each file is written
/// atomically; the state goes first, so a crash between the two leaves an older model with a newer
/// state, which `loadState` detects by the epochs.
let save (folder: string, name: string, epoch: int, model: Parameters, metadata: (string * string) list,
          training: (Optimizer * (string * Generator) list) option) =
    Directory.CreateDirectory folder |> ignore
    use scope = new TensorScope()
    match training with
    | Some(optimizer, generators) ->
        use optimizerState = optimizer.state_dict ()
        let rng = [ for n, g in generators -> $"rng.{n}", torch.tensor (g.state) ]
        let entries = [ for n, t in optimizerState.entries -> $"optimizer.{n}", t ] @ rng
        use state = new StateDict(entries |> List.map (fun (n, t) -> n, t.detach ()), withEpoch epoch [])
        Safetensors.save (statePath folder name, state)
    | None -> ()
    use weights = model.state_dict ()
    use file = new StateDict(weights.entries |> Array.map (fun (n, t) -> n, t.detach ()), withEpoch epoch metadata)
    Safetensors.save (modelPath folder name, file)

let private epochOf (path: string) (d: StateDict) =
    match d.metadata.TryGetValue "epoch" with
    | true, e ->
        match Int32.TryParse e with
        | true, v -> v
        | _ -> raise (InvalidDataException $"{path}: metadata 'epoch' is '{e}', not a number")
    | _ -> raise (InvalidDataException $"{path}: no 'epoch' in its metadata; not a checkpoint written by this workspace")

/// Loads a model file into the model (names and shapes must match); returns its epoch and metadata.
let loadModel (path: string, model: Parameters) =
    use d = Safetensors.load path
    try model.load_state_dict d
    with :? ArgumentException as e -> raise (InvalidDataException($"{path}: {e.Message}", e))
    epochOf path d, d.metadata

/// Loads model and training state for an exact resume; returns the epoch they were saved after.
let load (folder: string, name: string, model: Parameters, optimizer: Optimizer, generators: (string * Generator) list) =
    let path = modelPath folder name
    let epoch, _ = loadModel (path, model)
    let spath = statePath folder name
    use state = Safetensors.load spath
    let stateEpoch = epochOf spath state
    if stateEpoch <> epoch then
        raise (InvalidDataException $"{spath} is from epoch {stateEpoch} but {path} is from epoch {epoch}; the run was interrupted while saving, delete both to restart")
    use optimizerState = state.sub "optimizer."
    try optimizer.load_state_dict optimizerState
    with :? ArgumentException as e -> raise (InvalidDataException($"{spath}: {e.Message}", e))
    for n, g in generators do
        match state.TryFind $"rng.{n}" with
        | Some t -> g.state <- t.toArray<byte> ()
        | None -> raise (InvalidDataException $"{spath}: no state for the random generator '{n}'")
    epoch
