namespace Research.Core.Probability

open Research.Core

/// Sums over the last `eventDims` dimensions of a tensor: the dimensions of one event (a latent
/// vector: 1; an image [C, H, W]: 3), leaving the batch dimensions in front.
module Event =
    let sum (eventDims: int) (t: Tensor) =
        if eventDims < 1 || eventDims > t.dim then invalidArg "eventDims" $"{eventDims} event dimensions of a {t.dim}-d tensor"
        if eventDims = 1 then t.sum (dim = -1) else (t.flatten (t.dim - eventDims)).sum (dim = -1)
