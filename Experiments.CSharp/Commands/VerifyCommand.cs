using System.CommandLine;
using Research.Analysis.Pages;
using Research.Analysis.Verify;
using Spectre.Console;

namespace Research.Experiments.Commands;

/// <summary>`research verify`: numerical checks of the derivations (KL closed forms, ELBO/IWAE on
/// probabilistic PCA, gradient estimators, evidence estimators, the GAN optimum), printed as a table
/// and written to verify.html. Exits 1 if any check fails.</summary>
public static class VerifyCommand
{
    public static Command Build()
    {
        var outOption = new Option<string>("--out")
        {
            Description = "Folder for verify.html (plotly.min.js is copied beside it)",
            DefaultValueFactory = _ => Path.Combine("runs", "verify"),
        };
        var seedOption = new Option<int>("--seed")
        {
            Description = "Seed of every Monte-Carlo estimate and random test case",
            DefaultValueFactory = _ => 0,
        };
        var command = new Command("verify", "Check the derivations numerically (closed forms vs quadrature and Monte Carlo); writes verify.html");
        command.Options.Add(outOption);
        command.Options.Add(seedOption);
        command.SetAction(parseResult => Run(parseResult.GetValue(outOption)!, parseResult.GetValue(seedOption)));
        return command;
    }

    static int Run(string outFolder, int seed)
    {
        HtmlPage.CheckFolder(outFolder, "verify.html");
        var result = Verification.Run(seed);
        if (Console.IsOutputRedirected)
            Console.Write(VerifyTable.Text(result.Rows));
        else
            AnsiConsole.Write(ConsoleTable(result.Rows));
        var page = VerifyPage.Write(outFolder, result);
        var failed = result.Failures.Length;
        Console.WriteLine($"{result.Rows.Length} checks, {failed} failed, {result.Seconds:F1} s (seed {seed}); {page}");
        return failed == 0 ? 0 : 1;
    }

    static Table ConsoleTable(IEnumerable<CheckRow> rows)
    {
        var table = new Table().Border(TableBorder.Rounded);
        var headers = VerifyTable.Headers;
        foreach (var (header, column) in headers.Select((h, i) => (h, i)))
        {
            var tableColumn = new TableColumn(Markup.Escape(header));
            if (VerifyTable.IsNumericColumn(column)) tableColumn.RightAligned();
            table.AddColumn(tableColumn);
        }
        foreach (var row in rows)
        {
            var cells = VerifyTable.Cells(row).Select(Markup.Escape).ToArray();
            cells[^1] = row.Passed ? "[green]pass[/]" : "[red bold]FAIL[/]";
            table.AddRow(cells);
        }
        return table;
    }
}
