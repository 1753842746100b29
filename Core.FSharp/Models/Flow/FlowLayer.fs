namespace Research.Core.Models.Flow

open Research.Core
open Research.Core.Nn

/// One invertible layer of a normalizing flow, as in the UvA tutorial: `Forward (z, ldj)` maps data
/// towards the latent and adds log|det dz'/dz| per example to ldj [B]; `Reverse z` is its inverse
/// (towards the data). A flow's log-likelihood is then (seed 004, eq. 46)
///     log p(x) = log p(z) + sum_l log|det dh_l / dh_{l-1}|.
type FlowLayer =
    { Name: string
      Parameters: Parameters
      Forward: Tensor * Tensor -> Tensor * Tensor
      Reverse: Tensor -> Tensor }

module FlowLayer =
    /// Sums over every dimension but the batch: [B; ...] -> [B].
    let perExample (t: Tensor) = t.flatten(1).sum (dim = 1)
