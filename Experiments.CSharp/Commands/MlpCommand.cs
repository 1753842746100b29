using System.CommandLine;
using Research.Core.Models;
using Research.Core.Training;
using static Research.Experiments.CommandLine;

namespace Research.Experiments.Commands;

/// `mlp train`: a 784-256-10 MLP classifier trained on MNIST with Adam through the shared training
/// loop (Models/Mlp/MlpRun.fs), into a run folder like every other model's.
public static class MlpCommand
{
    public static Command Build()
    {
        var d = MlpRun.defaults;
        var hidden = Opt("--hidden", "hidden units", d.Hidden);
        var lr = Opt("--lr", "Adam learning rate", d.LearningRate);
        var training = new TrainingOptions("mlp", MlpRun.runDefaults);
        var train = new Command("train", "Train an MLP classifier on MNIST; writes config.json, metrics.csv (loss, accuracy) and checkpoints to the run folder.")
        {
            hidden, lr,
        };
        training.AddTo(train);
        train.SetAction(r =>
        {
            var config = MlpRun.validate(new MlpRun.MlpConfig(r.GetValue(hidden), r.GetValue(lr)));
            training.Train(r, MlpRun.family, config);
            return 0;
        });
        return new Command("mlp", "A multilayer perceptron classifier on MNIST.") { train };
    }
}
