using System.CommandLine;
using Microsoft.FSharp.Core;
using Research.Core.Families;
using Research.Core.Training;
using static Research.Experiments.CommandLine;

namespace Research.Experiments.Commands;

/// `research <family> ...` for every family in the registry (Core.FSharp/Models/Registry.fs), built
/// from its entry: `train`, then its commands on a trained run. No family is named here.
public static class FamilyCommand
{
    public static Command Build(FamilyEntry family)
    {
        var command = new Command(family.Name, family.Description) { TrainingOptions.Command(family.Train) };
        foreach (var declared in FamilyEntryModule.commands(family))
            command.Subcommands.Add(OnRun(family, declared));
        return command;
    }

    /// A command on a trained run: the run folder and its checkpoint, the command's own options,
    /// --data where it reads MNIST, then the seed and threads, with one wording of each for every family.
    static Command OnRun(FamilyEntry family, RunCommand declared)
    {
        var run = new Argument<string>("run") { Description = $"run folder written by `{family.Name} train`" };
        var checkpoint = family.KeepsBest ? Opt("--checkpoint", "best | last", "best") : Opt("--checkpoint", $"last (a {family.Name} run keeps no best)", "last");
        var own = new DeclaredOptions(declared.Options);
        var data = DataOpt();
        var seed = Opt("--seed", declared.Seed, 1);
        var threads = Opt("--threads", $"threads, as `{family.Name} train --threads` uses them", RunSettingsModule.defaults.Threads);
        var command = new Command(declared.Name, declared.Description) { run, checkpoint };
        foreach (var option in own.Options.Concat(declared.ReadsData ? [data] : []).Concat([seed, threads]))
            command.Options.Add(option);
        command.SetAction(r =>
        {
            var args = new RunArgs(Path.GetFullPath(r.GetValue(run)!), r.GetValue(checkpoint)!, r.GetValue(seed), r.GetValue(threads),
                r.GetValue(data) is { } d ? FSharpOption<string>.Some(d) : null, own.All(r));
            return ProgressDisplay.Run(report =>
            {
                var output = new Output(FuncConvert.FromAction<string>(ProgressDisplay.Print), FuncConvert.FromAction(report));
                FSharpFunc<RunArgs, Output>.InvokeFast(declared.Run, args, output);
                return 0;
            });
        });
        return command;
    }
}
