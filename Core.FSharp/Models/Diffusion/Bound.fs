/// The variational bound on -log p(x_0) of a diffusion model (Ho et al. 2020, eq. 5 and section
/// 3.3), for images of 8-bit pixels scaled to [-1, 1], in nats per image:
///   L = L_T + sum_{t >= 1} L_{t-1} + L_0,
///   L_T = KL(q(x_T | x_0) || N(0, I)),
///   L_{t-1} = KL(q(x_{t-1} | x_t, x_0) || p_theta(x_{t-1} | x_t)), both Gaussian with variance betatilde_t,
///   L_0 = -log p_theta(x_0 | x_1), the discretized Gaussian decoder over the 256 pixel bins (eq. 13).
/// Here the steps are 0-based: the term at step 0 is L_0, at step t >= 1 the KL of step t, and the
/// decoder's variance is betatilde at step 1 (that at step 0 is 0), as Ho et al.'s code clips it.
module Research.Core.Models.Diffusion.Bound

open System
open Research.Core

/// The standard normal CDF as erfc, accurate far into the lower tail.
let private phi (x: Tensor) = (x / -sqrt 2.0).erfc () * 0.5

/// log P(x) per pixel of the bins of 256 levels of [-1, 1] (width 2/255, the two end bins reaching
/// to -inf and +inf) under N(mean, variance): the discretized Gaussian of eq. 13, in float64. A
/// bin above the mean is measured by the mirror image, so that neither tail rounds to 0.
let discretizedLogLikelihood (x: Tensor) (mean: Tensor) (variance: float) =
    use scope = new TensorScope()
    let x, mean = x.``to`` Float64, mean.``to`` Float64
    let sd = sqrt variance
    let upper = (x - mean + 1.0 / 255.0) / sd
    let lower = (x - mean - 1.0 / 255.0) / sd
    let mass =
        torch.where (x.lt (-0.999), phi upper,
            torch.where (x.gt 0.999, phi (lower.neg ()),
                torch.where (lower.gt 0.0, phi (lower.neg ()) - phi (upper.neg ()), phi upper - phi lower)))
    scope.MoveToOuter(mass.clamp(min = 1e-300).log ())

/// L_T per image: KL(N(sqrt(alphabar) x_0, 1 - alphabar) || N(0, 1)) summed over pixels.
let prior (s: Schedule) (x0: Tensor) =
    use scope = new TensorScope()
    let a = s.AlphaBar[s.Steps - 1]
    let x = x0.``to`` Float64
    scope.MoveToOuter(((x.square () * a + (1.0 - a) - 1.0 - log (1.0 - a)) * 0.5).flatten(1).sum 1)

/// The bound's term at step t [B] (int64, one step per image), per image: L_0 at step 0, L_t
/// above, for x_t drawn from q(x_t | x_0) with the generator.
let term (s: Schedule) (eps: Ddpm.Predictor) (x0: Tensor) (t: Tensor) (generator: Generator) =
    use scope = new TensorScope()
    let xt = Ddpm.qSample s x0 t (torch.randn (x0.shape, generator = generator))
    let modelMean = (Ddpm.reverseMean s eps xt t).``to`` Float64
    let trueMean = (s.At(s.PosteriorX0, t) * x0 + s.At(s.PosteriorXt, t) * xt).``to`` Float64
    let variance = (s.At(s.PosteriorVariance, t)).``to`` Float64
    let kl = ((trueMean - modelMean).square () / (variance * 2.0)).flatten(1).sum 1
    let decoder = -(discretizedLogLikelihood x0 modelMean s.PosteriorVariance[1]).flatten(1).sum 1
    scope.MoveToOuter(torch.where (t.eq 0.0, decoder, kl))

/// The bound per image in nats: L_T + T E_t[term], with one step t drawn uniformly per image
/// (an unbiased estimate of L), or, with `allSteps`, the exact sum over every step, telling
/// `stepsDone` how many of the T terms are summed after each (T network passes take minutes).
let perImage (stepsDone: int -> unit) (s: Schedule) (eps: Ddpm.Predictor) (x0: Tensor) (allSteps: bool) (generator: Generator) =
    use scope = new TensorScope()
    let n = x0.size 0
    let total =
        if allSteps then
            List.fold (fun (sum: Tensor) t ->
                           let sum = sum + term s eps x0 (torch.full ([| n |], float t, Dtype.Int64)) generator
                           stepsDone (t + 1)
                           sum)
                (prior s x0) [ 0 .. s.Steps - 1 ]
        else
            prior s x0 + term s eps x0 (torch.randint (0L, int64 s.Steps, [| n |], generator = generator)) generator * float s.Steps
    scope.MoveToOuter total

/// Nats per image as bits per dimension (pixels per image `dims`).
let bitsPerDim (nats: float) (dims: int) = nats / (float dims * Math.Log 2.0)
