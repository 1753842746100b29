/// Closed forms for Gaussians (the "analytic" side of the checks).
module Research.Analysis.Verify.Gaussians

open MathNet.Numerics.LinearAlgebra

let log2Pi = log (2.0 * System.Math.PI)

/// KL(N(mu, sigma^2) || N(0, 1)) = (mu^2 + sigma^2 - 1)/2 - log sigma  (Kingma & Welling 2014, app. B)
let klStdNormal (mu: float) (sigma: float) = 0.5 * (mu * mu + sigma * sigma - 1.0) - log sigma

/// KL(N(m1, s1^2) || N(m2, s2^2)) = log(s2/s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2
let klNormal (m1: float) (s1: float) (m2: float) (s2: float) =
    log (s2 / s1) + (s1 * s1 + (m1 - m2) * (m1 - m2)) / (2.0 * s2 * s2) - 0.5

/// Between diagonal Gaussians the KL is the sum over coordinates.
let klDiagonal (m1: float[]) (s1: float[]) (m2: float[]) (s2: float[]) =
    Array.init m1.Length (fun i -> klNormal m1[i] s1[i] m2[i] s2[i]) |> Array.sum

/// KL(N(m1, S1) || N(m2, S2)) = [tr(S2^-1 S1) + (m2-m1)' S2^-1 (m2-m1) - k + ln|S2| - ln|S1|] / 2
let klFull (m1: Vector<float>) (s1: Matrix<float>) (m2: Vector<float>) (s2: Matrix<float>) =
    let chol2 = s2.Cholesky()
    let d = m2 - m1
    0.5 * ((chol2.Solve s1).Trace() + d.DotProduct(chol2.Solve d) - float m1.Count
           + chol2.DeterminantLn - s1.Cholesky().DeterminantLn)

/// log N(x; mean, cov) via the Cholesky factor: -(k log 2pi + ln|cov| + r' cov^-1 r) / 2
let logDensity (mean: Vector<float>) (cov: Matrix<float>) (x: Vector<float>) =
    let chol = cov.Cholesky()
    let r = x - mean
    -0.5 * (float x.Count * log2Pi + chol.DeterminantLn + r.DotProduct(chol.Solve r))
