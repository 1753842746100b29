namespace Research.Core.Benchmarks

open System
open System.ComponentModel
open System.Diagnostics
open System.IO
open System.Runtime.InteropServices
open System.Text.Json
open Research.Core
open Research.Core.Data
open Research.Core.Training

/// One timed epoch: wall-clock seconds, images seen, the mean loss the side reports, and, for a
/// data-parallel run of this workspace, the seconds its rank 0 spent in the training collectives
/// (NaN where not measured).
type EpochTiming = { Epoch: int; Seconds: float; Images: int64; Loss: float; Collectives: float }

/// The PyTorch side of a benchmark: its version and thread counts as it reports them, and its epochs.
type PyTorchRun = { Version: string; IntraOpThreads: int; BlasThreads: int; Epochs: EpochTiming[] }

/// What every `research bench` shares: the machine's sgemm rate, and running a PyTorch peer script
/// of bench/ that prints one JSON line with its versions, then one per epoch.
[<AbstractClass; Sealed>]
type PyTorchPeer =
    /// The best rate, in GFLOP/s, of an n x n by n x n float32 matrix product (2 n^3 operations)
    /// over `repeats` timed products after an untimed one, under the current thread settings:
    /// through this workspace's linear layers (oneDNN's sgemm, native/linear.cpp) or, with
    /// `systemBlas`, through libtorch's mm (the system BLAS, which PyTorch's products run on).
    static member SgemmRate(n: int, repeats: int, systemBlas: bool) =
        if n < 1 || repeats < 1 then invalidArg "n" "the matrix size and the repeat count must be positive"
        use scope = new TensorScope()
        use generator = new Generator(0L)
        let a = torch.randn ([| int64 n; int64 n |], generator = generator)
        let b = torch.randn ([| int64 n; int64 n |], generator = generator)
        let product () = if systemBlas then a.mm b else F.linear (a, b)
        product().Dispose()
        let best =
            Seq.init repeats (fun _ ->
                let clock = Stopwatch.StartNew()
                product().Dispose()
                clock.Elapsed.TotalSeconds)
            |> Seq.min
        2.0 * float n ** 3.0 / best / 1e9

    /// PyTorch's (intra-op, OpenBLAS) threads for a model given `threads`: its matrix products run
    /// on OpenBLAS, so a model of matrix products (an MLP) gives OpenBLAS the threads there, and a
    /// convolutional one libtorch's pool, as this workspace does.
    static member Threads(matrixProducts: bool, threads: int) = if matrixProducts then 1, threads else threads, 1

    /// A benchmark's run settings: `defaults` on all 60000 training images, as the PyTorch side (no
    /// validation split: nothing is validated), or on `limit` of them (0 = all); checked.
    static member Settings(defaults: RunSettings, epochs: int, limit: int, threads: int, seed: int) =
        if epochs < 1 then invalidArg "epochs" $"--epochs must be at least 1 (got {epochs})"
        if limit < 0 then invalidArg "limit" $"--limit must be positive, or 0 for all images (got {limit})"
        let cores = Environment.ProcessorCount
        if threads < 1 || threads > cores then
            invalidArg "threads" $"--threads must be between 1 and this machine's {cores} cores (got {threads})"
        { defaults with ValidationSize = 0; TrainLimit = limit; Epochs = epochs; Threads = threads; Seed = seed; ImageEpochs = [] }

    /// bench/<name> of the repository (the folder holding Research.sln) above the current directory
    /// or the application's.
    static member Script(name: string) =
        let rec find (dir: DirectoryInfo) =
            if isNull dir then None
            elif File.Exists(Path.Combine(dir.FullName, "Research.sln")) then Some(Path.Combine(dir.FullName, "bench", name))
            else find dir.Parent
        match [ Environment.CurrentDirectory; AppContext.BaseDirectory ] |> List.tryPick (DirectoryInfo >> find) with
        | Some script when File.Exists script -> script
        | Some script -> raise (FileNotFoundException($"the PyTorch benchmark script is missing: {script}", script))
        | None -> raise (FileNotFoundException $"no repository (a folder with Research.sln) above the current directory holds bench/{name}; pass the script's path")

    /// Starts `program args` (with `environment` added to its own), its output and errors piped;
    /// a program that cannot be started is a FileNotFoundException saying `cannotRun` and why.
    static member private Start(program: string, args: string list, environment: (string * string) list, cannotRun: string -> string) =
        let start = ProcessStartInfo(program, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
        for arg in args do
            start.ArgumentList.Add arg
        for name, value in environment do
            start.Environment[name] <- value
        try
            Research.Core.IO.Signals.start start
        with :? Win32Exception as e ->
            raise (FileNotFoundException(cannotRun e.Message, program))

    /// Checks, before any side is timed, that `python` runs and imports torch: a bad --python
    /// otherwise failed only after this workspace's side had run for minutes.
    static member CheckPython(python: string) =
        use proc =
            PyTorchPeer.Start(python, [ "-c"; "import torch" ], [],
                              fun why -> $"--python {python}: cannot run it ({why}); give a Python with torch, or --skip-pytorch")
        let errors = proc.StandardError.ReadToEndAsync()
        proc.StandardOutput.ReadToEnd() |> ignore
        proc.WaitForExit()
        if proc.ExitCode <> 0 then
            let last = match errors.Result.Trim() with "" -> $"exit code {proc.ExitCode}" | text -> text.Split('\n') |> Array.last
            raise (InvalidOperationException $"--python {python} cannot import torch ({last}); give a Python with torch (Debian's python3-torch), or --skip-pytorch")

    /// Runs `program args` (with `environment` added to its own), a benchmark side that prints
    /// one JSON line with its versions and threads ({"torch": ..., "threads": ...}) and one per
    /// epoch ({"epoch", "seconds", "images", "loss", and "collectives" where measured});
    /// `epochDone` hears of each epoch as it ends, and `otherLine` (unless null) of every other line.
    static member RunSide(program: string, args: string list, environment: (string * string) list, epochs: int, blasThreads: int,
                          epochDone: Action<EpochTiming>, [<Optional; DefaultParameterValue(null: Action<string>)>] otherLine: Action<string>) =
        use proc = PyTorchPeer.Start(program, args, environment, fun why -> $"cannot run '{program}': {why}")
        let errors = proc.StandardError.ReadToEndAsync()
        let mutable version, threads = "", 0
        let timings = ResizeArray<EpochTiming>()
        let mutable line = proc.StandardOutput.ReadLine()
        while not (isNull line) do
            // A peer script prints only JSON lines; anything else (a stray print) is passed over.
            let mutable v = Unchecked.defaultof<JsonElement>
            use json = if line.StartsWith "{" then JsonDocument.Parse line else null
            if not (isNull json) && json.RootElement.TryGetProperty("torch", &v) then
                version <- v.GetString()
                threads <- json.RootElement.GetProperty("threads").GetInt32()
            elif not (isNull json) && json.RootElement.TryGetProperty("epoch", &v) then
                let o = json.RootElement
                let mutable c = Unchecked.defaultof<JsonElement>
                let epoch = { Epoch = v.GetInt32(); Seconds = o.GetProperty("seconds").GetDouble()
                              Images = o.GetProperty("images").GetInt64(); Loss = o.GetProperty("loss").GetDouble()
                              Collectives = if o.TryGetProperty("collectives", &c) then c.GetDouble() else nan }
                timings.Add epoch
                if not (isNull epochDone) then epochDone.Invoke epoch
            elif not (isNull otherLine) then otherLine.Invoke line
            line <- proc.StandardOutput.ReadLine()
        proc.WaitForExit()
        let name = String.Join(" ", args |> List.truncate 3)
        if proc.ExitCode <> 0 then
            raise (InvalidOperationException $"{program} {name} failed (exit code {proc.ExitCode}): {errors.Result.Trim()}")
        if timings.Count <> epochs then
            raise (InvalidDataException $"{program} {name} reported {timings.Count} epochs, expected {epochs}")
        { Version = version; IntraOpThreads = threads; BlasThreads = blasThreads; Epochs = timings.ToArray() }

    /// Runs a PyTorch peer script on MNIST with `args` and the given thread counts: --threads
    /// intraOpThreads, and OMP_NUM_THREADS / OPENBLAS_NUM_THREADS in its environment (the libraries
    /// read them when they load); with `ranks` above 1, as that many ranks of PyTorch's own
    /// DistributedDataParallel (the script's --ddp) under torchrun. `epochDone` hears of each epoch
    /// as it ends.
    static member Run(python: string, script: string, args: string list, epochs: int, intraOpThreads: int, blasThreads: int,
                      [<Optional; DefaultParameterValue(null: string)>] dataFolder: string,
                      [<Optional; DefaultParameterValue(null: Action<EpochTiming>)>] epochDone: Action<EpochTiming>,
                      [<Optional; DefaultParameterValue(1)>] ranks: int) =
        if not (File.Exists script) then raise (FileNotFoundException($"no PyTorch benchmark script at {script}", script))
        let mnist = Path.Combine((if String.IsNullOrEmpty dataFolder then DataFolder.find () else dataFolder), "mnist")
        DataFolder.file ("train-images-idx3-ubyte", Some mnist) |> ignore
        // torch 1.13's torchrun spells its flags with underscores; under Python 3.11 it needs
        // --redirects and --tee as maps (a local rank that does not exist keeps them harmless).
        let launcher =
            if ranks <= 1 then []
            else [ "-m"; "torch.distributed.run"; "--nproc_per_node"; string ranks; "--master_addr"; "127.0.0.1"
                   "--master_port"; string (PyTorchPeer.FreePort()); "--redirects"; "9:1"; "--tee"; "9:1" ]
        let scriptArgs =
            [ script; "--data"; mnist; "--epochs"; string epochs; "--threads"; string intraOpThreads ] @ args
            @ (if ranks > 1 then [ "--ddp" ] else [])
        let environment =
            [ "OMP_NUM_THREADS", string intraOpThreads; "OPENBLAS_NUM_THREADS", string blasThreads; "GLOO_SOCKET_IFNAME", "lo" ]
        PyTorchPeer.RunSide(python, launcher @ scriptArgs, environment, epochs, blasThreads, epochDone)

    /// A loopback TCP port that nothing listens on now.
    static member FreePort() =
        let listener = new Net.Sockets.TcpListener(Net.IPAddress.Loopback, 0)
        listener.Start()
        let port = (listener.LocalEndpoint :?> Net.IPEndPoint).Port
        listener.Stop()
        port
