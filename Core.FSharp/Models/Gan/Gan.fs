namespace Research.Core.Models.Gan

open Research.Core
open Research.Core.Data
open Research.Core.Nn

/// A GAN as two functions over their parameters, each told whether it is training (BatchNorm
/// uses batch statistics and updates its running ones, dropout drops) or evaluating:
/// G maps noise z ~ N(0, I) [B; latent] to images [B; C; H; W] in [-1, 1] (tanh), and D maps images
/// to one logit each [B], D(x) = sigmoid(logit) the probability that x is real.
type Gan =
    { Latent: int
      Image: ImageShape
      /// Named as PyTorch state_dicts under "generator." and "discriminator.", BatchNorm's running
      /// statistics included.
      Generator: Parameters
      Discriminator: Parameters
      Generate: bool -> Tensor -> Tensor
      Discriminate: bool -> Tensor -> Tensor }

    /// Both networks' parameters under one state_dict: what the run's model files hold.
    member g.Parameters = Parameters.compose [ "generator", g.Generator; "discriminator", g.Discriminator ]

module Gan =
    /// Images in [0, 1] as the tanh generator's range [-1, 1], and back.
    let toTanhRange (x: Tensor) = x * 2.0 - 1.0
    let ofTanhRange (x: Tensor) = (x + 1.0) * 0.5
