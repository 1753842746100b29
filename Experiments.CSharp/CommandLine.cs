using System.CommandLine;
using System.CommandLine.Parsing;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;
using Research.Core;
using Research.Core.Distributed;
using Research.Core.Families;
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
            Console.Error.WriteLine($"error: {ParseErrorLine(parsed)}");
            return 2;
        }
        if ((EmptyValue(parsed) ?? OptionTakenForInput(parsed)) is { } wrong)
        {
            Console.Error.WriteLine($"error: {wrong}");
            return 2;
        }
        // A test hook: with RESEARCH_TEST_PARSE_ONLY=1 a command line that parses runs nothing (the
        // tests check every command the README shows this way).
        if (Environment.GetEnvironmentVariable("RESEARCH_TEST_PARSE_ONLY") == "1")
            return 0;
        // Ctrl-C or SIGTERM ends any command at once; the files it was writing and the processes it started go with it.
        using var stop = Interruption.LeaveNothingBehind();
        // The handlers run on the runtime's threads, which exist by now (see Signals).
        Research.Core.IO.Signals.keepOffThisThread();
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

    /// What is wrong with a command line that does not parse, in one line that names what the
    /// command expects: its commands, the nearest option or command to a misspelt one, the kind of
    /// value an option takes.
    static string ParseErrorLine(ParseResult parsed)
    {
        var result = parsed.CommandResult;
        var command = result.Command;
        var path = string.Join(" ", Ancestry(result).Reverse().Select(c => c.Name));
        var help = $"(see {path} --help)";
        var commands = command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name).ToList();
        if (parsed.UnmatchedTokens.Count > 0)
        {
            var token = parsed.UnmatchedTokens[0];
            if (token.StartsWith('-'))
                return NoOption(result, token);
            if (commands.Count > 0)
                return $"{path} has no command '{token}'{Nearest(token, commands)}; its commands: {string.Join(", ", commands)}";
            // A value after a flag (--skip-pytorch yes): the flag takes none.
            var before = parsed.Tokens.TakeWhile(t => t.Value != token).LastOrDefault()?.Value;
            if (command.Options.FirstOrDefault(o => o.Name == before) is { ValueType: var type } && type == typeof(bool))
                return $"{before} is a flag and takes no value (got '{token}') {help}";
            return $"{path} takes no argument '{token}' {help}";
        }
        if (commands.Count > 0 && command.Action is null)
            return $"{path} needs a command: {string.Join(", ", commands)} {help}";
        var error = parsed.Errors[0];
        var option = error.SymbolResult as OptionResult ?? (error.SymbolResult as ArgumentResult)?.Parent as OptionResult;
        var kind = option is null ? null : KindOf(option.Option.ValueType);
        if (option is { Tokens.Count: 0 })
            return $"{option.Option.Name} needs {kind ?? "a value"} {help}";
        if (option is { Tokens.Count: 1 } && kind is not null)
            return $"{option.Option.Name} takes {kind} (got '{option.Tokens[0].Value}')";
        if (error.SymbolResult is ArgumentResult { Argument: var argument } && result.Tokens.Count == 0)
            return $"{path} needs <{argument.Name}> {help}";
        return $"{error.Message} {help}";
    }

    /// An empty value (`--out ""`, a folder variable that was never set) names no file, folder or
    /// number; without this, .NET's "The value cannot be an empty string" would name no option.
    static string? EmptyValue(ParseResult parsed) =>
        parsed.CommandResult.Children.Where(c => c.Tokens.Any(t => string.IsNullOrWhiteSpace(t.Value))).Select(c => c switch
        {
            OptionResult o => $"{o.Option.Name} was given an empty value",
            ArgumentResult a => $"<{a.Argument.Name}> was given an empty value",
            _ => null,
        }).FirstOrDefault(line => line is not null);

    static string NoOption(CommandResult result, string token)
    {
        var path = string.Join(" ", Ancestry(result).Reverse().Select(c => c.Name));
        return $"{path} has no option {token}{Nearest(token, result.Command.Options.Where(o => !o.Hidden).Select(o => o.Name))} (see {path} --help)";
    }

    /// A command that takes any number of inputs (report, score) parses an unknown option as one
    /// more input; a token shaped like an option that names no file is refused as the option it is.
    static string? OptionTakenForInput(ParseResult parsed) =>
        parsed.CommandResult.Children.OfType<ArgumentResult>().SelectMany(a => a.Tokens)
            .Where(t => t.Value.Length > 1 && t.Value[0] == '-' && !char.IsDigit(t.Value[1]) && !Path.Exists(t.Value))
            .Select(t => NoOption(parsed.CommandResult, t.Value)).FirstOrDefault();

    static IEnumerable<Command> Ancestry(CommandResult result)
    {
        for (SymbolResult? r = result; r is not null; r = r.Parent)
            if (r is CommandResult c) yield return c.Command;
    }

    static string? KindOf(Type type) =>
        type == typeof(int) || type == typeof(long) ? "a whole number"
        : type == typeof(double) || type == typeof(float) ? "a number"
        : null;

    /// ", did you mean X?" for the candidate within a third of the word's length in edits, if any.
    static string Nearest(string word, IEnumerable<string> candidates)
    {
        var best = candidates.Select(c => (Name: c, Edits: Edits(word, c))).OrderBy(c => c.Edits).FirstOrDefault();
        return best.Name is not null && best.Edits <= Math.Max(1, word.TrimStart('-').Length / 3) ? $" (did you mean {best.Name}?)" : "";
    }

    /// Edits from a to b: insertions, deletions, substitutions and swaps of neighbours (the
    /// optimal string alignment distance), so that "vea" is one edit from "vae".
    static int Edits(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
            for (var j = 1; j <= b.Length; j++)
            {
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        return d[a.Length, b.Length];
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

    /// --data: the folder whose mnist/ a command reads.
    public static Option<string?> DataOpt() =>
        Opt<string?>("--data", "data folder holding mnist/ (default: RESEARCH_DATA or the repository's data/)", null);
}

/// The command-line options of a command's declarations (Core.FSharp/Families/Command.fs): one per
/// declared option, typed by its kind, its help stating the default (each preset's where they differ).
public sealed class DeclaredOptions
{
    readonly List<(CommandOption Declared, Option Option)> options = [];

    public DeclaredOptions(IEnumerable<CommandOption> declared)
    {
        foreach (var o in declared)
        {
            // A default that depends on another setting (the architecture) is stated in the help.
            var single = o.Default is { } d && o.DefaultText == d.Value.ToString();
            Option option = o.Default?.Value switch
            {
                null => new Option<string?>($"--{o.Flag}") { Description = o.Help },
                SettingValue.Int i => Typed(o, i.Item, single),
                SettingValue.Number x => Typed(o, x.Item, single),
                // (System.CommandLine's help leaves a switch's default out.)
                SettingValue.Switch b => Typed(o, b.Item, false),
                var value => Typed(o, value.ToString(), single),
            };
            options.Add((o, option));
        }
    }

    static Option<T> Typed<T>(CommandOption o, T value, bool single) =>
        single ? CommandLine.Opt($"--{o.Flag}", o.Help, value) : new($"--{o.Flag}") { Description = $"{o.Help} [default: {o.DefaultText}]" };

    public IEnumerable<Option> Options => options.Select(o => o.Option);

    /// The flags the command line gives, with their values.
    public FSharpList<Tuple<string, SettingValue>> Given(ParseResult r) =>
        Values(r, options.Where(o => r.GetResult(o.Option) is { Implicit: false }));

    /// Every option's value: the given ones' and the defaults of the rest (one without a default only when given).
    public CommandArgs All(ParseResult r) =>
        new(ListModule.OfSeq(Given(r).Concat(options.Where(o => o.Declared.Default is not null && r.GetResult(o.Option) is null or { Implicit: true })
            .Select(o => Tuple.Create(o.Declared.Flag, o.Declared.Default.Value)))));

    /// The flags the command line leaves out: a resume takes those settings from the run.
    public IEnumerable<string> LeftOut(ParseResult r) =>
        options.Where(o => r.GetResult(o.Option) is null or { Implicit: true }).Select(o => o.Declared.Flag);

    static FSharpList<Tuple<string, SettingValue>> Values(ParseResult r, IEnumerable<(CommandOption Declared, Option Option)> chosen) =>
        ListModule.OfSeq(chosen.Select(o => Tuple.Create(o.Declared.Flag, Value(r, o.Declared, o.Option))));

    static SettingValue Value(ParseResult r, CommandOption declared, Option option) => option switch
    {
        Option<int> o => SettingValue.NewInt(r.GetValue(o)),
        Option<double> o => SettingValue.NewNumber(r.GetValue(o)),
        Option<bool> o => SettingValue.NewSwitch(r.GetValue(o)),
        Option<string?> o => CommandOptionModule.parse(declared, r.GetValue(o)!),
        _ => throw new InvalidOperationException($"--{declared.Flag}: an option of an unknown kind"),
    };
}

/// `<family> train`: the family's own settings and those every run shares as options (both declared
/// once in Core.FSharp), and how a training command runs: in one process, or as one rank of a
/// data-parallel group (started by torchrun, by Slurm's srun, or by hand with --world-size and --rank).
public sealed class TrainingOptions
{
    readonly TrainCommand train;
    readonly DeclaredOptions settings;
    readonly Option<int> rank, worldSize, masterPort;
    readonly Option<string> output, masterAddr;
    readonly Option<string?> resume;
    readonly Option<double> timeout;
    readonly Option<string?> data;

    TrainingOptions(TrainCommand train)
    {
        this.train = train;
        settings = new DeclaredOptions(train.Options);
        output = CommandLine.Opt("--out", "run folder", Path.Combine("runs", train.Family));
        resume = new Option<string?>("--resume")
        {
            Description = "continue the run in --out from its last completed epoch, with its own settings where the command line gives none; `--resume auto` continues it if it has one and starts it otherwise (for restarts: torchrun --max_restarts)",
            Arity = ArgumentArity.ZeroOrOne,
            CustomParser = a => a.Tokens.Count == 0 ? "yes" : a.Tokens[0].Value,
        };
        data = CommandLine.DataOpt();
        worldSize = CommandLine.Opt("--world-size", "data-parallel by hand: the number of ranks (torchrun and srun set it themselves; -1 = from their environment)", -1);
        rank = CommandLine.Opt("--rank", "data-parallel by hand: this process's rank, 0 to --world-size - 1 (-1 = from the environment)", -1);
        masterAddr = CommandLine.Opt("--master-addr", "data-parallel by hand: the address of rank 0, which serves the rendezvous", "127.0.0.1");
        masterPort = CommandLine.Opt("--master-port", "data-parallel by hand: rank 0's rendezvous port", 29500);
        timeout = CommandLine.Opt("--timeout", "data-parallel: seconds a rank waits for the others (to join, and in every collective) before it stops", LaunchModule.defaultTimeout.TotalSeconds);
    }

    /// The `train` command; `trained` (the run folder, the data folder) follows a training on rank 0.
    public static Command Command(TrainCommand train, Action<string, string?>? trained = null)
    {
        var options = new TrainingOptions(train);
        var command = new Command("train", train.Description);
        foreach (var option in options.settings.Options
                     .Concat([options.output, options.resume, options.data, options.worldSize, options.rank, options.masterAddr, options.masterPort, options.timeout]))
            command.Options.Add(option);
        command.SetAction(r =>
        {
            if (options.Train(r) is { } folder) trained?.Invoke(folder, r.GetValue(options.data));
            return 0;
        });
        return command;
    }

    Loop.Start Start(ParseResult r) => r.GetValue(resume) switch
    {
        null => Loop.Start.Fresh,
        "yes" => Loop.Start.Resume,
        "auto" => Loop.Start.ResumeOrFresh,
        var other => throw new ArgumentException($"--resume takes no value, or 'auto' (got '{other}')"),
    };

    /// Trains (or resumes) the family's run with these options. Rank 0 (or the one process) prints
    /// the run folder (once it holds it), the progress and the metrics, and returns the folder;
    /// other ranks print nothing and return null.
    string? Train(ParseResult r)
    {
        var training = train.Prepare.Invoke(settings.Given(r));
        var start = Start(r);
        var launch = LaunchModule.resolve(r.GetValue(rank), r.GetValue(worldSize), r.GetValue(masterAddr)!, r.GetValue(masterPort), r.GetValue(timeout));
        var folder = Path.GetFullPath(r.GetValue(output)!);
        var leader = launch is null || launch.Value.IsLeader;
        // A resume keeps the run's own settings where the command line gives none.
        var leftOut = ListModule.OfSeq(settings.LeftOut(r));
        var dataFolder = r.GetValue(data) is { } d ? FSharpOption<string>.Some(d) : null;
        MetricsLog? Work(Action<Progress>? report) => training.Invoke(folder, start, leftOut, launch, dataFolder, report)?.Value;
        var header = launch is null ? $"run folder: {folder}" : $"run folder: {folder} (rank 0 of {launch.Value.WorldSize})";
        using var interrupted = leader ? Interruption.Explain(folder) : null;
        var metrics = leader ? ProgressDisplay.Run(header, Work) : Work(null);
        if (metrics is null) return null;
        Print(metrics);
        return folder;
    }

    /// Prints the run's metrics, one row per epoch (the epoch as a whole number).
    static void Print(MetricsLog metrics)
    {
        Console.WriteLine(string.Join("  ", metrics.Columns.Select(c => c.PadLeft(10))));
        foreach (var row in metrics.Rows)
            Console.WriteLine(string.Join("  ", row.Select((v, i) => (i == 0 ? v.ToString("F0") : v.ToString("F4")).PadLeft(10))));
    }
}
