namespace Research.Core.Families

open Research.Core
open Research.Core.Training

/// What `score` asks of a run: n images from a checkpoint, drawn with a seed on some threads; a
/// flow also at a second temperature, a diffusion model with that many sampling steps.
type SampleRequest =
    { Folder: string
      Checkpoint: string
      N: int
      Seed: int64
      Threads: int
      Temperature: float
      Steps: int }

/// A run's sample sets for `score`, its request checked: `Use f` loads the checkpoint, hands f the
/// sets, each (label, its drawing: SampleFiles.Drawing), and frees the model when f returns.
type SampleSets =
    abstract Use: ((string * SampleFiles.Drawing) list -> 'T) -> 'T

/// A model family as the commands see it: its own commands (`research <name> train`, `sample`,
/// `eval`, ...), which the runner builds from this entry, and what the commands that read any run
/// folder (`report`, `score`, the comparison) need, found in the registry (Models/Registry.fs) by
/// the "model" of a run's config.json. A family gives what it has; a script's family registers one
/// too (Registry.register).
type FamilyEntry =
    { /// The config's "model" value, as its Family<'Config> writes it, and its command's name.
      Name: string
      /// Its command (`research <name>`), in a line.
      Description: string
      Train: TrainCommand
      /// Its commands on a trained run, in the order its help lists them.
      Commands: RunCommand list
      /// Whether its runs keep a best checkpoint (a GAN's keep only the last): the commands on a
      /// trained run default to it.
      KeepsBest: bool
      /// `research bench <name>`: its training epoch beside its PyTorch peer, if it has one.
      Bench: Benchmarks.FamilyBenchmark option
      /// Reference lines for the run's metric curves (column, label, value), given the run folder.
      References: string -> (string * string * float) list
      /// The panels its report draws from the checkpoint, given the run folder and a data folder
      /// (None: the default).
      Panels: string -> string option -> Panel list
      /// What the family offers as a likelihood, in words, for a run that has no evaluation yet.
      Likelihood: string
      /// The sample sets `score` draws, in two steps: given a request, it checks it against the
      /// run (a bad one raises at once, before any input's work); then its Use draws them. None
      /// for a family that draws none (score an IDX file of its images instead).
      Samples: (SampleRequest -> SampleSets) option
      /// The epochs of the family's recipe in the README and its name: a run trained for fewer gets
      /// a note in its report that its figures are not yet what the family reaches.
      Recipe: (int * string) option }

module FamilyEntry =
    /// The entry of a family with its `train` command alone (described by `description` and
    /// `train`) and its likelihood in words: its report shows the metrics and images; a family adds
    /// what else it has with `{ FamilyEntry.plain family description train likelihood with ... }`.
    let plain (family: Family<'C>) (description: string) (train: string) (likelihood: string) =
        { Name = family.Name
          Description = description
          Train = TrainCommand.ofFamily family train
          Commands = []
          KeepsBest = true
          Bench = None
          References = (fun _ -> [])
          Panels = (fun _ _ -> [])
          Likelihood = likelihood
          Samples = None
          Recipe = None }

    /// `score`'s sample sets given by `sets` for a family's model, which `load` reads from the
    /// requested checkpoint (the config, the run settings and the model; its `parameters` are freed
    /// after the draws), on the requested threads as the family splits them; `check` first refuses
    /// a request the run's config cannot serve.
    let checkedSamplesOf (check: SampleRequest -> 'C -> unit) (family: Family<'C>) (load: string * string -> 'C * RunSettings * 'M)
                         (parameters: 'M -> Nn.Parameters) (sets: SampleRequest -> 'C -> 'M -> (string * SampleFiles.Drawing) list) =
        Some(fun (r: SampleRequest) ->
            check r (fst (Family.readConfig family (RunFolder r.Folder)))
            { new SampleSets with
                member _.Use draw =
                    let config, _, model = load (r.Folder, r.Checkpoint)
                    use _ = parameters model
                    Family.useThreadsOf family config r.Threads
                    draw (sets r config model) })

    /// The commands on a trained run that `research <family>` offers: the family's own and, for a
    /// family that draws sample sets for `score` but has no `sample` of its own (the VAEs), a
    /// `sample` that writes the first of those sets, as every `sample` writes (drawing no other).
    let commands (entry: FamilyEntry) =
        match entry.Samples with
        | Some prepare when entry.Commands |> List.forall (fun c -> c.Name <> "sample") ->
            let sample =
                RunCommand.sample $"Draw images from a trained {entry.Name} as `score` draws them (its first sample set)" "seed of the draws" "" [] (fun _ -> "")
                    (fun a n save ->
                        let request = { Folder = a.Folder; Checkpoint = a.Checkpoint; N = n; Seed = int64 a.Seed; Threads = a.Threads; Temperature = 1.0; Steps = 0 }
                        (prepare request).Use(fun sets -> save (snd sets.Head)))
            sample :: entry.Commands
        | _ -> entry.Commands

    /// checkedSamplesOf for a family whose runs serve every request.
    let samplesOf family load parameters draw = checkedSamplesOf (fun _ _ -> ()) family load parameters draw
