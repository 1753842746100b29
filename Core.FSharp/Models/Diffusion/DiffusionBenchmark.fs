namespace Research.Core.Models.Diffusion

open System
open System.Runtime.InteropServices
open Research.Core
open Research.Core.Benchmarks
open Research.Core.Distributed
open Research.Core.Training

/// `research bench diffusion`: the training epoch of `diffusion train` (Loop.trainEpoch over its
/// TrainingRun) timed on the default U-Net, beside bench/diffusion_pytorch.py.
[<AbstractClass; Sealed>]
type DiffusionBenchmark =
    static member Config = DiffusionConfig.defaults

    /// Batch 128, on all 60000 training images or `limit` of them (PyTorchPeer.Settings).
    static member Settings(epochs: int, limit: int, threads: int, seed: int) =
        PyTorchPeer.Settings(DiffusionConfig.runDefaults, epochs, limit, threads, seed)

    /// Trains the model from scratch with `diffusion train`'s epoch, timing each; nothing is written.
    /// With a launch, as one rank of that group.
    static member Run(settings: RunSettings, launch: Launch option,
                      [<Optional; DefaultParameterValue(null: string)>] dataFolder: string) =
        use data = Family.mnist settings (if String.IsNullOrEmpty dataFolder then None else Some dataFolder)
        let create generator = DiffusionRun.trainer DiffusionBenchmark.Config settings data generator
        match launch with
        | None -> TimedEpochs.Run(data, settings, create, None, ignore)
        | Some launch -> TimedEpochs.Rank(launch, data, settings, create)

    static member PyTorchScript() = PyTorchPeer.Script "diffusion_pytorch.py"

    static member RunPyTorch(python: string, script: string, settings: RunSettings, intraOpThreads: int,
                             [<Optional; DefaultParameterValue(null: string)>] dataFolder: string,
                             [<Optional; DefaultParameterValue(null: Action<EpochTiming>)>] epochDone: Action<EpochTiming>,
                             [<Optional; DefaultParameterValue(1)>] ranks: int) =
        let args =
            [ "--batch-size"; string settings.BatchSize; "--seed"; string settings.Seed; "--limit"; string settings.TrainLimit
              "--channels"; string DiffusionBenchmark.Config.Channels ]
        PyTorchPeer.Run(python, script, args, settings.Epochs, intraOpThreads, 1, dataFolder, epochDone, ranks)
