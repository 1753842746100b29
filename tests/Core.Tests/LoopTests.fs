/// The shared training loop and run folder with a toy family that is not a VAE: a learned mean
/// image fitted by Adam to the squared error, with a knob that makes one step's loss NaN. Checks
/// the divergence stop and resume after it, the headline's direction, the lock, the clean-up of
/// killed writes, and evaluation file names.
module Research.Core.Tests.LoopTests

open System
open System.IO
open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Data
open Research.Core.Distributed
open Research.Core.IO
open Research.Core.Nn
open Research.Core.Optim
open Research.Core.Training
open Research.Core.Tests.TensorTestSupport
open Research.Core.Tests.NnTestSupport

type ToyConfig =
    { LearningRate: float
      /// The run's step (counted from 1 in each process) whose loss is NaN; 0 for none.
      NanAtStep: int }

let private toyTrainer (config: ToyConfig) (_: RunSettings) (data: Mnist) (_: Generator) : TrainingRun =
    let shape = data.train.imageShape
    let mean = torch.zeros([| int64 shape.Pixels |]).requires_grad_ ()
    let parameters = Parameters.create [ "mean", mean ]
    let adam = new Adam(parameters, lr = config.LearningRate)
    let mutable steps = 0
    let squaredError (x: Tensor) = (x.flatten 1 - mean).square().sum ()
    { Model = parameters
      Optimizers = [ "adam", adam ]
      Generators = []
      TrainColumns = [ "train_loss" ]
      ValidationColumns = [ "val_loss" ]
      Headline = Some { Column = "val_loss"; Better = Lower }
      Step =
        fun batch ->
            steps <- steps + 1
            adam.zero_grad ()
            let loss = squaredError batch.x
            loss.backward ()
            adam.step ()
            let value = if steps = config.NanAtStep then nan else loss.item ()
            { Loss = value; Sums = [| value |] }
      Objective = SumOverImages
      Validate =
        fun () ->
            use _ = torch.no_grad ()
            use all = data.validation.all ()
            [| (squaredError all.x).item () / float data.validation.count |]
      Images = fun _ -> [ "mean", (use _ = torch.no_grad () in Png.Grid(mean.toFloat32Array (), shape.Height, shape.Width, 1, 1)) ] }

let private toy: Family<ToyConfig> =
    // The step of the NaN is the test's, not a saved setting.
    let settings =
        Settings.declare [ Setting.number "lr" "lr" "learning rate" _.LearningRate (fun v c -> { c with LearningRate = v }) ] { LearningRate = 0.05; NanAtStep = 0 } id
    Family.create "toy" settings RunSettings.defaults toyTrainer

let private settings =
    { RunSettings.defaults with Epochs = 3; BatchSize = 100; Threads = 1; ValidationSize = 200; TrainLimit = 500; ImageEpochs = [ 0; 3 ] }

let private train (config: ToyConfig) (settings: RunSettings) (folder: string) (resume: bool) =
    let threads = torch.get_num_threads ()
    try Loop.train toy config settings folder resume None ignore
    finally torch.set_num_threads threads

[<Tests>]
let tests =
    testList "LoopTests" [
        testSequenced <| testList "LoopTests" [
            testCase "a loss that becomes NaN stops the run with epoch and step, keeps the last epoch, and resumes" <| fun () ->
                let folder = tempFolder "toy-nan"
                // 5 steps per epoch: step 8 is epoch 2's third.
                let e = raises<TrainingDivergedException> (fun () -> train { LearningRate = 0.05; NanAtStep = 8 } settings folder false |> ignore)
                Expect.equal e.Message "the loss became NaN at epoch 2, step 3" "e.Message"
                let run = RunFolder folder
                Expect.equal (Checkpoint.epoch run.ResumePath) 1 "Checkpoint.epoch run.ResumePath"
                Expect.equal (Checkpoint.epoch (run.Checkpoint "last")) 1 "Checkpoint.epoch (run.Checkpoint \"last\")"
                Expect.equal ((MetricsLog.Open run.MetricsPath).Rows.Length) 1 "(MetricsLog.Open run.MetricsPath).Rows.Length"
                let metrics = train { LearningRate = 0.05; NanAtStep = 0 } settings folder true
                Expect.equal (metrics.Column "epoch") [| 1.0; 2.0; 3.0 |] "metrics.Column \"epoch\""
                // The same as a run that never diverged.
                let straight = tempFolder "toy-straight"
                let expected = train { LearningRate = 0.05; NanAtStep = 0 } settings straight false
                let measured (log: MetricsLog) = log.Rows |> Array.map (fun r -> r.[.. r.Length - 2])
                Expect.equal (measured metrics) (measured expected) "measured metrics"
                Directory.Delete(folder, true)
                Directory.Delete(straight, true)
            testCase "a lower-is-better headline keeps the epoch with the least validation loss" <| fun () ->
                let folder = tempFolder "toy-best"
                let metrics = train { LearningRate = 0.05; NanAtStep = 0 } settings folder false
                let loss = metrics.Column "val_loss"
                Expect.isTrue (loss.[2] < loss.[0]) $"the toy's validation loss went from {loss.[0]} to {loss.[2]}"
                let best = Array.findIndex ((=) (Array.min loss)) loss + 1
                Expect.equal (Checkpoint.epoch ((RunFolder folder).Checkpoint "best")) best "Checkpoint.epoch ((RunFolder folder).Checkpoint \"best\")"
                let config = File.ReadAllText (RunFolder folder).ConfigPath
                Expect.stringContains config ("\"model\": \"toy\"") "config"
                Expect.stringContains config ("\"better\": \"lower\"") "config"
                Expect.equal (Directory.GetFiles (RunFolder folder).ImageFolder |> Array.map Path.GetFileName |> Array.sort) [| "mean-epoch-000.png"; "mean-epoch-003.png" |] "Directory.GetFiles (RunFolder folder).ImageFolder |> Array.map Path.GetFileName |> Array.sort"
                Directory.Delete(folder, true)
            testCase "a held run folder is refused with its owner, and free again once released" <| fun () ->
                let folder = tempFolder "toy-lock"
                let run = RunFolder folder
                (use held = run.Lock()
                 let e = raises<IOException> (fun () -> train { LearningRate = 0.05; NanAtStep = 0 } settings folder false |> ignore)
                 Expect.stringContains e.Message ($"{run.Path} is in use by process {Environment.ProcessId}") "e.Message"
                 Expect.isFalse (File.Exists run.ConfigPath) "File.Exists run.ConfigPath")
                train { LearningRate = 0.05; NanAtStep = 0 } { settings with Epochs = 1 } folder false |> ignore
                Expect.isTrue run.HoldsRun "run.HoldsRun"
                Directory.Delete(folder, true)
            testCase "temporary files that killed writes left are removed when the folder is taken" <| fun () ->
                let folder = tempFolder "toy-stale"
                let run = RunFolder folder
                train { LearningRate = 0.05; NanAtStep = 0 } { settings with Epochs = 1 } folder false |> ignore
                let stale =
                    [ Path.Combine(run.CheckpointFolder, ".resume.safetensors.0123456789abcdef.tmp")
                      Path.Combine(run.ImageFolder, ".mean-epoch-002.png.0123456789abcdef.tmp")
                      Path.Combine(folder, ".metrics.csv.0123456789abcdef.tmp") ]
                for f in stale do File.WriteAllText(f, "half a write")
                let kept = Path.Combine(folder, "notes.txt")
                File.WriteAllText(kept, "mine")
                train { LearningRate = 0.05; NanAtStep = 0 } { settings with Epochs = 2 } folder true |> ignore
                for f in stale do Expect.isFalse (File.Exists f) $"{f} is left"
                Expect.isTrue (File.Exists kept) "File.Exists kept"
                Directory.Delete(folder, true)
            testCase "two ranks (threads of this process) train the toy, whose objective is a sum, to one process's weights" <| fun () ->
                let straight, dataParallel = tempFolder "toy-one", tempFolder "toy-two"
                // 5 steps of 100 and a last of 37 (19 + 18 images).
                let settings = { settings with TrainLimit = 537 }
                train { LearningRate = 0.05; NanAtStep = 0 } settings straight false |> ignore
                let port = DistributedTests.freePort ()
                let rank (r: int) =
                    Threading.Tasks.Task.Run(fun () ->
                        let launch = { Rank = r; WorldSize = 2; LocalRank = r; MasterAddr = "127.0.0.1"; MasterPort = port
                                       AgentAttempt = None; Timeout = TimeSpan.FromSeconds 30.0 }
                        use group = ProcessGroup.Join launch
                        use dp = new DataParallel(group)
                        Loop.trainOn (Some dp) toy { LearningRate = 0.05; NanAtStep = 0 } settings dataParallel Loop.Fresh [] None ignore)
                let threads = torch.get_num_threads ()
                let results = try Threading.Tasks.Task.WhenAll([ rank 0; rank 1 ]).Result finally torch.set_num_threads threads
                Expect.isSome results[0] "rank 0 returns the metrics"
                Expect.isNone results[1] "rank 1 returns none"
                use one = Checkpoints.Safetensors.load ((RunFolder straight).Checkpoint "last")
                use two = Checkpoints.Safetensors.load ((RunFolder dataParallel).Checkpoint "last")
                let a, b = one["mean"].toFloat64Array (), two["mean"].toFloat64Array ()
                let norm (v: float[]) = sqrt (Array.sumBy (fun x -> x * x) v)
                let relative = norm (Array.map2 (-) a b) / norm a
                output.WriteLine $"toy mean image after 18 steps: 2 ranks against 1 process, relative L2 difference {relative:G3}"
                Expect.isLessThan relative 1e-5 "relative L2 difference"
                let rows (folder: string) = (MetricsLog.Open (RunFolder folder).MetricsPath).Rows |> Array.map (fun r -> r[.. r.Length - 2])
                for r1, r2 in Array.zip (rows straight) (rows dataParallel) do
                    for x, y in Array.zip r1 r2 do within (x - 1e-4 * abs x) (x + 1e-4 * abs x) y "a metric"
                Directory.Delete(straight, true)
                Directory.Delete(dataParallel, true)
            testCase "a loss that becomes NaN on one of two ranks stops both at that step, naming it, and keeps the last epoch" <| fun () ->
                let folder = tempFolder "toy-nan-ranks"
                let port = DistributedTests.freePort ()
                let clock = Diagnostics.Stopwatch.StartNew()
                // Rank 1's eighth step (epoch 2's third) is NaN; rank 0's never is.
                let rank (r: int) =
                    Threading.Tasks.Task.Run(fun () ->
                        let launch = { Rank = r; WorldSize = 2; LocalRank = r; MasterAddr = "127.0.0.1"; MasterPort = port
                                       AgentAttempt = None; Timeout = TimeSpan.FromSeconds 30.0 }
                        use group = ProcessGroup.Join launch
                        use dp = new DataParallel(group)
                        let config = { LearningRate = 0.05; NanAtStep = (if r = 1 then 8 else 0) }
                        try
                            Loop.trainOn (Some dp) toy config settings folder Loop.Fresh [] None ignore |> ignore
                            "no divergence"
                        with :? TrainingDivergedException as e -> e.Message)
                let threads = torch.get_num_threads ()
                let messages = try Threading.Tasks.Task.WhenAll([ rank 0; rank 1 ]).Result finally torch.set_num_threads threads
                output.WriteLine $"both ranks stopped after {clock.Elapsed.TotalSeconds:F1} s: {messages[0]}"
                Expect.equal messages [| "the loss became NaN at epoch 2, step 3"; "the loss became NaN at epoch 2, step 3" |] "each rank's stop"
                Expect.isLessThan clock.Elapsed.TotalSeconds 30.0 "seconds, below the group's timeout"
                let run = RunFolder folder
                Expect.equal (Checkpoint.epoch run.ResumePath) 1 "the committed epoch"
                Expect.equal ((MetricsLog.Open run.MetricsPath).Rows.Length) 1 "metrics.csv rows"
                Directory.Delete(folder, true)
            testCase "the one checkpoint loader refuses non-finite weights and other dtypes, in one line naming the tensor" <| fun () ->
                use scope = new TensorScope()
                let folder = tempFolder "loader"
                let parameters (w: Tensor) = Parameters.create [ "w", w.requires_grad_ (); "b", (torch.zeros [| 2L |]).requires_grad_ () ]
                let model () = parameters (torch.ones [| 3L |])
                let save (name: string) (w: Tensor) =
                    let path = IO.Path.Combine(folder, name + ".safetensors")
                    Checkpoint.saveModel (path, 1, parameters w, [])
                    path
                let nan = save "nan" (torch.tensor [| 1.0f; nanf; 2.0f |])
                let e = raises<InvalidDataException> (fun () -> Checkpoint.loadModel (nan, model (), ignore) |> ignore)
                Expect.equal e.Message $"{nan}: the weights of w are not finite numbers" "a NaN weight"
                let wide = save "float64" (torch.tensor [| 1.0; 2.0; 3.0 |])
                let e = raises<InvalidDataException> (fun () -> Checkpoint.loadModel (wide, model (), ignore) |> ignore)
                Expect.equal e.Message $"{wide}: w is float64 in the file, float32 in the model" "another dtype"
                let fine = save "fine" (torch.tensor [| 1.0f; 2.0f; 3.0f |])
                let loaded = model ()
                Expect.equal (Checkpoint.loadModel (fine, loaded, ignore)) 1 "the epoch"
                Expect.equal (loaded["w"].toFloat32Array ()) [| 1.0f; 2.0f; 3.0f |] "the weights"
                Directory.Delete(folder, true)
            testCase "evaluation files are named after the checkpoint and the settings" <| fun () ->
                let run = RunFolder "/runs/a"
                let names =
                    [ Evaluation.path run "best" (Evaluation.settings "test" 5000 1 []); Evaluation.path run "best" (Evaluation.settings "test-first1000" 5000 1 [])
                      Evaluation.path run "last" (Evaluation.settings "test" 5000 1 []); Evaluation.path run "best" (Evaluation.settings "test" 100 1 [])
                      Evaluation.path run "best" (Evaluation.settings "test" 100 2 []); Evaluation.path run "best" (Evaluation.settings "test" 100 2 [ "dynamic" ])
                      Evaluation.path run "best" (Evaluation.settings "my samples/idx3 ubyte" 5000 1 []) ]
                Expect.equal (List.distinct names |> List.length) names.Length "every setting has its own file"
                Expect.equal (List.last names) "/runs/a/eval/best-my_samples_idx3_ubyte-k5000-seed1.json" "List.last names"
        ]
    ]
