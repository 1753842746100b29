using System.CommandLine;
using Research.Core.Models;
using Research.Experiments;
using Research.Experiments.Commands;

// research: the command-line runner. Every command's F# work lives in Core.FSharp / Analysis;
// this file only wires the commands together and turns failures into clear messages. Each family
// in the registry gets its command from its entry.
var root = new RootCommand("Deep generative models on libtorch: train, evaluate, report, verify.");
foreach (var family in Registry.entries())
    root.Subcommands.Add(FamilyCommand.Build(family));
foreach (var command in new[] { ScoreCommand.Build(), ScoreCommand.LeNetCommand(), ReportCommand.Build(), VerifyCommand.Build(), BenchCommand.Build() })
    root.Subcommands.Add(command);
return CommandLine.Run(root, args);
