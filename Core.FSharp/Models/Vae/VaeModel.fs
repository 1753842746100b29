module Research.Core.Models.Vae.VaeModel

open Research.Core

/// A freshly initialised VAE of the configured architecture (PyTorch's default initialisation,
/// drawn from the generator).
let create (generator: Generator) (config: VaeConfig) =
    match config.Architecture with
    | Mlp -> MlpVae.create generator config
    | Conv -> ConvVae.create generator config
