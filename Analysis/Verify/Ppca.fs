/// Probabilistic PCA (Tipping & Bishop 1999), a latent-variable model whose evidence and posterior
/// are exact, so every variational quantity can be checked against the truth:
///   z ~ N(0, I_k),  x | z ~ N(W z + b, s^2 I_d)   =>   x ~ N(b, W W' + s^2 I_d).
module Research.Analysis.Verify.Ppca

open System
open MathNet.Numerics.Distributions
open MathNet.Numerics.LinearAlgebra

type Model =
    { W: Matrix<float>
      Bias: Vector<float>
      NoiseSd: float }

    member m.DataDim = m.W.RowCount
    member m.LatentDim = m.W.ColumnCount

/// A Gaussian q(z) = N(Mean, Cov); draws are Mean + L eps with L the Cholesky factor of Cov.
type Gaussian =
    { Mean: Vector<float>
      Cov: Matrix<float> }

let private normalMatrix (rng: Random) rows cols =
    Matrix<float>.Build.Dense(rows, cols, fun _ _ -> Normal.Sample(rng, 0.0, 1.0))

let private normalVector (rng: Random) n =
    Vector<float>.Build.Dense(n, fun _ -> Normal.Sample(rng, 0.0, 1.0))

let create (rng: Random) (dataDim: int) (latentDim: int) (noiseSd: float) =
    { W = normalMatrix rng dataDim latentDim
      Bias = normalVector rng dataDim
      NoiseSd = noiseSd }

/// One observation drawn from the model.
let sample (rng: Random) (m: Model) =
    m.W * normalVector rng m.LatentDim + m.Bias + m.NoiseSd * normalVector rng m.DataDim

/// Exact log p(x) = log N(x; b, W W' + s^2 I).
let logEvidence (m: Model) (x: Vector<float>) =
    let cov = m.W.TransposeAndMultiply m.W + Matrix<float>.Build.DiagonalIdentity(m.DataDim) * (m.NoiseSd ** 2.0)
    Gaussians.logDensity m.Bias cov x

/// Exact p(z | x) = N(M^-1 W'(x - b), s^2 M^-1) with M = W'W + s^2 I (Bishop, PRML 12.42).
let posterior (m: Model) (x: Vector<float>) =
    let s2 = m.NoiseSd ** 2.0
    let mInv = (m.W.TransposeThisAndMultiply m.W + Matrix<float>.Build.DiagonalIdentity(m.LatentDim) * s2).Inverse()
    { Mean = mInv * m.W.TransposeThisAndMultiply(x - m.Bias)
      Cov = mInv * s2 }

/// ELBO(q) = E_q[log p(x|z)] + E_q[log p(z)] + H[q] in closed form for Gaussian q = N(mu, S):
///   E_q[log p(x|z)] = -d/2 log(2 pi s^2) - (|x - b - W mu|^2 + tr(W S W')) / (2 s^2)
///   E_q[log p(z)]   = -k/2 log(2 pi) - (|mu|^2 + tr S) / 2
///   H[q]            = k/2 (1 + log 2 pi) + ln|S| / 2
let elbo (m: Model) (x: Vector<float>) (q: Gaussian) =
    let d, k, s2 = float m.DataDim, float m.LatentDim, m.NoiseSd ** 2.0
    let residual = x - m.Bias - m.W * q.Mean
    let expectedLogLikelihood =
        -0.5 * d * log (2.0 * Math.PI * s2) - (residual.DotProduct residual + (m.W * q.Cov).TransposeAndMultiply(m.W).Trace()) / (2.0 * s2)
    let expectedLogPrior = -0.5 * k * Gaussians.log2Pi - 0.5 * (q.Mean.DotProduct q.Mean + q.Cov.Trace())
    let entropy = 0.5 * k * (1.0 + Gaussians.log2Pi) + 0.5 * q.Cov.Cholesky().DeterminantLn
    expectedLogLikelihood + expectedLogPrior + entropy

/// log w = log p(x, z) - log q(z) for n independent draws z ~ q (importance weights in log space).
/// Plain loops over arrays: these run millions of times per check.
let logWeights (rng: Random) (m: Model) (x: Vector<float>) (q: Gaussian) (n: int) =
    let d, k = m.DataDim, m.LatentDim
    let s2 = m.NoiseSd ** 2.0
    let w = m.W.ToArray()
    let r = (x - m.Bias).ToArray()
    let factor = q.Cov.Cholesky().Factor
    let l = factor.ToArray()
    let mean = q.Mean.ToArray()
    let logDetFactor = Seq.init k (fun i -> log factor[i, i]) |> Seq.sum
    let logLikelihoodConst = -0.5 * float d * log (2.0 * Math.PI * s2)
    let logNormalConst = -0.5 * float k * Gaussians.log2Pi
    let eps = MonteCarlo.standardNormals rng (n * k)
    let z = Array.zeroCreate<float> k
    Array.init n (fun s ->
        let e = s * k
        let mutable epsSq = 0.0
        let mutable zSq = 0.0
        for i in 0 .. k - 1 do
            let mutable zi = mean[i]
            for j in 0 .. i do
                zi <- zi + l[i, j] * eps[e + j]
            z[i] <- zi
            zSq <- zSq + zi * zi
            epsSq <- epsSq + eps[e + i] * eps[e + i]
        let mutable residualSq = 0.0
        for row in 0 .. d - 1 do
            let mutable wz = 0.0
            for i in 0 .. k - 1 do
                wz <- wz + w[row, i] * z[i]
            let e = r[row] - wz
            residualSq <- residualSq + e * e
        let logLikelihood = logLikelihoodConst - residualSq / (2.0 * s2)
        let logPrior = logNormalConst - 0.5 * zSq
        let logQ = logNormalConst - logDetFactor - 0.5 * epsSq
        logLikelihood + logPrior - logQ)
