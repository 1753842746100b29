using System.CommandLine;
using Research.Core.Benchmarks;
using Research.Core.Models.Gan;
using static Research.Experiments.CommandLine;

namespace Research.Experiments.Commands;

/// `gan train` and `gan sample`: options in, a GanConfig and RunSettings out, the F# family does the rest.
public static class GanCommand
{
    public static Command Build() => TrainingOptions<GanConfig>.Group(GanRun.family,
        "Generative adversarial networks on MNIST (Goodfellow et al. 2014; DCGAN, Radford et al. 2016).",
        "Train a GAN; writes config.json, metrics.csv (D and G losses, D(x), D(G(z))), checkpoints of both networks and sample grids.",
        Sample());

    static Command Sample()
    {
        var options = new SampleOptions(new CheckpointOptions(GanRun.family.Name, "seed of the noise", "last (a GAN keeps no best)", "last"), "");
        var command = options.Command("Generate images with a trained GAN: an IDX file of all of them (uint8, as MNIST) and a PNG grid of the first 64.");
        command.SetAction(r =>
        {
            var run = options.Checkpoint;
            return options.Write(r, "", (folder, prefix) =>
                GanRun.writeSamples(folder, r.GetValue(run.Checkpoint)!, r.GetValue(options.N), r.GetValue(run.Seed), r.GetValue(run.Threads), prefix));
        });
        return command;
    }

    /// `bench gan`: the MLP GAN (its GEMM rate) and the DCGAN.
    public static Command Bench()
    {
        var common = new BenchCommand.Common(GanRun.family.Name, 1, 20000, "train on N images per epoch (0 = all 60000)",
            "threads, as `gan train --threads` uses them (both sides): OpenBLAS's for the MLP, libtorch's for the DCGAN");
        var arch = Opt("--arch", "mlp (seed 004's MLP GAN) | dcgan (ngf = ndf = 32) | both", "both");
        var command = new Command(GanRun.family.Name, "Train the MLP GAN and the DCGAN (batch 128, Adam 2e-4, betas 0.5, 0.999) here and in PyTorch; compare seconds per epoch.")
        {
            arch,
        };
        common.AddTo(command);
        command.SetAction(r =>
        {
            var settings = GanBenchmark.Settings(r.GetValue(common.Epochs), r.GetValue(common.Limit), r.GetValue(common.Threads), r.GetValue(common.Seed));
            var architectures = r.GetValue(arch) == "both" ? new[] { "mlp", "dcgan" } : new[] { r.GetValue(arch)! };
            if (common.Worker(r) is { } worker)
            {
                var config = GanBenchmark.Config(architectures.Single());
                BenchCommand.UseThreads(GanBenchmark.Threads(config, settings.Threads).ToValueTuple());
                return BenchCommand.Common.PrintRank(worker.Value, GanBenchmark.Run(config, settings, worker, r.GetValue(common.Data)));
            }
            var (python, script) = BenchCommand.Peer(r, common, GanBenchmark.PyTorchScript);
            var images = settings.TrainLimit > 0 ? Math.Min(settings.TrainLimit, 60000) : 60000;
            foreach (var name in architectures)
            {
                var config = GanBenchmark.Config(name);
                var mlp = config.Architecture.IsMlpGan;
                var ours = GanBenchmark.Threads(config, settings.Threads).ToValueTuple();
                var (peerIntraOp, peerBlas) = PyTorchPeer.Threads(mlp, settings.Threads).ToValueTuple();
                var title = (mlp ? $"MLP GAN G {config.Latent}-{string.Join("-", config.GeneratorHidden)}-784, D 784-{string.Join("-", config.DiscriminatorHidden)}-1"
                                 : $"DCGAN ngf {config.GeneratorHidden.Head}, ndf {config.DiscriminatorHidden.Head}, latent {config.Latent}") +
                            $", batch {settings.BatchSize}, {settings.Epochs} epoch(s) of {images} training images per side and round";
                string[] family = [GanRun.family.Name, "--arch", name, "--epochs", settings.Epochs.ToString(), "--limit", settings.TrainLimit.ToString(), "--seed", settings.Seed.ToString(), .. BenchCommand.DataArgs(r, common)];
                BenchCommand.Compare(title, common.Rounds_(r), common.Ranks_(r), ours, (peerIntraOp, peerBlas), r.GetValue(common.Sgemm), mlp ? GanBenchmark.GemmFlopsPerImage(config) : null, images, 1.5,
                    () => GanBenchmark.Run(config, settings, null, r.GetValue(common.Data)),
                    family,
                    python is null ? null : (ranks, epochDone) => GanBenchmark.RunPyTorch(python, script!, config, settings, ranks > 1 ? 1 : peerIntraOp, ranks > 1 ? 1 : peerBlas, r.GetValue(common.Data), epochDone, ranks),
                    $"{python} {Path.GetFileName(script)} --arch {name}");
                Console.WriteLine();
            }
            return 0;
        });
        return command;
    }
}
