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
    /// Reports a job of `total` items under `stage` to `report`, with a running figure named
    /// `runningName`: the function it returns takes the items done so far and the figure (NaN for
    /// none yet), and the rate counts from the moment it was made.
    let withRunning (stage: string) (total: int64) (runningName: string) (report: Progress -> unit) =
        let clock = System.Diagnostics.Stopwatch.StartNew()
        fun (finished: int64) (running: float) ->
            report { Stage = stage; Done = finished; Total = total; ItemsPerSecond = float finished / clock.Elapsed.TotalSeconds
                     Running = running; RunningName = runningName }

    /// withRunning without a running figure: the function it returns takes the items done so far.
    let counter (stage: string) (total: int64) (report: Progress -> unit) =
        let progress = withRunning stage total "" report
        fun (finished: int64) -> progress finished nan
