namespace Research.Core.Training

/// Where a long job stands, reported to the runner (which draws a progress bar or prints lines).
type Progress =
    { /// What is running, e.g. "epoch 3/10" or "log p(x)".
      Stage: string
      Done: int64
      Total: int64
      ItemsPerSecond: float
      /// A running figure to show, e.g. the mean of a training column so far (NaN when there is none),
      Running: float
      /// and what it is, e.g. "train_elbo".
      RunningName: string }

module Progress =
    /// Reports a job of `total` items under `stage` to `report`: the function it returns takes the
    /// items done so far, and the rate counts from the moment it was made.
    let counter (stage: string) (total: int64) (report: Progress -> unit) =
        let clock = System.Diagnostics.Stopwatch.StartNew()
        fun (finished: int64) ->
            report { Stage = stage; Done = finished; Total = total; ItemsPerSecond = float finished / clock.Elapsed.TotalSeconds
                     Running = nan; RunningName = "" }
