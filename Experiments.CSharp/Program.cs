using System.CommandLine;
using Research.Experiments;
using Research.Experiments.Commands;

// research: the command-line runner. Every command's F# work lives in Core.FSharp / Analysis;
// this file only wires the commands together and turns failures into clear messages.
var root = new RootCommand("Deep generative models on libtorch: train, evaluate, report, verify.")
{
    MlpCommand.Build(),
    VaeCommand.Build(),
    GanCommand.Build(),
    FlowCommand.Build(),
    DiffusionCommand.Build(),
    ScoreCommand.Build(),
    ScoreCommand.LeNetCommand(),
    ReportCommand.Build(),
    VerifyCommand.Build(),
    BenchCommand.Build(),
};
return CommandLine.Run(root, args);
