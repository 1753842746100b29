/// The one training loop of every model family: epochs of minibatches, progress, the divergence
/// check, metrics.csv, the last and best checkpoints, image grids and an exact resume, in a locked
/// run folder. A family only says how to build its model and take a step (Family.fs).
module Research.Core.Training.Loop

open System
open System.Collections.Generic
open System.Diagnostics
open System.IO
open Research.Core
open Research.Core.Data
open Research.Core.Checkpoints
open Research.Core.Distributed
open Research.Core.IO

/// How a run starts.
type Start =
    /// Afresh: the folder must hold no run.
    | Fresh
    /// From the run's last committed epoch; a folder that holds no committed epoch (a start killed
    /// before its first commit) starts afresh, with a note.
    | Resume
    /// From the last committed epoch if there is one, else afresh (`--resume auto`, for restarts).
    | ResumeOrFresh

/// One epoch's per-image means of the training columns, the mean loss and the wall time.
type EpochResult = { Means: float[]; Loss: float; Images: int64; Seconds: float }

/// A test hook for a rank that dies mid-epoch: with RESEARCH_TEST_KILL_AT_STEP=<rank>:<n> in the
/// environment, the process of that rank (0 in one process) kills itself (SIGKILL: no clean-up
/// runs) as it begins its n-th training step.
let private killAtStep =
    match Environment.GetEnvironmentVariable "RESEARCH_TEST_KILL_AT_STEP" with
    | null | "" -> None
    | text ->
        match text.Split ':' with
        | [| rank; step |] -> Some(int rank, int step)
        | _ -> invalidOp $"RESEARCH_TEST_KILL_AT_STEP is '{text}', not <rank>:<step>"

let mutable private stepsTaken = 0

let private beginStep (rank: int) =
    stepsTaken <- stepsTaken + 1
    if killAtStep = Some(rank, stepsTaken) then Process.GetCurrentProcess().Kill()

/// One epoch of the trainer's steps over the images, in an order drawn from the generator. Raises
/// TrainingDivergedException at the first NaN, infinite or exploding loss. Data-parallel, every
/// rank steps on its consecutive share of each global batch, in the order rank 0 drew, and the
/// steps' figures are summed over the ranks. (`research bench` times this same function.)
let trainEpoch (trainer: TrainingRun) (images: ImageSubset) (batchSize: int) (generator: Generator)
               (dataParallel: DataParallel option) (epoch: int) (epochs: int) (report: Progress -> unit) =
    let clock = Stopwatch.StartNew()
    let n, size = images.count, int64 batchSize
    let steps = (n + size - 1L) / size
    let sums = Array.zeroCreate trainer.TrainColumns.Length
    let loss, seen = ref 0.0, ref 0L
    // A step's figures: checked for divergence, added up, reported.
    let account (step: int) (length: int64) (result: StepResult) =
        Divergence.check epoch step result.Loss
        loss.Value <- loss.Value + result.Loss
        for i in 0 .. sums.Length - 1 do
            sums[i] <- sums[i] + result.Sums[i]
        seen.Value <- seen.Value + length
        // The running figure: the first training column's per-image mean so far.
        report { Stage = $"epoch {epoch}/{epochs}"; Done = int64 step; Total = steps
                 ItemsPerSecond = float seen.Value / clock.Elapsed.TotalSeconds
                 Running = (if sums.Length > 0 then sums[0] else loss.Value) / float seen.Value
                 RunningName = (if sums.Length > 0 then trainer.TrainColumns.Head else "loss") }
    let accountSummed (step: int, length: int64, figures: PendingSums) =
        use figures = figures
        let total = figures.Wait()
        account step length { Loss = total[0]; Sums = total[1..] }
    use rows =
        match dataParallel with
        | Some dp when not dp.IsLeader -> torch.empty ([| n |], Dtype.Int64)
        | _ -> images.shuffledRows generator
    dataParallel |> Option.iter (fun dp -> dp.Broadcast [ rows ])
    // Data-parallel, a step's figures are summed over the ranks while the next step computes and
    // read after it, by every rank at the same point: a step waits on the others once less (a
    // divergence then stops the epoch a step later, naming the step it happened at).
    let mutable summing = None
    try
        for start in 0L .. size .. n - 1L do
            use scope = new TensorScope()
            let step = int (start / size) + 1
            beginStep (match dataParallel with Some dp -> dp.Rank | None -> 0)
            let length = min size (n - start)
            match dataParallel with
            | None ->
                use batch = images.select (rows.narrow (0, start, length))
                account step length (trainer.Step batch)
            | Some dp ->
                let first, share = DataParallel.Share(length, dp.Rank, dp.WorldSize)
                // A rank with no image of a batch smaller than the world steps on a stand-in image
                // that counts for nothing, so that every rank takes part in every collective.
                let counts = if share = 0L then 0.0 else 1.0
                dp.Weight <-
                    match trainer.Objective with
                    | _ when share = 0L -> 0.0
                    | MeanOverImages -> float share / float length
                    | SumOverImages -> 1.0
                use batch = images.select (rows.narrow (0, start + (if share = 0L then 0L else first), max share 1L))
                let r = trainer.Step batch
                let figures = dp.SumLater [| yield r.Loss * counts; for s in r.Sums -> s * counts |]
                let previous = summing
                summing <- Some(step, length, figures)
                previous |> Option.iter accountSummed
        let last = summing
        summing <- None
        last |> Option.iter accountSummed
    finally
        summing |> Option.iter (fun (_, _, figures: PendingSums) -> (figures :> IDisposable).Dispose())
    let n = float seen.Value
    { Means = sums |> Array.map (fun s -> s / n); Loss = loss.Value / n; Images = seen.Value; Seconds = clock.Elapsed.TotalSeconds }

let private isBetter (headline: Headline) (value: float) (best: float option) =
    match best, headline.Better with
    | None, _ -> true
    | Some b, Higher -> value > b
    | Some b, Lower -> value < b

/// config.json: the family, its settings, the run settings, the world size (processes that train
/// it together) and the headline metric, if any.
let configText (family: Family<'C>) (config: 'C) (settings: RunSettings) (worldSize: int) (headline: Headline option) =
    ConfigWriter.toText (fun w ->
        w.WriteString("model", family.Name)
        Settings.write family.Settings w config
        RunSettings.write w settings
        w.WriteNumber("world_size", worldSize)
        headline
        |> Option.iter (fun h ->
            w.WriteString("headline", h.Column)
            w.WriteString("better", (match h.Better with Higher -> "higher" | Lower -> "lower"))))

/// Checks that config.json holds the settings a checkpoint file was written with (its metadata
/// keeps them): the model's, and with `settings` the run's too. A config.json edited after
/// training would build another model (another T, other widths) or resume another run.
let private checkWrittenWith (family: Family<'C>) (run: RunFolder) (file: string) (metadata: IReadOnlyDictionary<string, string>)
                             (config: 'C) (settings: RunSettings option) =
    match metadata.TryGetValue "config" with
    | true, text ->
        let savedConfig, savedSettings = ConfigReader.Parse(file, text, fun r -> Settings.read family.Settings r, RunSettings.read r)
        let differing =
            Settings.differing family.Settings savedConfig config
            @ (settings |> Option.map (RunSettings.differing savedSettings) |> Option.defaultValue [])
        if not differing.IsEmpty then
            let what = differing |> List.map (fun (flag, a, b) -> $"--{flag} {a} there, {b} in config.json")
            raise (InvalidDataException $"""{file} was written with other settings than {run.ConfigPath} holds ({String.concat "; " what}); config.json was edited or replaced: restore it""")
    | _ -> ()

/// A trained model of the family from a run folder's checkpoint ("best" or "last"), with the run's
/// config and settings: `build` makes the model of the run's config, whose `parameters` then take the
/// checkpoint's weights (and are freed if they cannot). The caller disposes the parameters.
let loadModel (family: Family<'C>) (folder: string, checkpoint: string) (build: 'C -> 'M) (parameters: 'M -> Nn.Parameters) =
    let run = RunFolder folder
    let config, settings = Family.readConfig family run
    let file = run.Trained checkpoint
    let model = build config
    try Checkpoint.loadModel (file, parameters model, fun metadata -> checkWrittenWith family run file metadata config None) |> ignore
    with _ ->
        (parameters model).Dispose()
        reraise ()
    config, settings, model

/// The processes a run was trained by (1 for runs written before data-parallel training).
let private savedWorldSize (run: RunFolder) = run.ReadConfig(fun r -> r.IntOr("world_size", 1))

/// On the leader: takes the folder and decides whether the run resumes (raising, one line, when it
/// cannot start as asked). The lock is held until the returned RunLock is disposed.
let private open' (family: Family<'C>) (config: 'C) (settings: RunSettings) (run: RunFolder) (start: Start) (worldSize: int) (leftOut: string list) =
    if start = Resume && not (Directory.Exists run.Path) then
        raise (FileNotFoundException($"nothing to resume: {run.Path} does not exist; start the run without --resume", run.Path))
    let held = run.Lock()
    try
        let resume =
            match start with
            | Fresh when run.HoldsRun ->
                raise (InvalidOperationException $"{run.Path} already holds a run; pass --resume to continue it or choose another --out folder")
            | Fresh -> false
            | Resume | ResumeOrFresh -> run.HoldsRun
        if not resume then
            run.ClearFailedStart held
            if start = Resume then eprintfn $"note: {run.Path} holds no committed epoch (its first epoch never finished); starting it afresh"
        let config, settings =
            if not resume then config, settings
            else
                let savedConfig, savedSettings = Family.readConfig family run
                let config = Settings.resumed family.Settings savedConfig leftOut config |> family.Settings.Check
                let settings = RunSettings.resumed savedSettings leftOut settings |> RunSettings.validate
                match Settings.differences family.Settings savedConfig config @ RunSettings.differences savedSettings settings with
                | [] -> ()
                | diffs -> raise (InvalidOperationException($"the run in {run.Path} was made with another configuration: " + String.concat "; " diffs))
                match savedWorldSize run with
                | saved when saved <> worldSize ->
                    raise (InvalidOperationException $"the run in {run.Path} was trained by {saved} process(es) and resumes only at that world size, not at {worldSize} (its ranks' random generators are saved per rank)")
                | _ -> ()
                config, settings
        held, resume, config, settings
    with _ ->
        (held :> IDisposable).Dispose()
        reraise ()

/// Trains a model of the family in `folder`, or resumes the run there from its last committed
/// epoch, exactly as if it had never stopped; data-parallel over the ranks of `dataParallel`. Returns
/// the metrics log (on the leader; None on the other ranks).
///
/// The folder is locked for the run's life. An epoch's files (its metrics row, image grids, model
/// files and config.json) are written first, and the epoch is committed last, by one atomic write
/// of checkpoints/resume.safetensors (model, optimizers, generators): a kill at any instant leaves
/// a run that resumes from the last commit, redoing the uncommitted epoch bit for bit and so
/// rewriting its files with the same contents. config.json comes with the first commit, so a start
/// that fails (missing data, divergence in epoch 1) leaves no run behind. Nothing is written before
/// a resume's configuration and checkpoint have been checked.
/// A NaN or exploding loss, or a validation figure that is not finite, raises
/// TrainingDivergedException; the last committed epoch stays.
///
/// A resume takes the settings named in `leftOut` (by their flags: those a command line did not
/// give, the model's and the run's) from the run: `--resume` alone continues the run as it was
/// started, to its own total of epochs.
///
/// Data-parallel, rank 0 alone holds the folder: it decides whether the run resumes, broadcasts
/// the state it starts from (a resume: the committed checkpoint itself, which every rank loads),
/// validates, and writes every file; the other ranks write nothing. Each rank draws its model's
/// noise from its own generator (rank 0's seeded as a single process's), and the resume file holds
/// every rank's, so a resume at the same world size is exact.
let trainOn (dataParallel: DataParallel option) (family: Family<'C>) (config: 'C) (settings: RunSettings) (folder: string)
            (start: Start) (leftOut: string list) (dataFolder: string option) (report: Progress -> unit) : MetricsLog option =
    let config = family.Settings.Check config
    let settings = RunSettings.validate settings
    let leader = dataParallel |> Option.forall (fun dp -> dp.IsLeader)
    let rank, worldSize = match dataParallel with Some dp -> dp.Rank, dp.WorldSize | None -> 0, 1
    let onLeader (f: unit -> byte[]) = match dataParallel with Some dp -> dp.OnLeader f | None -> f ()
    dataParallel |> Option.iter (fun dp -> dp.CheckSameConfiguration(configText family config settings worldSize None))
    let run = RunFolder folder
    let mutable held = None
    // The leader's decision, for every rank: whether the run resumes, and with which settings.
    let resume, (config, settings) =
        onLeader (fun () ->
            let lock, resume, config, settings = open' family config settings run start worldSize leftOut
            held <- Some lock
            let text = ConfigWriter.toText (fun w -> Settings.write family.Settings w config; RunSettings.write w settings)
            Array.append [| (if resume then 1uy else 0uy) |] (Text.Encoding.UTF8.GetBytes text))
        |> fun decision ->
            let text = Text.Encoding.UTF8.GetString(decision, 1, decision.Length - 1)
            // Into this rank's config: what a config holds beyond its declared settings stays.
            decision[0] = 1uy, ConfigReader.Parse("the leader's settings", text, fun r -> Settings.readInto family.Settings config r, RunSettings.read r)
    use _ = { new IDisposable with member _.Dispose() = held |> Option.iter (fun h -> (h :> IDisposable).Dispose()) }
    let report = if leader then report else ignore
    Family.useThreads (family.Threads config settings.Threads)
    use data = family.LoadData config settings dataFolder
    dataParallel |> Option.iter (fun dp -> dp.CheckSameData data.Fingerprint)
    use generator = new Generator(DataParallel.Seed(settings.Seed, rank))
    use trainer = family.Create config settings data generator
    dataParallel |> Option.iter (fun dp -> dp.Attach trainer)
    let generators = ("train", generator) :: trainer.Generators
    let suffix (r: int) = if r = 0 then "" else $".rank{r}"
    let text = configText family config settings worldSize trainer.Headline
    let metadata = [ "config", text; "format", $"research-{family.Name}" ]
    let columns = [| yield "epoch"; yield! trainer.TrainColumns; yield! trainer.ValidationColumns; yield "seconds" |]
    let saveImages epoch =
        if leader && List.contains epoch settings.ImageEpochs then
            for kind, png in trainer.Images epoch do AtomicFile.writeBytes (run.ImagePath(kind, epoch)) png
    let startEpoch, metrics =
        if resume then
            let checkpoint = onLeader (fun () -> File.ReadAllBytes run.ResumePath)
            use saved = Safetensors.parse (run.ResumePath, checkpoint)
            checkWrittenWith family run run.ResumePath saved.metadata config (Some settings)
            let named = [ for name, g in generators -> name + suffix rank, g ]
            let epoch = Checkpoint.loadResumeFrom (run.ResumePath, saved, trainer.Model, trainer.Optimizers, named)
            if leader then
                let log = MetricsLog.Open run.MetricsPath
                if log.Columns <> columns then
                    raise (InvalidDataException $"""{run.MetricsPath}: the columns {String.concat "," log.Columns} are not this run's {String.concat "," columns}""")
                if (log.Column "epoch" |> Array.filter (fun e -> e <= float epoch)).Length <> epoch then
                    raise (InvalidDataException $"{run.MetricsPath} lacks rows of the {epoch} epochs that {run.ResumePath} has committed")
                log.TruncateAfter epoch
                if epoch >= settings.Epochs then
                    eprintfn $"note: the run in {run.Path} has trained {epoch} epochs, all that --epochs {settings.Epochs} asks for; a larger --epochs trains it further"
                epoch + 1, Some log
            else epoch + 1, None
        else
            saveImages 0
            1, (if leader then Some(MetricsLog.Create(run.MetricsPath, columns)) else None)
    // The headline's column and the best value so far (of the rows a resume kept).
    let headline =
        trainer.Headline
        |> Option.map (fun h ->
            match Array.IndexOf(columns, h.Column) with
            | -1 -> invalidOp $"the headline metric '{h.Column}' is not a metrics column"
            | i -> h, i)
    let mutable best =
        match headline, metrics with
        | Some(h, i), Some log -> log.Rows |> Array.fold (fun b row -> if isBetter h row[i] b then Some row[i] else b) None
        | _ -> None
    for epoch in startEpoch .. settings.Epochs do
        let result = trainEpoch trainer data.train settings.BatchSize generator dataParallel epoch settings.Epochs report
        // BatchNorm's running statistics follow rank 0's, as DDP's broadcast_buffers.
        dataParallel |> Option.iter (fun dp -> dp.Broadcast(Array.map snd trainer.Model.buffers))
        let validation =
            match dataParallel with
            | None -> trainer.Validate ()
            | Some dp -> dp.FromLeader(if leader then trainer.Validate () else Array.zeroCreate trainer.ValidationColumns.Length)
        for name, v in Seq.zip trainer.ValidationColumns validation do
            if not (Double.IsFinite v) then
                raise (TrainingDivergedException $"the validation {name} became {v} after epoch {epoch}")
        // Every rank's generators, for the commit (gathered here, where every rank is).
        let states =
            match dataParallel with
            | None -> [ for name, g in generators -> name, g.state ]
            | Some dp -> [ for name, g in generators do
                               for r, state in Array.indexed (dp.Gather g.state) -> name + suffix r, state ]
        match metrics with
        | Some metrics ->
            metrics.Append [| yield float epoch; yield! result.Means; yield! validation; yield result.Seconds |]
            saveImages epoch
            Checkpoint.saveModel (run.Checkpoint "last", epoch, trainer.Model, metadata)
            let row = Array.last metrics.Rows
            match headline with
            | Some(h, i) when isBetter h row[i] best ->
                best <- Some row[i]
                Checkpoint.saveModel (run.Checkpoint "best", epoch, trainer.Model, metadata)
            | _ -> ()
            if not (File.Exists run.ConfigPath) || File.ReadAllText run.ConfigPath <> text then
                AtomicFile.writeText run.ConfigPath text
            // The commit: after it, this epoch is never redone.
            Checkpoint.commitUnlessStopped (fun () -> Checkpoint.saveResume (run.ResumePath, epoch, trainer.Model, trainer.Optimizers, states, metadata))
        | None -> ()
    metrics

/// Trains a model of the family in one process (see trainOn); `resume` continues the run in the
/// folder.
let train (family: Family<'C>) (config: 'C) (settings: RunSettings) (folder: string) (resume: bool)
          (dataFolder: string option) (report: Progress -> unit) : MetricsLog =
    (trainOn None family config settings folder (if resume then Resume else Fresh) [] dataFolder report).Value

/// Trains as a `train` command asks: in one process, or as one rank of the group `launch`
/// describes; a resume takes the settings `leftOut` names from the run (see trainOn). Returns the
/// metrics log, or None on a rank other than 0.
let run (family: Family<'C>) (config: 'C) (settings: RunSettings) (folder: string) (start: Start) (leftOut: string list)
        (launch: Launch option) (dataFolder: string option) (report: Progress -> unit) =
    match launch with
    | None -> trainOn None family config settings folder start leftOut dataFolder report
    | Some launch ->
        use group = ProcessGroup.Join launch
        use dataParallel = new DataParallel(group)
        trainOn (Some dataParallel) family config settings folder start leftOut dataFolder report
