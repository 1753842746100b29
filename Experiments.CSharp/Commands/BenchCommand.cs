using System.CommandLine;
using Microsoft.FSharp.Core;
using static Research.Experiments.CommandLine;
using Research.Core;
using Research.Core.Benchmarks;
using Research.Core.Models.Flow;
using Research.Core.Models.Gan;
using Research.Core.Models.Vae;
using Research.Core.Training;

namespace Research.Experiments.Commands;

/// <summary>`research bench vae`: pytorch/examples' VAE trained here (the training epoch of `vae train`)
/// and then in PyTorch (bench/vae_pytorch.py, the same libtorch) with the same thread settings;
/// prints seconds per epoch, the speed ratio, and the share of the machine's sgemm rate each reaches.</summary>
public static class BenchCommand
{
    public static Command Build() => new("bench", "Benchmarks against PyTorch.")
    {
        Vae(),
        Gan(),
        Flow(),
    };

    static Command Vae()
    {
        var epochs = Opt("--epochs", "epochs to time on each side", 3);
        var limit = Opt("--limit", "train on N images per epoch only (0 = all 60000); e.g. 5000 for a smoke run", 0);
        // The default, as `vae train`'s: one OpenMP and two OpenBLAS threads, the fastest setting here
        // and as fast as any for PyTorch on the idle 2-core machine (--threads 1 is fastest for both
        // while other jobs load the cores).
        var threads = Opt("--threads", "threads, as `vae train --threads` uses them (both sides)", RunSettingsModule.defaults.Threads);
        var intraOp = Opt("--intra-op-threads", "override: libtorch intra-op (OpenMP) threads on both sides (0 = from --threads)", 0);
        var blas = Opt("--blas-threads", "override: OpenBLAS threads on both sides (0 = from --threads)", 0);
        var seed = Opt("--seed", "random seed of each side", 1);
        var rounds = Opt("--rounds", "times each side runs, taking turns (a busy machine's load then hits both alike)", 1);
        var sgemm = Opt("--sgemm-size", "n of the n x n x n float32 product that measures the machine's sgemm rate", 1024);
        var python = Opt("--python", "Python interpreter with torch (Debian's python3-torch uses the same libtorch)", "/usr/bin/python3");
        var script = Opt<string?>("--script", "the PyTorch peer (default: bench/vae_pytorch.py of the repository)", null);
        var skipPyTorch = Opt("--skip-pytorch", "time only this side", false);
        var data = Opt<string?>("--data", "data folder holding mnist/ (default: RESEARCH_DATA or the repository's data/)", null);
        var command = new Command("vae", "Train pytorch/examples' VAE (784-400-20-400-784, Adam 1e-3, batch 128) here and in PyTorch; compare seconds per epoch.")
        {
            epochs, limit, threads, intraOp, blas, seed, rounds, sgemm, python, script, skipPyTorch, data,
        };
        command.SetAction(r =>
        {
            var config = VaeBenchmark.Config;
            var settings = VaeBenchmark.Settings(r.GetValue(epochs), r.GetValue(limit), r.GetValue(threads), r.GetValue(seed));
            var (defaultIntraOp, defaultBlas) = VaeRun.threadSettings(config.Architecture, settings.Threads).ToValueTuple();
            var intraOpThreads = r.GetValue(intraOp) > 0 ? r.GetValue(intraOp) : defaultIntraOp;
            var blasThreads = r.GetValue(blas) > 0 ? r.GetValue(blas) : defaultBlas;
            if (r.GetValue(rounds) < 1) throw new ArgumentException($"--rounds must be at least 1 (got {r.GetValue(rounds)})");
            return Run(config, settings, r.GetValue(rounds), intraOpThreads, blasThreads, r.GetValue(sgemm), r.GetValue(skipPyTorch) ? null : r.GetValue(python)!,
                r.GetValue(script) ?? (r.GetValue(skipPyTorch) ? null : VaeBenchmark.PyTorchScript()), r.GetValue(data));
        });
        return command;
    }

    static Command Gan()
    {
        var arch = Opt("--arch", "mlp (seed 004's MLP GAN) | dcgan (ngf = ndf = 32) | both", "both");
        var epochs = Opt("--epochs", "epochs to time on each side", 1);
        var limit = Opt("--limit", "train on N images per epoch (0 = all 60000)", 20000);
        // As `gan train`: OpenBLAS gets the threads for the MLP, libtorch's pool for the DCGAN.
        var threads = Opt("--threads", "threads, as `gan train --threads` uses them (both sides)", RunSettingsModule.defaults.Threads);
        var seed = Opt("--seed", "random seed of each side", 1);
        var rounds = Opt("--rounds", "times each side runs, taking turns", 1);
        var sgemm = Opt("--sgemm-size", "n of the n x n x n float32 product that measures the machine's sgemm rate", 1024);
        var python = Opt("--python", "Python interpreter with torch (Debian's python3-torch uses the same libtorch)", "/usr/bin/python3");
        var script = Opt<string?>("--script", "the PyTorch peer (default: bench/gan_pytorch.py of the repository)", null);
        var skipPyTorch = Opt("--skip-pytorch", "time only this side", false);
        var data = Opt<string?>("--data", "data folder holding mnist/ (default: RESEARCH_DATA or the repository's data/)", null);
        var command = new Command("gan", "Train the MLP GAN and the DCGAN (batch 128, Adam 2e-4, betas 0.5, 0.999) here and in PyTorch; compare seconds per epoch.")
        {
            arch, epochs, limit, threads, seed, rounds, sgemm, python, script, skipPyTorch, data,
        };
        command.SetAction(r =>
        {
            var settings = GanBenchmark.Settings(r.GetValue(epochs), r.GetValue(limit), r.GetValue(threads), r.GetValue(seed));
            if (r.GetValue(rounds) < 1) throw new ArgumentException($"--rounds must be at least 1 (got {r.GetValue(rounds)})");
            var architectures = r.GetValue(arch) == "both" ? new[] { "mlp", "dcgan" } : new[] { r.GetValue(arch)! };
            var py = r.GetValue(skipPyTorch) ? null : r.GetValue(python)!;
            var peer = r.GetValue(skipPyTorch) ? null : r.GetValue(script) ?? GanBenchmark.PyTorchScript();
            var images = settings.TrainLimit > 0 ? Math.Min(settings.TrainLimit, 60000) : 60000;
            foreach (var name in architectures)
            {
                var config = GanBenchmark.Config(name);
                var (intraOp, blas) = GanRun.threadSettings(config.Architecture, settings.Threads).ToValueTuple();
                var mlp = config.Architecture.IsMlpGan;
                var title = (mlp ? $"MLP GAN G {config.Latent}-{string.Join("-", config.GeneratorHidden)}-784, D 784-{string.Join("-", config.DiscriminatorHidden)}-1"
                                 : $"DCGAN ngf {config.GeneratorHidden.Head}, ndf {config.DiscriminatorHidden.Head}, latent {config.Latent}") +
                            $", batch {settings.BatchSize}, {settings.Epochs} epoch(s) of {images} training images per side and round";
                Compare(title, r.GetValue(rounds), intraOp, blas, r.GetValue(sgemm), mlp ? GanBenchmark.GemmFlopsPerImage(config) : null, images, 1.5,
                    () => GanBenchmark.Run(config, settings, r.GetValue(data)),
                    py is null || peer is null ? null : epochDone => GanBenchmark.RunPyTorch(py, peer, config, settings, intraOp, blas, r.GetValue(data), epochDone),
                    $"{py} {Path.GetFileName(peer)} --arch {name}");
                Console.WriteLine();
            }
            return 0;
        });
        return command;
    }

    static Command Flow()
    {
        var epochs = Opt("--epochs", "epochs to time on each side", 1);
        var limit = Opt("--limit", "train on N images per epoch (0 = all 60000); 2560 is 20 steps of 128", 2560);
        var threads = Opt("--threads", "libtorch threads on both sides (the convolutions run there)", RunSettingsModule.defaults.Threads);
        var seed = Opt("--seed", "random seed of each side", 1);
        var rounds = Opt("--rounds", "times each side runs, taking turns", 1);
        var sgemm = Opt("--sgemm-size", "n of the n x n x n float32 product that measures the machine's sgemm rate", 1024);
        var python = Opt("--python", "Python interpreter with torch (Debian's python3-torch uses the same libtorch)", "/usr/bin/python3");
        var script = Opt<string?>("--script", "the PyTorch peer (default: bench/flow_pytorch.py of the repository)", null);
        var skipPyTorch = Opt("--skip-pytorch", "time only this side", false);
        var data = Opt<string?>("--data", "data folder holding mnist/ (default: RESEARCH_DATA or the repository's data/)", null);
        var command = new Command("flow", "Train the multi-scale flow (batch 128, Adam 1e-3) here and in PyTorch; compare seconds per step.")
        {
            epochs, limit, threads, seed, rounds, sgemm, python, script, skipPyTorch, data,
        };
        command.SetAction(r =>
        {
            var settings = FlowBenchmark.Settings(r.GetValue(epochs), r.GetValue(limit), r.GetValue(threads), r.GetValue(seed));
            if (r.GetValue(rounds) < 1) throw new ArgumentException($"--rounds must be at least 1 (got {r.GetValue(rounds)})");
            var py = r.GetValue(skipPyTorch) ? null : r.GetValue(python)!;
            var peer = r.GetValue(skipPyTorch) ? null : r.GetValue(script) ?? FlowBenchmark.PyTorchScript();
            var images = settings.TrainLimit > 0 ? Math.Min(settings.TrainLimit, 60000) : 60000;
            var steps = (images + settings.BatchSize - 1) / settings.BatchSize;
            var title = $"multi-scale flow (couplings 4,2,4, hidden 32,48,64), batch {settings.BatchSize}, {settings.Epochs} epoch(s) of {images} images = {steps} steps per side and round";
            Compare(title, r.GetValue(rounds), settings.Threads, 1, r.GetValue(sgemm), null, images, 1.2,
                () => FlowBenchmark.Run(settings, r.GetValue(data)),
                py is null || peer is null ? null : epochDone => FlowBenchmark.RunPyTorch(py, peer, settings, settings.Threads, r.GetValue(data), epochDone),
                $"{py} {Path.GetFileName(peer)}");
            return 0;
        });
        return command;
    }

    static int Run(VaeConfig config, RunSettings settings, int rounds, int intraOpThreads, int blasThreads, int sgemmSize, string? python, string? script, string? data)
    {
        var images = settings.TrainLimit > 0 ? Math.Min(settings.TrainLimit, 60000) : 60000;
        var title = $"VAE 784-{string.Join("-", config.Hidden)}-{config.Latent}-{string.Join("-", config.Hidden.Reverse())}-784, " +
                    $"batch {settings.BatchSize}, Adam {config.LearningRate}, {settings.Epochs} epoch(s) of {images} training images " +
                    $"per side and round, {rounds} round(s)";
        return Compare(title, rounds, intraOpThreads, blasThreads, sgemmSize, VaeBenchmark.GemmFlopsPerImage(config), images, 1.5,
            () => VaeBenchmark.Run(config, settings, data),
            python is null || script is null ? null : epochDone => VaeBenchmark.RunPyTorch(python, script, settings, intraOpThreads, blasThreads, data, epochDone),
            $"{python} {Path.GetFileName(script)}");
    }

    /// Times this workspace's side and the PyTorch side (when there is one) in turns, `rounds` times,
    /// and prints seconds per epoch, their ratio and, where the GEMM work is known, the share of the
    /// machine's sgemm rate each side reaches.
    static int Compare(string title, int rounds, int intraOpThreads, int blasThreads, int sgemmSize, long? flopsPerImage, int images, double target,
                       Func<EpochTiming[]> ours, Func<Action<EpochTiming>, PyTorchRun>? theirs, string theirName)
    {
        torch.set_num_threads(intraOpThreads);
        torch.set_openblas_threads(blasThreads);
        Console.WriteLine(title);
        Console.WriteLine($"CPU: {OneDnn.cpuModel()}; oneDNN dispatches to {OneDnn.isa()}");
        Console.WriteLine($"threads (both sides): libtorch intra-op {intraOpThreads}, OpenBLAS {blasThreads}; {LoadAverage()}");
        if (OneMinuteLoad() is double load && load >= 1.0)
            Console.WriteLine("note: other jobs are running, so the timings are contended; while they run, --threads 1 is the fastest setting of both sides");
        var rate = PyTorchPeer.SgemmRate(sgemmSize, 5);
        Console.WriteLine($"sgemm {sgemmSize}x{sgemmSize}x{sgemmSize} through the core: {rate:F1} GFLOP/s (best of 5)");
        if (flopsPerImage is long f)
            Console.WriteLine($"GEMM work per epoch: {f * images:N0} FLOP = {f:N0} per image " +
                              $"(forward, weight- and input-gradient products) x {images} images");

        // The sides take turns, so that a change in the machine's load over the run hits both.
        var oursAll = new List<EpochTiming>();
        var theirsAll = new List<EpochTiming>();
        var primitives = new HashSet<OneDnnPrimitive>();
        for (var round = 1; round <= rounds; round++)
        {
            Console.WriteLine($"research (.NET, libtorch), round {round}:");
            // oneDNN's log of what it ran (a trace costs nothing measurable): a reference kernel in
            // a hot path makes a step many times slower, so the report names any.
            var (epochs, ran) = OneDnn.trace(FuncConvert.FromFunc(ours)).ToValueTuple();
            primitives.UnionWith(ran);
            foreach (var e in epochs) PrintEpoch(e, flopsPerImage, rate);
            oursAll.AddRange(epochs);
            if (theirs is null) continue;
            Console.WriteLine($"PyTorch ({theirName}), round {round}:");
            var run = theirs(e => PrintEpoch(e, flopsPerImage, rate));
            Console.WriteLine($"  torch {run.Version}, its threads: intra-op {run.IntraOpThreads}, OpenBLAS {run.BlasThreads}; {LoadAverage()}");
            theirsAll.AddRange(run.Epochs);
        }

        var reference = primitives.Where(p => p.IsReference).ToList();
        Console.WriteLine(reference.Count == 0
            ? $"oneDNN ran {primitives.Count} kinds of primitive here, none a reference kernel"
            : $"warning: oneDNN ran reference kernels here (slow): {string.Join("; ", reference)}");
        var oursBest = Summary("research", oursAll, flopsPerImage, rate);
        if (theirsAll.Count == 0) return 0;
        var theirsBest = Summary("PyTorch", theirsAll, flopsPerImage, rate);
        Console.WriteLine($"speed-up (PyTorch s/epoch / research s/epoch): {theirsBest / oursBest:F2}x best epoch, " +
                          $"{theirsAll.Average(e => e.Seconds) / oursAll.Average(e => e.Seconds):F2}x mean (target {target}x)");
        return 0;
    }

    static void PrintEpoch(EpochTiming e, long? flopsPerImage, double rate) =>
        Console.WriteLine($"  epoch {e.Epoch}: {e.Seconds,7:F3} s  {e.Images} images  loss {e.Loss,8:F3}" +
                          (flopsPerImage is long f ? $"  {Gflops(e, f),6:F1} GEMM GFLOP/s = {Gflops(e, f) / rate,4:P0} of sgemm" : ""));

    static double Gflops(EpochTiming e, long flopsPerImage) => e.Images * (double)flopsPerImage / e.Seconds / 1e9;

    /// Prints the best and mean epoch of one side; returns the best epoch's seconds.
    static double Summary(string side, List<EpochTiming> epochs, long? flopsPerImage, double rate)
    {
        var best = epochs.MinBy(e => e.Seconds)!;
        Console.WriteLine($"{side,-9} best {best.Seconds:F3} s/epoch, mean {epochs.Average(e => e.Seconds):F3} s/epoch" +
                          (flopsPerImage is long f ? $"; best {Gflops(best, f):F1} GEMM GFLOP/s = {Gflops(best, f) / rate:P0} of sgemm" : ""));
        return best.Seconds;
    }

    /// The machine's 1-minute load average (Linux), or null where there is none to read.
    static double? OneMinuteLoad()
    {
        try
        {
            return double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    /// Timings on a busy machine do not compare with a quiet one's, so each side's report names the load.
    static string LoadAverage() =>
        OneMinuteLoad() is double load ? $"load average {load:F2} on {Environment.ProcessorCount} cores" : "load average unknown";
}
