namespace Research.Core.Models.Diffusion

open System
open Research.Core

/// The forward process's constants for steps t = 0..T-1 (step t of the paper is t + 1 here), in
/// float64 (Ho et al. 2020, section 2):
///   alpha_t = 1 - beta_t, alphabar_t = prod_{s <= t} alpha_s,
///   q(x_t | x_0) = N(sqrt(alphabar_t) x_0, (1 - alphabar_t) I)                          (eq. 4)
///   q(x_{t-1} | x_t, x_0) = N(c0_t x_0 + ct_t x_t, betatilde_t I), with                 (eq. 6-7)
///     c0_t = beta_t sqrt(alphabar_{t-1}) / (1 - alphabar_t),
///     ct_t = (1 - alphabar_{t-1}) sqrt(alpha_t) / (1 - alphabar_t),
///     betatilde_t = (1 - alphabar_{t-1}) / (1 - alphabar_t) beta_t          (alphabar_{-1} = 1).
type Schedule =
    { Beta: float[]
      Alpha: float[]
      AlphaBar: float[]
      SqrtAlphaBar: float[]
      SqrtOneMinusAlphaBar: float[]
      /// alphabar_{t-1}, with alphabar_{-1} = 1.
      AlphaBarPrevious: float[]
      PosteriorVariance: float[]
      PosteriorX0: float[]
      PosteriorXt: float[] }

    member s.Steps = s.Beta.Length

    /// Values per step of a batch's steps t [B] (int64), as a float32 tensor [B; 1; 1; 1] that
    /// broadcasts over images.
    member s.At(values: float[], t: Tensor) =
        use scope = new TensorScope()
        let table = torch.tensor (Array.map float32 values)
        scope.MoveToOuter((table.index_select (0, t)).view (-1L, 1L, 1L, 1L))

module Schedule =
    /// The betas of a schedule over T steps. The linear one runs from 1e-4 to 0.02 at T = 1000 (Ho
    /// et al.) and is scaled by 1000 / T otherwise (Nichol & Dhariwal 2021), so that alphabar_T stays
    /// near 0 and x_T ~ N(0, I) remains the right start for any T.
    let betas (schedule: NoiseSchedule) (steps: int) =
        match schedule with
        | Linear ->
            let scale = 1000.0 / float steps
            Array.init steps (fun t -> min 0.999 (scale * (1e-4 + (0.02 - 1e-4) * float t / float (max 1 (steps - 1)))))
        | Cosine ->
            let s = 0.008
            let f (t: float) = cos ((t / float steps + s) / (1.0 + s) * Math.PI / 2.0) ** 2.0
            Array.init steps (fun t -> min 0.999 (1.0 - f (float (t + 1)) / f (float t)))

    let ofBetas (beta: float[]) =
        let alpha = beta |> Array.map (fun b -> 1.0 - b)
        let alphaBar = Array.scan (*) 1.0 alpha |> Array.tail
        let previous = Array.append [| 1.0 |] alphaBar[.. alphaBar.Length - 2]
        { Beta = beta
          Alpha = alpha
          AlphaBar = alphaBar
          SqrtAlphaBar = alphaBar |> Array.map sqrt
          SqrtOneMinusAlphaBar = alphaBar |> Array.map (fun a -> sqrt (1.0 - a))
          AlphaBarPrevious = previous
          PosteriorVariance = Array.init beta.Length (fun t -> (1.0 - previous[t]) / (1.0 - alphaBar[t]) * beta[t])
          PosteriorX0 = Array.init beta.Length (fun t -> beta[t] * sqrt previous[t] / (1.0 - alphaBar[t]))
          PosteriorXt = Array.init beta.Length (fun t -> (1.0 - previous[t]) * sqrt alpha[t] / (1.0 - alphaBar[t])) }

    let create (schedule: NoiseSchedule) (steps: int) = ofBetas (betas schedule steps)
