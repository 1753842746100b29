/// The ELBO and the importance-weighted bound (Burda et al. 2016) on probabilistic PCA, where
/// log p(x) and p(z|x) are exact:
///   log p(x) - ELBO(q) = KL(q || p(z|x)) >= 0,   ELBO = IWAE_1 <= IWAE_k <= IWAE_{k'} <= log p(x) for k <= k'
/// (the IWAE bounds are expectations; their Monte-Carlo estimates are compared within standard errors).
module Research.Analysis.Verify.ElboChecks

open System
open MathNet.Numerics.Distributions
open MathNet.Numerics.LinearAlgebra
open MathNet.Numerics.Random
open Plotly.NET
open Research.Analysis.Pages

let private group = "ELBO / IWAE (pPCA)"

/// IWAE_k = E[log (1/k) sum_i w_i], estimated by averaging independent k-sample bounds.
type IwaeEstimate =
    { K: int
      Bound: MonteCarlo.Estimate }

let private ks = [ 1; 5; 50; 500; 5000 ]

/// Averages draws / k independent k-sample bounds, generating the weights a chunk at a time.
let private iwae (seed: int) (model: Ppca.Model) (x: Vector<float>) (q: Ppca.Gaussian) (draws: int) (k: int) =
    let rng = MersenneTwister(seed, false)
    let blocksPerChunk = max 1 (1_000_000 / k)
    let bounds = Array.zeroCreate<float> (draws / k)
    for start in 0 .. blocksPerChunk .. bounds.Length - 1 do
        let blocks = min blocksPerChunk (bounds.Length - start)
        let logW = Ppca.logWeights rng model x q (blocks * k)
        for b in 0 .. blocks - 1 do
            bounds[start + b] <- MonteCarlo.logMeanExp logW (b * k) k
    { K = k; Bound = MonteCarlo.estimate bounds }

/// IWAE_k for every k in `ks`, in parallel, each k with its own generator seeded from `rng`.
let private iwaeCurve (rng: Random) model x q draws =
    let seeds = ks |> List.map (fun _ -> rng.Next())
    List.zip seeds ks |> Array.ofList |> Array.Parallel.map (fun (seed, k) -> iwae seed model x q draws k) |> List.ofArray

/// A random Gaussian q(z|x) near the posterior: mean moved by ~N(0, 0.5^2), covariance A A' + 0.1 I.
let private randomGaussian (rng: Random) (around: Ppca.Gaussian) =
    let k = around.Mean.Count
    let a = Matrix<float>.Build.Dense(k, k, fun _ _ -> Normal.Sample(rng, 0.0, 0.5))
    { Ppca.Mean = around.Mean + Vector<float>.Build.Dense(k, fun _ -> Normal.Sample(rng, 0.0, 0.5))
      Ppca.Cov = a.TransposeAndMultiply a + Matrix<float>.Build.DiagonalIdentity k * 0.1 }

let private setup (rng: Random) =
    let model = Ppca.create rng 5 2 0.5
    let x = Ppca.sample rng model
    model, x, Ppca.logEvidence model x, Ppca.posterior model x

/// The ELBO gap in closed form; `klFormula` is the KL(q || p) between full Gaussians under test.
let runGap (klFormula: Vector<float> -> Matrix<float> -> Vector<float> -> Matrix<float> -> float) (rng: Random) =
    let model, x, logEvidence, post = setup rng
    let gapRows =
        List.init 3 (fun i ->
            let q = randomGaussian rng post
            let elbo = Ppca.elbo model x q
            [ CheckRow.equal group $"random q #{i + 1}: log p(x) - ELBO = KL(q || p(z|x))" (klFormula q.Mean q.Cov post.Mean post.Cov) (logEvidence - elbo) 1e-9
              CheckRow.atMost group $"random q #{i + 1}: ELBO <= log p(x)" logEvidence elbo 0.0 ])
        |> List.concat
    let exactRow =
        CheckRow.equal group "q = p(z|x): ELBO = log p(x)" logEvidence (Ppca.elbo model x post) 1e-9
    gapRows @ [ exactRow ]

/// IWAE_k by Monte Carlo against the exact log p(x) and the closed-form ELBO.
let runIwae (rng: Random) =
    let model, x, logEvidence, post = setup rng
    // An over-dispersed q: in the posterior's whitened coordinates N(delta, 1.5^2 I) with |delta| = 2.5,
    // so chi^2(p || q) = 1.2^k e^(|delta|^2 / 3.5) - 1 ~ 7.6 whatever the model: the weights' variance
    // is finite, yet the bound still rises measurably from k = 500 to 5000 (bias ~ chi^2 / 2k,
    // Maddison et al. 2017).
    let qIw =
        let k = post.Mean.Count
        let delta = Vector<float>.Build.Dense(k, 2.5 / sqrt (float k))
        { Ppca.Mean = post.Mean + post.Cov.Cholesky().Factor * delta
          Ppca.Cov = post.Cov * 2.25 }
    let elboIw = Ppca.elbo model x qIw
    let bounds = iwaeCurve rng model x qIw 10_000_000
    let iwaeRows =
        [ let first = bounds.Head.Bound
          CheckRow.equal group "IWAE_1 (Monte Carlo) = ELBO (closed form), 4 SE" elboIw first.Mean (4.0 * first.StdError)
          for b in bounds do
              CheckRow.atMost group $"IWAE_{b.K} <= log p(x) (4 SE)" logEvidence b.Bound.Mean (4.0 * b.Bound.StdError)
          for prev, next in List.pairwise bounds do
              CheckRow.atLeast group $"IWAE_{next.K} > IWAE_{prev.K}" prev.Bound.Mean next.Bound.Mean 0.0
          let last = List.last bounds
          CheckRow.atLeast
              group
              $"IWAE_{last.K} closes the ELBO gap: (IWAE - ELBO) / (log p(x) - ELBO)"
              0.95
              ((last.Bound.Mean - elboIw) / (logEvidence - elboIw))
              0.0 ]
    // With q = p(z|x) every weight equals p(x): all bounds are exact (only rounding remains).
    let exactBounds = iwaeCurve rng model x post 50_000
    let worst = exactBounds |> List.maxBy (fun b -> abs (b.Bound.Mean - logEvidence))
    let exactIwaeRow =
        CheckRow.equal group $"q = p(z|x): IWAE_k = log p(x) for every k (worst: k = {worst.K})" logEvidence worst.Bound.Mean 1e-9
    let kAxis = ks |> List.map float
    let figure =
        Chart.combine
            [ Chart.Line(kAxis, bounds |> List.map _.Bound.Mean, Name = "IWAE_k (Monte Carlo)", ShowMarkers = true)
              Chart.Line(kAxis, List.replicate ks.Length logEvidence, Name = "log p(x) (exact)")
              Chart.Line(kAxis, List.replicate ks.Length elboIw, Name = "ELBO (closed form)") ]
        |> Chart.withTitle "Importance-weighted bound vs k (pPCA, d = 5, latent 2)"
        |> Chart.withXAxisStyle("k (samples)", AxisType = StyleParam.AxisType.Log)
        |> Chart.withYAxisStyle "nats"
        |> Charts.withCurveSize
    iwaeRows @ [ exactIwaeRow ], figure
