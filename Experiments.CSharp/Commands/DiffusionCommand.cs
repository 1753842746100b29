using System.CommandLine;
using Research.Core.Models.Diffusion;
using Research.Core.Training;
using static Research.Experiments.CommandLine;

namespace Research.Experiments.Commands;

/// `diffusion train`, `sample`, `eval` and `sweep`: denoising diffusion (Ho et al. 2020) with DDIM
/// sampling (Song et al. 2021).
public static class DiffusionCommand
{
    public static Command Build() => new("diffusion", "Denoising diffusion on MNIST (DDPM, Ho et al. 2020; DDIM sampling, Song et al. 2021): a variational bound in bits per dimension.")
    {
        Train(),
        Sample(),
        Eval(),
        Sweep(),
    };

    static Command Train() => TrainingOptions<DiffusionConfig>.Command(DiffusionRun.family,
        "Train a diffusion model on MNIST; writes config.json, metrics.csv (the simple loss), checkpoints (with the averaged weights) and DDIM samples.");

    static Command Sample()
    {
        var run = new Argument<string>("run") { Description = "run folder written by `diffusion train`" };
        var checkpoint = Opt("--checkpoint", "best | last", "best");
        var n = Opt("--n", "images to generate", 10000);
        var steps = Opt("--steps", "DDIM sampling steps, 1 to T", 50);
        var ancestral = Opt("--ancestral", "ancestral sampling over all T steps instead of DDIM (T network passes per image)", false);
        var eta = Opt("--eta", "DDIM's noise scale (0 = deterministic; 1 with all T steps = ancestral)", 0.0);
        var seed = Opt("--seed", "seed of the draws", 1);
        var threads = Opt("--threads", "threads for libtorch's pool", RunSettingsModule.defaults.Threads);
        var output = Opt<string?>("--out", "path prefix of <out>-idx3-ubyte and <out>.png (default: <run>/samples/<checkpoint>-n<n>-<steps<steps>-eta<eta> | ancestral>-seed<seed>)", null);
        var command = new Command("sample", "Draw images from a trained diffusion model: an IDX file of all of them and a PNG grid of the first 64.")
        {
            run, checkpoint, n, steps, ancestral, eta, seed, threads, output,
        };
        command.SetAction(r =>
        {
            var folder = Path.GetFullPath(r.GetValue(run)!);
            var e = r.GetValue(eta).ToString(System.Globalization.CultureInfo.InvariantCulture);
            var sampler = r.GetValue(ancestral) ? "ancestral" : $"steps{r.GetValue(steps)}-eta{e}";
            var prefix = r.GetValue(output) ?? Path.Combine(folder, "samples", $"{r.GetValue(checkpoint)}-n{r.GetValue(n)}-{sampler}-seed{r.GetValue(seed)}");
            var (idx, png) = DiffusionRun.writeSamples(folder, r.GetValue(checkpoint)!, r.GetValue(n), r.GetValue(steps), r.GetValue(ancestral), r.GetValue(eta),
                r.GetValue(seed), r.GetValue(threads), Path.GetFullPath(prefix)).ToValueTuple();
            Console.WriteLine($"images: {idx}");
            Console.WriteLine($"grid:   {png}");
            return 0;
        });
        return command;
    }

    static Command Eval()
    {
        var run = new Argument<string>("run") { Description = "run folder written by `diffusion train`" };
        var checkpoint = Opt("--checkpoint", "best | last", "best");
        var limit = Opt("--limit", "evaluate the first N test images only (0 = all 10000)", 0);
        var allSteps = Opt("--all-steps", "sum the bound over all T steps (T network passes per image) instead of one random step per image", false);
        var seed = Opt("--seed", "seed of the steps and the noise", 1);
        var threads = Opt("--threads", "threads for libtorch's pool", RunSettingsModule.defaults.Threads);
        var data = Opt<string?>("--data", "data folder holding mnist/", null);
        var command = new Command("eval", "The variational bound of a trained diffusion model on the test images, in bits per dimension; writes eval/<checkpoint>-<settings>.json.")
        {
            run, checkpoint, limit, allSteps, seed, threads, data,
        };
        command.SetAction(r =>
        {
            var (evaluation, path) = DiffusionRun.evaluateRun(Path.GetFullPath(r.GetValue(run)!), r.GetValue(checkpoint)!, r.GetValue(limit),
                r.GetValue(allSteps), r.GetValue(seed), r.GetValue(threads), r.GetValue(data)!).ToValueTuple();
            Console.WriteLine($"images:  {evaluation.Images}");
            Console.WriteLine($"bound:   {evaluation.Estimate:F4} ± {evaluation.StdErr:F4} bits per dimension ({(r.GetValue(allSteps) ? "every step" : "one random step per image")}; ± the standard error over the images)");
            Console.WriteLine($"written: {path}");
            return 0;
        });
        return command;
    }

    static Command Sweep()
    {
        var run = new Argument<string>("run") { Description = "run folder written by `diffusion train`" };
        var checkpoint = Opt("--checkpoint", "best | last", "best");
        var n = Opt("--n", "samples per sampler (FID against the 10,000 test images)", 1000);
        var steps = Opt("--steps", "DDIM step counts, comma-separated", "10,20,50,100");
        var ancestral = Opt("--ancestral", "also ancestral sampling over all T steps, T network passes per image (default: on; --ancestral false leaves it out)", true);
        var seed = Opt("--seed", "seed of the draws", 1);
        var threads = Opt("--threads", "threads for libtorch's pool", RunSettingsModule.defaults.Threads);
        var data = Opt<string?>("--data", "data folder holding mnist/", null);
        var command = new Command("sweep", "FID against the number of sampling steps (DDIM and ancestral), for the run's report; writes fid-by-steps.json.")
        {
            run, checkpoint, n, steps, ancestral, seed, threads, data,
        };
        command.SetAction(r =>
        {
            var result = DiffusionFigures.sweep(Path.GetFullPath(r.GetValue(run)!), r.GetValue(checkpoint)!, r.GetValue(n),
                Microsoft.FSharp.Collections.ListModule.OfArray(Ints(r.GetValue(steps)!, "--steps")), r.GetValue(ancestral), r.GetValue(seed),
                r.GetValue(threads), r.GetValue(data)!, line => Console.WriteLine(line));
            Console.WriteLine($"written: {DiffusionFigures.sweepPath(Path.GetFullPath(r.GetValue(run)!))}");
            return 0;
        });
        return command;
    }

    /// `bench diffusion`: the default U-Net's training epoch.
    public static Command Bench() => BenchCommand.Family(DiffusionBenchmark.benchmark,
        "Train the diffusion model's U-Net (batch 128, Adam 1e-3, the simple loss) here and in PyTorch; compare seconds per step.");
}
