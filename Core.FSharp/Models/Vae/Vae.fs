namespace Research.Core.Models.Vae

open Research.Core
open Research.Core.Data
open Research.Core.Nn
open Research.Core.Probability

/// A VAE as two functions over its parameters: the encoder q(z|x) = N(mu(x), diag sigma^2(x)) and
/// the decoder p(x|z); the prior is N(0, I). Images are flat, [batch; pixels]; latents [...; batch; latent].
type Vae =
    { Latent: int
      /// The shape of the images the model was built for.
      Image: ImageShape
      /// Named as a PyTorch state_dict ("encoder.hidden.0.weight", ...), so PyTorch can rebuild the model.
      Parameters: Parameters
      Encode: Tensor -> DiagonalGaussian
      Decode: Tensor -> PixelDistribution }

/// The terms of the per-example ELBO, each [batch].
type ElboTerms =
    { /// E_q[log p(x|z)], a one-sample estimate.
      Recon: Tensor
      /// KL(q(z|x) || p(z)), in closed form.
      Kl: Tensor }
    /// ELBO = E_q[log p(x|z)] - KL(q || p) <= log p(x)   (Kingma & Welling 2014, eq. 3).
    member t.Elbo = t.Recon - t.Kl
