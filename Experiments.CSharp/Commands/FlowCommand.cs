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

    static Command Train()
    {
        var d = FlowConfigModule.multiScale;
        var arch = Opt("--arch", "single (checkerboard couplings on 28x28) | multiscale (squeeze, channel couplings, split)", "multiscale");
        var couplings = Opt<string?>("--couplings", "coupling layers per scale (single: one count, default 8; multiscale: three, default 4,2,4)", null);
        var hidden = Opt<string?>("--hidden", "hidden channels of the couplings' nets per scale (single default 64; multiscale default 32,48,64)", null);
        var dequantization = Opt("--dequantization", "uniform ((x + u) / 256, u ~ U[0,1)) | variational (u ~ q(u|x), a flow conditioned on the image, Flow++)", "uniform");
        var lr = Opt("--lr", "Adam learning rate", d.LearningRate);
        var warmup = Opt("--warmup", "steps of linear learning-rate warm-up", d.Warmup);
        var decay = Opt("--decay", "learning rate multiplied by this after each epoch", d.Decay);
        var clip = Opt("--clip", "clip gradients to this global L2 norm (0 = no clipping)", d.Clip);
        var training = new TrainingOptions("flow", FlowConfigModule.runDefaults);
        var command = new Command("train", "Train a flow on MNIST; writes config.json, metrics.csv (train and validation bits per dimension), checkpoints and samples.")
        {
            arch, couplings, hidden, dequantization, lr, warmup, decay, clip,
        };
        training.AddTo(command);
        command.SetAction(r =>
        {
            var defaults = FlowConfigModule.parseArchitecture(r.GetValue(arch)!).IsSingleScale ? FlowConfigModule.singleScale : FlowConfigModule.multiScale;
            int[] Sizes(Option<string?> option, Microsoft.FSharp.Collections.FSharpList<int> fallback) =>
                r.GetValue(option) is { } text ? Ints(text, option.Name) : fallback.ToArray();
            var config = FlowConfig.Create(r.GetValue(arch)!, Sizes(couplings, defaults.Couplings), Sizes(hidden, defaults.Hidden),
                r.GetValue(dequantization)!, r.GetValue(lr), r.GetValue(warmup), r.GetValue(decay), r.GetValue(clip));
            training.Train(r, FlowRun.family, config);
            return 0;
        });
        return command;
    }

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
}
