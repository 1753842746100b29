using System.CommandLine;
using Research.Core.Models;

namespace Research.Experiments.Commands;

/// `mlp train`: a 784-256-10 MLP classifier trained on MNIST with Adam through the shared training
/// loop (Models/Mlp/MlpRun.fs), into a run folder like every other model's.
public static class MlpCommand
{
    public static Command Build() => TrainingOptions<MlpRun.MlpConfig>.Group(MlpRun.family, "A multilayer perceptron classifier on MNIST.",
        "Train an MLP classifier on MNIST; writes config.json, metrics.csv (loss, accuracy) and checkpoints to the run folder.");
}
