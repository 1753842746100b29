namespace Research.Core.Benchmarks

open System
open System.Runtime.InteropServices
open Research.Core
open Research.Core.Distributed
open Research.Core.Training

/// One model a family's `research bench` times (the GAN has two: the MLP GAN and the DCGAN): its
/// training epoch, that of `<family> train`, beside the family's PyTorch peer on the same model.
type BenchModel =
    { /// Its name for `--arch` where the family benchmarks several.
      Name: string
      /// The model in the benchmark's printed title.
      Title: string
      /// (libtorch intra-op, OpenBLAS) threads for `threads`: this workspace's, as the family's
      /// runs split them, and the peer's (PyTorchPeer.Threads).
      Threads: int -> int * int
      PeerThreads: int -> int * int
      /// Floating-point operations of the matrix products per image, where the model is all matrix
      /// products (an MLP): the benchmark then prints the share of the sgemm rate each side reaches.
      FlopsPerImage: int64 option
      /// The speed-up over PyTorch aimed at.
      Target: float
      /// The peer script's arguments for this model (besides --batch-size, --seed and --limit).
      PeerArgs: string list
      /// Trains the model from scratch with the family's epoch, timing each; nothing is written; with
      /// a launch, as one rank of that group. The thread settings are the caller's.
      Run: RunSettings -> Launch option -> string option -> EpochTiming[] }

    /// Runs the peer bench/<family>_pytorch.py (`script`) on the same data and model with the given
    /// threads; with `ranks` above 1, as PyTorch's DistributedDataParallel under torchrun.
    member m.RunPyTorch(python: string, script: string, settings: RunSettings, intraOpThreads: int, blasThreads: int,
                        [<Optional; DefaultParameterValue(null: string)>] dataFolder: string,
                        [<Optional; DefaultParameterValue(null: Action<EpochTiming>)>] epochDone: Action<EpochTiming>,
                        [<Optional; DefaultParameterValue(1)>] ranks: int) =
        let args = [ "--batch-size"; string settings.BatchSize; "--seed"; string settings.Seed; "--limit"; string settings.TrainLimit ] @ m.PeerArgs
        PyTorchPeer.Run(python, script, args, settings.Epochs, intraOpThreads, blasThreads, dataFolder, epochDone, ranks)

/// `research bench <family>`: its models' training epochs timed here and in its peer
/// bench/<family>_pytorch.py, with the defaults of its command line.
type FamilyBenchmark =
    { Family: string
      Description: string
      /// The run settings the benchmark starts from (the family's batch size).
      RunDefaults: RunSettings
      Epochs: int
      Limit: int
      LimitHelp: string
      ThreadsHelp: string
      /// Its models, the first the default where there are several.
      Models: BenchModel list }

    /// Batch 128, on all 60000 training images or `limit` of them (PyTorchPeer.Settings).
    member b.Settings(epochs: int, limit: int, threads: int, seed: int) = PyTorchPeer.Settings(b.RunDefaults, epochs, limit, threads, seed)

    member b.PyTorchScript() = PyTorchPeer.Script $"{b.Family}_pytorch.py"

module FamilyBenchmark =
    /// The benchmark of a family's model `config` (named `title`): a convolutional one, whose peer
    /// uses libtorch's pool as this workspace does, aiming at 1.2x.
    let model (family: Family<'C>) (config: 'C) (name: string) (title: string) (peerArgs: string list) =
        { Name = name
          Title = title
          Threads = family.Threads config
          PeerThreads = family.Threads config
          FlopsPerImage = None
          Target = 1.2
          PeerArgs = peerArgs
          Run = fun settings launch data -> TimedEpochs.OfFamily(family, config, settings, launch, Option.toObj data) }

    /// A family's benchmark of one convolutional model: one epoch of 20 steps of 128 by default.
    let ofModel (family: Family<'C>) (description: string) (model: BenchModel) =
        { Family = family.Name
          Description = description
          RunDefaults = family.RunDefaults
          Epochs = 1
          Limit = 2560
          LimitHelp = "train on N images per epoch (0 = all 60000); 2560 is 20 steps of 128"
          ThreadsHelp = "libtorch threads on both sides (the convolutions run there)"
          Models = [ model ] }
