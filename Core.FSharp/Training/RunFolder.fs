namespace Research.Core.Training

open System
open System.IO
open System.Text.RegularExpressions
open Research.Core.IO

/// The exclusive hold of a run folder by one training process: an OS lock (flock) on `.lock`,
/// which the kernel drops when the holder exits or dies, so a killed run never blocks the next one.
/// `release` runs before the lock is dropped.
[<Sealed>]
type RunLock internal (stream: FileStream, release: unit -> unit) =
    interface IDisposable with
        member _.Dispose() =
            try release ()
            finally stream.Dispose()

/// A run folder, the one layout that training, evaluation, sampling and the report share:
///   config.json        the model's settings and the run's (written once training has started properly)
///   metrics.csv        one row per epoch
///   checkpoints/       resume.safetensors (everything an exact resume needs: model, optimizers,
///                      random generators), last.safetensors and best.safetensors (the model alone)
///   images/            <kind>-epoch-NNN.png grids
///   eval/              evaluations (Evaluation.fs), named after the checkpoint and the settings
[<Sealed>]
type RunFolder(path: string) =
    let path = Path.GetFullPath path
    let lockPath = Path.Combine(path, ".lock")
    let ownerPath = Path.Combine(path, ".lock-owner")

    member _.Path = path
    member _.Name = Path.GetFileName(path.TrimEnd('/'))
    member _.ConfigPath = Path.Combine(path, "config.json")
    member _.MetricsPath = Path.Combine(path, "metrics.csv")
    member _.CheckpointFolder = Path.Combine(path, "checkpoints")
    /// checkpoints/<name>.safetensors: "last" and "best" hold the model alone (PyTorch loads them as they are).
    member f.Checkpoint(name: string) = Path.Combine(f.CheckpointFolder, name + ".safetensors")
    /// The path of the checkpoint `name` to read from; one that is missing is a FileNotFoundException
    /// that names the run's model checkpoints (a GAN has no headline metric, so no best one).
    member f.Trained(name: string) =
        let file = f.Checkpoint name
        if not (File.Exists file) then
            let held =
                if Directory.Exists f.CheckpointFolder then
                    Directory.GetFiles(f.CheckpointFolder, "*.safetensors")
                    |> Array.map Path.GetFileNameWithoutExtension
                    |> Array.filter ((<>) "resume")
                    |> Array.sort
                else [||]
            let hint = if held.Length = 0 then "none yet: no epoch has finished" else "it has " + String.Join(", ", held) + "; pass --checkpoint " + held[0]
            raise (FileNotFoundException($"{path} has no '{name}' checkpoint ({hint})", file))
        file
    /// "best" when the run has a best checkpoint, else "last" (a family without a headline metric).
    member f.BestOrLast = if File.Exists(f.Checkpoint "best") then "best" else "last"
    member f.ResumePath = f.Checkpoint "resume"
    member _.ImageFolder = Path.Combine(path, "images")
    member f.ImagePath(kind: string, epoch: int) = Path.Combine(f.ImageFolder, $"{kind}-epoch-{epoch:D3}.png")

    /// The saved grids as (kind, [(epoch, path)] by epoch), kinds in name order.
    member f.Images() =
        if not (Directory.Exists f.ImageFolder) then [||]
        else
            Directory.GetFiles(f.ImageFolder, "*-epoch-*.png")
            |> Array.choose (fun file ->
                let m = Regex.Match(Path.GetFileName file, @"^(.+)-epoch-(\d+)\.png$")
                if m.Success then Some(m.Groups[1].Value, (int m.Groups[2].Value, file)) else None)
            |> Array.groupBy fst
            |> Array.sortBy fst
            |> Array.map (fun (kind, items) -> kind, items |> Array.map snd |> Array.sortBy fst)

    /// Whether a run has committed its first epoch here (its resume checkpoint exists). A folder
    /// with leftovers of a start that failed before that holds no run.
    member f.HoldsRun = File.Exists f.ResumePath

    /// The one-line error for an output folder that cannot be written (training's, a report's).
    static member NotWritable(folder: string, e: exn) =
        if File.Exists folder then IOException($"{folder} is a file; --out names a folder", e)
        else IOException($"{folder} is not writable ({e.Message}); choose another --out folder", e)

    /// The saved config.json, read with `read`.
    member f.ReadConfig(read: ConfigReader -> 'T) =
        if not (File.Exists f.ConfigPath) then
            raise (FileNotFoundException($"{path} is not a run folder: it has no config.json", f.ConfigPath))
        ConfigReader.Parse(f.ConfigPath, File.ReadAllText f.ConfigPath, read)

    /// The family that wrote the run (config.json's "model").
    member f.Family = f.ReadConfig(fun r -> r.String "model")

    /// Takes the folder for one training process (creating it), or fails with IOException naming
    /// the process that holds it. Then removes what killed writes left behind: the temporary
    /// files of AtomicFile in the folders that training writes. A hold that ends with no run in
    /// the folder (a start that failed: missing data, ranks that disagree, files of others in the
    /// way) takes back the lock files it added, and the folder it made if nothing else is in it.
    member f.Lock() =
        let notWritable (e: exn) = RunFolder.NotWritable(path, e)
        let created, lockCreated = not (Directory.Exists path), not (File.Exists lockPath)
        let takeBack () =
            if lockCreated && not f.HoldsRun then
                File.Delete ownerPath
                File.Delete lockPath
                if created && Directory.GetFileSystemEntries(path).Length = 0 then Directory.Delete path
        try Directory.CreateDirectory path |> ignore
        with :? IOException | :? UnauthorizedAccessException as e -> raise (notWritable e)
        let stream =
            try new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None)
            with
            // EWOULDBLOCK: another process holds the lock.
            | :? IOException as e when e.HResult = 11 ->
                let owner = try File.ReadAllText(ownerPath).Trim() with _ -> "another process"
                raise (IOException $"{path} is in use by {owner}; wait for it to finish or choose another --out folder")
            | :? IOException | :? UnauthorizedAccessException as e -> raise (notWritable e)
        try
            let since = DateTime.Now.ToString "s"
            AtomicFile.writeText ownerPath $"process {Environment.ProcessId} on {Environment.MachineName} since {since}"
            for folder in [ path; f.CheckpointFolder; f.ImageFolder ] do
                if Directory.Exists folder then
                    for temp in Directory.GetFiles(folder, ".*.tmp") do File.Delete temp
        with _ ->
            stream.Dispose()
            reraise ()
        new RunLock(stream, takeBack)

    /// The entries of the folder that no start of a run writes (a fresh start clears the others):
    /// anything but the lock, a run's config.json and metrics.csv, checkpoints/ of last and best
    /// model files, images/ of epoch grids, and the temporary files of killed writes.
    member f.ForeignEntries() =
        let temporary (name: string) = name.StartsWith '.' && name.EndsWith ".tmp"
        let holdsOnly (folder: string) (ours: string -> bool) =
            Directory.Exists folder
            && Directory.GetFileSystemEntries folder |> Array.forall (fun e -> File.Exists e && (ours (Path.GetFileName e) || temporary (Path.GetFileName e)))
        let firstLine (file: string) = try File.ReadLines(file) |> Seq.tryHead with _ -> None
        let ours (entry: string) =
            match Path.GetFileName entry with
            | ".lock" | ".lock-owner" -> true
            | "config.json" -> File.Exists entry && (try f.Family |> ignore; true with _ -> false)
            | "metrics.csv" -> File.Exists entry && (match firstLine entry with Some l -> l.StartsWith "epoch," | None -> true)
            | "checkpoints" -> holdsOnly entry (fun name -> name = "last.safetensors" || name = "best.safetensors")
            | "images" -> holdsOnly entry (fun name -> Regex.IsMatch(name, @"-epoch-\d+\.png$"))
            | name -> File.Exists entry && temporary name
        if Directory.Exists path then
            Directory.GetFileSystemEntries path |> Array.filter (ours >> not) |> Array.map Path.GetFileName |> Array.sort
        else [||]

    /// Removes what a failed start left (config, metrics, checkpoints, images), so that a fresh run
    /// starts clean. Only while holding the lock, only when no run is held, and only in a folder
    /// without files of others (ForeignEntries) or a run's later epochs: those it leaves, and says so.
    member f.ClearFailedStart(_: RunLock) =
        if f.HoldsRun then invalidOp $"{path} holds a run; it is not cleared"
        // A start writes epoch 1's files before its first commit, never epoch 2's: more rows mean a
        // run that committed, whose resume checkpoint was removed since; its files are not leftovers.
        let epochs = if File.Exists f.MetricsPath then File.ReadLines f.MetricsPath |> Seq.skip 1 |> Seq.filter (String.IsNullOrWhiteSpace >> not) |> Seq.length else 0
        if epochs > 1 then
            raise (IOException $"{path} holds a run of {epochs} epochs (metrics.csv) whose commit, checkpoints/resume.safetensors, is missing, so it can neither resume nor be cleared for a new run; restore that file, or choose another --out folder")
        match f.ForeignEntries() with
        | [||] -> ()
        | foreign ->
            let shown = String.Join(", ", Array.truncate 3 foreign) + (if foreign.Length > 3 then $" and {foreign.Length - 3} more" else "")
            raise (IOException $"{path} holds files that no run wrote ({shown}); a run starts in a new or empty --out folder, or its own")
        for file in [ f.ConfigPath; f.MetricsPath ] do
            if File.Exists file then File.Delete file
        for folder in [ f.CheckpointFolder; f.ImageFolder ] do
            if Directory.Exists folder then Directory.Delete(folder, true)
