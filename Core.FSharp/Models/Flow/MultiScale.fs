/// The multi-scale architecture of RealNVP (Dinh et al. 2017, sec. 3.6): squeeze trades space for
/// channels (the split that factors half of them out to the prior is a step of `Flow`).
module Research.Core.Models.Flow.MultiScale

open Research.Core
open Research.Core.Nn

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
