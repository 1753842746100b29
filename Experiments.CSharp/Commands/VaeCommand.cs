using System.CommandLine;
using Research.Core.Benchmarks;
using Research.Core.Models.Vae;
using static Research.Experiments.CommandLine;

namespace Research.Experiments.Commands;

/// `vae train` and `vae eval`: options in, a VaeConfig and RunSettings out, the F# experiment does the rest.
public static class VaeCommand
{
    public static Command Build() => TrainingOptions<VaeConfig>.Group(VaeRun.family,
        "Variational autoencoders on MNIST (Kingma & Welling 2014).",
        "Train a VAE; writes config.json, metrics.csv, checkpoints and image grids to the run folder.",
        Eval());

    static Command Eval()
    {
        var run = new CheckpointOptions(VaeRun.family.Name, "random seed for the samples");
        var k = Opt("--k", "importance samples per image for log p(x)", 5000);
        var chunk = Opt("--chunk", "samples drawn at once (bounds memory)", 500);
        var images = Opt<string?>("--images", "an IDX file of uint8 images of the model's size (28x28), grey levels 0-255 (binary images as 0 and 255), to evaluate instead of the MNIST test set", null);
        var binarize = Opt<string?>("--binarize", "override the run's binarization for these images: dynamic | static | none (default: the run's; none with --images)", null);
        var limit = Opt("--limit", "evaluate the first N images only (0 = all)", 0);
        var data = DataOpt();
        var command = run.Command("eval", "Test ELBO and importance-sampled log p(x) of a trained VAE; writes eval/<checkpoint>-<images>-k<k>.json in the run.",
            k, chunk, images, binarize, limit, data);
        command.SetAction(r =>
        {
            var (result, path) = ProgressDisplay.Run(report => VaeExperiment.Evaluate(run.Folder(r), r.GetValue(run.Checkpoint)!, r.GetValue(k), r.GetValue(chunk),
                r.GetValue(images), r.GetValue(binarize), r.GetValue(limit), r.GetValue(run.Seed), r.GetValue(run.Threads), r.GetValue(data), report)).ToValueTuple();
            Console.WriteLine($"images:           {result.Images}");
            Console.WriteLine($"ELBO:             {result.Elbo:F2} nats  (KL {result.Kl:F2}, reconstruction {result.Recon:F2})");
            Console.WriteLine($"log p(x), k={result.K}: {result.LogLikelihood:F2} ± {result.LogLikelihoodStdErr:F2} nats");
            Console.WriteLine($"written: {path}");
            return 0;
        });
        return command;
    }

    /// `bench vae`: pytorch/examples' VAE, its GEMM rate, and thread overrides to try others.
    public static Command Bench()
    {
        var common = new BenchCommand.Common(VaeRun.family.Name, 3, 0, "train on N images per epoch only (0 = all 60000); e.g. 5000 for a smoke run",
            "threads, as `vae train --threads` uses them (both sides)");
        var intraOp = Opt("--intra-op-threads", "override: libtorch intra-op (OpenMP) threads on both sides (0 = each side's split of --threads)", 0);
        var blas = Opt("--blas-threads", "override: OpenBLAS threads on both sides (0 = each side's split of --threads)", 0);
        var command = new Command(VaeRun.family.Name, "Train pytorch/examples' VAE (784-400-20-400-784, Adam 1e-3, batch 128) here and in PyTorch; compare seconds per epoch.")
        {
            intraOp, blas,
        };
        common.AddTo(command);
        command.SetAction(r =>
        {
            var config = VaeBenchmark.Config;
            var settings = VaeBenchmark.Settings(r.GetValue(common.Epochs), r.GetValue(common.Limit), r.GetValue(common.Threads), r.GetValue(common.Seed));
            // Each side its own split of --threads (the MLP's products: oneDNN's pool here, OpenBLAS in
            // PyTorch), unless the overrides give one to both.
            (int, int) Split((int IntraOp, int Blas) split) =>
                (r.GetValue(intraOp) > 0 ? r.GetValue(intraOp) : split.IntraOp, r.GetValue(blas) > 0 ? r.GetValue(blas) : split.Blas);
            var (intraOpThreads, blasThreads) = Split(VaeBenchmark.Threads(settings.Threads).ToValueTuple());
            var (peerIntraOp, peerBlas) = Split(PyTorchPeer.Threads(true, settings.Threads).ToValueTuple());
            if (common.Worker(r) is { } worker)
            {
                BenchCommand.UseThreads(intraOpThreads, blasThreads);
                return BenchCommand.Common.PrintRank(worker.Value, VaeBenchmark.Run(config, settings, worker, r.GetValue(common.Data)));
            }
            var images = settings.TrainLimit > 0 ? Math.Min(settings.TrainLimit, 60000) : 60000;
            var title = $"VAE 784-{string.Join("-", config.Hidden)}-{config.Latent}-{string.Join("-", config.Hidden.Reverse())}-784, " +
                        $"batch {settings.BatchSize}, Adam {config.LearningRate}, {settings.Epochs} epoch(s) of {images} training images " +
                        $"per side and round, {common.Rounds_(r)} round(s)";
            var (python, script) = BenchCommand.Peer(r, common, VaeBenchmark.PyTorchScript);
            string[] family = [VaeRun.family.Name, "--epochs", settings.Epochs.ToString(), "--limit", settings.TrainLimit.ToString(), "--seed", settings.Seed.ToString(), .. BenchCommand.DataArgs(r, common)];
            return BenchCommand.Compare(title, common.Rounds_(r), common.Ranks_(r), (intraOpThreads, blasThreads), (peerIntraOp, peerBlas), r.GetValue(common.Sgemm), VaeBenchmark.GemmFlopsPerImage(config), images, 1.5,
                () => VaeBenchmark.Run(config, settings, null, r.GetValue(common.Data)),
                family,
                python is null ? null : (ranks, epochDone) => VaeBenchmark.RunPyTorch(python, script!, settings, ranks > 1 ? 1 : peerIntraOp, ranks > 1 ? 1 : peerBlas, r.GetValue(common.Data), epochDone, ranks),
                $"{python} {Path.GetFileName(script)}");
        });
        return command;
    }
}
