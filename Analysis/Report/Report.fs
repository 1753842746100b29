namespace Research.Analysis.Report

open System
open System.IO
open Research.Analysis.Plotly
open Research.Analysis.Verify

/// report.html for one or several trained runs, built from plain data.
[<AbstractClass; Sealed>]
type Report =
    static let epochs (metrics: MetricsTable) =
        metrics.TryColumn "epoch" |> Option.defaultWith (fun () -> Array.init metrics.Rows.Length (fun i -> float (i + 1)))

    static let columnsWhere (metrics: MetricsTable) (keep: string -> bool) =
        metrics.Columns |> Array.filter keep |> Array.choose (fun c -> metrics.TryColumn c |> Option.map (fun v -> c, v))

    static let curves (metrics: MetricsTable) (keep: string -> bool) title =
        let x = epochs metrics
        columnsWhere metrics keep
        |> Array.map (fun (name, y) -> Chart.Scatter(x, y, LinesMarkers, Name = name))
        |> Chart.combine
        |> Chart.withTitle title
        |> Chart.withXAxisTitle "epoch"
        |> Chart.withYAxisTitle "nats per image"

    static let isElbo (c: string) = c.Contains("elbo", StringComparison.OrdinalIgnoreCase)

    static let isTerm (c: string) =
        c.Contains("kl", StringComparison.OrdinalIgnoreCase) || c.Contains("recon", StringComparison.OrdinalIgnoreCase)

    /// The validation ELBO column if there is one, else the first ELBO column.
    static let headlineElbo (metrics: MetricsTable) =
        metrics.Columns |> Array.filter isElbo |> Array.sortBy (fun c -> if c.StartsWith "val" then 0 else 1) |> Array.tryHead

    static let image (title: string) (png: byte[]) = Chart.Image png |> Chart.withTitle title

    static let latentScatter (points: LatentPoints) =
        if points.X.Length <> points.Y.Length || points.X.Length <> points.Labels.Length then
            invalidArg "Latents" $"latent points: {points.X.Length} x, {points.Y.Length} y, {points.Labels.Length} labels"
        points.Labels
        |> Array.distinct
        |> Array.sort
        |> Array.map (fun digit ->
            let idx = Array.indexed points.Labels |> Array.filter (fun (_, l) -> l = digit) |> Array.map fst
            Chart.Scatter(idx |> Array.map (fun i -> points.X[i]), idx |> Array.map (fun i -> points.Y[i]), Markers, Name = string digit))
        |> Chart.combine
        |> Chart.withTitle $"Latent codes coloured by digit ({points.Method})"
        |> Chart.withSize (800, 650)

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
        Table([| yield "setting"; yield! runs |> List.map _.Name |], rows)

    static let runSections (run: RunReportData) =
        [ yield Heading(2, run.Name)
          yield
              Plot(
                  [ curves run.Metrics isElbo "ELBO (train and validation)"
                    curves run.Metrics isTerm "KL and reconstruction terms" ]
                  |> Chart.Grid(1, 2)
                  |> Chart.withTitle $"{run.Name}: training curves"
              )
          if run.Samples.Length > 0 then
              yield Heading(3, "Samples")
          for grid in run.Samples do
              yield Plot(image $"Samples after epoch {grid.Epoch} ({grid.Caption})" grid.Png)
          match run.Reconstructions with
          | Some png -> yield Plot(image "Reconstructions (originals above, decodings below)" png)
          | None -> ()
          match run.Manifold with
          | Some png -> yield Plot(image "2-d latent manifold (decoder means over a grid of z)" png |> Chart.withSize (700, 700))
          | None -> ()
          match run.Latents with
          | Some points -> yield Plot(latentScatter points)
          | None -> ()
          match run.Interpolations with
          | Some png -> yield Plot(image "Latent interpolations" png)
          | None -> () ]

    static let comparison (runs: RunReportData list) =
        let overlay =
            runs
            |> List.choose (fun run ->
                headlineElbo run.Metrics
                |> Option.map (fun column ->
                    Chart.Scatter(epochs run.Metrics, (run.Metrics.TryColumn column).Value, LinesMarkers, Name = $"{run.Name} ({column})")))
            |> Chart.combine
            |> Chart.withTitle "ELBO across runs"
            |> Chart.withXAxisTitle "epoch"
            |> Chart.withYAxisTitle "nats per image"
        [ Heading(2, "Comparison"); Plot overlay ]

    /// The page's sections (exposed so tests can count the figures).
    static member Sections(runs: RunReportData seq, verifyRows: CheckRow seq) =
        let runs = List.ofSeq runs
        let verifyRows = Array.ofSeq verifyRows
        [ if runs.Length > 1 then
              yield! comparison runs
          yield Heading(2, "Configuration")
          yield configTable runs
          if runs.Length > 1 then
              yield Paragraph "* marks settings that differ between runs."
          for run in runs do
              yield! runSections run
          yield Heading(2, "Numerical checks (verify)")
          if verifyRows.Length = 0 then
              yield Paragraph "verify was not run for this report."
          else
              yield Html(VerifyTable.Html verifyRows) ]

    /// Writes <outFolder>/report.html with plotly.min.js beside it; returns the page's path.
    static member Write(outFolder: string, runs: RunReportData seq, verifyRows: CheckRow seq) =
        let title =
            match List.ofSeq runs with
            | [ run ] -> $"Report: {run.Name}"
            | runs -> $"Report: {runs.Length} runs"
        HtmlPage.Save(Path.Combine(outFolder, "report.html"), title, Report.Sections(runs, verifyRows))
