/// The model families this workspace ships, one line each, and those a script registers. The
/// commands that read any run folder (`report`, `score`, the comparison) look a run's family up
/// here by the "model" of its config.json; none of them names a family.
module Research.Core.Models.Registry

open System
open System.Collections.Concurrent
open Research.Core.Families
open Research.Core.Training

let private shipped: FamilyEntry list =
    [ MlpRun.entry
      Vae.VaeEntry.entry
      Gan.GanEntry.entry
      Flow.FlowEntry.entry
      Diffusion.DiffusionEntry.entry
      BetaVae.BetaVaeEntry.entry ]

let private registered = ConcurrentDictionary<string, FamilyEntry>()

/// Adds a family defined outside the workspace (a script's): the commands this process runs then
/// treat its runs as they treat a shipped family's.
let register (entry: FamilyEntry) = registered[entry.Name] <- entry

/// The family of that name, registered or shipped.
let find (name: string) =
    match registered.TryGetValue name with
    | true, entry -> Some entry
    | _ -> shipped |> List.tryFind (fun e -> e.Name = name)

/// Every family known here: the shipped ones in order, then those registered.
let entries () =
    shipped @ [ for e in registered.Values do if not (shipped |> List.exists (fun s -> s.Name = e.Name)) then e ]

/// The names of every family known here.
let names () = (shipped |> List.map (fun e -> e.Name)) @ List.ofSeq registered.Keys |> List.distinct

/// The names of the families whose runs `score` draws samples from.
let samplers () = names () |> List.filter (fun n -> (find n).Value.Samples.IsSome)

/// What a run's family adds to its report: reference lines for its metrics' curves and panels from
/// its checkpoint, after a note if the run trained fewer epochs than the family's recipe; nothing
/// for a family unknown here (the report shows its metrics and images).
let report (folder: string) (dataFolder: string) =
    let data = if String.IsNullOrEmpty dataFolder then None else Some dataFolder
    let run = RunFolder folder
    match find run.Family with
    | Some entry ->
        let references, panels = entry.References folder, entry.Panels folder data
        let trained = Checkpoint.epoch (run.Checkpoint "last")
        match entry.Recipe with
        | Some(epochs, name) when trained < epochs ->
            let note = $"This run trained {trained} epoch(s); {name} in the README trains {epochs}. Its figures show a model early in its training, not what the family reaches."
            references, Note note :: panels
        | _ -> references, panels
    | None -> [], []

/// What a run offers as a likelihood: each of its evaluations (labelled by checkpoint and settings),
/// or, without any, what its family says it offers.
let likelihood (folder: string) =
    let run = RunFolder folder
    match Evaluation.all run with
    | [] ->
        let family = run.Family
        [ "", find family |> Option.map (fun e -> e.Likelihood) |> Option.defaultValue $"unknown for a '{family}' run" ]
    | evaluations ->
        [ for e in evaluations ->
              let bound = match e.Bound with Some(name, v) -> $"; {name} {v:F3} (a bound)" | None -> ""
              Evaluation.label e, $"{e.Measure} {e.Estimate:F3} ± {e.StdErr:F3} {e.Unit}{bound}" ]

/// The sample sets `score` draws from a run's checkpoint: the request checked now, the sets drawn
/// by their Use.
let samples (request: SampleRequest) =
    let family = (RunFolder request.Folder).Family
    match find family |> Option.bind (fun e -> e.Samples) with
    | Some prepare -> prepare request
    | None ->
        let samplers = String.concat ", " (samplers ())
        invalidArg "run" $"{request.Folder}: score draws samples from {samplers} runs, not from a '{family}' run; pass an IDX file of its images instead"
