using System.CommandLine;
using Research.Core.Models.Vae;
using Research.Core.Training;

namespace Research.Experiments.Commands;

/// `vae train` and `vae eval`: options in, a VaeConfig out, the F# experiment does the rest.
public static class VaeCommand
{
    public static Command Build() => new("vae", "Variational autoencoders on MNIST (Kingma & Welling 2014).")
    {
        Train(),
        Eval(),
    };

    static Option<T> Opt<T>(string name, string description, T defaultValue) =>
        new(name) { Description = description, DefaultValueFactory = _ => defaultValue };

    static int[] Ints(string text, string option) =>
        text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.TryParse(s, out var v) ? v : throw new ArgumentException($"{option}: '{s}' is not an integer"))
            .ToArray();

    static Command Train()
    {
        var d = VaeConfig.Default;
        var latent = Opt("--latent", "latent size (2 draws the manifold)", d.Latent);
        var hidden = Opt("--hidden", "hidden sizes, comma-separated (mlp: layer widths; conv: the two channel counts, e.g. 32,64)", string.Join(",", d.Hidden));
        var arch = Opt("--arch", "architecture: mlp | conv", "mlp");
        var likelihood = Opt("--likelihood", "p(x|z): bernoulli | gaussian (learned variance) | gaussian:SIGMA (fixed)", "bernoulli");
        var binarize = Opt("--binarize", "dynamic (fresh draw each use) | static (one seeded draw) | none (grey levels)", "dynamic");
        var epochs = Opt("--epochs", "epochs to train (with --resume: the total to reach)", d.Epochs);
        var batch = Opt("--batch-size", "minibatch size", d.BatchSize);
        var lr = Opt("--lr", "Adam learning rate", d.LearningRate);
        var samples = Opt("--importance-samples", "samples per image in the training objective: 1 = the ELBO, k > 1 = the IWAE bound L_k", d.ImportanceSamples);
        var seed = Opt("--seed", "random seed (initialisation, split, batches, noise)", d.Seed);
        var threads = Opt("--threads", "threads (mlp: for OpenBLAS, conv: for libtorch's pool; the other gets one)", d.Threads);
        var validation = Opt("--validation", "training images held out for validation", d.ValidationSize);
        var limit = Opt("--limit", "train on N training images only, a seeded random subset (0 = all)", d.TrainLimit);
        var imageEpochs = Opt("--image-epochs", "epochs at which sample and reconstruction grids are saved (0 = before training)", string.Join(",", d.ImageEpochs));
        var output = Opt("--out", "run folder", "runs/vae");
        var resume = Opt("--resume", "continue the run in --out from its last checkpoint", false);
        var data = Opt<string?>("--data", "data folder holding mnist/ (default: RESEARCH_DATA or the repository's data/)", null);
        var command = new Command("train", "Train a VAE; writes config.json, metrics.csv, checkpoints and image grids to the run folder.")
        {
            latent, hidden, arch, likelihood, binarize, epochs, batch, lr, samples, seed, threads, validation, limit, imageEpochs, output, resume, data,
        };
        command.SetAction(r =>
        {
            var config = VaeConfig.Create(r.GetValue(latent), Ints(r.GetValue(hidden)!, "--hidden"), r.GetValue(arch)!, r.GetValue(likelihood)!,
                r.GetValue(binarize)!, r.GetValue(epochs), r.GetValue(batch), r.GetValue(lr), r.GetValue(samples), r.GetValue(seed), r.GetValue(threads),
                r.GetValue(validation), r.GetValue(limit), Ints(r.GetValue(imageEpochs)!, "--image-epochs"));
            var folder = Path.GetFullPath(r.GetValue(output)!);
            Console.WriteLine($"run folder: {folder}");
            try
            {
                var metrics = ProgressDisplay.Run(report => VaeExperiment.Train(config, folder, r.GetValue(resume), r.GetValue(data), report));
                PrintMetrics(metrics);
                return 0;
            }
            catch (TrainingDivergedException e)
            {
                Console.Error.WriteLine($"error: {e.Message}; stopped. The last good checkpoint is kept in {Path.Combine(folder, "checkpoints")}.");
                return 3;
            }
        });
        return command;
    }

    static void PrintMetrics(MetricsLog metrics)
    {
        Console.WriteLine(string.Join("  ", metrics.Columns.Select(c => c.PadLeft(10))));
        foreach (var row in metrics.Rows)
            Console.WriteLine(string.Join("  ", row.Select(v => v.ToString("F2").PadLeft(10))));
    }

    static Command Eval()
    {
        var run = new Argument<string>("run") { Description = "run folder written by `vae train`" };
        var checkpoint = Opt("--checkpoint", "best | last", "best");
        var k = Opt("--k", "importance samples per image for log p(x)", 5000);
        var chunk = Opt("--chunk", "samples drawn at once (bounds memory)", 500);
        var images = Opt<string?>("--images", "an IDX file of 28x28 uint8 images to evaluate instead of the MNIST test set", null);
        var binarize = Opt<string?>("--binarize", "override the run's binarization for these images: dynamic | static | none (default: the run's; none with --images)", null);
        var limit = Opt("--limit", "evaluate the first N images only (0 = all)", 0);
        var seed = Opt("--seed", "random seed for the samples", 1);
        var threads = Opt("--threads", "threads, as `vae train --threads` uses them", 2);
        var data = Opt<string?>("--data", "data folder holding mnist/", null);
        var command = new Command("eval", "Test ELBO and importance-sampled log p(x) of a trained VAE.")
        {
            run, checkpoint, k, chunk, images, binarize, limit, seed, threads, data,
        };
        command.SetAction(r =>
        {
            var folder = Path.GetFullPath(r.GetValue(run)!);
            var result = ProgressDisplay.Run(report => VaeExperiment.Evaluate(folder, r.GetValue(checkpoint)!, r.GetValue(k), r.GetValue(chunk),
                r.GetValue(images), r.GetValue(binarize), r.GetValue(limit), r.GetValue(seed), r.GetValue(threads), r.GetValue(data), report));
            Console.WriteLine($"images:           {result.Images}");
            Console.WriteLine($"ELBO:             {result.Elbo:F2} nats  (KL {result.Kl:F2}, reconstruction {result.Recon:F2})");
            Console.WriteLine($"log p(x), k={result.K}: {result.LogLikelihood:F2} ± {result.LogLikelihoodStdErr:F2} nats");
            return 0;
        });
        return command;
    }
}
