/// VaeRun.train on a 1000-image subset: an interrupted and resumed run equals an uninterrupted one
/// bit for bit, training raises the ELBO, bad checkpoints and configs fail clearly, and a diverging
/// run stops with the last good checkpoint intact. libtorch's thread count is process-wide, so these
/// run in the serial collection (and with one thread, so the sums are reproducible).
module Research.Core.Tests.VaeRunTests

open System
open System.IO
open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Checkpoints
open Research.Core.Training
open Research.Core.Models.Vae
open Research.Core.Tests.TensorTestSupport

let config = { VaeConfig.defaults with Latent = 8; Hidden = [ 64 ] }

let settings =
    { RunSettings.defaults with
        Epochs = 2
        BatchSize = 100
        Seed = 3
        Threads = 1
        ValidationSize = 1000
        TrainLimit = 1000
        ImageEpochs = [ 2 ] }

let private run (folder: string) = RunFolder folder

/// Two runs of `config` shared by the tests below: "straight" trains 2 epochs in one call;
/// "resumed" trains 1 epoch, then is resumed to 2. Progress reports of the straight run are kept.
/// Training sets libtorch's (process-wide) thread count; it is restored at the end.
type TrainedRuns() =
    let threads = torch.get_num_threads ()
    let root = NnTestSupport.tempFolder "vae-runs"
    let straight = Path.Combine(root, "straight")
    let resumed = Path.Combine(root, "resumed")
    let reports = ResizeArray<Progress>()
    let cleanUp () =
        torch.set_num_threads threads
        Directory.Delete(root, true)
    do
        try
            VaeRun.train (config, settings, straight, false, None, reports.Add) |> ignore
            VaeRun.train (config, { settings with Epochs = 1 }, resumed, false, None, ignore) |> ignore
            VaeRun.train (config, settings, resumed, true, None, ignore) |> ignore
        with _ ->
            cleanUp ()
            reraise ()

    member _.Root = root
    member _.Straight = straight
    member _.Resumed = resumed
    member _.Reports = reports.ToArray()

    interface IDisposable with
        member _.Dispose() = cleanUp ()

/// Every file of a run folder, copied to a new folder under the same root.
let private copyRun (source: string) (target: string) =
    for file in Directory.GetFiles(source, "*", SearchOption.AllDirectories) do
        let destination = Path.Combine(target, Path.GetRelativePath(source, file))
        Directory.CreateDirectory(Path.GetDirectoryName destination) |> ignore
        File.Copy(file, destination)

/// The tensors of a safetensors file, with its metadata, for exact comparison.
let private tensorsOf (path: string) =
    use d = Safetensors.load path
    [ for name, t in d.entries -> name, t.dtype, t.shape, t.toArray<byte> () ], List.ofSeq d.metadata

let private column (folder: string) (name: string) = (MetricsLog.Open((run folder).MetricsPath)).Column name

let private runs = shared (fun () -> new TrainedRuns())

[<Tests>]
let tests =
    testList "VaeRunTests" [
        testSequenced <| testList "VaeRunTests" [
            testCase "train limit: an epoch is 1000 images in batches of 100" <| fun () ->
                let epochs = runs.Value.Reports |> Array.groupBy (fun p -> p.Stage)
                Expect.equal (Array.map fst epochs) [| "epoch 1/2"; "epoch 2/2" |] "Array.map fst epochs"
                for stage, reports in epochs do
                    Expect.equal (reports |> Array.map (fun p -> p.Done)) [| 1L .. 10L |] "reports |> Array.map (fun p -> p.Done)"
                    for p in reports do
                        Expect.equal p.Total 10L "batches per epoch in a progress report"
            testCase "a resumed run equals an uninterrupted one bit for bit" <| fun () ->
                let a, b = MetricsLog.Open((run runs.Value.Straight).MetricsPath), MetricsLog.Open((run runs.Value.Resumed).MetricsPath)
                Expect.equal b.Columns a.Columns "b.Columns"
                Expect.equal a.Rows.Length 2 "a.Rows.Length"
                Expect.equal b.Rows.Length 2 "b.Rows.Length"
                // Everything but the wall-clock seconds.
                let measured (log: MetricsLog) =
                    log.Rows |> Array.map (fun r -> r.[.. r.Length - 2] |> Array.map BitConverter.DoubleToInt64Bits)
                Expect.equal (Array.last a.Columns) "seconds" "Array.last a.Columns"
                Expect.equal (measured b) (measured a) "measured b"
                for name in [ "last"; "resume"; "best" ] do
                    let file (folder: string) = (run folder).Checkpoint name
                    let tensors, metadata = tensorsOf (file runs.Value.Straight)
                    let tensorsB, metadataB = tensorsOf (file runs.Value.Resumed)
                    Expect.isNonEmpty tensors "tensors"
                    Expect.equal (List.map (fun (n, _, _, _) -> n) tensorsB) (List.map (fun (n, _, _, _) -> n) tensors) "List.map (fun (n, _, _, _) -> n) tensorsB"
                    for (n, dtype, shape, bytes), (_, dtypeB, shapeB, bytesB) in List.zip tensors tensorsB do
                        Expect.isTrue ((dtype, shape) = (dtypeB, shapeB)) $"{name}: {n} differs in dtype or shape"
                        Expect.isTrue (bytes = bytesB) $"{name}: the values of {n} differ"
                    Expect.equal metadataB metadata "metadataB"
                // The resumed run drew the same images at epoch 2.
                let image (folder: string) = File.ReadAllBytes((run folder).ImagePath("samples", 2))
                Expect.equal (image runs.Value.Resumed) (image runs.Value.Straight) "image runs.Value.Resumed"
            testCase "a second epoch raises the training and validation ELBO" <| fun () ->
                let trainElbo, valElbo = column runs.Value.Straight "train_elbo", column runs.Value.Straight "val_elbo"
                output.WriteLine $"train ELBO {trainElbo.[0]:F2} -> {trainElbo.[1]:F2}, validation ELBO {valElbo.[0]:F2} -> {valElbo.[1]:F2}"
                Expect.isTrue (trainElbo.[1] > trainElbo.[0]) $"train ELBO {trainElbo.[0]} -> {trainElbo.[1]}"
                Expect.isTrue (valElbo.[1] > valElbo.[0]) $"validation ELBO {valElbo.[0]} -> {valElbo.[1]}"
                // The logged ELBO is the logged reconstruction term minus the logged KL.
                let kl, recon = column runs.Value.Straight "kl", column runs.Value.Straight "recon"
                let valKl, valRecon = column runs.Value.Straight "val_kl", column runs.Value.Straight "val_recon"
                assertClose "train ELBO = recon - KL" 1e-5 1e-6 trainElbo (Array.map2 (-) recon kl)
                assertClose "validation ELBO = recon - KL" 1e-12 1e-9 valElbo (Array.map2 (-) valRecon valKl)
                // An untrained decoder (logits near 0) costs about 784 log 2 = 543 nats; training must beat it.
                Expect.isTrue (valElbo.[1] > -784.0 * log 2.0) $"validation ELBO {valElbo.[1]} is no better than coin flips"
            testCase "the best checkpoint reproduces the logged validation ELBO" <| fun () ->
                let saved, savedSettings, vae = VaeRun.load (runs.Value.Straight, "best")
                use _ = vae.Parameters
                Expect.equal saved config "saved"
                Expect.equal savedSettings settings "savedSettings"
                let valElbo = column runs.Value.Straight "val_elbo"
                let bestEpoch = (Array.findIndex ((=) (Array.max valElbo)) valElbo) + 1
                use data = VaeRun.loadData saved savedSettings None
                Family.useThreadsOf VaeRun.family saved savedSettings.Threads
                let elbo, _, _ = VaeRun.evaluateElbo vae saved data.validation (int64 savedSettings.Seed + 1L)
                Expect.equal elbo (valElbo.[bestEpoch - 1]) "elbo"
            testCase "resuming with another configuration names the fields" <| fun () ->
                let before = File.ReadAllBytes((run runs.Value.Straight).ConfigPath)
                let metricsBefore = File.ReadAllBytes((run runs.Value.Straight).MetricsPath)
                let e =
                    raises<InvalidOperationException> (fun () ->
                        VaeRun.train ({ config with Latent = 4 }, { settings with Seed = 5; Epochs = 3 }, runs.Value.Straight, true, None, ignore) |> ignore)
                output.WriteLine e.Message
                Expect.stringContains e.Message runs.Value.Straight "e.Message"
                Expect.stringContains e.Message "latent: saved 8, requested 4" "e.Message"
                Expect.stringContains e.Message "seed: saved 3, requested 5" "e.Message"
                Expect.isFalse (e.Message.Contains "epochs") "e.Message does not contain \"epochs\""
                // A failed resume changes nothing.
                Expect.equal (File.ReadAllBytes((run runs.Value.Straight).ConfigPath)) before "File.ReadAllBytes((run runs.Value.Straight).ConfigPath)"
                Expect.equal (File.ReadAllBytes((run runs.Value.Straight).MetricsPath)) metricsBefore "File.ReadAllBytes((run runs.Value.Straight).MetricsPath)"
            testCase "training into a used folder without resume, or resuming nothing, fails clearly" <| fun () ->
                let e = raises<InvalidOperationException> (fun () -> VaeRun.train (config, settings, runs.Value.Straight, false, None, ignore) |> ignore)
                Expect.stringContains e.Message "--resume" "e.Message"
                let empty = Path.Combine(runs.Value.Root, "empty")
                let e = raises<FileNotFoundException> (fun () -> VaeRun.train (config, settings, empty, true, None, ignore) |> ignore)
                Expect.stringContains e.Message "nothing to resume" "e.Message"
            testCase "a truncated resume checkpoint fails the resume with the file's name and changes nothing" <| fun () ->
                let folder = Path.Combine(runs.Value.Root, "truncated-resume")
                copyRun runs.Value.Resumed folder
                let file = (run folder).ResumePath
                let bytes = File.ReadAllBytes file
                File.WriteAllBytes(file, bytes.[.. bytes.Length / 2])
                let configBefore = File.ReadAllBytes((run folder).ConfigPath)
                let e = raises<InvalidDataException> (fun () -> VaeRun.train (config, { settings with Epochs = 3 }, folder, true, None, ignore) |> ignore)
                output.WriteLine e.Message
                Expect.stringContains e.Message file "e.Message"
                // Nothing was trained, logged or rewritten past the checkpoint.
                Expect.equal ((MetricsLog.Open((run folder).MetricsPath)).Rows.Length) 2 "(MetricsLog.Open((run folder).MetricsPath)).Rows.Length"
                Expect.equal (File.ReadAllBytes((run folder).ConfigPath)) configBefore "File.ReadAllBytes((run folder).ConfigPath)"
            testCase "a start that diverges leaves no run behind, and a rerun, with or without --resume, starts afresh" <| fun () ->
                // One step at a step size of 1e10 leaves weights whose validation ELBO is NaN: that epoch is
                // never committed.
                let diverging = { config with LearningRate = 1e10 }
                let divergingRun = { settings with TrainLimit = 100; Epochs = 3; ImageEpochs = [ 0 ] }
                for resume in [ false; true ] do
                    let folder = Path.Combine(runs.Value.Root, $"diverging-{resume}")
                    let e = raises<TrainingDivergedException> (fun () -> VaeRun.train (diverging, divergingRun, folder, false, None, ignore) |> ignore)
                    output.WriteLine e.Message
                    Expect.stringContains e.Message "the validation val_elbo became NaN after epoch 1" "e.Message"
                    let r = run folder
                    Expect.isFalse r.HoldsRun "r.HoldsRun"
                    Expect.isFalse (File.Exists r.ConfigPath) "config.json is written with the first committed epoch"
                    Expect.isFalse (Directory.Exists r.CheckpointFolder && Directory.GetFiles(r.CheckpointFolder).Length > 0) "no checkpoint of a diverged epoch"
                    // Nothing to resume (--resume starts afresh, with a note), and nothing that blocks a fresh start.
                    let metrics = VaeRun.train (config, { divergingRun with Epochs = 1 }, folder, resume, None, ignore)
                    Expect.equal metrics.Rows.Length 1 "metrics.Rows.Length"
                    Expect.isTrue r.HoldsRun "r.HoldsRun"
                    let _, _, vae = VaeRun.load (folder, "last")
                    use _ = vae.Parameters
                    for name, t in vae.Parameters.named do
                        Expect.isTrue (t.toFloat64Array () |> Array.forall Double.IsFinite) $"{name} is not finite in the checkpoint"
            testCase "a start whose data are missing leaves no run behind" <| fun () ->
                let folder = Path.Combine(runs.Value.Root, "no-data")
                let e = raises<FileNotFoundException> (fun () ->
                    VaeRun.train (config, settings, folder, false, Some(Path.Combine(runs.Value.Root, "nowhere")), ignore) |> ignore)
                Expect.stringContains e.Message "missing data file" "e.Message"
                Expect.isFalse (Directory.Exists folder) "the folder that the failed start made is removed"
                VaeRun.train (config, { settings with Epochs = 1 }, folder, false, None, ignore) |> ignore
                Expect.isTrue ((run folder).HoldsRun) "(run folder).HoldsRun"
            testCase "a checkpoint with weights that are not finite fails to load with its name" <| fun () ->
                let folder = Path.Combine(runs.Value.Root, "nan-weights")
                copyRun runs.Value.Straight folder
                let best = (run folder).Checkpoint "best"
                let _, _, vae = VaeRun.load (folder, "best")
                (use _ = vae.Parameters
                 use _ = torch.no_grad ()
                 vae.Parameters.["decoder.out.bias"].fill_ nan |> ignore
                 Checkpoint.saveModel (best, 1, vae.Parameters, []))
                let e = raises<InvalidDataException> (fun () -> VaeRun.load (folder, "best") |> ignore)
                Expect.stringContains e.Message best "e.Message"
                Expect.stringContains e.Message "decoder.out.bias are not finite" "e.Message"
        ]
    ]
