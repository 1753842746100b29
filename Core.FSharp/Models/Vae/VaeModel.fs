module Research.Core.Models.Vae.VaeModel

open Research.Core

/// A freshly initialised VAE of the configured architecture (PyTorch's default initialisation,
/// drawn from the generator).
let create (generator: Generator) (config: VaeConfig) (image: Research.Core.Data.ImageShape) =
    match config.Architecture with
    | Mlp -> MlpVae.create generator config image
    | Conv -> ConvVae.create generator config image
