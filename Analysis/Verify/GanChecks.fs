/// The GAN value function at the optimal discriminator (Goodfellow et al. 2014, Prop. 1 and Thm. 1):
///   V(D, G) = E_pdata[log D(x)] + E_pg[log(1 - D(x))],   D*(x) = p_data(x) / (p_data(x) + p_g(x)),
///   V(D*, G) = -log 4 + 2 JSD(p_data || p_g),  so -log 4 exactly when p_g = p_data.
/// V and the JSD are integrated separately; the JSD also by Monte Carlo.
module Research.Analysis.Verify.GanChecks

open System
open MathNet.Numerics
open MathNet.Numerics.Distributions
open Plotly.NET
open Research.Analysis.Pages

/// log(e^a + e^b) without overflow or underflow to -infinity.
let private logAddExp (a: float) (b: float) =
    let m = max a b
    if Double.IsNegativeInfinity m then m else m + log (exp (a - m) + exp (b - m))

/// A 1-d mixture of Gaussians: (weight, mean, sd) components.
type Mixture =
    { Components: (float * float * float) list }

    member m.LogDensity(x: float) =
        m.Components
        |> List.map (fun (w, mu, sd) -> log w + Normal.PDFLn(mu, sd, x))
        |> List.reduce logAddExp

    member m.Sample(rng: Random) =
        let u = rng.NextDouble()
        let rec pick acc comps =
            match comps with
            | [ (_, mu, sd) ] -> Normal.Sample(rng, mu, sd)
            | (w, mu, sd) :: rest -> if u < acc + w then Normal.Sample(rng, mu, sd) else pick (acc + w) rest
            | [] -> failwith "empty mixture"
        pick 0.0 m.Components

let data = { Components = [ 0.3, -2.0, 0.5; 0.7, 1.5, 1.0 ] }

let private group = "GAN optimum"
let private lower, upper = -40.0, 40.0
let private integrate (f: float -> float) = Integrate.DoubleExponential(Func<float, float> f, lower, upper, 1e-13)
let private log2 = log 2.0

/// log D*(x) and log(1 - D*(x)) in log space: log p - log(p + q).
let private logOptimal (pData: Mixture) (pG: Mixture) x =
    let lp, lq = pData.LogDensity x, pG.LogDensity x
    let lsum = logAddExp lp lq
    lp, lq, lp - lsum, lq - lsum

/// V(D*, G) = integral of p_data log D* + p_g log(1 - D*).
let private value pData pG =
    integrate (fun x ->
        let lp, lq, logD, log1mD = logOptimal pData pG x
        exp lp * logD + exp lq * log1mD)

/// JSD = KL(p || m)/2 + KL(q || m)/2 with m = (p + q)/2, each KL integrated on its own.
let private jsd (pData: Mixture) (pG: Mixture) =
    let klToMid (self: Mixture) (other: Mixture) =
        integrate (fun x ->
            let ls, lo = self.LogDensity x, other.LogDensity x
            exp ls * (ls - (logAddExp ls lo - log2)))
    0.5 * klToMid pData pG + 0.5 * klToMid pG pData

let private jsdMonteCarlo (rng: Random) (pData: Mixture) (pG: Mixture) n =
    let logRatioToMid (self: Mixture) (other: Mixture) x =
        let ls, lo = self.LogDensity x, other.LogDensity x
        ls - (logAddExp ls lo - log2)
    // Pairs (x ~ p_data, y ~ p_g) give independent unbiased terms of the JSD.
    Array.init n (fun _ -> 0.5 * logRatioToMid pData pG (pData.Sample rng) + 0.5 * logRatioToMid pG pData (pG.Sample rng))
    |> MonteCarlo.estimate

/// `valueFromJsd` is the claimed identity V(D*, G) = h(JSD) under test.
let run (valueFromJsd: float -> float) (rng: Random) =
    let generators =
        [ "p_g = N(0, 2^2)", { Components = [ 1.0, 0.0, 2.0 ] }
          "p_g = p_data shifted by +1", { Components = data.Components |> List.map (fun (w, mu, sd) -> w, mu + 1.0, sd) } ]
    let rows =
        generators
        |> List.collect (fun (label, pG) ->
            let divergence = jsd data pG
            let mc = jsdMonteCarlo rng data pG 100_000
            [ CheckRow.equal group $"{label}: V(D*, G) = -log 4 + 2 JSD (quadrature)" (valueFromJsd divergence) (value data pG) 1e-9
              CheckRow.equal group $"{label}: JSD by quadrature = JSD by Monte Carlo, 4 SE" divergence mc.Mean (max (4.0 * mc.StdError) 1e-12) ])
    let identical =
        [ CheckRow.equal group "p_g = p_data: V(D*, G) = -log 4 (quadrature)" (valueFromJsd 0.0) (value data data) 1e-9
          CheckRow.equal group "p_g = p_data: JSD = 0 (quadrature)" 0.0 (jsd data data) 1e-12 ]
    let pG = snd generators[0]
    let xs = Array.init 401 (fun i -> -8.0 + 0.04 * float i)
    let figure =
        Chart.combine
            [ Chart.Line(xs, xs |> Array.map (data.LogDensity >> exp), Name = "p_data")
              Chart.Line(xs, xs |> Array.map (pG.LogDensity >> exp), Name = "p_g = N(0, 2^2)")
              Chart.Line(xs, xs |> Array.map (fun x -> let _, _, logD, _ = logOptimal data pG x in exp logD), Name = "D*(x)") ]
        |> Chart.withTitle "Optimal discriminator D* = p_data / (p_data + p_g)"
        |> Chart.withXAxisStyle "x"
        |> Charts.withCurveSize
    identical @ rows, figure
