/// The diffusion model's derivations (Ho et al. 2020) against independent computations: the
/// closed-form q(x_t | x_0) against t single steps composed, the posterior q(x_{t-1} | x_t, x_0)
/// against Gaussian conditioning of the joint, the discretized decoder's 256 bins summing to 1,
/// and the bound's terms on a 1-D problem against numerical integration.
module Research.Analysis.Verify.DiffusionChecks

open System
open MathNet.Numerics
open MathNet.Numerics.Distributions
open MathNet.Numerics.LinearAlgebra
open Research.Core
open Research.Core.Models.Diffusion

let private group = "Diffusion"

/// A deliberately imperfect noise predictor for 1-D data, eps(x_t, t) = 0.7 x_t sqrt(1 - alphabar_t):
/// the bound's KL terms are then far from 0, so agreement means something.
let private predictor (s: Schedule) : Ddpm.Predictor =
    fun xt t -> xt * 0.7 * s.At(s.SqrtOneMinusAlphaBar, t)

/// The same in doubles, for the integrals.
let private predict (s: Schedule) (xt: float) (t: int) = 0.7 * xt * sqrt (1.0 - s.AlphaBar[t])

/// The reverse mean of the workspace's formula (eq. 7 at the clipped predicted x_0), in doubles.
let private reverseMean (s: Schedule) (xt: float) (t: int) =
    let x0 = (xt - sqrt (1.0 - s.AlphaBar[t]) * predict s xt t) / sqrt s.AlphaBar[t] |> max -1.0 |> min 1.0
    s.PosteriorX0[t] * x0 + s.PosteriorXt[t] * xt

/// q(x_t | x_0) = N(sqrt(alphabar_t) x_0, 1 - alphabar_t) against x_s = sqrt(alpha_s) x_{s-1} + sqrt(beta_s) eps composed.
let private forwardProcess (s: Schedule) =
    [ for name, sched in [ "linear", s; "cosine", Schedule.create Cosine 1000 ] do
          for t in [ 0; 9; 99; 499; 999 ] do
              let mutable mean, variance = 1.0, 0.0
              for k in 0 .. t do
                  mean <- sqrt sched.Alpha[k] * mean
                  variance <- sched.Alpha[k] * variance + sched.Beta[k]
              yield CheckRow.equal group $"q(x_t | x_0 = 1) mean, {name} schedule, t = {t + 1}: closed form vs {t + 1} steps composed" (sqrt sched.AlphaBar[t]) mean 1e-12
              yield CheckRow.equal group $"q(x_t | x_0) variance, {name} schedule, t = {t + 1}: closed form vs {t + 1} steps composed" (1.0 - sched.AlphaBar[t]) variance 1e-12 ]

/// q(x_{t-1} | x_t, x_0) against conditioning the joint Gaussian of (x_{t-1}, x_t) given x_0.
let private posterior (s: Schedule) =
    [ for t in [ 1; 10; 500; 999 ] do
          let x0, xt = 0.4, -0.3
          let a = s.AlphaBarPrevious[t]
          let mu = Vector<float>.Build.DenseOfArray [| sqrt a * x0; sqrt s.AlphaBar[t] * x0 |]
          let cross = sqrt s.Alpha[t] * (1.0 - a)
          let cov = Matrix<float>.Build.DenseOfArray(array2D [ [ 1.0 - a; cross ]; [ cross; 1.0 - s.AlphaBar[t] ] ])
          let gain = cov[0, 1] / cov[1, 1]
          yield CheckRow.equal group $"posterior mean at t = {t + 1}: eq. 7 vs Gaussian conditioning" (mu[0] + gain * (xt - mu[1])) (s.PosteriorX0[t] * x0 + s.PosteriorXt[t] * xt) 1e-12
          yield CheckRow.equal group $"posterior variance at t = {t + 1}: betatilde vs Gaussian conditioning" (cov[0, 0] - gain * cov[1, 0]) s.PosteriorVariance[t] 1e-12 ]

/// The discretized decoder: P over the 256 bins of [-1, 1] sums to 1, for several means and widths.
let private decoder () =
    use scope = new TensorScope()
    let bins = torch.tensor [| for k in 0..255 -> -1.0 + 2.0 * float k / 255.0 |]
    [ for mean, variance in [ 0.0, 1e-4; 0.93, 1e-3; -1.2, 0.05; 0.5, 1.0 ] ->
          let total = (Bound.discretizedLogLikelihood bins (torch.full ([| 256L |], mean, Float64)) variance).exp().sum().item ()
          CheckRow.equal group $"discretized decoder N({mean}, {variance}): the 256 bins' probabilities sum to 1" 1.0 total 1e-9 ]
    // A bin 20 standard deviations to either side of the mean: log P from the tail that keeps the
    // digits (the other difference of CDFs would round to 0 and log P to -infinity).
    @ [ for side in [ -1.0; 1.0 ] ->
            let sd, x = 0.01, 0.4
            let mean = x - side * 20.0 * sd
            let upper, lower = (x + 1.0 / 255.0 - mean) / sd, (x - 1.0 / 255.0 - mean) / sd
            let cdf z = Normal.CDF(0.0, 1.0, z)
            let exact = log (if side > 0.0 then cdf -lower - cdf -upper else cdf upper - cdf lower)
            let ours = (Bound.discretizedLogLikelihood (torch.tensor [| x |]) (torch.tensor [| mean |]) (sd * sd)).item ()
            let where = if side > 0.0 then "above" else "below"
            CheckRow.equal group $"discretized decoder: log P of a bin 20 sd {where} the mean vs MathNet's CDF" exact ours 1e-9 ]

/// The bound's terms for one 1-D image x_0 (the bin nearest 0.2): L_T against the KL integrated over
/// x_T; L_0 and L_{t-1} at two steps as the expectation over x_t ~ q(x_t | x_0) of the term,
/// integrated (each KL of q(x_{t-1} | x_t, x_0) and p_theta itself integrated over x_{t-1}),
/// against the workspace's term averaged over 200,000 draws of x_t.
let private bound (s: Schedule) (rng: Random) =
    use scope = new TensorScope()
    let x0 = -1.0 + 2.0 * Math.Round((0.2 + 1.0) * 255.0 / 2.0) / 255.0
    let aT = s.AlphaBar[999]
    let integrand z =
        let logQ = Normal.PDFLn(sqrt aT * x0, sqrt (1.0 - aT), z)
        exp logQ * (logQ - Normal.PDFLn(0.0, 1.0, z))
    let priorIntegral = Integrate.DoubleExponential(Func<float, float> integrand, -12.0, 12.0, 1e-12)
    let prior = (Bound.prior s (torch.full ([| 1L; 1L; 1L; 1L |], x0, Float64))).item ()
    let draws = 200_000
    let images = torch.full ([| int64 draws; 1L; 1L; 1L |], x0, Float64)
    use generator = new Generator(int64 (rng.Next()))
    [ yield CheckRow.equal group "L_T of x_0 = 0.2: the workspace's term vs the KL integrated" priorIntegral prior 1e-9
      for t in [ 0; 20; 600 ] do
          let sd = sqrt (1.0 - s.AlphaBar[t])
          let term xt =
              let model = reverseMean s xt t
              if t = 0 then
                  // -log P(the bin of x_0) under N(model, betatilde at step 1), in whichever tail keeps the digits.
                  let sdDecoder = sqrt s.PosteriorVariance[1]
                  let upper, lower = (x0 + 1.0 / 255.0 - model) / sdDecoder, (x0 - 1.0 / 255.0 - model) / sdDecoder
                  let cdf z = Normal.CDF(0.0, 1.0, z)
                  -log (if lower > 0.0 then cdf -lower - cdf -upper else cdf upper - cdf lower)
              else
                  let truth = s.PosteriorX0[t] * x0 + s.PosteriorXt[t] * xt
                  let v = s.PosteriorVariance[t]
                  let inner y =
                      let logQ = Normal.PDFLn(truth, sqrt v, y)
                      exp logQ * (logQ - Normal.PDFLn(model, sqrt v, y))
                  Integrate.DoubleExponential(Func<float, float> inner, truth - 40.0 * sqrt v, truth + 40.0 * sqrt v, 1e-10)
          let mean = sqrt s.AlphaBar[t] * x0
          let outer xt = Normal.PDF(mean, sd, xt) * term xt
          let integral = Integrate.DoubleExponential(Func<float, float> outer, mean - 10.0 * sd, mean + 10.0 * sd, 1e-8)
          let values = (Bound.term s (predictor s) images (torch.full ([| int64 draws |], float t, Dtype.Int64)) generator).toFloat64Array ()
          let mc = MonteCarlo.estimate values
          let name = if t = 0 then "L_0 (the discretized decoder)" else $"L_{t} (step {t + 1})"
          yield CheckRow.equal group $"{name} of x_0 = 0.2: numerical integration vs the workspace's term over {draws} draws of x_t (4 SE)" integral mc.Mean (4.0 * mc.StdError + 1e-9) ]

/// The checks of the linear schedule `s` over T = 1000 (a test passes a wrong one to see them fail),
/// and of the cosine schedule's forward process.
let run (s: Schedule) (rng: Random) : CheckRow list = forwardProcess s @ posterior s @ decoder () @ bound s rng
