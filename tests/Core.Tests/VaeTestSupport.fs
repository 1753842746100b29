/// Shared helpers for the VAE tests: a tiny float64 VAE for finite differences, a linear Gaussian
/// VAE whose log p(x) and posterior are known in closed form, and sample statistics.
module Research.Core.Tests.VaeTestSupport

open System
open System.IO
open Research.Core
open Research.Core.Data
open Research.Core.Nn
open Research.Core.Probability
open Research.Core.Models.Vae

/// Mean and standard error of the mean of a sample.
let meanAndStdErr (xs: float[]) =
    let n = float xs.Length
    let mean = Array.average xs
    let variance = (xs |> Array.sumBy (fun x -> (x - mean) ** 2.0)) / (n - 1.0)
    mean, sqrt (variance / n)

/// Sample variance.
let variance (xs: float[]) =
    let mean = Array.average xs
    (xs |> Array.sumBy (fun x -> (x - mean) ** 2.0)) / float (xs.Length - 1)

/// Runs `test` in a fresh temp folder and deletes the folder afterwards.
let inTempFolder (name: string) (test: string -> unit) =
    let folder = NnTestSupport.tempFolder name
    try test folder
    finally Directory.Delete(folder, true)

/// The first n MNIST test digits, [n; 784] float32 in [0, 1], read straight from the IDX file.
let mnistTestDigits (n: int) =
    let idx = Idx.read (DataFolder.file (Path.Combine("mnist", "t10k-images-idx3-ubyte"), None))
    let pixels = (idx.Data :?> byte[]).[.. n * 784 - 1] |> Array.map (fun b -> float32 b / 255.0f)
    torch.tensor (pixels, [| int64 n; 784L |])

/// A small float64 MLP VAE, pixels -> hidden (ReLU) -> (mu, logvar) and latent -> hidden (ReLU) ->
/// pixels, built by hand from Linear layers as MlpVae builds its float32 one. With a log-variance
/// the pixels are Gaussian (sigmoid mean, learned float64 log-variance), otherwise Bernoulli logits.
let tinyVae64 (seed: int64) (pixels: int) (hidden: int) (latent: int) (gaussianLogvar: float option) =
    use g = new Generator(seed)
    let linear a b = Linear.create (g, a, b, dtype = Float64)
    let encoder, mu, logvar = linear pixels hidden, linear hidden latent, linear hidden latent
    let decoder, out = linear latent hidden, linear hidden pixels
    let likelihood, pixelLogvar, pixel =
        match gaussianLogvar with
        | Some lv ->
            let t = torch.full([| 1L |], lv, dtype = Float64).requires_grad_ ()
            GaussianLearned, Some t, [ "pixel", Parameters.create [ "logvar", t ] ]
        | None -> Bernoulli, None, []
    { Latent = latent
      Image = { Channels = 1; Height = 1; Width = pixels }
      Parameters =
        Parameters.compose [
            "encoder", Parameters.compose [ "hidden", encoder.parameters; "mu", mu.parameters; "logvar", logvar.parameters ]
            "decoder", Parameters.compose ([ "hidden", decoder.parameters; "out", out.parameters ] @ pixel) ]
      Encode =
        fun x ->
            let h = (encoder.forward x).relu ()
            DiagonalGaussian(mu.forward h, logvar.forward h)
      Decode = fun z -> PixelLikelihood.ofDecoderOutput likelihood pixelLogvar (out.forward ((decoder.forward z).relu ())) }

/// The linear Gaussian VAE p(z) = N(0, I_L), p(x|z) = N(W z + b, sigma^2 I_D) with W_jj = w_j for
/// j < L and zero elsewhere: pixel j < L reads latent j, the others are pure noise. Everything is
/// known in closed form, per latent coordinate j:
///   p(x_j) = N(b_j, sigma^2 + w_j^2),   p(z_j|x) = N(m_j, 1/lambda_j),
///   lambda_j = 1 + w_j^2 / sigma^2,     m_j = (w_j / sigma^2)(x_j - b_j) / lambda_j
/// (Bishop 2006, eqs. 2.115-2.117, with a diagonal W^T W). Float64 throughout.
type LinearGaussian =
    { W: float[]
      B: float[]
      Sigma: float }

    member m.Latent = m.W.Length
    member m.Pixels = m.B.Length

    member m.PosteriorPrecision(j: int) = 1.0 + m.W.[j] ** 2.0 / m.Sigma ** 2.0

    /// Exact log p(x) of one image, in doubles.
    member m.LogMarginal(x: float[]) =
        let logNormal (v: float) (mean: float) (var: float) = -0.5 * (log (2.0 * Math.PI * var) + (v - mean) ** 2.0 / var)
        Array.init m.Pixels (fun j ->
            let var = if j < m.Latent then m.Sigma ** 2.0 + m.W.[j] ** 2.0 else m.Sigma ** 2.0
            logNormal x.[j] m.B.[j] var)
        |> Array.sum

    /// The VAE whose encoder is the exact posterior with its mean moved by `shift` posterior standard
    /// deviations and its standard deviation multiplied by `spread` (shift 0, spread 1: exact).
    member m.Vae(shift: float, spread: float) =
        let L, D = int64 m.Latent, int64 m.Pixels
        let weight = torch.zeros ([| D; L |], Float64)
        for j in 0 .. m.Latent - 1 do
            (use e = weight.[j, j] in e.fill_ m.W.[j]) |> ignore
        let bias = torch.tensor (m.B)
        let posterior (f: int -> float) = torch.tensor (Array.init m.Latent f)
        let gain = posterior (fun j -> m.W.[j] / m.Sigma ** 2.0 / m.PosteriorPrecision j)
        let offset = posterior (fun j -> m.B.[j])
        let posteriorSd = posterior (fun j -> 1.0 / sqrt (m.PosteriorPrecision j))
        let logvar = posterior (fun j -> 2.0 * log (spread / sqrt (m.PosteriorPrecision j)))
        let pixelLogvar = torch.full ([| 1L |], 2.0 * log m.Sigma, Float64)
        { Latent = m.Latent
          Image = { Channels = 1; Height = 1; Width = int D }
          Parameters = Parameters.create ([], [ "weight", weight; "bias", bias; "gain", gain; "offset", offset
                                                "posterior_sd", posteriorSd; "logvar", logvar; "pixel_logvar", pixelLogvar ])
          Encode =
            fun x ->
                let mean = (x.narrow (1, 0L, L) - offset) * gain + posteriorSd * shift
                DiagonalGaussian(mean, logvar.expand_as mean)
          Decode = fun z -> Gaussian(F.linear (z, weight, bias), pixelLogvar) }

    /// n images drawn from the model, [n; D], with their rows as arrays.
    member m.Sample(n: int, seed: int64) =
        use g = new Generator(seed)
        use scope = new TensorScope()
        let weight = torch.zeros ([| int64 m.Pixels; int64 m.Latent |], Float64)
        for j in 0 .. m.Latent - 1 do
            (use e = weight.[j, j] in e.fill_ m.W.[j]) |> ignore
        let z = torch.randn ([| int64 n; int64 m.Latent |], Float64, generator = g)
        let noise = torch.randn ([| int64 n; int64 m.Pixels |], Float64, generator = g)
        let x = F.linear (z, weight, torch.tensor m.B) + noise * m.Sigma
        let values = x.toFloat64Array ()
        scope.Detach x, Array.init n (fun i -> values.[i * m.Pixels .. (i + 1) * m.Pixels - 1])

/// A linear Gaussian model with `latent` informative pixels (w_j from 0.8 to 1.6) and `noise`
/// pure-noise pixels, sigma = 0.3: each posterior is about 5x narrower than the prior.
let linearGaussian (latent: int) (noise: int) =
    { W = Array.init latent (fun j -> 0.8 + 0.8 * float j / float (max 1 (latent - 1)))
      B = Array.init (latent + noise) (fun j -> 0.1 * float (j % 7) - 0.3)
      Sigma = 0.3 }
