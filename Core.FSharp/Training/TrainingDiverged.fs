namespace Research.Core.Training

open System

/// Training stopped because the loss became NaN, infinite or exploded; the last good checkpoint is kept.
type TrainingDivergedException(message: string) =
    inherit Exception(message)

module Divergence =
    /// A loss beyond this magnitude is taken as exploding (a 784-pixel image costs at most a few
    /// thousand nats per example under any sane model).
    let explodingLoss = 1e10

    /// Throws TrainingDivergedException when the loss is not a finite, sane number.
    let check (epoch: int) (step: int) (loss: float) =
        if Double.IsNaN loss || Double.IsInfinity loss || abs loss > explodingLoss then
            let what = if Double.IsNaN loss then "NaN" elif Double.IsInfinity loss then "infinite" else $"exploding ({loss:G4})"
            raise (TrainingDivergedException $"the loss became {what} at epoch {epoch}, step {step}")
