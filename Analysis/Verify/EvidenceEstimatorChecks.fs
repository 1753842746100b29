/// Estimating log p(x) by sampling the prior, log (1/S) sum_s p(x | z_s) with z_s ~ p(z), against
/// importance sampling with an approximate posterior q, log (1/S) sum_s p(x, z_s) / q(z_s) with
/// z_s ~ q. Both are consistent, but the prior rarely proposes a z that explains x once the latent
/// space has many dimensions, so the naive estimate collapses as the latent size grows.
module Research.Analysis.Verify.EvidenceEstimatorChecks

open System
open MathNet.Numerics.LinearAlgebra
open Plotly.NET
open Research.Analysis.Pages

let private group = "log p(x) estimators (pPCA)"
let latentSizes = [ 1; 2; 5; 10; 20 ]
let private dataDim = 30
let private samplesPerEstimate = 1000
let private repeats = 100

/// Errors of repeated estimates against the exact log p(x).
type ErrorSummary =
    { Bias: float
      Rmse: float }

type LatentResult =
    { LatentDim: int
      Naive: ErrorSummary
      Importance: ErrorSummary
      /// log of the mean of all importance weights (an unbiased estimate of p(x) before the log)
      PooledImportance: MonteCarlo.Estimate
      LogEvidence: float }

let private summarize (logEvidence: float) (estimates: float[]) =
    let errors = estimates |> Array.map (fun e -> e - logEvidence)
    { Bias = Array.average errors
      Rmse = sqrt (errors |> Array.averageBy (fun e -> e * e)) }

/// log of the mean weight over all draws, with the delta-method standard error sd(w) / (mean(w) sqrt n).
let private pooled (logWeights: float[]) =
    let m = Array.max logWeights
    let w = logWeights |> Array.map (fun lw -> exp (lw - m))
    let e = MonteCarlo.estimate w
    { MonteCarlo.Mean = m + log e.Mean
      MonteCarlo.StdError = e.StdError / e.Mean }

let private atLatent (rng: Random) (latentDim: int) =
    let model = Ppca.create rng dataDim latentDim 0.5
    let x = Ppca.sample rng model
    let logEvidence = Ppca.logEvidence model x
    let prior =
        { Ppca.Mean = Vector<float>.Build.Dense latentDim
          Ppca.Cov = Matrix<float>.Build.DiagonalIdentity latentDim }
    // An imperfect encoder: the exact posterior, mean off by 0.2 sd, sd 20% too wide.
    let post = Ppca.posterior model x
    let q =
        { Ppca.Mean = post.Mean + post.Cov.Diagonal().PointwiseSqrt() * 0.2
          Ppca.Cov = post.Cov * 1.44 }
    let draws proposal = Array.init repeats (fun _ -> Ppca.logWeights rng model x proposal samplesPerEstimate)
    let estimates (logWeights: float[][]) = logWeights |> Array.map (fun lw -> MonteCarlo.logMeanExp lw 0 lw.Length)
    let importanceDraws = draws q
    { LatentDim = latentDim
      Naive = summarize logEvidence (estimates (draws prior))
      Importance = summarize logEvidence (estimates importanceDraws)
      PooledImportance = pooled (Array.concat importanceDraws)
      LogEvidence = logEvidence }

let run (rng: Random) =
    let results = latentSizes |> List.map (atLatent rng)
    let first, last = List.head results, List.last results
    let rows =
        [ CheckRow.atMost
              group
              $"latent {last.LatentDim}: RMSE of importance sampling <= RMSE of prior sampling ({samplesPerEstimate} draws, {repeats} repeats)"
              last.Naive.Rmse
              last.Importance.Rmse
              0.0
          CheckRow.atLeast
              group
              $"prior sampling degrades: RMSE at latent {last.LatentDim} >= RMSE at latent {first.LatentDim}"
              first.Naive.Rmse
              last.Naive.Rmse
              0.0
          CheckRow.equal
              group
              $"latent {last.LatentDim}: importance sampling is unbiased for p(x): log mean weight = log p(x), 4 SE"
              last.LogEvidence
              last.PooledImportance.Mean
              (4.0 * last.PooledImportance.StdError) ]
    let sizes = results |> List.map (fun r -> float r.LatentDim)
    let panel yTitle axisType (value: ErrorSummary -> float) showLegend =
        let line name color (summary: LatentResult -> ErrorSummary) =
            Chart.Line(sizes, results |> List.map (summary >> value), Name = name, ShowMarkers = true, LineColor = Color.fromHex color, ShowLegend = showLegend)
        Chart.combine [ line "prior sampling" "#d62728" _.Naive; line "importance sampling" "#1f77b4" _.Importance ]
        |> Chart.withXAxisStyle "latent size"
        |> Chart.withYAxisStyle(yTitle, AxisType = axisType)
    let figure =
        [ panel "nats (log scale)" StyleParam.AxisType.Log _.Rmse true
          panel "nats" StyleParam.AxisType.Linear _.Bias false ]
        |> Chart.Grid(1, 2, SubPlotTitles = [ "RMSE of log p(x) estimate"; "bias of log p(x) estimate" ])
        |> Chart.withTitle $"Estimating log p(x) with {samplesPerEstimate} draws (pPCA, d = {dataDim})"
        |> Chart.withSize (1100, 450)
    rows, figure
