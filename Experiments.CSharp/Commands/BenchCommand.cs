using System.CommandLine;
using Research.Core;
using Research.Core.Models.Vae;

namespace Research.Experiments.Commands;

/// <summary>`research bench vae`: pytorch/examples' VAE trained here (the training epoch of `vae train`)
/// and then in PyTorch (bench/vae_pytorch.py, the same libtorch) with the same thread settings;
/// prints seconds per epoch, the speed ratio, and the share of the machine's sgemm rate each reaches.</summary>
public static class BenchCommand
{
    public static Command Build() => new("bench", "Benchmarks against PyTorch.")
    {
        Vae(),
    };

    static Option<T> Opt<T>(string name, string description, T defaultValue) =>
        new(name) { Description = description, DefaultValueFactory = _ => defaultValue };

    static Command Vae()
    {
        var epochs = Opt("--epochs", "epochs to time on each side", 3);
        var limit = Opt("--limit", "train on N images per epoch only (0 = all 60000); e.g. 5000 for a smoke run", 0);
        var threads = Opt("--threads", "threads, as `vae train --threads` uses them", VaeConfig.Default.Threads);
        var intraOp = Opt("--intra-op-threads", "override: libtorch intra-op (OpenMP) threads on both sides (0 = from --threads)", 0);
        var blas = Opt("--blas-threads", "override: OpenBLAS threads on both sides (0 = from --threads)", 0);
        var seed = Opt("--seed", "random seed of each side", 1);
        var sgemm = Opt("--sgemm-size", "n of the n x n x n float32 product that measures the machine's sgemm rate", 1024);
        var python = Opt("--python", "Python interpreter with torch (Debian's python3-torch uses the same libtorch)", "/usr/bin/python3");
        var script = Opt<string?>("--script", "the PyTorch peer (default: bench/vae_pytorch.py of the repository)", null);
        var skipPyTorch = Opt("--skip-pytorch", "time only this side", false);
        var data = Opt<string?>("--data", "data folder holding mnist/ (default: RESEARCH_DATA or the repository's data/)", null);
        var command = new Command("vae", "Train pytorch/examples' VAE (784-400-20-400-784, Adam 1e-3, batch 128) here and in PyTorch; compare seconds per epoch.")
        {
            epochs, limit, threads, intraOp, blas, seed, sgemm, python, script, skipPyTorch, data,
        };
        command.SetAction(r =>
        {
            var config = VaeBenchmark.Config(r.GetValue(epochs), r.GetValue(limit), r.GetValue(threads), r.GetValue(seed));
            var (defaultIntraOp, defaultBlas) = VaeRun.threadSettings(config.Threads).ToValueTuple();
            var intraOpThreads = r.GetValue(intraOp) > 0 ? r.GetValue(intraOp) : defaultIntraOp;
            var blasThreads = r.GetValue(blas) > 0 ? r.GetValue(blas) : defaultBlas;
            return Run(config, intraOpThreads, blasThreads, r.GetValue(sgemm), r.GetValue(skipPyTorch) ? null : r.GetValue(python)!,
                r.GetValue(script) ?? (r.GetValue(skipPyTorch) ? null : VaeBenchmark.PyTorchScript()), r.GetValue(data));
        });
        return command;
    }

    static int Run(VaeConfig config, int intraOpThreads, int blasThreads, int sgemmSize, string? python, string? script, string? data)
    {
        torch.set_num_threads(intraOpThreads);
        torch.set_openblas_threads(blasThreads);
        var flopsPerImage = VaeBenchmark.GemmFlopsPerImage(config);
        Console.WriteLine($"VAE 784-{string.Join("-", config.Hidden)}-{config.Latent}-{string.Join("-", config.Hidden.Reverse())}-784, " +
                          $"batch {config.BatchSize}, Adam {config.LearningRate}, {config.Epochs} epochs of " +
                          (config.TrainLimit > 0 ? $"{config.TrainLimit} images" : "all 60000 training images"));
        Console.WriteLine($"threads (both sides): libtorch intra-op {intraOpThreads}, OpenBLAS {blasThreads}; {LoadAverage()}");
        var rate = VaeBenchmark.SgemmRate(sgemmSize, 5);
        Console.WriteLine($"sgemm {sgemmSize}x{sgemmSize}x{sgemmSize} through the core: {rate:F1} GFLOP/s (best of 5)");
        Console.WriteLine($"GEMM work: {flopsPerImage:N0} FLOP per image per step " +
                          $"(forward, weight and input gradients; {flopsPerImage * 60000 / 1e9:F1} GFLOP per 60000-image epoch)");

        Console.WriteLine("research (.NET, libtorch):");
        var ours = VaeBenchmark.Run(config, data);
        foreach (var e in ours) PrintEpoch(e, flopsPerImage, rate);
        if (python is null || script is null)
        {
            Summary("research", ours, flopsPerImage, rate);
            return 0;
        }

        Console.WriteLine($"PyTorch ({python} {Path.GetFileName(script)}):");
        var theirs = VaeBenchmark.RunPyTorch(python, script, config, intraOpThreads, blasThreads, data,
            e => PrintEpoch(e, flopsPerImage, rate));
        Console.WriteLine($"  torch {theirs.Version}, its threads: intra-op {theirs.IntraOpThreads}, OpenBLAS {theirs.BlasThreads}; {LoadAverage()}");

        var oursBest = Summary("research", ours, flopsPerImage, rate);
        var theirsBest = Summary("PyTorch", theirs.Epochs, flopsPerImage, rate);
        Console.WriteLine($"speed-up (PyTorch s/epoch / research s/epoch): {theirsBest / oursBest:F2}x best epoch, " +
                          $"{theirs.Epochs.Average(e => e.Seconds) / ours.Average(e => e.Seconds):F2}x mean");
        return 0;
    }

    static void PrintEpoch(EpochTiming e, long flopsPerImage, double rate) =>
        Console.WriteLine($"  epoch {e.Epoch}: {e.Seconds,7:F3} s  {e.Images} images  loss {e.Loss,8:F3}  " +
                          $"{Gflops(e, flopsPerImage),6:F1} GEMM GFLOP/s = {Gflops(e, flopsPerImage) / rate,4:P0} of sgemm");

    static double Gflops(EpochTiming e, long flopsPerImage) => e.Images * (double)flopsPerImage / e.Seconds / 1e9;

    /// Prints the best and mean epoch of one side; returns the best epoch's seconds.
    static double Summary(string side, EpochTiming[] epochs, long flopsPerImage, double rate)
    {
        var best = epochs.MinBy(e => e.Seconds)!;
        Console.WriteLine($"{side,-9} best {best.Seconds:F3} s/epoch, mean {epochs.Average(e => e.Seconds):F3} s/epoch; " +
                          $"best {Gflops(best, flopsPerImage):F1} GEMM GFLOP/s = {Gflops(best, flopsPerImage) / rate:P0} of sgemm");
        return best.Seconds;
    }

    /// The machine's 1-minute load: timings on a busy machine are not comparable with a quiet one's.
    static string LoadAverage()
    {
        try
        {
            var load = File.ReadAllText("/proc/loadavg").Split(' ')[0];
            return $"load average {load} on {Environment.ProcessorCount} cores";
        }
        catch (IOException)
        {
            return "load average unknown";
        }
    }
}
