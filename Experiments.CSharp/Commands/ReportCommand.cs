using System.CommandLine;
using Research.Analysis.Report;
using Research.Analysis.Verify;
using Research.Core.Reports;
using Research.Core.Models;

namespace Research.Experiments.Commands;

/// `report RUN [RUN ...]`: one offline HTML page with every figure of the runs (compared side by side
/// when there are several) and the table of numerical checks.
public static class ReportCommand
{
    public static Command Build()
    {
        var runs = new Argument<string[]>("runs") { Description = "run folders written by any `train` command", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string?>("--out")
        {
            Description = "folder for report.html (default: the run folder for one run, runs/compare for several)",
        };
        var noVerify = new Option<bool>("--no-verify") { Description = "leave out the numerical checks (they take a few seconds)" };
        var data = new Option<string?>("--data") { Description = "data folder holding mnist/ (default: RESEARCH_DATA or the repository's data/)" };
        var command = new Command("report", "Write report.html: every run's metric curves and image grids, what its model family adds (a VAE's manifold, latent space, interpolations), its sample-quality scores, the config and the checks; for several runs, a comparison (headline metrics, the scores of every run with the real-data floor, class histograms, samples side by side, what each family offers as a likelihood).")
        {
            runs, output, noVerify, data,
        };
        command.SetAction(r =>
        {
            var folders = r.GetValue(runs)!.Select(Path.GetFullPath).ToArray();
            var outFolder = r.GetValue(output) ?? (folders.Length == 1 ? folders[0] : Path.GetFullPath(Path.Combine("runs", "compare")));
            Report.Check(folders, outFolder);
            // The checks run alongside the runs' figures: their MathNet sums and the figures' small
            // network batches each leave cores idle.
            var checking = r.GetValue(noVerify) ? null : Task.Run(() => Verification.Run(0).Rows);
            var reports = folders.Select(f => Stage($"{Path.GetFileName(f)}: its figures", () =>
            {
                var (references, panels) = Score.runReport(f, r.GetValue(data)!).ToValueTuple();
                return RunReportDataModule.read(f, references, panels);
            })).ToArray();
            var checks = checking is null ? [] : Stage("the numerical checks", () => checking.GetAwaiter().GetResult());
            var failed = checks.Count(c => !c.Passed);
            var comparison = folders.Length > 1 ? Stage("the comparison", () => Score.comparison(Microsoft.FSharp.Collections.ListModule.OfArray(folders))) : null;
            var page = Stage("the page", () => Report.Write(outFolder, reports, checks, comparison));
            Console.WriteLine($"report: {page}");
            if (failed > 0) Console.Error.WriteLine($"{failed} numerical check(s) failed; see the table in the report");
            return failed == 0 ? 0 : 1;
        });
        return command;
    }

    /// Runs one stage of the report, saying what it works on and then how long it took.
    static T Stage<T>(string what, Func<T> work)
    {
        Console.Write($"report: {what} ... ");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            var result = work();
            Console.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s");
            return result;
        }
        catch
        {
            // The stage's line ends here, so the error that follows stands on a line of its own.
            Console.WriteLine("failed");
            throw;
        }
    }
}
