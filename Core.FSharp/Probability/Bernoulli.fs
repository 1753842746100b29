namespace Research.Core.Probability

#nowarn "9"

open System.Runtime.InteropServices
open Research.Core
open Research.Core.Native

/// Independent Bernoulli(sigmoid(l)) pixels given by their logits l.
module Bernoulli =
    /// log p(x | l) = sum_j [ x_j l_j - log(1 + exp l_j) ] over the last dimension, for targets x in
    /// [0, 1] of l's shape or broadcasting to it; = -BCE_with_logits(l, x) summed over pixels.
    /// Differentiable in l (d/dl = x - sigmoid(l)); one fused pass each way (native/bernoulli.cpp).
    let log_prob (logits: Tensor, x: Tensor) =
        logits.Op2(x, fun (l, y, o) -> ts_bernoulli_log_prob (l, y, o))
