/// The shared training loop (Training/Loop.fs) driving a family that is not a VAE: the MLP
/// classifier on a 2000-image subset learns, its best checkpoint reloads to the logged accuracy,
/// a resumed run equals an uninterrupted one bit for bit, and no tensor is left behind.
module Research.Core.Tests.TrainingTests

open System
open System.IO
open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Checkpoints
open Research.Core.Models
open Research.Core.Metrics
open Research.Core.Training
open Research.Core.Tests.TensorTestSupport
open Research.Core.Tests.NnTestSupport

let private config = { MlpRun.defaults with Hidden = 64; LearningRate = 2e-3 }
let private settings =
    { RunSettings.defaults with Epochs = 3; BatchSize = 125; Seed = 4; Threads = 1; ValidationSize = 1000; TrainLimit = 2000; ImageEpochs = [] }

/// Trains with libtorch's process-wide thread count restored afterwards.
let private train (settings: RunSettings) (folder: string) (resume: bool) =
    let threads = torch.get_num_threads ()
    try Loop.train MlpRun.family config settings folder resume None ignore
    finally torch.set_num_threads threads

/// An MLP run trained 3 epochs straight, and one trained 2 epochs then resumed to 3.
type MlpRuns() =
    let root = tempFolder "mlp-runs"
    let straight = Path.Combine(root, "straight")
    let resumed = Path.Combine(root, "resumed")
    let liveBefore = (settle (); Tensor.LiveCount)
    do
        train settings straight false |> ignore
        train { settings with Epochs = 2 } resumed false |> ignore
        train settings resumed true |> ignore
    let liveAfter = (settle (); Tensor.LiveCount)

    member _.Straight = straight
    member _.Resumed = resumed
    member _.LiveBefore = liveBefore
    member _.LiveAfter = liveAfter

    interface IDisposable with
        member _.Dispose() = Directory.Delete(root, true)

let private runs = shared (fun () -> new MlpRuns())

[<Tests>]
let tests =
    testList "TrainingTests" [
        testSequenced <| testList "TrainingTests" [
            testCase "an MLP trained through the loop: the loss falls and it classifies" <| fun () ->
                let log = MetricsLog.Open(RunFolder(runs.Value.Straight).MetricsPath)
                Expect.equal log.Columns [| "epoch"; "train_loss"; "train_accuracy"; "val_loss"; "val_accuracy"; "seconds" |] "log.Columns"
                let loss, accuracy = log.Column "train_loss", log.Column "val_accuracy"
                output.WriteLine $"train loss {loss.[0]:F3} -> {loss.[2]:F3}; validation accuracy {accuracy.[0]:P1} -> {accuracy.[2]:P1}"
                // ln 10 = 2.30 for an untrained classifier; the first epoch's mean is already below it.
                within 0.3 2.4 (loss.[0]) "loss.[0]"
                Expect.isTrue (loss.[2] < 0.5 * loss.[0]) $"the training loss went from {loss.[0]} to {loss.[2]}"
                use model = MlpRun.load (runs.Value.Straight, "best")
                let _, testAccuracy = Classifier.evaluate model.forward Research.Core.Tests.NnTestSupport.mnist.Value.test
                output.WriteLine $"test accuracy {testAccuracy:P1}"
                Expect.isTrue (testAccuracy > 0.8) $"test accuracy {testAccuracy}"
            testCase "the best checkpoint reloads to the logged validation accuracy" <| fun () ->
                let log = MetricsLog.Open(RunFolder(runs.Value.Straight).MetricsPath)
                let accuracy, loss = log.Column "val_accuracy", log.Column "val_loss"
                let best = Array.findIndex ((=) (Array.max accuracy)) accuracy
                Expect.equal (Checkpoint.epoch (RunFolder(runs.Value.Straight).Checkpoint "best")) (best + 1) "Checkpoint.epoch (RunFolder(runs.Value.Straight).Checkpoint \"best\")"
                use data = Family.mnist settings None
                use model = MlpRun.load (runs.Value.Straight, "best")
                let reloadedLoss, reloadedAccuracy = Classifier.evaluate model.forward data.validation
                Expect.equal reloadedAccuracy (accuracy.[best]) "reloadedAccuracy"
                Expect.equal reloadedLoss (loss.[best]) "reloadedLoss"
            testCase "a resumed MLP run equals an uninterrupted one bit for bit" <| fun () ->
                let rows (folder: string) =
                    (MetricsLog.Open(RunFolder(folder).MetricsPath)).Rows |> Array.map (fun r -> r.[.. r.Length - 2])
                Expect.equal (rows runs.Value.Resumed) (rows runs.Value.Straight) "rows runs.Value.Resumed"
                for name in [ "last"; "best"; "resume" ] do
                    use a = Safetensors.load (RunFolder(runs.Value.Straight).Checkpoint name)
                    use b = Safetensors.load (RunFolder(runs.Value.Resumed).Checkpoint name)
                    Expect.equal b.names a.names "b.names"
                    for (n, x), (_, y) in Array.zip a.entries b.entries do
                        Expect.isTrue (x.toArray<byte> () = y.toArray<byte> ()) $"{name}: {n} differs"
            testCase "training leaves no tensor behind" <| fun () ->
                Expect.equal runs.Value.LiveAfter runs.Value.LiveBefore "runs.Value.LiveAfter"
        ]
    ]
