namespace Research.Core.Models.Gan

open System
open System.Runtime.InteropServices
open Research.Core
open Research.Core.Benchmarks
open Research.Core.Data
open Research.Core.Distributed
open Research.Core.Training

/// `research bench gan`: the training epoch of `gan train` (Loop.trainEpoch over the GAN's trainer)
/// timed on the MLP GAN and the DCGAN, beside bench/gan_pytorch.py.
[<AbstractClass; Sealed>]
type GanBenchmark =
    /// The benchmarked GAN: seed 004's MLP GAN or the DCGAN (ngf = ndf = 32), as `gan train` defaults.
    static member Config(architecture: string) = Settings.ofGiven GanConfig.settings [ ("arch", Text architecture) ]

    /// Batch 128, on all 60000 training images or `limit` of them (PyTorchPeer.Settings).
    static member Settings(epochs: int, limit: int, threads: int, seed: int) =
        PyTorchPeer.Settings({ GanConfig.runDefaults with BatchSize = 128 }, epochs, limit, threads, seed)

    /// Floating-point operations of the matrix products in one step of the MLP GAN, per image (2 per
    /// multiply-add), with S_G and S_D the sums of in x out over G's and D's linear layers and S'
    /// the same without the first layer: G's forward (once: D's step and G's share the fakes), D's
    /// forward on real and fake images, its weight gradients for both, its input gradients down to
    /// the second layer for both (D's step), then D's forward, weight and input gradients on the
    /// fakes and G's weight and input gradients (G's step):
    /// 2 S_G + 2 (2 S_D) + 2 (2 S_D) + 2 (2 S'_D) + 3 (2 S_D) + 2 S_G + 2 S'_G.
    /// This is the work of the PyTorch peer (checked against its profiler). `gan train` freezes D in
    /// G's step and so skips D's weight gradients there (2 S_D): its share of the sgemm rate is of
    /// this nominal count.
    static member GemmFlopsPerImage(config: GanConfig) =
        if config.Architecture <> MlpGan then invalidArg "config" "the GEMM count is for the MLP GAN"
        let pixels = Mnist.imageShape.Pixels
        let sums (sizes: int list) =
            let products = List.pairwise sizes |> List.map (fun (a, b) -> int64 a * int64 b)
            List.sum products, List.sum (List.tail products)
        let g, g' = sums (config.Latent :: config.GeneratorHidden @ [ pixels ])
        let d, d' = sums (pixels :: config.DiscriminatorHidden @ [ 1 ])
        2L * g + 4L * d + 4L * d + 4L * d' + 6L * d + 2L * g + 2L * g'

    /// Trains the configured GAN from scratch with `gan train`'s epoch, timing each epoch; nothing
    /// is written. The thread settings are the caller's. With a launch, as one rank of that group.
    static member Run(config: GanConfig, settings: RunSettings, launch: Launch option,
                      [<Optional; DefaultParameterValue(null: string)>] dataFolder: string) =
        TimedEpochs.OfFamily(GanRun.family, config, settings, launch, dataFolder)

    /// This workspace's (intra-op, OpenBLAS) threads for a GAN, as `gan train` splits them.
    static member Threads(config: GanConfig, threads: int) = GanRun.family.Threads config threads

    /// bench/gan_pytorch.py of the repository.
    static member PyTorchScript() = PyTorchPeer.Script "gan_pytorch.py"

    /// Runs the PyTorch peer on the same data and architecture with the given thread counts.
    static member RunPyTorch(python: string, script: string, config: GanConfig, settings: RunSettings, intraOpThreads: int, blasThreads: int,
                             [<Optional; DefaultParameterValue(null: string)>] dataFolder: string,
                             [<Optional; DefaultParameterValue(null: Action<EpochTiming>)>] epochDone: Action<EpochTiming>,
                             [<Optional; DefaultParameterValue(1)>] ranks: int) =
        let args =
            [ "--arch"; (match config.Architecture with MlpGan -> "mlp" | Dcgan -> "dcgan"); "--latent"; string config.Latent
              "--batch-size"; string settings.BatchSize; "--seed"; string settings.Seed; "--limit"; string settings.TrainLimit ]
        PyTorchPeer.Run(python, script, args, settings.Epochs, intraOpThreads, blasThreads, dataFolder, epochDone, ranks)
