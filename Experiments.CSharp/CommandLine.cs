using System.CommandLine;
using Microsoft.FSharp.Core;
using Research.Core;
using Research.Core.Distributed;
using Research.Core.Training;
using Progress = Research.Core.Training.Progress;

namespace Research.Experiments;

/// Runs a parsed command line with one error path: a bad flag or bad input prints one line and
/// exits 2 (libtorch's own text for a TorchException), a diverged training exits 3, and only
/// programming errors keep their stack trace.
public static class CommandLine
{
    public static int Run(RootCommand root, string[] args)
    {
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            Console.Error.WriteLine($"error: {parsed.Errors[0].Message} (see --help)");
            return 2;
        }
        // A test hook: with RESEARCH_TEST_PARSE_ONLY=1 a command line that parses runs nothing (the
        // tests check every command the README shows this way).
        if (Environment.GetEnvironmentVariable("RESEARCH_TEST_PARSE_ONLY") == "1")
            return 0;
        try
        {
            return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (TrainingDivergedException e)
        {
            Console.Error.WriteLine($"error: {e.Message}; stopped. The run keeps its last completed epoch's checkpoints (if any); --resume continues from there.");
            return 3;
        }
        catch (Exception e) when (IsUserFacing(e))
        {
            Console.Error.WriteLine($"error: {OneLine(e)}");
            return 2;
        }
    }

    /// The message alone: without ArgumentException's " (Parameter 'x')" and on one line.
    static string OneLine(Exception e)
    {
        var message = e is ArgumentException { ParamName: { } name } ? e.Message.Replace($" (Parameter '{name}')", "") : e.Message;
        return string.Join(" ", message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    // Programming errors (a disposed tensor, a null) keep their stack trace.
    static bool IsUserFacing(Exception e) =>
        e is not ObjectDisposedException and not ArgumentNullException && e is TorchException or IOException or ArgumentException or InvalidDataException
            or InvalidOperationException or UnauthorizedAccessException or FormatException;

    /// An option whose help shows its default.
    public static Option<T> Opt<T>(string name, string description, T defaultValue) =>
        new(name) { Description = description, DefaultValueFactory = _ => defaultValue };

    /// A comma-separated list of integers ("400,200"); an empty text is an empty list.
    public static int[] Ints(string text, string option) =>
        text.Trim().Length == 0 ? [] :
        text.Split(',', StringSplitOptions.TrimEntries)
            .Select(s => s.Length == 0 ? throw new ArgumentException($"{option}: '{text}' has an empty entry")
                         : int.TryParse(s, out var v) ? v : throw new ArgumentException($"{option}: '{s}' is not an integer"))
            .ToArray();
}

/// The options every `<family> train` command shares, read into the RunSettings of Core.FSharp, and
/// how a training command runs: in one process, or as one rank of a data-parallel group (started by
/// torchrun, by Slurm's srun, or by hand with --world-size and --rank).
public sealed class TrainingOptions
{
    readonly Option<int> epochs, batchSize, seed, threads, validation, limit, rank, worldSize, masterPort;
    readonly Option<string> imageEpochs, output, masterAddr;
    readonly Option<string?> resume;
    readonly Option<double> timeout;
    public readonly Option<string?> Data;

    /// The options with a family's defaults (the run folder defaults to runs/<family>).
    public TrainingOptions(string family, RunSettings defaults)
    {
        epochs = CommandLine.Opt("--epochs", "epochs to train (with --resume: the total to reach)", defaults.Epochs);
        batchSize = CommandLine.Opt("--batch-size", "minibatch size (data-parallel: the global batch, shared out among the ranks)", defaults.BatchSize);
        seed = CommandLine.Opt("--seed", "random seed (initialisation, validation split, batch order, noise)", defaults.Seed);
        threads = CommandLine.Opt("--threads", $"threads, at most the machine's {Environment.ProcessorCount} cores (the model splits them between libtorch and OpenBLAS; data-parallel: per rank)", defaults.Threads);
        validation = CommandLine.Opt("--validation", "training images held out for validation (at least 1: the best checkpoint is chosen on them)", defaults.ValidationSize);
        limit = CommandLine.Opt("--limit", "train on N training images only, a seeded random subset (0 = all)", defaults.TrainLimit);
        imageEpochs = CommandLine.Opt("--image-epochs", "epochs at which image grids are saved, comma-separated (0 = before training)", string.Join(",", defaults.ImageEpochs));
        output = CommandLine.Opt("--out", "run folder", Path.Combine("runs", family));
        resume = new Option<string?>("--resume")
        {
            Description = "continue the run in --out from its last completed epoch, with its own settings where the command line gives none; `--resume auto` continues it if it has one and starts it otherwise (for restarts: torchrun --max_restarts)",
            Arity = ArgumentArity.ZeroOrOne,
            CustomParser = a => a.Tokens.Count == 0 ? "yes" : a.Tokens[0].Value,
        };
        Data = CommandLine.Opt<string?>("--data", "data folder holding mnist/ (default: RESEARCH_DATA or the repository's data/)", null);
        worldSize = CommandLine.Opt("--world-size", "data-parallel by hand: the number of ranks (torchrun and srun set it themselves; -1 = from their environment)", -1);
        rank = CommandLine.Opt("--rank", "data-parallel by hand: this process's rank, 0 to --world-size - 1 (-1 = from the environment)", -1);
        masterAddr = CommandLine.Opt("--master-addr", "data-parallel by hand: the address of rank 0, which serves the rendezvous", "127.0.0.1");
        masterPort = CommandLine.Opt("--master-port", "data-parallel by hand: rank 0's rendezvous port", 29500);
        timeout = CommandLine.Opt("--timeout", "data-parallel: seconds a rank waits for the others (to join, and in every collective) before it stops", Research.Core.Distributed.LaunchModule.defaultTimeout.TotalSeconds);
    }

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { epochs, batchSize, seed, threads, validation, limit, imageEpochs, output, resume, Data, worldSize, rank, masterAddr, masterPort, timeout })
            command.Options.Add(option);
    }

    public RunSettings Settings(ParseResult r) => RunSettingsModule.validate(new RunSettings(
        r.GetValue(epochs), r.GetValue(batchSize), r.GetValue(seed), r.GetValue(threads), r.GetValue(validation), r.GetValue(limit),
        Microsoft.FSharp.Collections.ListModule.OfArray(CommandLine.Ints(r.GetValue(imageEpochs)!, "--image-epochs"))));

    public string Folder(ParseResult r) => Path.GetFullPath(r.GetValue(output)!);

    public Loop.Start Start(ParseResult r) => r.GetValue(resume) switch
    {
        null => Loop.Start.Fresh,
        "yes" => Loop.Start.Resume,
        "auto" => Loop.Start.ResumeOrFresh,
        var other => throw new ArgumentException($"--resume takes no value, or 'auto' (got '{other}')"),
    };

    /// This process's place in a data-parallel group, or null for one process.
    public FSharpOption<Launch>? Launch(ParseResult r) =>
        LaunchModule.resolve(r.GetValue(rank), r.GetValue(worldSize), r.GetValue(masterAddr)!, r.GetValue(masterPort), r.GetValue(timeout));

    /// Trains (or resumes) the family's run with these options. Rank 0 (or the one process) prints
    /// the run folder (once it holds it), the progress and the metrics, and returns them; other ranks print nothing
    /// and return null.
    public MetricsLog? Train<TConfig>(ParseResult r, Family<TConfig> family, TConfig config)
    {
        var settings = Settings(r);
        var start = Start(r);
        var launch = Launch(r);
        var folder = Folder(r);
        var leader = launch is null || launch.Value.IsLeader;
        // A resume keeps the run's own settings where the command line gives none.
        var leftOut = new Option[] { epochs, batchSize, seed, threads, validation, limit, imageEpochs }
            .Where(o => r.GetResult(o) is null or { Implicit: true }).Select(o => o.Name.TrimStart('-')).ToArray();
        MetricsLog? Work(Action<Progress>? report) => Loop.run(family, config, settings, folder, start, leftOut, launch, r.GetValue(Data), report);
        var header = launch is null ? $"run folder: {folder}" : $"run folder: {folder} (rank 0 of {launch.Value.WorldSize})";
        var metrics = leader ? ProgressDisplay.Run(header, Work) : Work(null);
        if (metrics is not null) Print(metrics);
        return metrics;
    }

    /// Prints the run's metrics, one row per epoch (the epoch as a whole number).
    static void Print(MetricsLog metrics)
    {
        Console.WriteLine(string.Join("  ", metrics.Columns.Select(c => c.PadLeft(10))));
        foreach (var row in metrics.Rows)
            Console.WriteLine(string.Join("  ", row.Select((v, i) => (i == 0 ? v.ToString("F0") : v.ToString("F4")).PadLeft(10))));
    }
}
