namespace Research.Core.Models.Vae

open System
open System.ComponentModel
open System.Diagnostics
open System.IO
open System.Runtime.InteropServices
open System.Text.Json
open Research.Core
open Research.Core.Data
open Research.Core.Optim
open Research.Core.Training

/// One timed epoch: wall-clock seconds, images seen and the mean loss (negative ELBO) per image.
type EpochTiming = { Epoch: int; Seconds: float; Images: int64; Loss: float }

/// The PyTorch side of the benchmark: its version and thread counts as it reports them, and its epochs.
type PyTorchRun = { Version: string; IntraOpThreads: int; BlasThreads: int; Epochs: EpochTiming[] }

/// `research bench vae`: the training epoch of `vae train` (Loop.trainEpoch over the VAE's trainer) timed on
/// pytorch/examples' VAE, with the GEMM work it does and the machine's sgemm rate to judge it by.
[<AbstractClass; Sealed>]
type VaeBenchmark =
    /// pytorch/examples' VAE as `vae train` runs it: 784-400-20-400-784, Bernoulli likelihood with
    /// the grey-level images as targets (no binarization, as the example does), Adam 1e-3.
    static member Config = { VaeConfig.defaults with Binarization = NoBinarization }

    /// Batch 128 on all 60000 training images, as the PyTorch side (nothing is validated, so no
    /// validation split, which a training run must have), or on `limit` of them (0 = all).
    static member Settings(epochs: int, limit: int, threads: int, seed: int) =
        { RunSettings.defaults with
            ValidationSize = 0
            TrainLimit = limit
            Epochs = epochs
            Threads = threads
            Seed = seed
            ImageEpochs = [] }

    /// Floating-point operations of the matrix products in one training step of the MLP VAE, per
    /// image (2 per multiply-add): every linear layer's forward product x W^T and weight gradient
    /// g^T x, and the input gradient g W of every layer but the first (the images need none). Biases,
    /// activations and the optimizer are not GEMM work. Exact for any batch: each product is linear in it.
    static member GemmFlopsPerImage(config: VaeConfig) =
        let pixels = Mnist.imageShape.Pixels
        if config.Architecture <> Mlp then invalidArg "config" "the GEMM count is for the MLP VAE"
        let last = List.last config.Hidden
        // (in, out) of each linear layer: encoder hidden layers, mu and logvar, decoder hidden layers, output.
        let layers =
            List.pairwise (pixels :: config.Hidden) @ [ last, config.Latent; last, config.Latent ]
            @ List.pairwise (config.Latent :: List.rev config.Hidden) @ [ List.head config.Hidden, pixels ]
        layers
        |> List.mapi (fun i (fanIn, fanOut) -> 2L * (if i = 0 then 2L else 3L) * int64 fanIn * int64 fanOut)
        |> List.sum

    /// The best rate, in GFLOP/s, of an n x n by n x n float32 matrix product through the core
    /// (2 n^3 operations each) over `repeats` timed products after an untimed one, under the current
    /// thread settings.
    static member SgemmRate(n: int, repeats: int) =
        if n < 1 || repeats < 1 then invalidArg "n" "the matrix size and the repeat count must be positive"
        use scope = new TensorScope()
        use generator = new Generator(0L)
        let a = torch.randn ([| int64 n; int64 n |], generator = generator)
        let b = torch.randn ([| int64 n; int64 n |], generator = generator)
        (a.mm b).Dispose()
        let best =
            Seq.init repeats (fun _ ->
                let clock = Stopwatch.StartNew()
                (a.mm b).Dispose()
                clock.Elapsed.TotalSeconds)
            |> Seq.min
        2.0 * float n ** 3.0 / best / 1e9

    /// Trains the configured VAE from scratch with the training epoch of `vae train` (the shared
    /// loop's Loop.trainEpoch over the VAE's trainer), timing each epoch. Nothing is written (no
    /// checkpoints, images or validation): only training epochs run. The thread settings are the
    /// caller's (VaeRun.useThreads, or torch.set_num_threads and torch.set_openblas_threads to try
    /// others). dataFolder: null for the workspace's data folder.
    static member Run(config: VaeConfig, settings: RunSettings,
                      [<Optional; DefaultParameterValue(null: string)>] dataFolder: string,
                      [<Optional; DefaultParameterValue(null: Action<Progress>)>] progress: Action<Progress>) =
        let config = VaeConfig.validate config
        let report = if isNull progress then ignore else progress.Invoke
        use data = VaeRun.loadData config settings (if String.IsNullOrEmpty dataFolder then None else Some dataFolder)
        use generator = new Generator(int64 settings.Seed)
        use trainer = VaeRun.trainer config settings data generator
        [| for epoch in 1 .. settings.Epochs ->
               let result = Loop.trainEpoch trainer data.train settings.BatchSize generator epoch settings.Epochs report
               { Epoch = epoch; Seconds = result.Seconds; Images = result.Images; Loss = result.Loss } |]

    /// bench/vae_pytorch.py of the repository (the folder holding Research.sln) above the current
    /// directory or the application's.
    static member PyTorchScript() =
        let rec find (dir: DirectoryInfo) =
            if isNull dir then None
            elif File.Exists(Path.Combine(dir.FullName, "Research.sln")) then Some(Path.Combine(dir.FullName, "bench", "vae_pytorch.py"))
            else find dir.Parent
        match [ Environment.CurrentDirectory; AppContext.BaseDirectory ] |> List.tryPick (DirectoryInfo >> find) with
        | Some script when File.Exists script -> script
        | Some script -> raise (FileNotFoundException($"the PyTorch benchmark script is missing: {script}", script))
        | None -> raise (FileNotFoundException "no repository (a folder with Research.sln) above the current directory holds bench/vae_pytorch.py; pass the script's path")

    /// Runs the PyTorch peer (bench/vae_pytorch.py) on the same data with the given thread counts:
    /// torch.set_num_threads(intraOpThreads), and OMP_NUM_THREADS / OPENBLAS_NUM_THREADS in its
    /// environment (the libraries read them when they load). `epochDone` hears of each epoch as it ends.
    static member RunPyTorch(python: string, script: string, settings: RunSettings, intraOpThreads: int, blasThreads: int,
                             [<Optional; DefaultParameterValue(null: string)>] dataFolder: string,
                             [<Optional; DefaultParameterValue(null: Action<EpochTiming>)>] epochDone: Action<EpochTiming>) =
        if not (File.Exists script) then raise (FileNotFoundException($"no PyTorch benchmark script at {script}", script))
        let mnist = Path.Combine((if String.IsNullOrEmpty dataFolder then DataFolder.find () else dataFolder), "mnist")
        DataFolder.file ("train-images-idx3-ubyte", Some mnist) |> ignore
        let start = ProcessStartInfo(python, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
        for arg in [ script; "--data"; mnist; "--epochs"; string settings.Epochs; "--batch-size"; string settings.BatchSize
                     "--threads"; string intraOpThreads; "--seed"; string settings.Seed; "--limit"; string settings.TrainLimit ] do
            start.ArgumentList.Add arg
        start.Environment["OMP_NUM_THREADS"] <- string intraOpThreads
        start.Environment["OPENBLAS_NUM_THREADS"] <- string blasThreads
        use proc =
            try
                Process.Start start
            with :? Win32Exception as e ->
                raise (FileNotFoundException($"cannot run the Python interpreter '{python}': {e.Message}", python))
        let errors = proc.StandardError.ReadToEndAsync()
        let mutable version, threads = "", 0
        let epochs = ResizeArray<EpochTiming>()
        let mutable line = proc.StandardOutput.ReadLine()
        while not (isNull line) do
            // The script prints only JSON lines; anything else (a stray print) is passed over.
            if line.StartsWith "{" then
                use json = JsonDocument.Parse line
                let o = json.RootElement
                let mutable v = Unchecked.defaultof<JsonElement>
                if o.TryGetProperty("torch", &v) then
                    version <- v.GetString()
                    threads <- o.GetProperty("threads").GetInt32()
                elif o.TryGetProperty("epoch", &v) then
                    let epoch = { Epoch = v.GetInt32(); Seconds = o.GetProperty("seconds").GetDouble()
                                  Images = o.GetProperty("images").GetInt64(); Loss = o.GetProperty("loss").GetDouble() }
                    epochs.Add epoch
                    if not (isNull epochDone) then epochDone.Invoke epoch
            line <- proc.StandardOutput.ReadLine()
        proc.WaitForExit()
        if proc.ExitCode <> 0 then
            raise (InvalidOperationException $"{script} failed (exit code {proc.ExitCode}): {errors.Result.Trim()}")
        if epochs.Count <> settings.Epochs then
            raise (InvalidDataException $"{script} reported {epochs.Count} epochs, expected {settings.Epochs}")
        { Version = version; IntraOpThreads = threads; BlasThreads = blasThreads; Epochs = epochs.ToArray() }
