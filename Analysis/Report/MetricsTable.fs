namespace Research.Analysis.Report

open Research.Core.Training

/// A run's per-epoch metrics as plain data: column names (epoch, train_elbo, val_elbo, kl, recon,
/// ..., as the runner's metrics.csv has them) and one row of numbers per epoch (NaN: not computed).
type MetricsTable =
    { Columns: string[]
      Rows: float[][] }

    member t.TryColumn(name: string) =
        t.Columns
        |> Array.tryFindIndex ((=) name)
        |> Option.map (fun i -> t.Rows |> Array.map (fun row -> row[i]))

module MetricsTable =
    let ofLog (log: MetricsLog) = { Columns = log.Columns; Rows = log.Rows }

    /// A run folder's metrics.csv, read (and checked) by the runner's own MetricsLog.
    let read (path: string) = ofLog (MetricsLog.Open path)
