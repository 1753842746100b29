/// The fully connected VAE of Kingma & Welling (2014, appendix C) and pytorch/examples:
/// pixels -> hidden (ReLU) -> (mu, logvar) for q(z|x); latent -> hidden (ReLU) -> pixels for p(x|z).
module Research.Core.Models.Vae.MlpVae

open Research.Core
open Research.Core.Data
open Research.Core.Nn
open Research.Core.Probability

/// hidden layers h_{i+1} = relu(W_i h_i + b_i), named "<prefix>.<i>".
let private reluStack (layers: Linear list) (x: Tensor) =
    layers |> List.fold (fun h (l: Linear) -> (l.forward h).relu ()) x

let private named (prefix: string) (layers: Linear list) =
    layers |> List.mapi (fun i (l: Linear) -> $"{prefix}.{i}", l.parameters)

let create (generator: Generator) (config: VaeConfig) (image: ImageShape) =
    let sizes = image.Pixels :: config.Hidden
    let pairs (s: int list) = List.pairwise s
    let encoderHidden = [ for a, b in pairs sizes -> Linear.create (generator, a, b) ]
    let last = List.last config.Hidden
    let mu = Linear.create (generator, last, config.Latent)
    let logvar = Linear.create (generator, last, config.Latent)
    let decoderSizes = config.Latent :: List.rev config.Hidden
    let decoderHidden = [ for a, b in pairs decoderSizes -> Linear.create (generator, a, b) ]
    let out = Linear.create (generator, List.head config.Hidden, image.Pixels)
    let pixelLogvar, pixelParameters = PixelLikelihood.logVariance config.Likelihood
    let parameters =
        Parameters.compose [
            "encoder", Parameters.compose (named "hidden" encoderHidden @ [ "mu", mu.parameters; "logvar", logvar.parameters ])
            "decoder", Parameters.compose (named "hidden" decoderHidden @ [ "out", out.parameters ] @ pixelParameters) ]
    { Latent = config.Latent
      Image = image
      Parameters = parameters
      Encode =
        fun x ->
            let h = reluStack encoderHidden x
            DiagonalGaussian(mu.forward h, logvar.forward h)
      Decode = fun z -> PixelLikelihood.ofDecoderOutput config.Likelihood pixelLogvar (out.forward (reluStack decoderHidden z)) }
