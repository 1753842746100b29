using System.CommandLine;
using Research.Core.Metrics;
using Research.Core.Models;
using Research.Core.Families;
using Research.Core.Reports;
using Research.Core.Training;
using static Research.Experiments.CommandLine;

namespace Research.Experiments.Commands;

/// `score RUN|IDX ...`: sample quality (FID, KID, precision/recall, classifier score) of runs' samples
/// and of IDX files, against the MNIST test set, with the real-data floor; `lenet train` remakes the
/// feature network whose committed weights the metrics use.
public static class ScoreCommand
{
    public static Command Build()
    {
        var inputs = new Argument<string[]>("inputs") { Description = $"run folders ({string.Join(", ", Registry.samplers())}) and IDX image files", Arity = ArgumentArity.OneOrMore };
        var n = Opt("--n", "images scored from each input (drawn from a run's sample sets; an IDX file's first ones) and training images in the floor", 10000);
        var seed = Opt("--seed", "seed of the draws, the floor's images and KID's subsets", 1);
        var threads = Opt("--threads", "threads for libtorch", RunSettingsModule.defaults.Threads);
        var temperature = Opt("--temperature", "a flow's second, lower sampling temperature (the first is 1)", 0.7);
        var steps = Opt("--steps", "a diffusion model's DDIM sampling steps (at most its T)", 50);
        var checkpoint = Opt("--checkpoint", "best | last (a run without a best checkpoint, a GAN's, uses its last)", "best");
        var data = DataOpt();
        var command = new Command("score", "Score samples against the MNIST test set with the versioned LeNet features: FID, KID, precision/recall (k = 3), density/coverage (k = 5), classifier score and class histogram, next to the floor of real training images; adds them to scores.json in each run.")
        {
            inputs, n, seed, threads, temperature, steps, checkpoint, data,
        };
        command.SetAction(r =>
        {
            var (floor, sources) = ProgressDisplay.Run(report => Score.run(Microsoft.FSharp.Collections.ListModule.OfArray(r.GetValue(inputs)!), r.GetValue(n), r.GetValue(seed),
                r.GetValue(threads), r.GetValue(temperature), r.GetValue(steps), r.GetValue(checkpoint)!,
                r.GetValue(data) is { } d ? Microsoft.FSharp.Core.FSharpOption<string>.Some(d) : null,
                new Output(Microsoft.FSharp.Core.FuncConvert.FromAction<string>(ProgressDisplay.Print), Microsoft.FSharp.Core.FuncConvert.FromAction(report)))).ToValueTuple();
            var rows = new List<IEnumerable<string>>();
            foreach (var source in sources)
                foreach (var set in source.Sets)
                    rows.Add(ScoresFile.row(source.IsRun ? $"{Path.GetFileName(source.Path.TrimEnd('/'))}: {ScoresFile.describe(set)}" : set.Label, set.Scores));
            rows.Add(ScoresFile.row($"floor: {ScoresFile.describe(floor)}", floor.Scores));
            var table = new List<IEnumerable<string>> { ScoresFile.header };
            table.AddRange(rows);
            PrintTable(table);
            foreach (var source in sources.Where(s => s.IsRun))
                Console.WriteLine($"scores: {Path.Combine(source.Path, ScoresFile.fileName)}");
            return 0;
        });
        return command;
    }

    /// Left-aligned columns, two spaces apart.
    static void PrintTable(List<IEnumerable<string>> rows)
    {
        var cells = rows.Select(r => r.ToArray()).ToArray();
        var widths = Enumerable.Range(0, cells[0].Length).Select(c => cells.Max(r => r[c].Length)).ToArray();
        foreach (var r in cells)
            Console.WriteLine(string.Join("  ", r.Select((v, c) => v.PadRight(widths[c]))).TrimEnd());
    }

    /// `lenet train`: the feature network through the shared loop; its best checkpoint is the file
    /// to commit as Core.FSharp/Metrics/lenet-mnist.safetensors (with its SHA-256 in FeatureNet.fs).
    public static Command LeNetCommand() => new(Research.Core.Metrics.LeNet.family.Name, "The LeNet classifier whose penultimate features the sample-quality metrics use.")
    {
        TrainingOptions.Command(TrainCommandModule.ofFamily(Research.Core.Metrics.LeNet.family,
            "Train the LeNet feature network on MNIST; prints its test accuracy and the SHA-256 of its best checkpoint."),
            (folder, data) =>
            {
                var best = new RunFolder(folder).Checkpoint("best");
                Console.WriteLine($"test accuracy: {100 * FeatureNet.testAccuracy(best, data):F2}%");
                Console.WriteLine($"sha256: {FeatureNet.digest(best)}  {best}");
            }),
    };
}
