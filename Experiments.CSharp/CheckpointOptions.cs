using System.CommandLine;
using Research.Core.Training;
using static Research.Experiments.CommandLine;

namespace Research.Experiments;

/// What every command on a trained run takes (`<family> sample`, `eval`, `sweep`): the run folder,
/// its checkpoint, a seed and the threads (split as the family's `train` splits them), with one
/// wording of each for every family.
public sealed class CheckpointOptions
{
    public readonly Argument<string> Run;
    public readonly Option<string> Checkpoint;
    public readonly Option<int> Seed;
    public readonly Option<int> Threads;

    /// `seed` says what the seed draws; a family without a best checkpoint (a GAN) says so in
    /// `checkpoint` and defaults to its last.
    public CheckpointOptions(string family, string seed, string checkpoint = "best | last", string defaultCheckpoint = "best")
    {
        Run = new Argument<string>("run") { Description = $"run folder written by `{family} train`" };
        Checkpoint = Opt("--checkpoint", checkpoint, defaultCheckpoint);
        Seed = Opt("--seed", seed, 1);
        Threads = Opt("--threads", $"threads, as `{family} train --threads` uses them", RunSettingsModule.defaults.Threads);
    }

    /// A command of the run and its checkpoint, the command's `own` options, then the seed and threads.
    public Command Command(string name, string description, params Option[] own)
    {
        var command = new Command(name, description) { Run, Checkpoint };
        foreach (var option in own.Concat([Seed, Threads]))
            command.Options.Add(option);
        return command;
    }

    /// The run folder, as a full path.
    public string Folder(ParseResult r) => Path.GetFullPath(r.GetValue(Run)!);
}

/// `<family> sample`: n images from a checkpoint, written as an IDX file of all of them and a PNG
/// grid of the first 64, under a prefix named after the draw's settings unless --out gives one.
public sealed class SampleOptions
{
    public readonly CheckpointOptions Checkpoint;
    public readonly Option<int> N = Opt("--n", "images to generate", 10000);
    readonly Option<string?> output;

    /// `drawnWith` names the family's own settings in the default prefix, as "-t<temperature>" (or "").
    public SampleOptions(CheckpointOptions checkpoint, string drawnWith)
    {
        Checkpoint = checkpoint;
        output = Opt<string?>("--out", $"path prefix of <out>-idx3-ubyte and <out>.png (default: <run>/samples/<checkpoint>-n<n>{drawnWith}-seed<seed>)", null);
    }

    /// The `sample` command: the run, its checkpoint, --n, the family's `own` options, --out, the seed and threads.
    public Command Command(string description, params Option[] own) => Checkpoint.Command("sample", description, [N, .. own, output]);

    /// Writes the samples with `write` (given the run folder and the prefix; it returns the IDX and PNG
    /// paths) and prints where they went; `drawnWith` is the default prefix's part for the family's settings.
    public int Write(ParseResult r, string drawnWith, Func<string, string, Tuple<string, string>> write)
    {
        var folder = Checkpoint.Folder(r);
        var prefix = r.GetValue(output) ?? Path.Combine(folder, "samples",
            $"{r.GetValue(Checkpoint.Checkpoint)}-n{r.GetValue(N)}{drawnWith}-seed{r.GetValue(Checkpoint.Seed)}");
        var (idx, png) = write(folder, Path.GetFullPath(prefix)).ToValueTuple();
        Console.WriteLine($"images: {idx}");
        Console.WriteLine($"grid:   {png}");
        return 0;
    }
}
