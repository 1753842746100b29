/// From discrete pixels to a continuous density (Dinh et al. 2017, sec. 4.1; the UvA tutorial):
/// uniform dequantization x -> (x + u) / 256 with u ~ U[0, 1), which costs log 256 per dimension,
/// then the logit transform y = logit(alpha + (1 - 2 alpha) v), so the flow works on the real line.
module Research.Core.Models.Flow.Dequantization

open System
open Research.Core
open Research.Core.Nn

/// alpha keeps the logit away from 0 and 1 (the UvA tutorial's 1e-5).
let alpha = 1e-5

/// The logit pre-transform on v in (0, 1) with its log-determinant:
///   y = log s - log(1 - s),  s = alpha + (1 - 2 alpha) v,
///   log|dy/dv| = log(1 - 2 alpha) - log s - log(1 - s) per dimension.
let logit: FlowLayer =
    { Name = "logit"
      Parameters = Parameters.create []
      Forward =
        fun (v, ldj) ->
            let s = v * (1.0 - 2.0 * alpha) + alpha
            let logDet = (s.log () + (s.neg () + 1.0).log ()).neg () + Math.Log(1.0 - 2.0 * alpha)
            s.log () - (s.neg () + 1.0).log (), ldj + FlowLayer.perExample logDet
      Reverse = fun y -> (y.sigmoid () - alpha) / (1.0 - 2.0 * alpha) }

/// Uniform dequantization of pixel values 0..255: v = (x + u) / 256, u ~ U[0, 1) from the flow's
/// noise generator; the density of v is 256^D times that of the discrete x, hence ldj -= D log 256.
/// The reverse quantizes: x = floor(256 v), clamped to 0..255.
let uniform (noise: Generator ref) : FlowLayer =
    { Name = "dequantize"
      Parameters = Parameters.create []
      Forward =
        fun (x, ldj) ->
            let u = torch.rand (x.shape, dtype = x.dtype, generator = noise.Value)
            let dims = float (x.numel / x.size 0)
            (x + u) / 256.0, ldj - dims * Math.Log 256.0
      Reverse = fun v -> (v * 256.0).floor().clamp (min = 0.0, max = 255.0) }
