namespace Research.Core.Probability

open System
open Research.Core

/// N(mu, diag(exp logvar)) over the last `eventDims` dimensions (1: vectors, the default), batched
/// over the others. Log-variance parameterised, as encoders output it (Kingma & Welling 2014, appendix C.2).
type DiagonalGaussian(mu: Tensor, logvar: Tensor, ?eventDims: int) =
    static let log2pi = Math.Log(2.0 * Math.PI)
    let eventDims = defaultArg eventDims 1

    member _.mu = mu
    member _.logvar = logvar
    member _.std = (logvar * 0.5).exp()

    /// z = mu + sigma * eps, eps ~ N(0, I): differentiable in mu and logvar (the reparameterisation trick).
    /// eps is drawn in mu's dtype and on its device (float64 models get float64 noise).
    member d.rsample(?generator: Generator) =
        mu + d.std * torch.randn(mu.shape, mu.dtype, mu.device, ?generator = generator)

    /// k samples at once, shape [k; batch; latent].
    member d.rsample(k: int, ?generator: Generator) =
        let shape = Array.append [| int64 k |] mu.shape
        mu + d.std * torch.randn(shape, mu.dtype, mu.device, ?generator = generator)

    /// log N(z; mu, sigma^2) summed over the event:
    /// -1/2 sum_j [ log 2pi + logvar_j + (z_j - mu_j)^2 / sigma_j^2 ].
    member _.log_prob(z: Tensor) =
        let sq = (z - mu).square() * (-logvar).exp()
        Event.sum eventDims (sq + logvar + log2pi) * -0.5

    /// KL(q || N(0, I)) in closed form: 1/2 sum_j [ mu_j^2 + sigma_j^2 - 1 - log sigma_j^2 ].
    member _.kl_standard_normal() =
        Event.sum eventDims (mu.square() + logvar.exp() - logvar - 1.0) * 0.5

/// The standard normal prior p(z) = N(0, I).
module StandardNormal =
    let private log2pi = Math.Log(2.0 * Math.PI)

    /// log N(z; 0, I) summed over the last `eventDims` dimensions (3 for latents [B, C, H, W]).
    let log_prob_event (eventDims: int) (z: Tensor) = Event.sum eventDims (z.square() + log2pi) * -0.5

    /// log N(z; 0, I) summed over the last dimension (a latent vector).
    let log_prob (z: Tensor) = log_prob_event 1 z

    /// Draws of the given shape, dtype and device (those of the model that consumes them).
    let sample (shape: int64[], like: Tensor, generator: Generator option) =
        torch.randn(shape, like.dtype, like.device, ?generator = generator)
