/// KL divergences between Gaussians: closed forms against quadrature and Monte Carlo.
module Research.Analysis.Verify.KlChecks

open System
open MathNet.Numerics
open MathNet.Numerics.Distributions

/// The closed forms under test (tests substitute wrong ones to see the checks fail).
type Formulas =
    { /// KL(N(mu, sigma^2) || N(0, 1))
      StdNormal: float -> float -> float
      /// KL between diagonal Gaussians (means1, sds1, means2, sds2)
      Diagonal: float[] -> float[] -> float[] -> float[] -> float }

let formulas =
    { StdNormal = Gaussians.klStdNormal
      Diagonal = Gaussians.klDiagonal }

let private group = "KL divergence"
let private samples = 100_000

/// KL(N(m1, s1^2) || N(m2, s2^2)) = integral of q (log q - log p) over m1 +- 40 s1 (q < e^-800
/// outside), by double-exponential quadrature. Log densities keep the integrand finite in the tails.
let private quadrature m1 s1 m2 s2 =
    let integrand z =
        let logQ = Normal.PDFLn(m1, s1, z)
        exp logQ * (logQ - Normal.PDFLn(m2, s2, z))
    Integrate.DoubleExponential(Func<float, float> integrand, m1 - 40.0 * s1, m1 + 40.0 * s1, 1e-12)

/// E_q[log q(z) - log p(z)] over draws from q (all coordinates jointly), with its standard error.
let private monteCarlo (rng: Random) (m1: float[]) (s1: float[]) (m2: float[]) (s2: float[]) =
    let d = m1.Length
    let eps = MonteCarlo.standardNormals rng (samples * d)
    Array.init samples (fun n ->
        let mutable logRatio = 0.0
        for i in 0 .. d - 1 do
            let z = m1[i] + s1[i] * eps[n * d + i]
            logRatio <- logRatio + Normal.PDFLn(m1[i], s1[i], z) - Normal.PDFLn(m2[i], s2[i], z)
        logRatio)
    |> MonteCarlo.estimate

let private fmt (v: float) = v.ToString "g4"

/// Quadrature must agree to ~1e-9 relative; Monte Carlo within 4 standard errors.
let private rows (label: string) (analytic: float) (quad: float) (mc: MonteCarlo.Estimate) =
    [ CheckRow.equal group $"{label}: closed form vs quadrature" analytic quad (1e-9 * max 1.0 (abs analytic))
      CheckRow.equal group $"{label}: closed form vs Monte Carlo ({samples} draws, 4 SE)" analytic mc.Mean (max (4.0 * mc.StdError) 1e-12) ]

let run (f: Formulas) (rng: Random) : CheckRow list =
    // The seeds' examples (KL(N(1,1)||N(0,1)) = 0.5, KL(N(0,1)||N(0,1)) = 0), then random ones.
    let given = [ 0.0, 0.5; 100.0, 0.1; 1.0, 1.0; 0.0, 1.0 ]
    let drawn = List.init 3 (fun _ -> ContinuousUniform.Sample(rng, -3.0, 3.0), ContinuousUniform.Sample(rng, 0.1, 3.0))
    let univariate =
        (given @ drawn)
        |> List.collect (fun (mu, sigma) ->
            rows
                $"KL(N({fmt mu}, {fmt sigma}^2) || N(0,1))"
                (f.StdNormal mu sigma)
                (quadrature mu sigma 0.0 1.0)
                (monteCarlo rng [| mu |] [| sigma |] [| 0.0 |] [| 1.0 |]))
    let diagonal =
        List.init 2 (fun _ ->
            let d = 4
            let means () = Array.init d (fun _ -> ContinuousUniform.Sample(rng, -2.0, 2.0))
            let sds () = Array.init d (fun _ -> ContinuousUniform.Sample(rng, 0.3, 2.0))
            let m1, s1, m2, s2 = means (), sds (), means (), sds ()
            // The KL of product densities is the sum of the coordinates' KLs (quadrature per coordinate);
            // the Monte-Carlo side samples the joint density and needs no such identity.
            let quad = Array.init d (fun i -> quadrature m1[i] s1[i] m2[i] s2[i]) |> Array.sum
            rows $"KL between {d}-d diagonal Gaussians" (f.Diagonal m1 s1 m2 s2) quad (monteCarlo rng m1 s1 m2 s2))
        |> List.concat
    univariate @ diagonal
