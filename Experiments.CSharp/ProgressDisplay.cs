using Research.Core.Training;
using Progress = Research.Core.Training.Progress;
using Spectre.Console;

namespace Research.Experiments;

/// Shows a long job's Progress reports: a live bar per stage on a terminal (epoch, step,
/// items/s, running loss), or a plain line every few seconds and at each stage's end otherwise.
public static class ProgressDisplay
{
    static bool Interactive =>
        !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    /// A line of a job's output: above the bars on a terminal.
    public static void Print(string line)
    {
        if (Interactive) AnsiConsole.WriteLine(line); else Console.WriteLine(line);
    }

    public static T Run<T>(Func<Action<Progress>, T> work) =>
        Interactive ? RunWithBars(work) : RunWithLines(work);

    /// Run, printing `header` before the first report: a job refused before it starts (a run folder
    /// in use) says so in its one error line alone.
    public static T Run<T>(string header, Func<Action<Progress>, T> work)
    {
        var printed = false;
        return Run<T>(report => work(p =>
        {
            if (!printed)
            {
                printed = true;
                if (Interactive) AnsiConsole.WriteLine(header); else Console.WriteLine(header);
            }
            report(p);
        }));
    }

    static T RunWithBars<T>(Func<Action<Progress>, T> work)
    {
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                     new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                result = work(p =>
                {
                    if (!tasks.TryGetValue(p.Stage, out var task))
                        tasks[p.Stage] = task = ctx.AddTask(p.Stage, maxValue: p.Total);
                    task.Value = p.Done;
                    task.Description = $"{p.Stage} [grey]step {p.Done}/{p.Total} · {p.ItemsPerSecond:F0} items/s{Running(p, " · ")}[/]";
                });
            });
        return result;
    }

    static T RunWithLines<T>(Func<Action<Progress>, T> work)
    {
        // The first line comes after five seconds too: a stage done sooner shows only its end.
        var lastLine = DateTime.UtcNow;
        return work(p =>
        {
            var now = DateTime.UtcNow;
            if (p.Done < p.Total && now - lastLine < TimeSpan.FromSeconds(5)) return;
            lastLine = now;
            Console.WriteLine($"{p.Stage}: {p.Done}/{p.Total}, {p.ItemsPerSecond:F0} items/s{Running(p, ", ")}");
        });
    }

    /// The running figure after `separator`, or nothing when there is none.
    static string Running(Progress p, string separator) => double.IsNaN(p.Running) ? "" : $"{separator}{p.RunningName} {p.Running:F2}";
}
