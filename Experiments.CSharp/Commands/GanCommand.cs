using System.CommandLine;
using Research.Core.Models.Gan;
using Research.Core.Training;
using static Research.Experiments.CommandLine;

namespace Research.Experiments.Commands;

/// `gan train` and `gan sample`: options in, a GanConfig and RunSettings out, the F# family does the rest.
public static class GanCommand
{
    public static Command Build() => new("gan", "Generative adversarial networks on MNIST (Goodfellow et al. 2014; DCGAN, Radford et al. 2016).")
    {
        Train(),
        Sample(),
    };

    static Command Train() => TrainingOptions<GanConfig>.Command(GanRun.family,
        "Train a GAN; writes config.json, metrics.csv (D and G losses, D(x), D(G(z))), checkpoints of both networks and sample grids.");

    static Command Sample()
    {
        var run = new Argument<string>("run") { Description = "run folder written by `gan train`" };
        var checkpoint = Opt("--checkpoint", "last (a GAN keeps no best)", "last");
        var n = Opt("--n", "images to generate", 10000);
        var seed = Opt("--seed", "seed of the noise", 1);
        var threads = Opt("--threads", "threads, as `gan train --threads` uses them", RunSettingsModule.defaults.Threads);
        var output = Opt<string?>("--out", "path prefix of <out>-idx3-ubyte and <out>.png (default: <run>/samples/<checkpoint>-n<n>-seed<seed>)", null);
        var command = new Command("sample", "Generate images with a trained GAN: an IDX file of all of them (uint8, as MNIST) and a PNG grid of the first 64.")
        {
            run, checkpoint, n, seed, threads, output,
        };
        command.SetAction(r =>
        {
            var folder = Path.GetFullPath(r.GetValue(run)!);
            var prefix = r.GetValue(output) ?? Path.Combine(folder, "samples", $"{r.GetValue(checkpoint)}-n{r.GetValue(n)}-seed{r.GetValue(seed)}");
            var (idx, png) = GanRun.writeSamples(folder, r.GetValue(checkpoint)!, r.GetValue(n), r.GetValue(seed), r.GetValue(threads), Path.GetFullPath(prefix)).ToValueTuple();
            Console.WriteLine($"images: {idx}");
            Console.WriteLine($"grid:   {png}");
            return 0;
        });
        return command;
    }
}
