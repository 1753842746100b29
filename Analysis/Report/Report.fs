namespace Research.Analysis.Report

open System.IO
open System.Net
open System.Runtime.InteropServices
open Plotly.NET
open Plotly.NET.LayoutObjects
open Research.Core.Training
open Research.Analysis.Pages
open Research.Analysis.Verify

/// report.html for one or several runs of any family: it draws their panels (Panel.fs).
[<AbstractClass; Sealed>]
type Report =

    static let curves (title: string) (yTitle: string) (series: Series list) (references: (string * float) list) =
        let lines = [ for s in series -> Chart.Line(s.X, s.Y, Name = s.Name, ShowMarkers = true) ]
        let x = series |> List.collect (fun s -> List.ofArray s.X)
        let refs =
            if x.IsEmpty then []
            else [ for label, y in references -> Chart.Line([ List.min x; List.max x ], [ y; y ], Name = label) ]
        Chart.combine (lines @ refs)
        |> Chart.withTitle title
        |> Chart.withYAxisStyle yTitle
        |> Charts.withEpochAxis (if x.IsEmpty then 1.0 else List.max x)
        |> Charts.withCurveSize

    static let points (title: string) (rows: float[][]) (labels: int[]) =
        if rows.Length <> labels.Length then invalidArg "labels" $"{rows.Length} points but {labels.Length} labels"
        let dim = if rows.Length = 0 then 0 else rows[0].Length
        let x, y, how =
            if dim = 2 then Array.map (fun (r: float[]) -> r[0]) rows, Array.map (fun (r: float[]) -> r[1]) rows, ""
            else
                let p = Pca.project2D (rows |> Array.collect (Array.map float32)) rows.Length dim
                let v1, v2 = p.ExplainedVariance
                p.X, p.Y, $" (PCA: the axes explain {100.0 * v1:F0}%% and {100.0 * v2:F0}%% of the variance)"
        labels
        |> Array.distinct
        |> Array.sort
        |> Array.map (fun label ->
            let idx = Array.indexed labels |> Array.filter (fun (_, l) -> l = label) |> Array.map fst
            Chart.Point(idx |> Array.map (fun i -> x[i]), idx |> Array.map (fun i -> y[i]), Name = string label))
        |> Chart.combine
        |> Chart.withTitle (title + how)
        |> Chart.withSize (800, 650)

    static let panel (runName: string) (p: Panel) =
        match p with
        | Panel.Curves(title, yTitle, series, references) -> [ Plot(curves $"{runName}: {title}" yTitle series references) ]
        | Panel.Images(title, caption, frames) ->
            [ yield Heading(3, title)
              if caption <> "" then yield Paragraph caption
              yield Plot(Charts.imageFrames frames |> Chart.withTitle title) ]
        | Panel.Points(title, rows, labels) -> [ Plot(points title rows labels) ]
        | Panel.Table(title, header, rows) ->
            [ Heading(3, title); Section.Table(Array.ofList header, rows |> List.map Array.ofList |> Array.ofList) ]
        | Panel.Note text -> [ Html $"<p class=\"note\">{WebUtility.HtmlEncode text}</p>" ]
        | Panel.Bars(title, xTitle, categories, series) ->
            // A category axis: plotly.js would read "0".."9" as numbers and label every other one.
            [ Plot(Chart.combine [ for name, heights in series -> Chart.Column(values = heights, Keys = categories, Name = name) ]
                   |> Chart.withTitle title
                   |> Chart.withXAxis (LinearAxis.init (Title = Title.init xTitle, AxisType = StyleParam.AxisType.Category))
                   |> Charts.withCurveSize) ]

    /// Config values side by side, one column per run; keys in first-seen order, differing rows marked.
    static let configTable (runs: RunReportData list) =
        let keys = runs |> List.collect (fun r -> r.Config |> Array.map fst |> List.ofArray) |> List.distinct
        let value (run: RunReportData) key =
            run.Config |> Array.tryFind (fst >> (=) key) |> Option.map snd |> Option.defaultValue ""
        let rows =
            keys
            |> List.map (fun key ->
                let values = runs |> List.map (fun r -> value r key)
                let differs = runs.Length > 1 && List.distinct values |> List.length > 1
                [| yield (if differs then key + " *" else key); yield! values |])
            |> Array.ofList
        Section.Table([| yield "setting"; yield! runs |> List.map _.Name |], rows)

    /// The headline metric of every run that has one, over the epochs: one chart per metric (runs
    /// of one family share its unit, others do not), and the runs that name none.
    static let comparison (runs: RunReportData list) =
        let series =
            runs
            |> List.choose (fun run ->
                run.Headline
                |> Option.bind (fun h ->
                    match run.Metrics.TryColumn "epoch", run.Metrics.TryColumn h.Column with
                    | Some x, Some y -> Some(h.Column, { Name = run.Name; X = x; Y = y })
                    | _ -> None))
        let without = runs |> List.filter (fun r -> not (series |> List.exists (fun (_, s) -> s.Name = r.Name)))
        [ Heading(2, "Comparison")
          for column, group in series |> List.groupBy fst do
              Plot(curves $"Headline metric across runs: {column}" column (List.map snd group) [])
          if not without.IsEmpty then
              let names = without |> List.map _.Name |> String.concat ", "
              Paragraph $"No headline metric over the epochs: {names} (no validation figure ranks a GAN's epochs; `score` compares the samples of every family)." ]

    /// The page's sections (exposed so tests can count the figures); `comparisonPanels` are drawn
    /// in the comparison section (scores of several runs side by side).
    static member Sections(runs: RunReportData seq, verifyRows: CheckRow seq,
                           [<Optional; DefaultParameterValue(null: Panel seq)>] comparisonPanels: Panel seq) =
        let runs = List.ofSeq runs
        let verifyRows = Array.ofSeq verifyRows
        let comparisonPanels = if isNull comparisonPanels then [] else List.ofSeq comparisonPanels
        [ if runs.Length > 1 then
              yield! comparison runs
              for p in comparisonPanels do
                  yield! panel "all runs" p
          yield Heading(2, "Configuration")
          yield configTable runs
          if runs.Length > 1 then
              yield Paragraph "* marks settings that differ between runs."
          for run in runs do
              yield Heading(2, run.Name)
              for p in run.Panels do
                  yield! panel run.Name p
          yield Heading(2, "Numerical checks (verify)")
          if verifyRows.Length = 0 then
              yield Paragraph "verify was not run for this report."
          else
              yield Html(VerifyTable.Html verifyRows) ]

    /// Checks, before any figure is drawn, that every folder is a run (its config.json names a
    /// family) given once, that `outFolder` is not the folder of another run (whose report.html is
    /// that run's own), and that the page can be written there (created if missing).
    static member Check(folders: string seq, outFolder: string) =
        for folder in folders do RunFolder(folder).Family |> ignore
        Research.Core.IO.Inputs.givenOnce "a report shows each run once" folders
        let full (f: string) = Path.TrimEndingDirectorySeparator(Path.GetFullPath f)
        if File.Exists(RunFolder(outFolder).ConfigPath) && not (folders |> Seq.exists (fun f -> full f = full outFolder)) then
            invalidArg "out" $"--out {outFolder} is the folder of another run, whose report.html is its own; give a folder that holds no run"
        HtmlPage.CheckFolder(outFolder, "report.html")

    /// Writes <outFolder>/report.html with plotly.min.js beside it; returns the page's path.
    static member Write(outFolder: string, runs: RunReportData seq, verifyRows: CheckRow seq,
                        [<Optional; DefaultParameterValue(null: Panel seq)>] comparisonPanels: Panel seq) =
        let title =
            match List.ofSeq runs with
            | [ run ] -> $"Report: {run.Name}"
            | runs -> $"Report: {runs.Length} runs"
        HtmlPage.Save(Path.Combine(outFolder, "report.html"), title, Report.Sections(runs, verifyRows, comparisonPanels))
