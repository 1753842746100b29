namespace Research.Analysis.Report

open System
open System.IO
open Research.Core.Training

/// Everything the report shows for one run, as plain data.
type RunReportData =
    { Name: string
      /// config.json flattened (ConfigJson.flatten)
      Config: (string * string)[]
      Metrics: MetricsTable
      /// The metric that compares runs (config.json's "headline"), if the run names one.
      Headline: Headline option
      Panels: Panel list }

module RunReportData =
    /// Curves of metrics.csv: a column beside its validation twin ("train_elbo" or "elbo" with
    /// "val_elbo"), one panel each, with the reference lines (column, label, value) of its columns;
    /// epoch and seconds are axes, not curves.
    let curves (metrics: MetricsTable) (references: (string * string * float) list) =
        let epochs = metrics.TryColumn "epoch" |> Option.defaultWith (fun () -> Array.init metrics.Rows.Length (fun i -> float (i + 1)))
        let stem (c: string) = if c.StartsWith "train_" then c.Substring 6 elif c.StartsWith "val_" then c.Substring 4 else c
        metrics.Columns
        |> Array.filter (fun c -> c <> "epoch" && c <> "seconds")
        |> Array.groupBy stem
        |> Array.map (fun (name, columns) ->
            let series = [ for c in columns -> { Name = c; X = epochs; Y = (metrics.TryColumn c).Value } ]
            let lines = references |> List.filter (fun (c, _, _) -> Array.contains c columns) |> List.map (fun (_, l, v) -> l, v) |> List.distinct
            Curves(name, name, series, lines))
        |> List.ofArray

    /// The grids of images/, one panel per kind with a frame per epoch.
    let images (run: RunFolder) =
        [ for kind, frames in run.Images() ->
              Images(kind, "", [ for epoch, path in frames -> $"epoch {epoch}", File.ReadAllBytes path ]) ]

    /// A run folder as the report shows it: its config, its metrics' curves and its image grids,
    /// then what its family adds (Score.runReport: reference lines, panels from the model, evaluations and scores).
    let read (folder: string) (references: (string * string * float) list, familyPanels: Panel list) =
        let run = RunFolder folder
        let config = ConfigJson.read run.ConfigPath
        let metrics = MetricsTable.read run.MetricsPath
        let value key = config |> Array.tryFind (fst >> (=) key) |> Option.map snd
        let headline =
            match value "headline", value "better" with
            | Some column, Some "higher" -> Some { Column = column; Better = Higher }
            | Some column, Some "lower" -> Some { Column = column; Better = Lower }
            | _ -> None
        { Name = run.Name
          Config = config
          Metrics = metrics
          Headline = headline
          // A family's notes come first, above the figures they qualify.
          Panels =
            let notes, panels = familyPanels |> List.partition (function Note _ -> true | _ -> false)
            notes @ curves metrics references @ images run @ panels }
