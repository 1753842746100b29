using System.CommandLine;
using System.Diagnostics;
using Research.Core;
using Research.Core.Checkpoints;
using Research.Core.Data;
using Research.Core.Models;
using Research.Core.Optim;

namespace Research.Experiments.Commands;

/// `mlp`: a 784-256-10 MLP trained on MNIST with Adam, its test accuracy, and a checkpoint that
/// must reload into a fresh model with identical outputs. The model and its step are F# (Models/Mlp.fs).
public static class MlpCommand
{
    static Option<T> Opt<T>(string name, string description, T defaultValue) =>
        new(name) { Description = description, DefaultValueFactory = _ => defaultValue };

    public static Command Build()
    {
        var hidden = Opt("--hidden", "hidden units", 256);
        var epochs = Opt("--epochs", "epochs to train", 1);
        var batch = Opt("--batch-size", "minibatch size", 128);
        var lr = Opt("--lr", "Adam learning rate", 1e-3);
        var seed = Opt("--seed", "random seed (initialisation, validation split, batch order)", 0L);
        var threads = Opt("--threads", "libtorch threads (OpenBLAS is kept to 1)", 2);
        var output = Opt("--out", "checkpoint file (safetensors)", "runs/mlp/mlp.safetensors");
        var data = Opt<string?>("--data", "data folder holding mnist/ (default: RESEARCH_DATA or the repository's data/)", null);
        var command = new Command("mlp", "Train an MLP classifier on MNIST with Adam, save a safetensors checkpoint and check that it reloads exactly.")
        {
            hidden, epochs, batch, lr, seed, threads, output, data,
        };
        command.SetAction(r => Run(r.GetValue(hidden), r.GetValue(epochs), r.GetValue(batch), r.GetValue(lr), r.GetValue(seed),
            r.GetValue(threads), Path.GetFullPath(r.GetValue(output)!), r.GetValue(data)));
        return command;
    }

    static int Run(int hidden, int epochs, int batchSize, double lr, long seed, int threads, string checkpoint, string? data)
    {
        torch.set_num_threads(threads);
        torch.set_openblas_threads(1);
        using var mnist = Mnist.load(data is null ? null : Path.Combine(data, "mnist"), seed: seed);
        using var generator = new Generator(seed);
        using var model = Mlp.create(generator, 784, hidden, 10);
        using var adam = new Adam(model.parameters, lr: lr);
        Console.WriteLine($"MLP 784-{hidden}-10, {model.parameters.count:N0} parameters; {mnist.train.count} training images, batch {batchSize}, {threads} threads");

        for (var epoch = 1; epoch <= epochs; epoch++)
        {
            var clock = Stopwatch.StartNew();
            var loss = model.trainEpoch(adam, mnist.train, batchSize, generator, (step, stepLoss) =>
            {
                if (step % 100 == 0) Console.WriteLine($"  step {step,4}: loss {stepLoss:F4}");
            });
            Console.WriteLine($"epoch {epoch}: mean loss {loss:F4}, {clock.Elapsed.TotalSeconds:F1} s, validation accuracy {model.accuracy(mnist.validation):P2}");
        }
        Console.WriteLine($"test accuracy: {model.accuracy(mnist.test):P2}");

        Directory.CreateDirectory(Path.GetDirectoryName(checkpoint)!);
        using (var state = model.parameters.state_dict())
            Safetensors.save(checkpoint, state);
        Console.WriteLine($"checkpoint: {checkpoint}");

        // A fresh model (other initial weights) loaded from the file must compute the same logits.
        using var otherGenerator = new Generator(seed + 1);
        using var reloaded = Mlp.create(otherGenerator, 784, hidden, 10);
        using (var state = Safetensors.load(checkpoint))
            reloaded.parameters.load_state_dict(state);
        using var expected = model.logits(mnist.test);
        using var actual = reloaded.logits(mnist.test);
        var diff = expected.toFloat32Array().Zip(actual.toFloat32Array(), (a, b) => Math.Abs(a - b)).Max();
        Console.WriteLine($"reload check: max |diff| = {diff}");
        return diff == 0 ? 0 : 1;
    }
}
