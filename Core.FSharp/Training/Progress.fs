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
