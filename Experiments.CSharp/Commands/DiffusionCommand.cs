using System.CommandLine;
using Research.Core.Models.Diffusion;
using static Research.Experiments.CommandLine;

namespace Research.Experiments.Commands;

/// `diffusion train`, `sample`, `eval` and `sweep`: denoising diffusion (Ho et al. 2020) with DDIM
/// sampling (Song et al. 2021).
public static class DiffusionCommand
{
    public static Command Build() => TrainingOptions<DiffusionConfig>.Group(DiffusionRun.family,
        "Denoising diffusion on MNIST (DDPM, Ho et al. 2020; DDIM sampling, Song et al. 2021): a variational bound in bits per dimension.",
        "Train a diffusion model on MNIST; writes config.json, metrics.csv (the simple loss), checkpoints (with the averaged weights) and DDIM samples.",
        Sample(), Eval(), Sweep());

    static Command Sample()
    {
        var options = new SampleOptions(new CheckpointOptions(DiffusionRun.family.Name, "seed of the draws"), "-<steps<steps>-eta<eta> | ancestral>");
        var steps = Opt("--steps", "DDIM sampling steps, 1 to T", 50);
        var ancestral = Opt("--ancestral", "ancestral sampling over all T steps instead of DDIM (T network passes per image)", false);
        var eta = Opt("--eta", "DDIM's noise scale (0 = deterministic; 1 with all T steps = ancestral)", 0.0);
        var command = options.Command("Draw images from a trained diffusion model: an IDX file of all of them and a PNG grid of the first 64.",
            steps, ancestral, eta);
        command.SetAction(r =>
        {
            var e = r.GetValue(eta).ToString(System.Globalization.CultureInfo.InvariantCulture);
            var sampler = r.GetValue(ancestral) ? "ancestral" : $"steps{r.GetValue(steps)}-eta{e}";
            var run = options.Checkpoint;
            return options.Write(r, $"-{sampler}", (folder, prefix) =>
                DiffusionRun.writeSamples(folder, r.GetValue(run.Checkpoint)!, r.GetValue(options.N), r.GetValue(steps), r.GetValue(ancestral), r.GetValue(eta),
                    r.GetValue(run.Seed), r.GetValue(run.Threads), prefix));
        });
        return command;
    }

    static Command Eval()
    {
        var run = new CheckpointOptions(DiffusionRun.family.Name, "seed of the steps and the noise");
        var limit = Opt("--limit", "evaluate the first N test images only (0 = all 10000)", 0);
        var allSteps = Opt("--all-steps", "sum the bound over all T steps (T network passes per image) instead of one random step per image", false);
        var data = DataOpt();
        var command = run.Command("eval", "The variational bound of a trained diffusion model on the test images, in bits per dimension; writes eval/<checkpoint>-<settings>.json.",
            limit, allSteps, data);
        command.SetAction(r =>
        {
            var (evaluation, path) = DiffusionRun.evaluateRun(run.Folder(r), r.GetValue(run.Checkpoint)!, r.GetValue(limit),
                r.GetValue(allSteps), r.GetValue(run.Seed), r.GetValue(run.Threads), r.GetValue(data)!).ToValueTuple();
            Console.WriteLine($"images:  {evaluation.Images}");
            Console.WriteLine($"bound:   {evaluation.Estimate:F4} ± {evaluation.StdErr:F4} bits per dimension ({(r.GetValue(allSteps) ? "every step" : "one random step per image")}; ± the standard error over the images)");
            Console.WriteLine($"written: {path}");
            return 0;
        });
        return command;
    }

    static Command Sweep()
    {
        var run = new CheckpointOptions(DiffusionRun.family.Name, "seed of the draws");
        var n = Opt("--n", "samples per sampler (FID against the 10,000 test images)", 1000);
        var steps = Opt("--steps", "DDIM step counts, comma-separated", "10,20,50,100");
        var ancestral = Opt("--ancestral", "also ancestral sampling over all T steps, T network passes per image (default: on; --ancestral false leaves it out)", true);
        var data = DataOpt();
        var command = run.Command("sweep", "FID against the number of sampling steps (DDIM and ancestral), for the run's report; writes fid-by-steps.json.",
            n, steps, ancestral, data);
        command.SetAction(r =>
        {
            DiffusionFigures.sweep(run.Folder(r), r.GetValue(run.Checkpoint)!, r.GetValue(n),
                Microsoft.FSharp.Collections.ListModule.OfArray(Ints(r.GetValue(steps)!, "--steps")), r.GetValue(ancestral), r.GetValue(run.Seed),
                r.GetValue(run.Threads), r.GetValue(data)!, line => Console.WriteLine(line));
            Console.WriteLine($"written: {DiffusionFigures.sweepPath(run.Folder(r))}");
            return 0;
        });
        return command;
    }

    /// `bench diffusion`: the default U-Net's training epoch.
    public static Command Bench() => BenchCommand.Family(DiffusionBenchmark.benchmark,
        "Train the diffusion model's U-Net (batch 128, Adam 1e-3, the simple loss) here and in PyTorch; compare seconds per step.");
}
