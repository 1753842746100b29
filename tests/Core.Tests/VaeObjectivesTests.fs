/// The ELBO, the IWAE bound and the log-likelihood estimators: on a linear Gaussian VAE, whose log p(x)
/// is known exactly, and on a small random MLP VAE over binarized MNIST digits.
module Research.Core.Tests.VaeObjectivesTests

open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Models.Vae
open Research.Core.Tests.TensorTestSupport
open Research.Core.Tests.VaeTestSupport

/// Per-image values of an estimator (a [batch] tensor) with its own seeded generator.
let private perImage (seed: int64) (estimate: Generator option -> Tensor) =
    use scope = new TensorScope()
    use _ = torch.no_grad ()
    use g = new Generator(seed)
    (estimate (Some g)).toFloat64Array ()

/// Mean and standard error of the per-image differences a - b (paired over the same images).
let private pairedDifference (a: float[]) (b: float[]) = meanAndStdErr (Array.map2 (-) a b)

/// Bounds L_k for increasing k (per-image values): each step may rise or stay level but never falls
/// beyond 3 standard errors, and the whole ladder rises significantly.
let private assertRising (output: Output) (bounds: (int * float[]) list) =
    for (k0, v0), (k, v) in List.pairwise bounds do
        let rise, se = pairedDifference v v0
        output.WriteLine $"L_{k} - L_{k0} = {rise:F5} +- {se:F5}"
        Expect.isTrue (rise > -3.0 * se) $"L_{k} - L_{k0} = {rise} +- {se}: the bound fell"
    let (k0, first), (k, last) = List.head bounds, List.last bounds
    let rise, se = pairedDifference last first
    Expect.isTrue (rise > 3.0 * se) $"L_{k} - L_{k0} = {rise} +- {se}: expected a significant rise"

/// A linear Gaussian model with its exact log p(x) for 2000 samples.
type LinearGaussianModel() =
    let model = linearGaussian 4 3
    let x, rows = model.Sample(2000, 7L)
    let exact = rows |> Array.map model.LogMarginal
    member _.Values = model, x, exact
    interface System.IDisposable with
        member _.Dispose() = x.Dispose()

let private linearGaussianModel = shared (fun () -> new LinearGaussianModel())

/// A random MLP VAE (latent 5) and 24 binarized test digits.
type RandomMlpVae() =
    let config = { VaeConfig.defaults with Latent = 5; Hidden = [ 32 ] }
    let vae = (use g = new Generator(4L) in VaeModel.create g config Data.Mnist.imageShape)
    let x =
        use g = new Generator(6L)
        use digits = mnistTestDigits 24
        torch.bernoulli (digits, g)
    member _.Values = vae, x
    interface System.IDisposable with
        member _.Dispose() =
            x.Dispose()
            vae.Parameters.Dispose()

let private randomMlpVae = shared (fun () -> new RandomMlpVae())

[<Tests>]
let tests =
    testList "VaeObjectivesTests" [
        testList "LinearGaussianModel" [
            testCase "with the exact posterior as proposal every estimator returns log p(x) for any k and chunk" <| fun () ->
                let model, x, exact = linearGaussianModel.Value.Values
                let vae = model.Vae(0.0, 1.0)
                use _ = vae.Parameters
                // Every importance weight p(x, z) / q(z|x) equals p(x): any mistake in the chunked logsumexp
                // or in the 1/k normalisation (a dropped or repeated chunk) shows.
                for k, chunk in [ 1, 1; 7, 1; 7, 3; 7, 7; 7, 10; 50, 16; 64, 64 ] do
                    let ll = perImage 1L (fun g -> Objectives.logLikelihood vae g k chunk x)
                    assertClose $"logLikelihood k={k} chunk={chunk}" 1e-10 1e-10 exact ll
                for k in [ 1; 5; 40 ] do
                    assertClose $"iwae k={k}" 1e-10 1e-10 exact (perImage 2L (fun g -> Objectives.iwae vae g k x))
            testCase "the training form of L_k gives the same bound as iwae and, for k = 1, the ELBO's terms" <| fun () ->
                let model, x, exact = linearGaussianModel.Value.Values
                let vae = model.Vae(0.5, 1.4)
                use _ = vae.Parameters
                for k in [ 1; 5; 40 ] do
                    let bound = perImage 4L (fun g -> fst (Objectives.iwaeWithTerms vae g k x))
                    assertClose $"iwaeWithTerms k={k}" 1e-12 1e-12 (perImage 4L (fun g -> Objectives.iwae vae g k x)) bound
                // One sample: the same draw as the ELBO's, so the same reconstruction term and closed-form KL.
                let terms g = snd (Objectives.iwaeWithTerms vae g 1 x)
                assertClose "recon, k=1" 1e-12 1e-12 (perImage 5L (fun g -> (Objectives.elboTerms vae g x).Recon)) (perImage 5L (fun g -> (terms g).Recon))
                assertClose "kl, k=1" 1e-12 1e-12 (perImage 5L (fun g -> (Objectives.elboTerms vae g x).Kl)) (perImage 5L (fun g -> (terms g).Kl))
            testCase "with an approximate posterior the IWAE bound rises with k towards the exact log p(x)" <| fun () ->
                let model, x, exact = linearGaussianModel.Value.Values
                let vae = model.Vae(0.5, 1.4)
                use _ = vae.Parameters
                let bounds = [ for k in [ 1; 5; 50; 500 ] -> k, perImage (int64 k) (fun g -> Objectives.iwae vae g k x) ]
                for k, values in bounds do
                    let gap, se = pairedDifference exact values
                    output.WriteLine $"log p(x) - L_{k} = {gap:F5} +- {se:F5} nats (mean log p(x) = {Array.average exact:F4})"
                    // A lower bound: never above log p(x) beyond noise.
                    Expect.isTrue (gap > -3.0 * se) $"L_{k} exceeds log p(x) by {-gap} +- {se}"
                assertRising output bounds
                // The gap shrinks like Var(w / p(x)) / 2k (Burda et al. 2016; Maddison et al. 2017).
                let gap500, se500 = pairedDifference exact (snd (List.last bounds))
                Expect.isTrue (gap500 < 0.01) $"L_500 is still {gap500} +- {se500} below log p(x)"
            testCase "importance-sampled log p(x) (k = 5000) agrees with the exact value, chunked or not" <| fun () ->
                let model, x, exact = linearGaussianModel.Value.Values
                let vae = model.Vae(0.5, 1.4)
                use _ = vae.Parameters
                use x = x.narrow (0, 0L, 200L)
                let exact = exact.[.. 199]
                for chunk in [ 5000; 300 ] do
                    let ll = perImage 3L (fun g -> Objectives.logLikelihood vae g 5000 chunk x)
                    let d, se = pairedDifference ll exact
                    output.WriteLine $"chunk {chunk}: estimate - exact = {d:E3} +- {se:E3}, max |diff| {Array.map2 (fun a b -> abs (a - b)) ll exact |> Array.max:E3}"
                    // Jensen: biased below by ~Var/2k, which is far below the noise here.
                    Expect.isTrue (abs d < 4.0 * se + 1e-4) $"chunk {chunk}: mean estimate - exact = {d} +- {se}"
                    Expect.isTrue (Array.forall2 (fun a b -> abs (a - b) < 0.1) ll exact) $"chunk {chunk}: some image is off by more than 0.1 nats"
            testCase "naive prior sampling is far noisier than importance sampling at latent 20" <| fun () ->
                let model, x, exact = linearGaussianModel.Value.Values
                // The seeds' point (1.4): at 20 latent dimensions z ~ p(z) almost never lands where p(x|z) is large.
                let model = linearGaussian 20 10
                let images, rows = model.Sample(20, 8L)
                use images = images
                let exact = rows |> Array.map model.LogMarginal
                let vae = model.Vae(0.2, 1.2)
                use _ = vae.Parameters
                let repeats (estimate: int64 -> float[]) = Array.init 10 (fun r -> estimate (int64 r + 100L))
                let naive = repeats (fun s -> perImage s (fun g -> Objectives.naiveLogLikelihood vae g 1000 250 images))
                let importance = repeats (fun s -> perImage s (fun g -> Objectives.logLikelihood vae g 1000 250 images))
                // Variance across repeated estimates of the same image, averaged over images.
                let spread (estimates: float[][]) = Array.init exact.Length (fun i -> variance (estimates |> Array.map (fun e -> e.[i]))) |> Array.average
                let bias (estimates: float[][]) = Array.average [| for e in estimates -> Array.average (Array.map2 (-) e exact) |]
                let vNaive, vImportance = spread naive, spread importance
                output.WriteLine $"k = 1000: variance naive {vNaive:E3}, importance {vImportance:E3}; mean estimate - exact: naive {bias naive:F3}, importance {bias importance:E3}"
                Expect.isTrue (vNaive > 1000.0 * vImportance) $"naive variance {vNaive} vs importance sampling {vImportance}"
                Expect.isTrue (abs (bias importance) < 0.05) $"importance sampling is off by {bias importance}"
                // Both estimate p(x) without bias, so log of either lies below log p(x) on average (Jensen);
                // the naive one far below.
                Expect.isTrue (bias naive < -10.0) $"the naive estimate is only {bias naive} below log p(x)"
        ]
        // A random MLP VAE (784-32-5) and 24 binarized MNIST test digits.
        testList "RandomMlpVae" [
            testCase "IWAE with k = 1 has the ELBO's expectation" <| fun () ->
                let vae, x = randomMlpVae.Value.Values
                // 40 copies of each digit; the same generator seed gives both the same z, so the difference is
                // log p(z) - log q(z|x) + KL(q || p), whose expectation is zero.
                use scope = new TensorScope()
                use _ = torch.no_grad ()
                let xs = x.repeat (40L, 1L)
                let iwae1 = perImage 9L (fun g -> Objectives.iwae vae g 1 xs)
                let elbo = perImage 9L (fun g -> (Objectives.elboTerms vae g xs).Elbo)
                let d, se = pairedDifference iwae1 elbo
                output.WriteLine $"mean L_1 = {Array.average iwae1:F3}, mean ELBO = {Array.average elbo:F3}, difference {d:F4} +- {se:F4}"
                Expect.isTrue (se > 0.0) "the two estimates coincide sample by sample: the test would not see a KL mistake"
                Expect.isTrue (abs d < 4.0 * se) $"L_1 - ELBO = {d} +- {se}"
            testCase "IWAE rises with k and stays below the k = 5000 log-likelihood estimate" <| fun () ->
                let vae, x = randomMlpVae.Value.Values
                let bounds = [ for k in [ 1; 5; 50; 500 ] -> k, perImage (int64 k) (fun g -> Objectives.iwae vae g k x) ]
                let ll = perImage 5000L (fun g -> Objectives.logLikelihood vae g 5000 500 x)
                output.WriteLine $"""{String.concat ", " [ for k, v in bounds -> $"L_{k} = {Array.average v:F3}" ]}, log p(x) (k = 5000) = {Array.average ll:F3}"""
                assertRising output bounds
                for k, v in bounds do
                    let excess, se = pairedDifference v ll
                    Expect.isTrue (excess < 3.0 * se) $"L_{k} exceeds the k = 5000 estimate by {excess} +- {se}"
            testCase "a long log p(x) evaluation reports its progress after every chunk of samples" <| fun () ->
                let vae, x = randomMlpVae.Value.Values
                // 24 images in one batch, k = 50 drawn 10 at a time: the images count as done in the share of
                // their samples drawn (24 x 10/50, 20/50, ...), then the batch's end gives the running mean.
                let reports = ResizeArray<Training.Progress>()
                let result = VaeRun.evaluate (vae, x, false, 50, 10, 1L, reports.Add)
                Expect.sequenceEqual [ for r in reports -> r.Done ] [ 4L; 9L; 14L; 19L; 24L ] "images done at each report"
                Expect.isTrue (reports |> Seq.forall (fun r -> r.Total = 24L)) "every report's total is the 24 images"
                Expect.isTrue (reports |> Seq.take 4 |> Seq.forall (fun r -> System.Double.IsNaN r.Running)) "a running mean before any batch finished"
                Expect.floatClose Accuracy.veryHigh reports[4].Running result.LogLikelihood "the last report's running mean is the estimate"
                // Drawn in one chunk, the estimate reports once, at the batch's end.
                let once = ResizeArray<Training.Progress>()
                VaeRun.evaluate (vae, x, false, 50, 50, 1L, once.Add) |> ignore
                Expect.sequenceEqual [ for r in once -> r.Done ] [ 24L ] "one chunk: one report"
        ]
    ]
