/// Denoising diffusion (Ho et al. 2020) on images in [-1, 1], given a noise predictor
/// eps(x_t, t) (t [B] int64, 0-based): the forward process, the simple loss, ancestral sampling
/// and DDIM sampling (Song et al. 2021). Each function is the paper's equation.
module Research.Core.Models.Diffusion.Ddpm

open Research.Core

/// A noise predictor: eps_theta(x_t, t).
type Predictor = Tensor -> Tensor -> Tensor

/// x_t = sqrt(alphabar_t) x_0 + sqrt(1 - alphabar_t) eps: a draw of q(x_t | x_0) (eq. 4).
let qSample (s: Schedule) (x0: Tensor) (t: Tensor) (noise: Tensor) =
    s.At(s.SqrtAlphaBar, t) * x0 + s.At(s.SqrtOneMinusAlphaBar, t) * noise

/// The simple loss per image: the mean over pixels of |eps - eps_theta(x_t, t)|^2 for t uniform
/// and eps ~ N(0, I) (eq. 14). Returns it and the steps drawn.
let simpleLoss (s: Schedule) (eps: Predictor) (x0: Tensor) (generator: Generator) =
    let t = torch.randint (0L, int64 s.Steps, [| x0.size 0 |], generator = generator)
    let noise = torch.randn (x0.shape, generator = generator)
    (eps (qSample s x0 t noise) t - noise).square().flatten(1).mean 1, t

/// x_0 as the noise prediction implies it, clipped to the data's range [-1, 1]:
/// x_0 = (x_t - sqrt(1 - alphabar_t) eps) / sqrt(alphabar_t).
let predictX0 (s: Schedule) (xt: Tensor) (t: Tensor) (eps: Tensor) =
    ((xt - s.At(s.SqrtOneMinusAlphaBar, t) * eps) / s.At(s.SqrtAlphaBar, t)).clamp (-1.0, 1.0)

/// The mean of p_theta(x_{t-1} | x_t): that of q(x_{t-1} | x_t, x_0) at the predicted x_0 (eq. 7);
/// its variance is betatilde_t.
let reverseMean (s: Schedule) (eps: Predictor) (xt: Tensor) (t: Tensor) =
    let x0 = predictX0 s xt t (eps xt t)
    s.At(s.PosteriorX0, t) * x0 + s.At(s.PosteriorXt, t) * xt

/// One ancestral step from x_t to x_{t-1} (algorithm 2), all images at the same step t: the
/// reverse mean plus sqrt(betatilde_t) z, without noise at t = 0.
let pSample (s: Schedule) (eps: Predictor) (xt: Tensor) (t: int) (generator: Generator) =
    let steps = torch.full ([| xt.size 0 |], float t, Dtype.Int64)
    let mean = reverseMean s eps xt steps
    if t = 0 then mean else mean + sqrt s.PosteriorVariance[t] * torch.randn (xt.shape, generator = generator)

/// The steps a sampler of `count` steps visits, from the last: 0 and every (T / count)-th step
/// above it (DDIM's uniform sub-sequence; all T steps for count = T).
let stepsOf (s: Schedule) (count: int) =
    if count < 1 || count > s.Steps then invalidArg "steps" $"--steps must be between 1 and T = {s.Steps} (got {count})"
    [ for i in count - 1 .. -1 .. 0 -> int (int64 i * int64 s.Steps / int64 count) ]

/// One DDIM step from x_t to x_{t'} (t' < t, or -1 for the end), with eta scaling the noise
/// (Song et al. 2021, eq. 12; eta = 1 with every step is ancestral sampling):
///   x_{t'} = sqrt(alphabar_{t'}) x_0 + sqrt(1 - alphabar_{t'} - sigma^2) eps + sigma z,
///   sigma = eta sqrt((1 - alphabar_{t'}) / (1 - alphabar_t)) sqrt(1 - alphabar_t / alphabar_{t'}),
/// with x_0 clipped as in ancestral sampling and eps the noise that the clipped x_0 implies.
let ddimStep (s: Schedule) (eps: Predictor) (xt: Tensor) (t: int) (next: int) (eta: float) (generator: Generator) =
    let steps = torch.full ([| xt.size 0 |], float t, Dtype.Int64)
    let a, aNext = s.AlphaBar[t], (if next < 0 then 1.0 else s.AlphaBar[next])
    let x0 = predictX0 s xt steps (eps xt steps)
    let e = (xt - sqrt a * x0) / sqrt (1.0 - a)
    let sigma = eta * sqrt ((1.0 - aNext) / (1.0 - a)) * sqrt (1.0 - a / aNext)
    let mean = sqrt aNext * x0 + sqrt (max 0.0 (1.0 - aNext - sigma * sigma)) * e
    if sigma > 0.0 then mean + sigma * torch.randn (xt.shape, generator = generator) else mean

/// n images of `shape` ([C; H; W]) drawn from x_T ~ N(0, I): ancestral sampling over all T steps
/// when `steps` is None, else DDIM over that many steps with eta. `record` sees x_t after each
/// step (the denoising chain).
let sample (s: Schedule) (eps: Predictor) (shape: int64[]) (n: int) (steps: int option) (eta: float) (generator: Generator)
           (record: int -> Tensor -> unit) =
    use _ = torch.no_grad ()
    let mutable x = torch.randn (Array.append [| int64 n |] shape, generator = generator)
    // Each step's intermediates go with its scope, and the previous x once the next one exists;
    // `record` runs in the caller's scope, so what it keeps outlives the step.
    let advance (t: int) (step: Tensor -> Tensor) =
        let next =
            use scope = new TensorScope()
            scope.MoveToOuter(step x)
        x.Dispose()
        x <- next
        record t x
    match steps with
    | None ->
        for t in s.Steps - 1 .. -1 .. 0 do
            advance t (fun x -> pSample s eps x t generator)
    | Some count ->
        for t, next in List.pairwise (stepsOf s count @ [ -1 ]) do
            advance t (fun x -> ddimStep s eps x t next eta generator)
    x
