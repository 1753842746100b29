/// Denoising diffusion: the samplers against each other and against the data on a toy problem whose
/// optimal noise predictor is known in closed form (DDIM with eta = 1 over every step is ancestral
/// sampling), a tiny U-Net whose loss falls as it trains, an exact resume (the weights' average
/// included) and the bound's pieces.
module Research.Core.Tests.DiffusionTests

open System
open System.IO
open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Checkpoints
open Research.Core.Training
open Research.Core.Models.Diffusion
open Research.Core.Tests.TensorTestSupport
open Research.Core.Tests.NnTestSupport

let private tiny = { DiffusionConfig.defaults with Channels = 8; Attention = true; Steps = 100; Warmup = 20 }
let private settings =
    { DiffusionConfig.runDefaults with Epochs = 3; BatchSize = 32; Seed = 3; Threads = 1; ValidationSize = 200; TrainLimit = 3200; ImageEpochs = [ 3 ] }

let private train (config: DiffusionConfig) (settings: RunSettings) (folder: string) (resume: bool) =
    let threads = torch.get_num_threads ()
    try Loop.train DiffusionRun.family config settings folder resume None ignore
    finally torch.set_num_threads threads

/// For data N(m, v) per pixel, E[eps | x_t] = sqrt(1 - alphabar) (x_t - sqrt(alphabar) m) / (alphabar v + 1 - alphabar):
/// the optimal noise predictor.
let private optimal (s: Schedule) (m: float) (v: float) : Ddpm.Predictor =
    fun xt t ->
        let a = s.At(s.AlphaBar, t)
        ((a.neg () + 1.0).sqrt ()) * (xt - a.sqrt () * m) / (a * v - a + 1.0)

[<Tests>]
let tests =
    testList "DiffusionTests" [
        testCase "ancestral sampling and DDIM (eta 1, every step) agree draw for draw; both samplers have the law their Gaussian recursions predict" <| fun () ->
            use scope = new TensorScope()
            let s = Schedule.create Linear 1000
            // Narrow enough that clipping the predicted x_0 to [-1, 1] never acts.
            let m, v = 0.2, 0.04
            let eps = optimal s m v
            let draw (steps: int option) (eta: float) =
                use generator = new Generator(11L)
                (Ddpm.sample s eps [| 1L; 1L; 2L |] 20000 steps eta generator (fun _ _ -> ())).toFloat64Array ()
            let ancestral, ddim = draw None 1.0, draw (Some 1000) 1.0
            let largest = Array.map2 (fun a b -> abs (a - b)) ancestral ddim |> Array.max
            output.WriteLine $"ancestral vs DDIM (eta 1, 1000 steps): largest difference {largest:G3}"
            Expect.isLessThan largest 1e-4 "draw for draw"
            // With the optimal predictor each step is affine in x_t plus Gaussian noise:
            // x_{t'} - sqrt(abar_{t'}) m = k_t (x_t - sqrt(abar_t) m) + sigma_t z, from x_T ~ N(0, 1), so the
            // samples' variance is V_T = 1, V_{t'} = k_t^2 V_t + sigma_t^2, and their mean m (to abar_T).
            let variance (steps: (int * int) list) (gain: float -> float -> int -> float) (noise: int -> float) =
                steps |> List.fold (fun V (t, next) -> gain s.AlphaBar[t] (if next < 0 then 1.0 else s.AlphaBar[next]) t ** 2.0 * V + noise t) 1.0
            let spread (a: float) = a * v + 1.0 - a
            // Ancestral: the posterior mean (eq. 7) at E[x_0 | x_t] = m + sqrt(abar) v / spread (x_t - sqrt(abar) m).
            let ancestralVariance =
                variance [ for t in 999 .. -1 .. 0 -> t, t - 1 ] (fun a _ t -> s.PosteriorX0[t] * sqrt a * v / spread a + s.PosteriorXt[t])
                    (fun t -> if t = 0 then 0.0 else s.PosteriorVariance[t])
            // DDIM, eta 0: sqrt(abar') E[x_0 | x_t] + sqrt(1 - abar') eps_hat, no noise.
            let ddimVariance =
                variance (List.pairwise (Ddpm.stepsOf s 20 @ [ -1 ])) (fun a a' _ -> (sqrt (a * a') * v + sqrt ((1.0 - a) * (1.0 - a'))) / spread a)
                    (fun _ -> 0.0)
            let fast = draw (Some 20) 0.0
            for name, values, expected in [ "ancestral", ancestral, ancestralVariance; "DDIM, 20 steps, eta 0", fast, ddimVariance ] do
                let mean = Array.average values
                let variance = values |> Array.averageBy (fun x -> (x - mean) ** 2.0)
                let se = sqrt (expected / float values.Length)
                output.WriteLine $"{name}: mean {mean:F4} (data {m}), variance {variance:F5} (recursion {expected:F5}, data {v})"
                within (m - 5.0 * se) (m + 5.0 * se) mean $"{name}: the mean of the draws"
                // The relative standard error of a variance over 40,000 normal draws is 0.7%.
                within (expected * 0.965) (expected * 1.035) variance $"{name}: the variance of the draws"
        testCase "the noise-prediction loss is the mean squared error of eq. 14: zero for the true noise" <| fun () ->
            use scope = new TensorScope()
            let s = Schedule.create Cosine 50
            use g = new Generator(2L)
            let x0 = torch.rand ([| 4L; 1L; 3L; 3L |], generator = g) * 2.0 - 1.0
            // A predictor that knows x_0 recovers the noise exactly.
            let knows: Ddpm.Predictor = fun xt t -> (xt - s.At(s.SqrtAlphaBar, t) * x0) / s.At(s.SqrtOneMinusAlphaBar, t)
            let loss, _ = Ddpm.simpleLoss s knows x0 g
            Expect.isLessThan (loss.max().item ()) 1e-10 "the loss of the true noise"
            let zero: Ddpm.Predictor = fun xt _ -> torch.zeros_like xt
            let loss, _ = Ddpm.simpleLoss s zero x0 g
            // E|eps|^2 = 1 per pixel.
            within 0.3 2.0 (loss.mean().item ()) "the loss of predicting 0"
        testCase "the schedules: linear from 1e-4 to 0.02 (times 1000 / T), cosine with alphabar = cos^2((t/T + s) / (1 + s) pi/2) / alphabar(0)" <| fun () ->
            let linear = Schedule.create Linear 1000
            Expect.floatClose Accuracy.veryHigh linear.Beta[0] 1e-4 "beta_1"
            Expect.floatClose Accuracy.veryHigh linear.Beta[999] 0.02 "beta_T"
            // Over T = 100 the betas scale by 10, so alphabar_T is as small as over 1000 steps.
            let short = Schedule.create Linear 100
            Expect.floatClose Accuracy.veryHigh short.Beta[99] 0.2 "beta_T for T = 100"
            within 1e-6 1e-4 short.AlphaBar[99] "alphabar_T for T = 100"
            within 1e-6 1e-4 linear.AlphaBar[999] "alphabar_T for T = 1000"
            let cosine = Schedule.create Cosine 1000
            let f (t: float) = cos ((t / 1000.0 + 0.008) / 1.008 * Math.PI / 2.0) ** 2.0
            for t in [ 0; 10; 500; 990 ] do
                Expect.floatClose Accuracy.veryHigh cosine.AlphaBar[t] (f (float (t + 1)) / f 0.0) $"cosine alphabar at step {t + 1}"
            Expect.isLessThanOrEqual (Array.max cosine.Beta) 0.999 "cosine betas clipped"
        testSequenced <| testList "DiffusionRuns" [
            testCase "a tiny U-Net trains: its validation loss falls, and a resumed run ends bit for bit like a straight one, the average included" <| fun () ->
                let root = tempFolder "diffusion"
                try
                    let straight, resumed = Path.Combine(root, "straight"), Path.Combine(root, "resumed")
                    let metrics = train tiny settings straight false
                    let loss = metrics.Column "val_loss"
                    let shown = loss |> Array.map (fun l -> l.ToString "F4") |> String.concat ", "
                    output.WriteLine $"tiny U-Net, 300 steps: validation loss by epoch {shown}"
                    Expect.isLessThan loss[2] loss[0] "the validation loss falls"
                    Expect.isLessThan loss[2] 0.5 "the model predicts much of the noise"
                    train tiny { settings with Epochs = 1 } resumed false |> ignore
                    train tiny settings resumed true |> ignore
                    for name in [ "last"; "best"; "resume" ] do
                        use a = Safetensors.load ((RunFolder straight).Checkpoint name)
                        use b = Safetensors.load ((RunFolder resumed).Checkpoint name)
                        Expect.equal a.names b.names $"{name}: the same entries"
                        Expect.isTrue (a.names |> Array.exists (fun n -> n.Contains "ema.")) $"{name}: the average is saved"
                        for (n, x), (_, y) in Array.zip a.entries b.entries do
                            Expect.isTrue (x.toArray<byte> () = y.toArray<byte> ()) $"{name}: {n} differs"
                    // The average lags the weights.
                    use last = Safetensors.load ((RunFolder straight).Checkpoint "last")
                    let w, e = last["model.input.weight"].toFloat64Array (), last["ema.input.weight"].toFloat64Array ()
                    Expect.isFalse (w = e) "the average is not the weights"
                finally
                    Directory.Delete(root, true)
        ]
    ]
