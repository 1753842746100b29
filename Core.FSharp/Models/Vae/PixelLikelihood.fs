/// How a decoder's last layer becomes p(x|z), shared by every VAE architecture.
module Research.Core.Models.Vae.PixelLikelihood

open Research.Core
open Research.Core.Nn
open Research.Core.Probability

/// The decoder's output layer read as a pixel distribution: Bernoulli logits, or a Gaussian whose
/// mean is squashed into [0, 1] with a fixed or learned (scalar) log-variance.
let ofDecoderOutput (likelihood: LikelihoodKind) (logvar: Tensor option) (out: Tensor) =
    match likelihood, logvar with
    | Bernoulli, _ -> BernoulliLogits out
    | (GaussianFixed _ | GaussianLearned), Some lv -> Gaussian(out.sigmoid (), lv)
    | _, None -> invalidArg "logvar" "a Gaussian likelihood needs its log-variance"

/// The Gaussian likelihood's log-variance as "pixel.logvar": a buffer log sigma^2 for a fixed sigma,
/// a learned [1] parameter (starting at sigma = 1) otherwise; nothing for Bernoulli.
let logVariance (likelihood: LikelihoodKind) =
    match likelihood with
    | Bernoulli -> None, []
    | GaussianFixed sigma ->
        let lv = torch.full ([| 1L |], 2.0 * log sigma)
        Some lv, [ "pixel", Parameters.create ([], [ "logvar", lv ]) ]
    | GaussianLearned ->
        let lv = torch.zeros([| 1L |]).requires_grad_ ()
        Some lv, [ "pixel", Parameters.create [ "logvar", lv ] ]
