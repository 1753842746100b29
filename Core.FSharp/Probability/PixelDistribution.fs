namespace Research.Core.Probability

open System
open Research.Core

/// The decoder's observation model p(x|z): independent pixels, batched over the leading dimensions.
/// log_prob sums over the last dimension (flat images [...; pixels]) or over the last `eventDims`
/// (images [...; C; H; W]: 3).
type PixelDistribution =
    /// Bernoulli(sigmoid(logits)) per pixel, for binarized images.
    | BernoulliLogits of logits: Tensor
    /// N(mean, exp(logvar)) per pixel, for grey-level images; logvar broadcasts
    /// (a constant for a fixed variance, a learned parameter otherwise).
    | Gaussian of mean: Tensor * logvar: Tensor

    /// log p(x|z) summed over pixels. Bernoulli: sum x log s(l) + (1-x) log(1-s(l)) = -BCE_with_logits(l, x);
    /// Gaussian: -1/2 sum [log 2pi + logvar + (x - mean)^2 / exp(logvar)].
    member d.log_prob(x: Tensor, ?eventDims: int) =
        let eventDims = defaultArg eventDims 1
        // The fused Bernoulli kernel sums over the last dimension: an image event becomes one.
        let flat (t: Tensor) = if eventDims = 1 then t else t.flatten (t.dim - eventDims)
        match d with
        | BernoulliLogits logits -> Bernoulli.log_prob (flat logits, flat x)
        | Gaussian(mean, logvar) ->
            let perPixel = (x - mean).square() * (-logvar).exp() + logvar + Math.Log(2.0 * Math.PI)
            Event.sum eventDims (perPixel.expand_as mean) * -0.5

    /// E[x|z], the image a decoder "means".
    member d.mean =
        match d with
        | BernoulliLogits logits -> logits.sigmoid()
        | Gaussian(mean, _) -> mean

    /// A draw x ~ p(x|z).
    member d.sample(?generator: Generator) =
        match d with
        | BernoulliLogits logits -> torch.bernoulli(logits.sigmoid(), ?generator = generator)
        | Gaussian(mean, logvar) -> mean + (logvar * 0.5).exp() * torch.randn(mean.shape, mean.dtype, mean.device, ?generator = generator)
