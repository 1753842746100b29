namespace Research.Core.Models.Flow

open System
open System.Runtime.InteropServices
open Research.Core
open Research.Core.Benchmarks
open Research.Core.Training

/// `research bench flow`: the training epoch of `flow train` (Loop.trainEpoch over the flow's
/// trainer) timed on the default multi-scale flow, beside bench/flow_pytorch.py.
[<AbstractClass; Sealed>]
type FlowBenchmark =
    static member Config = FlowConfig.multiScale

    /// Batch 128, on all 60000 training images or `limit` of them (PyTorchPeer.Settings).
    static member Settings(epochs: int, limit: int, threads: int, seed: int) =
        PyTorchPeer.Settings(FlowConfig.runDefaults, epochs, limit, threads, seed)

    /// Trains the flow from scratch with `flow train`'s epoch, timing each; nothing is written.
    static member Run(settings: RunSettings,
                      [<Optional; DefaultParameterValue(null: string)>] dataFolder: string,
                      [<Optional; DefaultParameterValue(null: Action<Progress>)>] progress: Action<Progress>) =
        let report = if isNull progress then ignore else progress.Invoke
        use data = Family.mnist settings (if String.IsNullOrEmpty dataFolder then None else Some dataFolder)
        use generator = new Generator(int64 settings.Seed)
        use trainer = FlowRun.trainer FlowBenchmark.Config settings data generator
        [| for epoch in 1 .. settings.Epochs ->
               let result = Loop.trainEpoch trainer data.train settings.BatchSize generator epoch settings.Epochs report
               { Epoch = epoch; Seconds = result.Seconds; Images = result.Images; Loss = result.Loss } |]

    static member PyTorchScript() = PyTorchPeer.Script "flow_pytorch.py"

    static member RunPyTorch(python: string, script: string, settings: RunSettings, intraOpThreads: int,
                             [<Optional; DefaultParameterValue(null: string)>] dataFolder: string,
                             [<Optional; DefaultParameterValue(null: Action<EpochTiming>)>] epochDone: Action<EpochTiming>) =
        let args = [ "--batch-size"; string settings.BatchSize; "--seed"; string settings.Seed; "--limit"; string settings.TrainLimit ]
        PyTorchPeer.Run(python, script, args, settings.Epochs, intraOpThreads, 1, dataFolder, epochDone)
