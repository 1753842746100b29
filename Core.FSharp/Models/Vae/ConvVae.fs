/// A convolutional VAE (DCGAN-like): two stride-2 convolutions H -> H/2 -> H/4 (28 -> 14 -> 7 for
/// MNIST) and a linear map to (mu, logvar); the decoder mirrors it with transposed convolutions.
/// config.Hidden gives the two channel counts (e.g. 32, 64).
module Research.Core.Models.Vae.ConvVae

open Research.Core
open Research.Core.Data
open Research.Core.Nn
open Research.Core.Probability

let create (generator: Generator) (config: VaeConfig) (image: ImageShape) =
    let c1, c2 =
        match config.Hidden with
        | [ c1; c2 ] -> c1, c2
        | _ -> invalidArg "config" "the conv VAE takes two channel counts, e.g. --hidden 32,64"
    if image.Height % 4 <> 0 || image.Width % 4 <> 0 then
        invalidArg "image" $"the conv VAE halves the image twice; {image} images do not divide by 4"
    let h4, w4 = int64 (image.Height / 4), int64 (image.Width / 4)
    let flat = c2 * int h4 * int w4
    // kernel 4, stride 2, padding 1 halves (and its transpose doubles) the side exactly. The
    // convolutions get channels-last maps, which oneDNN reads without a layout conversion (as the
    // DCGAN's); flatten and view keep the features in NCHW order, PyTorch's.
    let down a b = Conv2d.create (generator, a, b, 4, stride = 2, padding = 1)
    let up a b = ConvTranspose2d.create (generator, a, b, 4, stride = 2, padding = 1)
    let conv1, conv2 = down image.Channels c1, down c1 c2
    let mu, logvar = Linear.create (generator, flat, config.Latent), Linear.create (generator, flat, config.Latent)
    let fc = Linear.create (generator, config.Latent, flat)
    let deconv1, deconv2 = up c2 c1, up c1 image.Channels
    let pixelLogvar, pixelParameters = PixelLikelihood.logVariance config.Likelihood
    let parameters =
        Parameters.compose [
            "encoder", Parameters.compose [ "conv1", conv1.parameters; "conv2", conv2.parameters; "mu", mu.parameters; "logvar", logvar.parameters ]
            "decoder",
            Parameters.compose ([ "fc", fc.parameters; "deconv1", deconv1.parameters; "deconv2", deconv2.parameters ] @ pixelParameters) ]
    { Latent = config.Latent
      Image = image
      Parameters = parameters
      Encode =
        fun x ->
            let h = (conv2.forward ((conv1.forward ((x.view (Array.append [| -1L |] image.Dims)).channelsLast ())).relu ())).relu ()
            let h = h.flatten (1)
            DiagonalGaussian(mu.forward h, logvar.forward h)
      Decode =
        fun z ->
            // Any leading (sample, batch) dimensions are folded into one batch for the convolutions.
            let leading = z.shape.[.. z.dim - 2]
            let h = (fc.forward (z.reshape (-1L, int64 config.Latent))).relu ()
            let h = (deconv1.forward ((h.view (-1L, int64 c2, h4, w4)).channelsLast ())).relu ()
            let out = (deconv2.forward h).reshape (Array.append leading [| int64 image.Pixels |])
            PixelLikelihood.ofDecoderOutput config.Likelihood pixelLogvar out }
