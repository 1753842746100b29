/// Sample statistics for Monte-Carlo estimates: a mean with its standard error, and a variance
/// with its standard error.
module Research.Analysis.Verify.MonteCarlo

open MathNet.Numerics.Distributions

type Estimate =
    { Mean: float
      StdError: float }

/// Mean and standard error sd/sqrt(n).
let estimate (samples: float[]) =
    let n = float samples.Length
    let mean = Array.average samples
    let variance = (samples |> Array.sumBy (fun s -> (s - mean) * (s - mean))) / (n - 1.0)
    { Mean = mean
      StdError = sqrt (variance / n) }

/// Sample variance with its standard error sqrt((m4 - s^4) / n), m4 the fourth central moment.
let variance (samples: float[]) =
    let n = float samples.Length
    let mean = Array.average samples
    let m2 = (samples |> Array.sumBy (fun s -> pown (s - mean) 2)) / n
    let m4 = (samples |> Array.sumBy (fun s -> pown (s - mean) 4)) / n
    { Mean = m2 * n / (n - 1.0)
      StdError = sqrt ((m4 - m2 * m2) / n) }

/// n independent standard normal draws.
let standardNormals (rng: System.Random) (n: int) =
    let values = Array.zeroCreate<float> n
    Normal.Samples(rng, values, 0.0, 1.0)
    values

/// log(mean(exp v)) over values[offset .. offset + count - 1], shifted by the maximum so exp cannot overflow.
let logMeanExp (values: float[]) (offset: int) (count: int) =
    let mutable m = System.Double.NegativeInfinity
    for i in offset .. offset + count - 1 do
        m <- max m values[i]
    if System.Double.IsNegativeInfinity m then
        m
    else
        let mutable sum = 0.0
        for i in offset .. offset + count - 1 do
            sum <- sum + exp (values[i] - m)
        m + log (sum / float count)
