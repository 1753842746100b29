/// The multi-scale architecture of RealNVP (Dinh et al. 2017, sec. 3.6): squeeze trades space for
/// channels, and split factors half of the channels out to the prior.
module Research.Core.Models.Flow.MultiScale

open Research.Core
open Research.Core.Nn
open Research.Core.Probability

/// Squeeze: [B, C, H, W] -> [B, 4C, H/2, W/2], each 2x2 block becoming 4 channels. A permutation:
/// log|det| = 0.
let squeeze: FlowLayer =
    { Name = "squeeze"
      Parameters = Parameters.create []
      Forward =
        fun (z, ldj) ->
            let b, c, h, w = z.shape[0], z.shape[1], z.shape[2], z.shape[3]
            let z = z.reshape([| b; c; h / 2L; 2L; w / 2L; 2L |]).permute([| 0; 1; 3; 5; 2; 4 |])
            z.reshape [| b; c * 4L; h / 2L; w / 2L |], ldj
      Reverse =
        fun z ->
            let b, c, h, w = z.shape[0], z.shape[1], z.shape[2], z.shape[3]
            let z = z.reshape([| b; c / 4L; 2L; 2L; h; w |]).permute([| 0; 1; 4; 2; 5; 3 |])
            z.reshape [| b; c / 4L; h * 2L; w * 2L |] }

/// Split: the second half of the channels leaves the flow here, scored by the prior N(0, I)
/// (log p(z2) is added to ldj); the reverse draws it from the prior again, scaled by `temperature`.
let split (noise: Generator ref) (temperature: float ref) : FlowLayer =
    { Name = "split"
      Parameters = Parameters.create []
      Forward =
        fun (z, ldj) ->
            let half = z.shape[1] / 2L
            let z1, z2 = z.narrow (1, 0L, half), z.narrow (1, half, half)
            z1, ldj + StandardNormal.log_prob_event 3 z2
      Reverse =
        fun z1 ->
            let z2 = torch.randn (z1.shape, dtype = z1.dtype, generator = noise.Value) * temperature.Value
            torch.cat ([ z1; z2 ], 1) }
