/// The flows of the workspace, built from their layers.
module Research.Core.Models.Flow.FlowModel

open Research.Core
open Research.Core.Data

/// A freshly initialised flow for images of `image` (the couplings' nets from the generator, which
/// also draws the dequantization noise).
let create (generator: Generator) (config: FlowConfig) (image: ImageShape) (dtype: Dtype) =
    let noise = ref generator
    let coupling name (shape: ImageShape) mask hidden = Coupling.create generator name shape mask hidden dtype
    let checkerboards (shape: ImageShape) count hidden =
        [ for i in 0 .. count - 1 -> coupling $"checkerboard{i}" shape (Coupling.checkerboard shape.Height shape.Width (i % 2 = 1) dtype) hidden ]
    let channelwise (shape: ImageShape) count hidden =
        [ for i in 0 .. count - 1 -> coupling $"channel{i}" shape (Coupling.channels shape.Channels (i % 2 = 1) dtype) hidden ]
    let dequantize =
        match config.Dequantization with
        | Uniform -> Dequantization.uniform noise
        | Variational -> Dequantization.variational generator noise image dtype
    let front = [ dequantize; Dequantization.logit ]
    let steps, latent =
        match config.Architecture, config.Couplings, config.Hidden with
        | SingleScale, [ n ], [ h ] -> List.map Layer (front @ checkerboards image n h), [ image ]
        | MultiScale, [ n1; n2; n3 ], [ h1; h2; h3 ] ->
            if image.Height % 4 <> 0 || image.Width % 4 <> 0 then
                invalidArg "image" $"the multi-scale flow squeezes twice; {image} images do not divide by 4"
            let s1 = { image with Channels = 4 * image.Channels; Height = image.Height / 2; Width = image.Width / 2 }
            let s2 = { s1 with Channels = s1.Channels / 2 }
            let s3 = { Channels = 4 * s2.Channels; Height = s2.Height / 2; Width = s2.Width / 2 }
            List.map Layer (front @ checkerboards image n1 h1 @ [ MultiScale.squeeze ] @ channelwise s1 n2 h2)
            @ [ Split ] @ List.map Layer (MultiScale.squeeze :: channelwise s3 n3 h3),
            [ s2; s3 ]
        | _ -> invalidArg "config" "the couplings and hidden sizes do not fit the architecture"
    { Steps = steps; Image = image; Latent = latent; Noise = noise }
