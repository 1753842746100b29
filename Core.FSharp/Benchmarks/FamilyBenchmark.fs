namespace Research.Core.Benchmarks

open System
open System.Runtime.InteropServices
open Research.Core
open Research.Core.Distributed
open Research.Core.Training

/// `research bench <family>` for a family whose whole benchmark is its training epoch: the epoch of
/// `<family> train` (Loop.trainEpoch over the family's TrainingRun) timed on `config`, beside the
/// peer bench/<family>_pytorch.py, which takes the batch size, seed and limit, and `peerArgs` for
/// its model. `Title` names the model in the benchmark's printed title.
type FamilyBenchmark<'C>(family: Family<'C>, config: 'C, title: string, peerArgs: string list) =
    member _.Name = family.Name
    member _.Title = title

    /// The (libtorch intra-op, OpenBLAS) threads of `threads`, as the family's runs split them.
    member _.Threads(threads: int) = family.Threads config threads

    /// Batch 128, on all 60000 training images or `limit` of them (PyTorchPeer.Settings).
    member _.Settings(epochs: int, limit: int, threads: int, seed: int) =
        PyTorchPeer.Settings(family.RunDefaults, epochs, limit, threads, seed)

    /// Trains the model from scratch with the family's epoch, timing each; nothing is written. With
    /// a launch, as one rank of that group.
    member _.Run(settings: RunSettings, launch: Launch option, [<Optional; DefaultParameterValue(null: string)>] dataFolder: string) =
        TimedEpochs.OfFamily(family, config, settings, launch, dataFolder)

    member _.PyTorchScript() = PyTorchPeer.Script $"{family.Name}_pytorch.py"

    member b.RunPyTorch(python: string, script: string, settings: RunSettings, threads: int,
                        [<Optional; DefaultParameterValue(null: string)>] dataFolder: string,
                        [<Optional; DefaultParameterValue(null: Action<EpochTiming>)>] epochDone: Action<EpochTiming>,
                        [<Optional; DefaultParameterValue(1)>] ranks: int) =
        let intraOp, blas = b.Threads threads
        let args = [ "--batch-size"; string settings.BatchSize; "--seed"; string settings.Seed; "--limit"; string settings.TrainLimit ] @ peerArgs
        PyTorchPeer.Run(python, script, args, settings.Epochs, intraOp, blas, dataFolder, epochDone, ranks)
