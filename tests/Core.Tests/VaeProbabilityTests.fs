/// The distributions of the VAE: DiagonalGaussian (reparameterised sampling, log density, closed-form
/// KL to N(0, I)) and the pixel likelihoods, against formulas in plain doubles and Monte Carlo.
module Research.Core.Tests.VaeProbabilityTests

open System
open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Probability
open Research.Core.Tests.TensorTestSupport
open Research.Core.Tests.VaeTestSupport

let private log2pi = log (2.0 * Math.PI)

/// log N(v; mean, var) in doubles.
let private logNormal (v: float) (mean: float) (var: float) = -0.5 * (log2pi + log var + (v - mean) ** 2.0 / var)

/// KL(N(mu, sigma^2) || N(0, 1)) = 1/2 (mu^2 + sigma^2 - 1 - log sigma^2), one coordinate, in doubles.
let private klScalar (mu: float) (sigma: float) = 0.5 * (mu * mu + sigma * sigma - 1.0 - log (sigma * sigma))

let private sigmoid (l: float) = 1.0 / (1.0 + exp -l)

/// Closed form against the scalar formula and against the Monte-Carlo mean of log q(z) - log p(z)
/// over samples z ~ q (within 4 standard errors); rows are independent cases of `dims` coordinates.
let check (cases: (float * float)[][]) (samples: int) =
    use scope = new TensorScope()
    let rows, dims = int64 cases.Length, int64 cases.[0].Length
    let mu = torch.tensor ([| for c in cases do for m, _ in c -> m |], [| rows; dims |])
    let sigma = torch.tensor ([| for c in cases do for _, s in c -> s |], [| rows; dims |])
    let q = DiagonalGaussian(mu, (sigma.square ()).log ())
    let closed = (q.kl_standard_normal ()).toFloat64Array ()
    let scalar = cases |> Array.map (Array.sumBy (fun (m, s) -> klScalar m s))
    assertClose "closed-form KL against the scalar formula" 1e-12 1e-14 scalar closed
    use g = new Generator(11L)
    let z = q.rsample (samples, generator = g)
    let logRatio = q.log_prob z - StandardNormal.log_prob z
    let perCase = (logRatio.t().contiguous ()).toFloat64Array () |> Array.chunkBySize samples
    for i in 0 .. cases.Length - 1 do
        let mc, se = meanAndStdErr perCase.[i]
        output.WriteLine $"case {i}: closed {closed.[i]:F6}, Monte Carlo {mc:F6} +- {se:F6} ({samples} samples)"
        // (q = p gives log q - log p = 0 for every sample: no noise at all.)
        Expect.isTrue (abs (mc - closed.[i]) <= 4.0 * se + 1e-12) $"case {i}: Monte Carlo KL {mc} +- {se}, closed form {closed.[i]}"

/// Logits [2; 3; 5] (two samples of a batch of three 5-pixel images) and images [3; 5].
let private logitsAndImages (binary: bool) =
    let logits = randn64 4L [ 2; 3; 5 ] * 6.0
    let u = (use g = new Generator(9L) in torch.rand ([| 3L; 5L |], Float64, generator = g))
    logits, (if binary then u.gt(0.5).double () else u)

[<Tests>]
let tests =
    testList "VaeProbabilityTests" [
        testList "Kl" [
            testCase "closed-form KL matches the scalar formula and Monte Carlo (one coordinate)" <| fun () ->
                // The seeds' cases: mu = 0, sigma = 0.5 and mu = 1, sigma = 1 (KL = 1/2).
                check [| [| 0.0, 0.5 |]; [| 1.0, 1.0 |]; [| -2.0, 0.3 |]; [| 0.5, 2.0 |]; [| 0.0, 1.0 |] |] 200000
            testCase "closed-form KL matches Monte Carlo (three coordinates)" <| fun () ->
                check [| [| 0.0, 0.5; 1.0, 1.0; -0.7, 1.5 |]; [| 3.0, 0.1; 0.2, 0.9; -1.0, 0.6 |] |] 200000
            testCase "the seeds' KL values" <| fun () ->
                use scope = new TensorScope()
                let q = DiagonalGaussian(torch.tensor [| 0.0; 1.0 |], torch.tensor [| log 0.25; 0.0 |])
                let kl = (q.kl_standard_normal ()).item ()
                // 1/2 (0.25 - 1 - log 0.25) + 1/2 (1 + 1 - 1 - 0) = 0.318147... + 0.5
                Expect.floatClose (digits 12) kl (0.5 * (0.25 - 1.0 + log 4.0) + 0.5) "kl"
        ]
        testCase "rsample draws have mean mu and standard deviation sigma" <| fun () ->
            use scope = new TensorScope()
            use g = new Generator(3L)
            let mu, sigma = [| 0.5; -2.0; 0.0 |], [| 0.1; 1.0; 3.0 |]
            let q = DiagonalGaussian(torch.tensor mu, (torch.tensor sigma).square().log ())
            let n = 100000
            let z = q.rsample (n, generator = g)
            Expect.equal z.shape [| int64 n; 3L |] "z.shape"
            let columns = (z.t().contiguous ()).toFloat64Array () |> Array.chunkBySize n
            for j in 0..2 do
                let mean, se = meanAndStdErr columns.[j]
                Expect.isTrue (abs (mean - mu.[j]) < 4.0 * se) $"coordinate {j}: sample mean {mean} +- {se}, mu {mu.[j]}"
                let sd = sqrt (variance columns.[j])
                // The sample standard deviation has a standard error of about sigma / sqrt(2n).
                Expect.isTrue (abs (sd - sigma.[j]) < 4.0 * sigma.[j] / sqrt (2.0 * float n)) $"coordinate {j}: sample sd {sd}, sigma {sigma.[j]}"
        testCase "DiagonalGaussian.log_prob and StandardNormal.log_prob match the density formula" <| fun () ->
            use scope = new TensorScope()
            let mu, logvar, z = randn64 1L [ 3; 4 ], randn64 2L [ 3; 4 ], randn64 3L [ 2; 3; 4 ] * 2.0
            let q = DiagonalGaussian(mu, logvar)
            let m, lv, zs = mu.toFloat64Array (), logvar.toFloat64Array (), z.toFloat64Array ()
            // z [2; 3; 4] against q over [3; 4]: the batch broadcasts over the leading sample dimension.
            let expected =
                [| for s in 0..1 do
                       for b in 0..2 ->
                           Array.sum [| for j in 0..3 -> logNormal zs.[(s * 3 + b) * 4 + j] m.[b * 4 + j] (exp lv.[b * 4 + j]) |] |]
            assertClose "DiagonalGaussian.log_prob" 1e-12 1e-12 expected ((q.log_prob z).toFloat64Array ())
            let prior = [| for s in 0..5 -> Array.sum [| for j in 0..3 -> logNormal zs.[s * 4 + j] 0.0 1.0 |] |]
            assertClose "StandardNormal.log_prob" 1e-12 1e-12 prior ((StandardNormal.log_prob z).toFloat64Array ())
        testCase "Bernoulli pixels: log_prob = sum x log p + (1 - x) log (1 - p)" <| fun () ->
            use scope = new TensorScope()
            for binary in [ true; false ] do
                let logits, x = logitsAndImages binary
                let l, xs = logits.toFloat64Array (), x.toFloat64Array ()
                let expected =
                    [| for s in 0..1 do
                           for b in 0..2 ->
                               Array.sum [| for j in 0..4 ->
                                                let p = sigmoid l.[(s * 3 + b) * 5 + j]
                                                let v = xs.[b * 5 + j]
                                                v * log p + (1.0 - v) * log (1.0 - p) |] |]
                assertClose $"Bernoulli log_prob (binary images: {binary})" 1e-10 1e-10 expected ((BernoulliLogits(logits).log_prob x).toFloat64Array ())
                assertClose "Bernoulli mean" 1e-12 1e-15 (Array.map sigmoid l) ((BernoulliLogits logits).mean.toFloat64Array ())
        testCase "Gaussian pixels: log_prob is the sum of per-pixel normal log densities" <| fun () ->
            use scope = new TensorScope()
            let mean, x = logitsAndImages false
            let m, xs = mean.toFloat64Array (), x.toFloat64Array ()
            // One shared log-variance (as the decoders use) and one per pixel.
            for logvar in [ [| -1.3 |]; [| -2.0; -1.0; 0.0; 0.5; 1.0 |] ] do
                let lv (j: int) = if logvar.Length = 1 then logvar.[0] else logvar.[j]
                let expected =
                    [| for s in 0..1 do
                           for b in 0..2 -> Array.sum [| for j in 0..4 -> logNormal xs.[b * 5 + j] m.[(s * 3 + b) * 5 + j] (exp (lv j)) |] |]
                let d = Gaussian(mean, torch.tensor logvar)
                assertClose $"Gaussian log_prob ({logvar.Length} log-variances)" 1e-12 1e-12 expected ((d.log_prob x).toFloat64Array ())
        testCase "pixel samples have the distribution's mean and variance" <| fun () ->
            use scope = new TensorScope()
            use g = new Generator(21L)
            let n = 40000L
            let logits = torch.tensor [| -2.0; 0.0; 1.5 |]
            let bernoulli = (BernoulliLogits(logits.expand (n, 3L))).sample (g)
            let gaussian = (Gaussian((torch.tensor [| 0.2; 0.8; 0.5 |]).expand (n, 3L), torch.tensor [| log 0.01 |])).sample (g)
            let columns (t: Tensor) = (t.t().contiguous ()).toFloat64Array () |> Array.chunkBySize (int n)
            let check what (expected: float[]) (expectedVar: float[]) (t: Tensor) =
                columns t
                |> Array.iteri (fun j c ->
                    let mean, se = meanAndStdErr c
                    Expect.isTrue (abs (mean - expected.[j]) < 4.0 * se) $"{what} pixel {j}: mean {mean} +- {se}, expected {expected.[j]}"
                    Expect.isTrue (abs (variance c - expectedVar.[j]) < 0.05 * expectedVar.[j]) ($"{what} pixel {j}: variance {variance c}, expected {expectedVar.[j]}"))
            let p = [| sigmoid -2.0; 0.5; sigmoid 1.5 |]
            check "Bernoulli" p (p |> Array.map (fun p -> p * (1.0 - p))) bernoulli
            check "Gaussian" [| 0.2; 0.8; 0.5 |] [| 0.01; 0.01; 0.01 |] gaussian
        // Image-shaped events [B, C, H, W]: every density sums over all non-batch dimensions, equal to the
        // same density on the flattened [B, C*H*W] tensors (and to the plain-double formula).
        testList "ImageEvents" [
            testCase "densities over image-shaped events sum over channels, rows and columns" <| fun () ->
                use scope = new TensorScope()
                use g = new Generator(21L)
                let shape = [| 3L; 2L; 4L; 5L |]
                let flatShape = [| 3L; 40L |]
                let z = torch.randn (shape, dtype = Float64, generator = g)
                let mu = torch.randn (shape, dtype = Float64, generator = g)
                let logvar = torch.randn (shape, dtype = Float64, generator = g) * 0.3
                let x = torch.bernoulli (torch.rand (shape, dtype = Float64, generator = g), g)
                let flat (t: Tensor) = t.reshape flatShape
                let image = DiagonalGaussian(mu, logvar, eventDims = 3)
                let vector = DiagonalGaussian(flat mu, flat logvar)
                let pairs =
                    [ "Gaussian log_prob", image.log_prob z, vector.log_prob (flat z)
                      "KL to N(0, I)", image.kl_standard_normal (), vector.kl_standard_normal ()
                      "standard normal", StandardNormal.log_prob_event 3 z, StandardNormal.log_prob (flat z)
                      "Bernoulli pixels", (BernoulliLogits mu).log_prob (x, eventDims = 3), (BernoulliLogits(flat mu)).log_prob (flat x)
                      "Gaussian pixels", (Gaussian(mu, logvar)).log_prob (x, eventDims = 3), (Gaussian(flat mu, flat logvar)).log_prob (flat x) ]
                for name, ofImage, ofFlat in pairs do
                    Expect.equal ofImage.shape [| 3L |] "ofImage.shape"
                    assertClose name 1e-12 1e-12 (ofFlat.toFloat64Array ()) (ofImage.toFloat64Array ())
                // And the standard normal against the formula in doubles.
                let zs = z.toFloat64Array () |> Array.chunkBySize 40
                let expected = zs |> Array.map (Array.sumBy (fun v -> logNormal v 0.0 1.0))
                assertClose "standard normal against the formula" 1e-12 1e-12 expected ((StandardNormal.log_prob_event 3 z).toFloat64Array ())
        ]
    ]
