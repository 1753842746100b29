using System.CommandLine;
using Research.Core.Models.Flow;
using static Research.Experiments.CommandLine;

namespace Research.Experiments.Commands;

/// `flow train`, `flow sample` and `flow eval`: RealNVP-style normalizing flows (Dinh et al. 2017).
public static class FlowCommand
{
    public static Command Build() => TrainingOptions<FlowConfig>.Group(FlowRun.family,
        "Normalizing flows on MNIST (RealNVP, Dinh et al. 2017): exact log-likelihood in bits per dimension.",
        "Train a flow on MNIST; writes config.json, metrics.csv (train and validation bits per dimension), checkpoints and samples.",
        Sample(), Eval());

    static Command Sample()
    {
        var options = new SampleOptions(new CheckpointOptions(FlowRun.family.Name, "seed of the draws"), "-t<temperature>");
        var temperature = Opt("--temperature", "scale of the prior's draws (1 = the model; lower gives smoother, likelier images)", 1.0);
        var command = options.Command("Draw images from a trained flow: an IDX file of all of them and a PNG grid of the first 64.", temperature);
        command.SetAction(r =>
        {
            var t = r.GetValue(temperature);
            var run = options.Checkpoint;
            return options.Write(r, $"-t{t.ToString(System.Globalization.CultureInfo.InvariantCulture)}", (folder, prefix) =>
                FlowRun.writeSamples(folder, r.GetValue(run.Checkpoint)!, r.GetValue(options.N), t, r.GetValue(run.Seed), r.GetValue(run.Threads), prefix));
        });
        return command;
    }

    static Command Eval()
    {
        var run = new CheckpointOptions(FlowRun.family.Name, "seed of the dequantization noise");
        var samples = Opt("--samples", "dequantization samples per image for the importance-weighted estimate", 8);
        var limit = Opt("--limit", "evaluate the first N test images only (0 = all 10000)", 0);
        var data = DataOpt();
        var command = run.Command("eval", "Test bits per dimension of a trained flow (one dequantization sample, and importance-weighted over several).",
            samples, limit, data);
        command.SetAction(r =>
        {
            var (evaluation, path) = FlowRun.evaluateRun(run.Folder(r), r.GetValue(run.Checkpoint)!, r.GetValue(samples),
                r.GetValue(limit), r.GetValue(run.Seed), r.GetValue(run.Threads), r.GetValue(data)!).ToValueTuple();
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
