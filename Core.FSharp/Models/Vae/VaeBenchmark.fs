namespace Research.Core.Models.Vae

open System
open System.Runtime.InteropServices
open Research.Core
open Research.Core.Data
open Research.Core.Distributed
open Research.Core.Training
open Research.Core.Benchmarks

/// `research bench vae`: the training epoch of `vae train` (Loop.trainEpoch over the VAE's trainer) timed on
/// pytorch/examples' VAE, with the GEMM work it does and the machine's sgemm rate to judge it by.
[<AbstractClass; Sealed>]
type VaeBenchmark =
    /// pytorch/examples' VAE as `vae train` runs it: 784-400-20-400-784, Bernoulli likelihood with
    /// the grey-level images as targets (no binarization, as the example does), Adam 1e-3.
    static member Config = { VaeConfig.defaults with Binarization = NoBinarization }

    /// Batch 128, on all 60000 training images or `limit` of them (PyTorchPeer.Settings).
    static member Settings(epochs: int, limit: int, threads: int, seed: int) =
        PyTorchPeer.Settings(RunSettings.defaults, epochs, limit, threads, seed)

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

    /// Trains the configured VAE from scratch with the training epoch of `vae train` (the shared
    /// loop's Loop.trainEpoch over the VAE's trainer), timing each epoch. Nothing is written (no
    /// checkpoints, images or validation): only training epochs run. The thread settings are the
    /// caller's (VaeBenchmark.Threads, or torch.set_num_threads and torch.set_openblas_threads to try
    /// others). With a launch, as one rank of that group. dataFolder: null for the workspace's.
    static member Run(config: VaeConfig, settings: RunSettings, launch: Launch option,
                      [<Optional; DefaultParameterValue(null: string)>] dataFolder: string) =
        TimedEpochs.OfFamily(VaeRun.family, config, settings, launch, dataFolder)

    /// This workspace's (intra-op, OpenBLAS) threads for the benchmark's VAE, as `vae train` splits them.
    static member Threads(threads: int) = VaeRun.family.Threads VaeBenchmark.Config threads

    /// bench/vae_pytorch.py of the repository.
    static member PyTorchScript() = PyTorchPeer.Script "vae_pytorch.py"

    /// Runs the PyTorch peer (bench/vae_pytorch.py) on the same data with the given thread counts.
    static member RunPyTorch(python: string, script: string, settings: RunSettings, intraOpThreads: int, blasThreads: int,
                             [<Optional; DefaultParameterValue(null: string)>] dataFolder: string,
                             [<Optional; DefaultParameterValue(null: Action<EpochTiming>)>] epochDone: Action<EpochTiming>,
                             [<Optional; DefaultParameterValue(1)>] ranks: int) =
        let args = [ "--batch-size"; string settings.BatchSize; "--seed"; string settings.Seed; "--limit"; string settings.TrainLimit ]
        PyTorchPeer.Run(python, script, args, settings.Epochs, intraOpThreads, blasThreads, dataFolder, epochDone, ranks)
