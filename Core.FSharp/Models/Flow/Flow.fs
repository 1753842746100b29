namespace Research.Core.Models.Flow

open System
open Research.Core
open Research.Core.Data
open Research.Core.Nn
open Research.Core.Probability

/// A normalizing flow: layers from the data (pixel values 0..255 as floats, [B; C; H; W]) to a
/// latent z ~ N(0, I) (what remains after the splits), with the log-likelihood of the change of
/// variables, log p(x) = log p(z) + sum of the layers' log|det J| (the splits' priors included).
type Flow =
    { Layers: FlowLayer list
      Image: ImageShape
      /// The shape of the final latent (after squeezes and splits).
      Latent: ImageShape
      /// Scales the prior's draws when sampling (1: the model; lower: the smoother, likelier images).
      Temperature: float ref
      /// The generator of the dequantization noise and of the splits' draws when sampling.
      Noise: Generator ref }

    member f.Parameters = Parameters.compose [ for i, l in List.indexed f.Layers -> $"layers.{i}", l.Parameters ]

module Flow =
    /// Data -> latent: (z, sum of log|det J| per example).
    let encode (flow: Flow) (x: Tensor) =
        flow.Layers |> List.fold (fun state (l: FlowLayer) -> l.Forward state) (x, torch.zeros ([| x.size 0 |], dtype = x.dtype))

    /// Latent -> data (the layers reversed).
    let decode (flow: Flow) (z: Tensor) = flow.Layers |> List.rev |> List.fold (fun z (l: FlowLayer) -> l.Reverse z) z

    /// log p(x) per image [B], in nats, of pixel values 0..255 (dequantized once, so an estimate).
    let logLikelihood (flow: Flow) (x: Tensor) =
        let z, ldj = encode flow x
        StandardNormal.log_prob_event 3 z + ldj

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
        withNoise flow generator (fun () ->
            flow.Temperature.Value <- temperature
            try
                let z = torch.randn (Array.append [| int64 n |] flow.Latent.Dims, generator = generator) * temperature
                decode flow z
            finally
                flow.Temperature.Value <- 1.0)
