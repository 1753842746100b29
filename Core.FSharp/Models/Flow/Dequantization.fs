/// From discrete pixels to a continuous density (Dinh et al. 2017, sec. 4.1; the UvA tutorial):
/// uniform dequantization x -> (x + u) / 256 with u ~ U[0, 1), which costs log 256 per dimension,
/// or variational dequantization (Ho et al. 2019, Flow++, sec. 3.1), where u ~ q(u | x) is itself a
/// flow conditioned on the image; then the logit transform y = logit(alpha + (1 - 2 alpha) v), so
/// the flow works on the real line.
module Research.Core.Models.Flow.Dequantization

open System
open Research.Core
open Research.Core.Data
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

/// The sigmoid from the real line to (0, 1) with its log-determinant,
///   log|du/de| = log sigma(e) + log sigma(-e) per dimension.
let private sigmoid (e: Tensor, ldj) =
    e.sigmoid (), ldj + FlowLayer.perExample (e.logsigmoid () + (e.neg ()).logsigmoid ())

/// The dequantization flow's size: checkerboard couplings with conv nets of this many channels
/// (the UvA tutorial's MNIST flow uses 4 couplings of 16 channels).
let variationalCouplings, variationalHidden = 4, 16

/// The flow of q(u | x): checkerboard couplings on the noise, each conditioned on the image.
let noiseFlow (generator: Generator) (image: ImageShape) (dtype: Dtype) =
    [ for i in 0 .. variationalCouplings - 1 ->
          Coupling.conditional generator image (Coupling.checkerboard image.Height image.Width (i % 2 = 1) dtype) variationalHidden image.Channels dtype ]

/// u0 in [0, 1) -> u = sigmoid(g(logit(u0); x)) in (0, 1), adding log|du/du0| to ldj; g's couplings
/// see the image x (pixel values 0..255) scaled to [-1, 1].
let transformNoise (flow: Coupling.Conditional list) (x: Tensor) (u0: Tensor, ldj: Tensor) =
    let condition = Some (x / 127.5 - 1.0)
    let e, ldj = logit.Forward (u0, ldj)
    let e, ldj = flow |> List.fold (fun state c -> c.Forward condition state) (e, ldj)
    sigmoid (e, ldj)

/// Variational dequantization: v = (x + u) / 256 with u from `transformNoise` of u0 ~ U[0, 1). Its
/// log-determinant is -log q(u | x), so ldj gains -log q(u | x) - D log 256 and log p(x) becomes the
/// variational bound
///   log P(x) >= E_q[ log p(v) - D log 256 - log q(u | x) ]   (Flow++, eq. 12).
/// At initialisation g is the identity and q is uniform, as in `uniform`. The reverse quantizes.
let variational (generator: Generator) (noise: Generator ref) (image: ImageShape) (dtype: Dtype) : FlowLayer =
    let flow = noiseFlow generator image dtype
    { Name = "dequantize"
      Parameters = Parameters.compose [ for i, c in List.indexed flow -> $"flows.{i}", c.Parameters ]
      Forward =
        fun (x, ldj) ->
            let u0 = torch.rand (x.shape, dtype = x.dtype, generator = noise.Value)
            let u, ldj = transformNoise flow x (u0, ldj)
            (x + u) / 256.0, ldj - float image.Pixels * Math.Log 256.0
      Reverse = (uniform noise).Reverse }
