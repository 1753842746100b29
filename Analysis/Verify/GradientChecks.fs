/// Two unbiased estimators of g = d/dmu E_{z ~ N(mu, sigma^2)}[f(z)]:
///   reparameterisation (Kingma & Welling 2014): z = mu + sigma eps,  g_hat = f'(z)
///   score function (REINFORCE, Williams 1992):   g_hat = f(z) d/dmu log N(z; mu, sigma^2) = f(z) (z - mu) / sigma^2
/// Their means must agree with the analytic gradient; their variances differ (computed exactly by
/// quadrature over eps and compared with the sample variances).
module Research.Analysis.Verify.GradientChecks

open System
open MathNet.Numerics
open MathNet.Numerics.Distributions
open Plotly.NET
open Research.Analysis.Pages

type Case =
    { Name: string
      F: float -> float
      DF: float -> float
      Mu: float
      Sigma: float
      /// d/dmu E[f(z)] in closed form (the value under test)
      AnalyticGradient: float }

let cases =
    [ // E[z^2] = mu^2 + sigma^2
      { Name = "f(z) = z^2"
        F = fun z -> z * z
        DF = fun z -> 2.0 * z
        Mu = 1.0
        Sigma = 1.0
        AnalyticGradient = 2.0 }
      // E[sin z] = sin(mu) exp(-sigma^2 / 2)
      { Name = "f(z) = sin z"
        F = sin
        DF = cos
        Mu = 0.5
        Sigma = 0.8
        AnalyticGradient = cos 0.5 * exp (-0.32) } ]

let private group = "gradient estimators"
let private samples = 200_000

/// The per-draw gradient estimate as a function of eps ~ N(0, 1).
let reparameterisation (c: Case) (eps: float) = c.DF(c.Mu + c.Sigma * eps)
let scoreFunction (c: Case) (eps: float) = c.F(c.Mu + c.Sigma * eps) * eps / c.Sigma

/// Var[g_hat] = E[g_hat^2] - E[g_hat]^2 with both expectations over eps by quadrature on [-15, 15].
let private exactVariance (perDraw: float -> float) =
    let expect (h: float -> float) =
        Integrate.DoubleExponential(Func<float, float>(fun e -> h e * Normal.PDF(0.0, 1.0, e)), -15.0, 15.0, 1e-12)
    expect (fun e -> pown (perDraw e) 2) - pown (expect perDraw) 2

type private Measured =
    { Label: string
      Draws: float[]
      Mean: MonteCarlo.Estimate
      Variance: MonteCarlo.Estimate
      ExactVariance: float }

let private measure (rng: Random) label (perDraw: float -> float) =
    let draws = MonteCarlo.standardNormals rng samples |> Array.map perDraw
    { Label = label
      Draws = draws
      Mean = MonteCarlo.estimate draws
      Variance = MonteCarlo.variance draws
      ExactVariance = exactVariance perDraw }

let private caseRows (rng: Random) (c: Case) =
    let reparam = measure rng "reparameterisation" (reparameterisation c)
    let score = measure rng "score function" (scoreFunction c)
    let ratio = score.Variance.Mean / reparam.Variance.Mean
    let relativeSe (v: MonteCarlo.Estimate) = v.StdError / v.Mean
    let rows =
        [ for m in [ reparam; score ] do
              CheckRow.equal group $"{c.Name}, {m.Label}: mean = analytic gradient, 4 SE" c.AnalyticGradient m.Mean.Mean (4.0 * m.Mean.StdError)
              CheckRow.equal group $"{c.Name}, {m.Label}: sample variance = quadrature, 4 SE" m.ExactVariance m.Variance.Mean (4.0 * m.Variance.StdError)
          // Independent draws, so the difference's SE is the root sum of squares.
          CheckRow.equal
              group
              $"{c.Name}: reparameterisation mean = score-function mean, 4 SE"
              reparam.Mean.Mean
              score.Mean.Mean
              (4.0 * sqrt (reparam.Mean.StdError ** 2.0 + score.Mean.StdError ** 2.0))
          CheckRow.equal
              group
              $"{c.Name}: variance ratio score / reparameterisation, 4 SE"
              (score.ExactVariance / reparam.ExactVariance)
              ratio
              (4.0 * ratio * sqrt (relativeSe score.Variance ** 2.0 + relativeSe reparam.Variance ** 2.0)) ]
    rows, [ reparam; score ]

let run (gradientCases: Case list) (rng: Random) =
    let results = gradientCases |> List.map (caseRows rng)
    let first = List.head gradientCases
    let figure =
        snd (List.head results)
        |> List.map (fun m -> Chart.Histogram(X = m.Draws[..19_999], NBinsX = 200, Name = m.Label))
        |> Chart.combine
        |> Chart.withTitle $"Per-draw gradient estimates, {first.Name}, mu = {first.Mu}, sigma = {first.Sigma} (20,000 draws each)"
        |> Chart.withXAxisStyle "estimate of d/dmu E[f(z)]"
        |> Chart.withYAxisStyle "count"
        |> Charts.withCurveSize
    results |> List.collect fst, figure
