namespace Research.Core.Models.Flow

open System
open Research.Core
open Research.Core.Data
open Research.Core.Nn
open Research.Core.Probability

/// One step of a flow: an invertible layer, or a split that factors the second half of the channels
/// out of the flow as a latent of its own (RealNVP's multi-scale architecture, Dinh et al. 2017,
/// sec. 3.6), scored by the prior N(0, I) and kept for the way back.
type FlowStep =
    | Layer of FlowLayer
    | Split

/// The latent of a flow: the parts the splits factored out, in order, and the final part. Every
/// part is N(0, I) under the prior.
type Latent =
    { Factored: Tensor list
      Final: Tensor }

    member z.Parts = z.Factored @ [ z.Final ]

/// A normalizing flow: steps from the data (pixel values 0..255 as floats, [B; C; H; W]) to a
/// latent z ~ N(0, I), with the log-likelihood of the change of variables (seed 004, eq. 46)
///     log p(x) = log p(z) + sum_l log|det dh_l / dh_{l-1}|.
type Flow =
    { Steps: FlowStep list
      Image: ImageShape
      /// The shapes of the latent's parts: the factored ones in order, then the final one.
      Latent: ImageShape list
      /// The generator of the dequantization noise.
      Noise: Generator ref }

    member f.Parameters =
        Parameters.compose [ for i, step in List.indexed f.Steps do match step with Layer l -> yield $"layers.{i}", l.Parameters | Split -> () ]

module Latent =
    /// Applies f to every part (interpolations, scaling).
    let map (f: Tensor -> Tensor) (z: Latent) = { Factored = List.map f z.Factored; Final = f z.Final }

    let map2 (f: Tensor -> Tensor -> Tensor) (a: Latent) (b: Latent) = { Factored = List.map2 f a.Factored b.Factored; Final = f a.Final b.Final }

    /// log p(z) per example [B] under N(0, I), over every part.
    let logPrior (z: Latent) = z.Parts |> List.map (StandardNormal.log_prob_event 3) |> List.reduce (+)

module Flow =
    /// Data -> latent, with the sum of the layers' log|det J| per example [B].
    let encode (flow: Flow) (x: Tensor) =
        let step (z: Tensor, ldj, factored) =
            function
            | Layer l -> let z, ldj = l.Forward (z, ldj) in z, ldj, factored
            | Split ->
                let half = z.shape[1] / 2L
                z.narrow (1, 0L, half), ldj, factored @ [ z.narrow (1, half, half) ]
        let z, ldj, factored = flow.Steps |> List.fold step (x, torch.zeros ([| x.size 0 |], dtype = x.dtype), [])
        { Factored = factored; Final = z }, ldj

    /// Latent -> data: the steps reversed, each split taking back the part it factored out.
    let decode (flow: Flow) (z: Latent) =
        let step (h: Tensor, pending) =
            function
            | Layer l -> l.Reverse h, pending
            | Split ->
                match pending with
                | part :: rest -> torch.cat ([ h; part ], 1), rest
                | [] -> invalidArg "z" "the latent has fewer parts than the flow has splits"
        let x, _ = flow.Steps |> List.rev |> List.fold step (z.Final, List.rev z.Factored)
        x

    /// n latents from the prior, scaled by a temperature, every draw from `generator`.
    let drawLatent (flow: Flow) (n: int) (temperature: float) (generator: Generator) =
        let parts = [ for shape in flow.Latent -> torch.randn (Array.append [| int64 n |] shape.Dims, generator = generator) * temperature ]
        { Factored = List.take (parts.Length - 1) parts; Final = List.last parts }

    /// log p(x) per image [B], in nats, of pixel values 0..255 (dequantized once, so an estimate).
    let logLikelihood (flow: Flow) (x: Tensor) =
        let z, ldj = encode flow x
        Latent.logPrior z + ldj

    /// Bits per dimension of discrete images: -log2 p(x) / D, D = pixels per image. The
    /// dequantization's -D log 256 is inside log p(x), so this is the literature's
    /// bpd = -(log p(v) - D log 256) / (D ln 2) of the continuous v = (x + u) / 256.
    let bitsPerDim (flow: Flow) (logLikelihood: Tensor) = logLikelihood.neg () / (float flow.Image.Pixels * Math.Log 2.0)

    /// Runs `f` with the flow's noise drawn from `generator` (fixed noise for validation and samples).
    let withNoise (flow: Flow) (generator: Generator) (f: unit -> 'T) =
        let saved = flow.Noise.Value
        flow.Noise.Value <- generator
        try f () finally flow.Noise.Value <- saved

    /// n images (pixel values 0..255) drawn at a temperature, every draw from `generator`.
    let sample (flow: Flow) (n: int) (temperature: float) (generator: Generator) =
        withNoise flow generator (fun () -> decode flow (drawLatent flow n temperature generator))
