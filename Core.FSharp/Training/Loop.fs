/// The one training loop of every model family: epochs of minibatches, progress, the divergence
/// check, metrics.csv, the last and best checkpoints, image grids and an exact resume, in a locked
/// run folder. A family only says how to build its model and take a step (Family.fs).
module Research.Core.Training.Loop

open System
open System.Diagnostics
open System.IO
open Research.Core
open Research.Core.Data
open Research.Core.IO

/// One epoch's per-image means of the training columns, the mean loss and the wall time.
type EpochResult = { Means: float[]; Loss: float; Images: int64; Seconds: float }

/// One epoch of the trainer's steps over the images, in an order drawn from the generator. Raises
/// TrainingDivergedException at the first NaN, infinite or exploding loss. (`research bench` times
/// this same function.)
let trainEpoch (trainer: Trainer) (images: ImageSubset) (batchSize: int) (generator: Generator) (epoch: int) (epochs: int)
          (report: Progress -> unit) =
    let clock = Stopwatch.StartNew()
    let steps = (images.count + int64 batchSize - 1L) / int64 batchSize
    let sums = Array.zeroCreate trainer.TrainColumns.Length
    let mutable loss, seen, step = 0.0, 0L, 0
    for batch in images.batches (batchSize, generator = generator) do
        use scope = new TensorScope()
        step <- step + 1
        let result = trainer.Step batch
        Divergence.check epoch step result.Loss
        loss <- loss + result.Loss
        for i in 0 .. sums.Length - 1 do
            sums[i] <- sums[i] + result.Sums[i]
        seen <- seen + batch.x.size 0
        report { Stage = $"epoch {epoch}/{epochs}"; Done = int64 step; Total = steps
                 ItemsPerSecond = float seen / clock.Elapsed.TotalSeconds; Running = loss / float seen }
    let n = float seen
    { Means = sums |> Array.map (fun s -> s / n); Loss = loss / n; Images = seen; Seconds = clock.Elapsed.TotalSeconds }

let private isBetter (headline: Headline) (value: float) (best: float option) =
    match best, headline.Better with
    | None, _ -> true
    | Some b, Higher -> value > b
    | Some b, Lower -> value < b

/// config.json: the family, its settings, the run settings and the headline metric, if any.
let configText (family: Family<'C>) (config: 'C) (settings: RunSettings) (headline: Headline option) =
    ConfigWriter.toText (fun w ->
        w.WriteString("model", family.Name)
        family.Write w config
        RunSettings.write w settings
        headline
        |> Option.iter (fun h ->
            w.WriteString("headline", h.Column)
            w.WriteString("better", (match h.Better with Higher -> "higher" | Lower -> "lower"))))

/// A run's saved configuration, read as the family's settings and the run settings; the family
/// must be the one that wrote it.
let readConfig (family: Family<'C>) (run: RunFolder) =
    run.ReadConfig(fun r ->
        let name = r.String "model"
        if name <> family.Name then r.Fail $"this is a {name} run, not a {family.Name} run"
        family.Read r, RunSettings.read r)

/// Trains a model of the family in `folder`, or resumes the run there from its last committed
/// epoch, exactly as if it had never stopped. Returns the metrics log.
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
let train (family: Family<'C>) (config: 'C) (settings: RunSettings) (folder: string) (resume: bool)
          (dataFolder: string option) (report: Progress -> unit) : MetricsLog =
    let config = family.Validate config
    let settings = RunSettings.validate settings
    let run = RunFolder folder
    use held = run.Lock()
    if run.HoldsRun && not resume then
        raise (InvalidOperationException $"{run.Path} already holds a run; pass --resume to continue it or choose another --out folder")
    if resume then
        if not run.HoldsRun then
            raise (FileNotFoundException($"nothing to resume: {run.Path} has no checkpoint (checkpoints/resume.safetensors); start it without --resume", run.ResumePath))
        let savedConfig, savedSettings = readConfig family run
        match family.Differences savedConfig config @ RunSettings.differences savedSettings settings with
        | [] -> ()
        | diffs -> raise (InvalidOperationException($"the run in {run.Path} was made with another configuration: " + String.concat "; " diffs))
    Family.useThreads (family.Threads config settings.Threads)
    use data = family.LoadData config settings dataFolder
    use generator = new Generator(int64 settings.Seed)
    use trainer = family.Create config settings data generator
    let generators = ("train", generator) :: trainer.Generators
    let text = configText family config settings trainer.Headline
    let metadata = [ "config", text; "format", $"research-{family.Name}" ]
    let columns = [| yield "epoch"; yield! trainer.TrainColumns; yield! trainer.ValidationColumns; yield "seconds" |]
    let saveImages epoch =
        if List.contains epoch settings.ImageEpochs then
            for kind, png in trainer.Images epoch do AtomicFile.writeBytes (run.ImagePath(kind, epoch)) png
    let startEpoch, metrics =
        if resume then
            let epoch = Checkpoint.loadResume (run.ResumePath, trainer.Model, trainer.Optimizers, generators)
            let log = MetricsLog.Open run.MetricsPath
            if log.Columns <> columns then
                raise (InvalidDataException $"""{run.MetricsPath}: the columns {String.concat "," log.Columns} are not this run's {String.concat "," columns}""")
            if (log.Column "epoch" |> Array.filter (fun e -> e <= float epoch)).Length <> epoch then
                raise (InvalidDataException $"{run.MetricsPath} lacks rows of the {epoch} epochs that {run.ResumePath} has committed")
            log.TruncateAfter epoch
            epoch + 1, log
        else
            run.ClearFailedStart held
            saveImages 0
            1, MetricsLog.Create(run.MetricsPath, columns)
    // The headline's column and the best value so far (of the rows a resume kept).
    let headline =
        trainer.Headline
        |> Option.map (fun h ->
            match Array.IndexOf(columns, h.Column) with
            | -1 -> invalidOp $"the headline metric '{h.Column}' is not a metrics column"
            | i -> h, i)
    let mutable best =
        match headline with
        | Some(h, i) -> metrics.Rows |> Array.fold (fun b row -> if isBetter h row[i] b then Some row[i] else b) None
        | None -> None
    for epoch in startEpoch .. settings.Epochs do
        let result = trainEpoch trainer data.train settings.BatchSize generator epoch settings.Epochs report
        let validation = trainer.Validate ()
        for name, v in Seq.zip trainer.ValidationColumns validation do
            if not (Double.IsFinite v) then
                raise (TrainingDivergedException $"the validation {name} became {v} after epoch {epoch}")
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
        Checkpoint.saveResume (run.ResumePath, epoch, trainer.Model, trainer.Optimizers, generators, metadata)
    metrics

/// Loop.train as the C# runner calls it: a null or empty data folder means the default one, and
/// progress (or null) is a delegate.
let run (family: Family<'C>, config: 'C, settings: RunSettings, folder: string, resume: bool, dataFolder: string,
         progress: Action<Progress>) =
    let data = if String.IsNullOrEmpty dataFolder then None else Some dataFolder
    train family config settings folder resume data (if isNull progress then ignore else progress.Invoke)
