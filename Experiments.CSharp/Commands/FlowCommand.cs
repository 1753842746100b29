using System.CommandLine;
using Research.Core;
using Research.Core.Data;
using Research.Core.Models.Flow;
using Research.Core.Training;
using static Research.Experiments.CommandLine;

namespace Research.Experiments.Commands;

/// `flow train`, `flow sample` and `flow eval`: RealNVP-style normalizing flows (Dinh et al. 2017).
public static class FlowCommand
{
    public static Command Build() => new("flow", "Normalizing flows on MNIST (RealNVP, Dinh et al. 2017): exact log-likelihood in bits per dimension.")
    {
        Train(),
        Sample(),
        Eval(),
    };

    static Command Train() => TrainingOptions<FlowConfig>.Command(FlowRun.family,
        "Train a flow on MNIST; writes config.json, metrics.csv (train and validation bits per dimension), checkpoints and samples.");

    static Command Sample()
    {
        var run = new Argument<string>("run") { Description = "run folder written by `flow train`" };
        var checkpoint = Opt("--checkpoint", "best | last", "best");
        var n = Opt("--n", "images to generate", 10000);
        var temperature = Opt("--temperature", "scale of the prior's draws (1 = the model; lower gives smoother, likelier images)", 1.0);
        var seed = Opt("--seed", "seed of the draws", 1);
        var threads = Opt("--threads", "threads for libtorch's pool", RunSettingsModule.defaults.Threads);
        var output = Opt<string?>("--out", "path prefix of <out>-idx3-ubyte and <out>.png (default: <run>/samples/<checkpoint>-n<n>-t<temperature>-seed<seed>)", null);
        var command = new Command("sample", "Draw images from a trained flow: an IDX file of all of them and a PNG grid of the first 64.")
        {
            run, checkpoint, n, temperature, seed, threads, output,
        };
        command.SetAction(r =>
        {
            var folder = Path.GetFullPath(r.GetValue(run)!);
            var t = r.GetValue(temperature).ToString(System.Globalization.CultureInfo.InvariantCulture);
            var prefix = r.GetValue(output) ?? Path.Combine(folder, "samples", $"{r.GetValue(checkpoint)}-n{r.GetValue(n)}-t{t}-seed{r.GetValue(seed)}");
            var (idx, png) = FlowRun.writeSamples(folder, r.GetValue(checkpoint)!, r.GetValue(n), r.GetValue(temperature), r.GetValue(seed),
                r.GetValue(threads), Path.GetFullPath(prefix)).ToValueTuple();
            Console.WriteLine($"images: {idx}");
            Console.WriteLine($"grid:   {png}");
            return 0;
        });
        return command;
    }

    static Command Eval()
    {
        var run = new Argument<string>("run") { Description = "run folder written by `flow train`" };
        var checkpoint = Opt("--checkpoint", "best | last", "best");
        var samples = Opt("--samples", "dequantization samples per image for the importance-weighted estimate", 8);
        var limit = Opt("--limit", "evaluate the first N test images only (0 = all 10000)", 0);
        var seed = Opt("--seed", "seed of the dequantization noise", 1);
        var threads = Opt("--threads", "threads for libtorch's pool", RunSettingsModule.defaults.Threads);
        var data = Opt<string?>("--data", "data folder holding mnist/", null);
        var command = new Command("eval", "Test bits per dimension of a trained flow (one dequantization sample, and importance-weighted over several).")
        {
            run, checkpoint, samples, limit, seed, threads, data,
        };
        command.SetAction(r =>
        {
            var (evaluation, path) = FlowRun.evaluateRun(Path.GetFullPath(r.GetValue(run)!), r.GetValue(checkpoint)!, r.GetValue(samples),
                r.GetValue(limit), r.GetValue(seed), r.GetValue(threads), r.GetValue(data)!).ToValueTuple();
            Console.WriteLine($"images:       {evaluation.Images}");
            Console.WriteLine($"test bpd:     {evaluation.Bound.Value.Item2:F4} (one dequantization sample)");
            Console.WriteLine($"test bpd:     {evaluation.Estimate:F4} ± {evaluation.StdErr:F4} (importance-weighted over {evaluation.Samples} samples)");
            Console.WriteLine($"written: {path}");
            return 0;
        });
        return command;
    }

    /// `bench flow`: the default multi-scale flow's training epoch.
    public static Command Bench() => BenchCommand.Family(FlowBenchmark.benchmark,
        "Train the multi-scale flow (batch 128, Adam 1e-3) here and in PyTorch; compare seconds per step.");
}
