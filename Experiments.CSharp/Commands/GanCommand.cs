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

    static Command Train()
    {
        var mlp = GanConfigModule.mlp;
        var arch = Opt("--arch", "architecture: mlp (seed 004's) | dcgan", "mlp");
        var latent = Opt("--latent", "latent size (2 draws a latent grid in the report)", mlp.Latent);
        var genHidden = Opt<string?>("--gen-hidden", "G's hidden widths, comma-separated (mlp; default 128,256,512,1024) or base channels ngf (dcgan; default 32)", null);
        var discHidden = Opt<string?>("--disc-hidden", "D's hidden widths (mlp; default 512,256) or base channels ndf (dcgan; default 32)", null);
        var dropout = Opt("--dropout", "dropout after each hidden layer of the MLP discriminator", mlp.Dropout);
        var lrG = Opt("--lr-g", "generator's Adam learning rate", mlp.GeneratorLr);
        var lrD = Opt("--lr-d", "discriminator's Adam learning rate", mlp.DiscriminatorLr);
        var beta1 = Opt("--beta1", "Adam's beta1 for both networks (DCGAN's 0.5)", mlp.Beta1);
        var beta2 = Opt("--beta2", "Adam's beta2 for both networks", mlp.Beta2);
        var dSteps = Opt("--d-steps", "discriminator steps per generator step (on each batch, fresh noise each)", mlp.DiscriminatorSteps);
        var loss = Opt("--loss", "generator loss: non-saturating (-log D(G(z))) | saturating (log(1 - D(G(z))))", "non-saturating");
        var training = new TrainingOptions("gan", GanConfigModule.runDefaults);
        var command = new Command("train", "Train a GAN; writes config.json, metrics.csv (D and G losses, D(x), D(G(z))), checkpoints of both networks and sample grids.")
        {
            arch, latent, genHidden, discHidden, dropout, lrG, lrD, beta1, beta2, dSteps, loss,
        };
        training.AddTo(command);
        command.SetAction(r =>
        {
            var defaults = GanConfigModule.parseArchitecture(r.GetValue(arch)!).IsDcgan ? GanConfigModule.dcgan : GanConfigModule.mlp;
            int[] Sizes(Option<string?> option, Microsoft.FSharp.Collections.FSharpList<int> fallback) =>
                r.GetValue(option) is { } text ? Ints(text, option.Name) : fallback.ToArray();
            var config = GanConfig.Create(r.GetValue(arch)!, r.GetValue(latent), Sizes(genHidden, defaults.GeneratorHidden),
                Sizes(discHidden, defaults.DiscriminatorHidden), r.GetValue(dropout), r.GetValue(lrG), r.GetValue(lrD), r.GetValue(beta1),
                r.GetValue(beta2), r.GetValue(dSteps), r.GetValue(loss)!);
            training.Train(r, GanRun.family, config);
            return 0;
        });
        return command;
    }

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
