namespace Research.Core.Nn

open Research.Core

/// torch.nn.Dropout (Srivastava et al. 2014): in training, zeroes each element with probability p
/// and scales the rest by 1 / (1 - p); the identity in evaluation.
type Dropout =
    { p: float }

    member d.forward(x: Tensor, training: bool, ?generator: Generator) =
        F.dropout (x, d.p, training, ?generator = generator)

    static member create(p: float) =
        if p < 0.0 || p > 1.0 then invalidArg "p" $"dropout probability must be in [0, 1], got {p}"
        { p = p }
