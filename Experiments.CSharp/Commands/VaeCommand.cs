using System.CommandLine;
using Research.Core.Models.Vae;
using Research.Core.Training;
using static Research.Experiments.CommandLine;

namespace Research.Experiments.Commands;

/// `vae train` and `vae eval`: options in, a VaeConfig and RunSettings out, the F# experiment does the rest.
public static class VaeCommand
{
    public static Command Build() => new("vae", "Variational autoencoders on MNIST (Kingma & Welling 2014).")
    {
        Train(),
        Eval(),
    };

    static Command Train()
    {
        var d = VaeConfig.Default;
        var latent = Opt("--latent", "latent size (2 draws the manifold)", d.Latent);
        var hidden = Opt("--hidden", "hidden sizes, comma-separated (mlp: layer widths; conv: the two channel counts, e.g. 32,64)", string.Join(",", d.Hidden));
        var arch = Opt("--arch", "architecture: mlp | conv", "mlp");
        var likelihood = Opt("--likelihood", "p(x|z): bernoulli | gaussian (learned variance) | gaussian:SIGMA (fixed)", "bernoulli");
        var binarize = Opt("--binarize", "dynamic (fresh draw each use) | static (one seeded draw) | none (grey levels)", "dynamic");
        var lr = Opt("--lr", "Adam learning rate", d.LearningRate);
        var samples = Opt("--importance-samples", "samples per image in the training objective: 1 = the ELBO, k > 1 = the IWAE bound L_k", d.ImportanceSamples);
        var training = new TrainingOptions("vae", RunSettingsModule.defaults);
        var command = new Command("train", "Train a VAE; writes config.json, metrics.csv, checkpoints and image grids to the run folder.")
        {
            latent, hidden, arch, likelihood, binarize, lr, samples,
        };
        training.AddTo(command);
        command.SetAction(r =>
        {
            var config = VaeConfig.Create(r.GetValue(latent), Ints(r.GetValue(hidden)!, "--hidden"), r.GetValue(arch)!, r.GetValue(likelihood)!,
                r.GetValue(binarize)!, r.GetValue(lr), r.GetValue(samples));
            training.Train(r, VaeRun.family, config);
            return 0;
        });
        return command;
    }

    static Command Eval()
    {
        var run = new Argument<string>("run") { Description = "run folder written by `vae train`" };
        var checkpoint = Opt("--checkpoint", "best | last", "best");
        var k = Opt("--k", "importance samples per image for log p(x)", 5000);
        var chunk = Opt("--chunk", "samples drawn at once (bounds memory)", 500);
        var images = Opt<string?>("--images", "an IDX file of uint8 images of the model's size (28x28), grey levels 0-255 (binary images as 0 and 255), to evaluate instead of the MNIST test set", null);
        var binarize = Opt<string?>("--binarize", "override the run's binarization for these images: dynamic | static | none (default: the run's; none with --images)", null);
        var limit = Opt("--limit", "evaluate the first N images only (0 = all)", 0);
        var seed = Opt("--seed", "random seed for the samples", 1);
        var threads = Opt("--threads", "threads, as `vae train --threads` uses them", RunSettingsModule.defaults.Threads);
        var data = Opt<string?>("--data", "data folder holding mnist/", null);
        var command = new Command("eval", "Test ELBO and importance-sampled log p(x) of a trained VAE; writes eval/<checkpoint>-<images>-k<k>.json in the run.")
        {
            run, checkpoint, k, chunk, images, binarize, limit, seed, threads, data,
        };
        command.SetAction(r =>
        {
            var folder = Path.GetFullPath(r.GetValue(run)!);
            var (result, path) = ProgressDisplay.Run(report => VaeExperiment.Evaluate(folder, r.GetValue(checkpoint)!, r.GetValue(k), r.GetValue(chunk),
                r.GetValue(images), r.GetValue(binarize), r.GetValue(limit), r.GetValue(seed), r.GetValue(threads), r.GetValue(data), report)).ToValueTuple();
            Console.WriteLine($"images:           {result.Images}");
            Console.WriteLine($"ELBO:             {result.Elbo:F2} nats  (KL {result.Kl:F2}, reconstruction {result.Recon:F2})");
            Console.WriteLine($"log p(x), k={result.K}: {result.LogLikelihood:F2} ± {result.LogLikelihoodStdErr:F2} nats");
            Console.WriteLine($"written: {path}");
            return 0;
        });
        return command;
    }
}
