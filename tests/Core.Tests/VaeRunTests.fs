/// VaeRun.train on a 1000-image subset: an interrupted and resumed run equals an uninterrupted one
/// bit for bit, training raises the ELBO, bad checkpoints and configs fail clearly, and a diverging
/// run stops with the last good checkpoint intact. libtorch's thread count is process-wide, so these
/// run in the serial collection (and with one thread, so the sums are reproducible).
module Research.Core.Tests.VaeRunTests

open System
open System.IO
open Xunit
open Xunit.Abstractions
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

[<Collection(ProcessWideState)>]
type VaeRunTests(runs: TrainedRuns, output: ITestOutputHelper) =

    [<Fact>]
    member _.``train limit: an epoch is 1000 images in batches of 100`` () =
        let epochs = runs.Reports |> Array.groupBy (fun p -> p.Stage)
        Assert.Equal<string[]>([| "epoch 1/2"; "epoch 2/2" |], Array.map fst epochs)
        for stage, reports in epochs do
            Assert.Equal<int64[]>([| 1L .. 10L |], reports |> Array.map (fun p -> p.Done))
            Assert.All(reports, fun p -> Assert.Equal(10L, p.Total))

    [<Fact>]
    member _.``a resumed run equals an uninterrupted one bit for bit`` () =
        let a, b = MetricsLog.Open((run runs.Straight).MetricsPath), MetricsLog.Open((run runs.Resumed).MetricsPath)
        Assert.Equal<string[]>(a.Columns, b.Columns)
        Assert.Equal(2, a.Rows.Length)
        Assert.Equal(2, b.Rows.Length)
        // Everything but the wall-clock seconds.
        let measured (log: MetricsLog) =
            log.Rows |> Array.map (fun r -> r.[.. r.Length - 2] |> Array.map BitConverter.DoubleToInt64Bits)
        Assert.Equal("seconds", Array.last a.Columns)
        Assert.Equal<int64[][]>(measured a, measured b)
        for name in [ "last"; "resume"; "best" ] do
            let file (folder: string) = (run folder).Checkpoint name
            let tensors, metadata = tensorsOf (file runs.Straight)
            let tensorsB, metadataB = tensorsOf (file runs.Resumed)
            Assert.NotEmpty tensors
            Assert.Equal<string list>(List.map (fun (n, _, _, _) -> n) tensors, List.map (fun (n, _, _, _) -> n) tensorsB)
            for (n, dtype, shape, bytes), (_, dtypeB, shapeB, bytesB) in List.zip tensors tensorsB do
                Assert.True((dtype, shape) = (dtypeB, shapeB), $"{name}: {n} differs in dtype or shape")
                Assert.True((bytes = bytesB), $"{name}: the values of {n} differ")
            Assert.Equal<Collections.Generic.KeyValuePair<string, string> list>(metadata, metadataB)
        // The resumed run drew the same images at epoch 2.
        let image (folder: string) = File.ReadAllBytes((run folder).ImagePath("samples", 2))
        Assert.Equal<byte[]>(image runs.Straight, image runs.Resumed)

    [<Fact>]
    member _.``a second epoch raises the training and validation ELBO`` () =
        let trainElbo, valElbo = column runs.Straight "train_elbo", column runs.Straight "val_elbo"
        output.WriteLine $"train ELBO {trainElbo.[0]:F2} -> {trainElbo.[1]:F2}, validation ELBO {valElbo.[0]:F2} -> {valElbo.[1]:F2}"
        Assert.True(trainElbo.[1] > trainElbo.[0], $"train ELBO {trainElbo.[0]} -> {trainElbo.[1]}")
        Assert.True(valElbo.[1] > valElbo.[0], $"validation ELBO {valElbo.[0]} -> {valElbo.[1]}")
        // The logged ELBO is the logged reconstruction term minus the logged KL.
        let kl, recon = column runs.Straight "kl", column runs.Straight "recon"
        let valKl, valRecon = column runs.Straight "val_kl", column runs.Straight "val_recon"
        assertClose "train ELBO = recon - KL" 1e-5 1e-6 trainElbo (Array.map2 (-) recon kl)
        assertClose "validation ELBO = recon - KL" 1e-12 1e-9 valElbo (Array.map2 (-) valRecon valKl)
        // An untrained decoder (logits near 0) costs about 784 log 2 = 543 nats; training must beat it.
        Assert.True(valElbo.[1] > -784.0 * log 2.0, $"validation ELBO {valElbo.[1]} is no better than coin flips")

    [<Fact>]
    member _.``the best checkpoint reproduces the logged validation ELBO`` () =
        let saved, savedSettings, vae = VaeRun.load (runs.Straight, "best")
        use _ = vae.Parameters
        Assert.Equal(config, saved)
        Assert.Equal(settings, savedSettings)
        let valElbo = column runs.Straight "val_elbo"
        let bestEpoch = (Array.findIndex ((=) (Array.max valElbo)) valElbo) + 1
        use data = VaeRun.loadData saved savedSettings None
        VaeRun.useThreads (saved.Architecture, savedSettings.Threads)
        let elbo, _, _ = VaeRun.evaluateElbo vae saved data.validation (int64 savedSettings.Seed + 1L)
        Assert.Equal(valElbo.[bestEpoch - 1], elbo)

    [<Fact>]
    member _.``resuming with another configuration names the fields`` () =
        let before = File.ReadAllBytes((run runs.Straight).ConfigPath)
        let metricsBefore = File.ReadAllBytes((run runs.Straight).MetricsPath)
        let e =
            Assert.Throws<InvalidOperationException>(fun () ->
                VaeRun.train ({ config with Latent = 4 }, { settings with Seed = 5; Epochs = 3 }, runs.Straight, true, None, ignore) |> ignore)
        output.WriteLine e.Message
        Assert.Contains(runs.Straight, e.Message)
        Assert.Contains("latent: saved 8, requested 4", e.Message)
        Assert.Contains("seed: saved 3, requested 5", e.Message)
        Assert.DoesNotContain("epochs", e.Message)
        // A failed resume changes nothing.
        Assert.Equal<byte[]>(before, File.ReadAllBytes((run runs.Straight).ConfigPath))
        Assert.Equal<byte[]>(metricsBefore, File.ReadAllBytes((run runs.Straight).MetricsPath))

    [<Fact>]
    member _.``training into a used folder without resume, or resuming nothing, fails clearly`` () =
        let e = Assert.Throws<InvalidOperationException>(fun () -> VaeRun.train (config, settings, runs.Straight, false, None, ignore) |> ignore)
        Assert.Contains("--resume", e.Message)
        let empty = Path.Combine(runs.Root, "empty")
        let e = Assert.Throws<FileNotFoundException>(fun () -> VaeRun.train (config, settings, empty, true, None, ignore) |> ignore)
        Assert.Contains("nothing to resume", e.Message)

    [<Fact>]
    member _.``a truncated resume checkpoint fails the resume with the file's name and changes nothing`` () =
        let folder = Path.Combine(runs.Root, "truncated-resume")
        copyRun runs.Resumed folder
        let file = (run folder).ResumePath
        let bytes = File.ReadAllBytes file
        File.WriteAllBytes(file, bytes.[.. bytes.Length / 2])
        let configBefore = File.ReadAllBytes((run folder).ConfigPath)
        let e = Assert.Throws<InvalidDataException>(fun () -> VaeRun.train (config, { settings with Epochs = 3 }, folder, true, None, ignore) |> ignore)
        output.WriteLine e.Message
        Assert.Contains(file, e.Message)
        // Nothing was trained, logged or rewritten past the checkpoint.
        Assert.Equal(2, (MetricsLog.Open((run folder).MetricsPath)).Rows.Length)
        Assert.Equal<byte[]>(configBefore, File.ReadAllBytes((run folder).ConfigPath))

    [<Fact>]
    member _.``a start that diverges leaves no run behind, and a plain rerun starts afresh`` () =
        // One step at a step size of 1e10 leaves weights whose validation ELBO is NaN: that epoch is
        // never committed.
        let diverging = { config with LearningRate = 1e10 }
        let divergingRun = { settings with TrainLimit = 100; Epochs = 3; ImageEpochs = [ 0 ] }
        let folder = Path.Combine(runs.Root, "diverging")
        let e = Assert.Throws<TrainingDivergedException>(fun () -> VaeRun.train (diverging, divergingRun, folder, false, None, ignore) |> ignore)
        output.WriteLine e.Message
        Assert.Contains("the validation val_elbo became NaN after epoch 1", e.Message)
        let r = run folder
        Assert.False(r.HoldsRun)
        Assert.False(File.Exists r.ConfigPath, "config.json is written with the first committed epoch")
        Assert.False(Directory.Exists r.CheckpointFolder && Directory.GetFiles(r.CheckpointFolder).Length > 0, "no checkpoint of a diverged epoch")
        // Nothing to resume, and nothing that blocks a fresh start.
        Assert.Throws<FileNotFoundException>(fun () -> VaeRun.train (config, divergingRun, folder, true, None, ignore) |> ignore) |> ignore
        let metrics = VaeRun.train (config, { divergingRun with Epochs = 1 }, folder, false, None, ignore)
        Assert.Equal(1, metrics.Rows.Length)
        Assert.True(r.HoldsRun)
        let _, _, vae = VaeRun.load (folder, "last")
        use _ = vae.Parameters
        for name, t in vae.Parameters.named do
            Assert.True(t.toFloat64Array () |> Array.forall Double.IsFinite, $"{name} is not finite in the checkpoint")

    [<Fact>]
    member _.``a start whose data are missing leaves no run behind`` () =
        let folder = Path.Combine(runs.Root, "no-data")
        let e = Assert.Throws<FileNotFoundException>(fun () ->
            VaeRun.train (config, settings, folder, false, Some(Path.Combine(runs.Root, "nowhere")), ignore) |> ignore)
        Assert.Contains("missing data file", e.Message)
        Assert.False(File.Exists((run folder).ConfigPath))
        VaeRun.train (config, { settings with Epochs = 1 }, folder, false, None, ignore) |> ignore
        Assert.True((run folder).HoldsRun)

    [<Fact>]
    member _.``a checkpoint with weights that are not finite fails to load with its name`` () =
        let folder = Path.Combine(runs.Root, "nan-weights")
        copyRun runs.Straight folder
        let best = (run folder).Checkpoint "best"
        let _, _, vae = VaeRun.load (folder, "best")
        (use _ = vae.Parameters
         use _ = torch.no_grad ()
         vae.Parameters.["decoder.out.bias"].fill_ nan |> ignore
         Checkpoint.saveModel (best, 1, vae.Parameters, []))
        let e = Assert.Throws<InvalidDataException>(fun () -> VaeRun.load (folder, "best") |> ignore)
        Assert.Contains(best, e.Message)
        Assert.Contains("decoder.out.bias are not finite", e.Message)

    interface IClassFixture<TrainedRuns>
