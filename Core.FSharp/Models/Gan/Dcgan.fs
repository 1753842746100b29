/// The DCGAN (Radford et al. 2016) of pytorch/examples, adapted to 28x28 images; base channel
/// counts ngf and ndf:
///   G: z [latent, 1, 1] -> ConvT(k7) 2ngf x 7 x 7 -> ConvT(k4, s2) ngf x 14 x 14 -> ConvT(k4, s2) C x 28 x 28,
///      BatchNorm and ReLU between, tanh out;
///   D: C x 28 x 28 -> Conv(k4, s2) ndf x 14 x 14 -> Conv(k4, s2) 2ndf x 7 x 7 -> Conv(k7) 1 logit,
///      LeakyReLU(0.2) between, BatchNorm on the second;
/// weights N(0, 0.02), BatchNorm scales N(1, 0.02), as pytorch/examples' weights_init.
module Research.Core.Models.Gan.Dcgan

open Research.Core
open Research.Core.Data
open Research.Core.Nn

let create (generator: Generator) (config: GanConfig) (image: ImageShape) =
    let ngf, ndf = List.exactlyOne config.GeneratorHidden, List.exactlyOne config.DiscriminatorHidden
    if image.Height % 4 <> 0 || image.Width % 4 <> 0 then
        invalidArg "image" $"the DCGAN doubles a 1/4-size map twice; {image} images do not divide by 4"
    let h4, w4 = image.Height / 4, image.Width / 4
    if h4 <> w4 then invalidArg "image" $"the DCGAN takes square images (got {image})"
    let up a b k s p = ConvTranspose2d.create (generator, a, b, k, stride = s, padding = p, bias = false)
    let down a b k s p = Conv2d.create (generator, a, b, k, stride = s, padding = p, bias = false)
    let g1, g2, g3 = up config.Latent (2 * ngf) h4 1 0, up (2 * ngf) ngf 4 2 1, up ngf image.Channels 4 2 1
    let gn1, gn2 = BatchNorm.create2d (2 * ngf), BatchNorm.create2d ngf
    let d1, d2, d3 = down image.Channels ndf 4 2 1, down ndf (2 * ndf) 4 2 1, down (2 * ndf) 1 h4 1 0
    let dn2 = BatchNorm.create2d (2 * ndf)
    for w in [ g1.weight; g2.weight; g3.weight; d1.weight; d2.weight; d3.weight ] do
        Init.normal_ (w, 0.0, 0.02, generator) |> ignore
    for bn in [ gn1; gn2; dn2 ] do
        Init.normal_ (bn.weight.Value, 1.0, 0.02, generator) |> ignore
    // The activations are channels-last (NHWC) from the first feature map on: oneDNN's convolutions
    // then read and write them as they are, where NCHW costs a layout conversion before and after
    // each one (a tenth of the step on an Intel AMX Xeon); BatchNorm and the activations keep the layout.
    let generate (training: bool) (z: Tensor) =
        let h = (g1.forward (z.view (-1L, int64 config.Latent, 1L, 1L))).channelsLast ()
        let h = (gn1.forward (h, training)).relu ()
        let h = (gn2.forward (g2.forward h, training)).relu ()
        (g3.forward h).tanh ()
    let discriminate (training: bool) (x: Tensor) =
        let h = F.leaky_relu (d1.forward (x.channelsLast ()), 0.2)
        let h = F.leaky_relu (dn2.forward (d2.forward h, training), 0.2)
        (d3.forward h).view (-1L)
    { Latent = config.Latent
      Image = image
      Generator = Parameters.compose [ "deconv1", g1.parameters; "norm1", gn1.parameters; "deconv2", g2.parameters; "norm2", gn2.parameters; "deconv3", g3.parameters ]
      Discriminator = Parameters.compose [ "conv1", d1.parameters; "conv2", d2.parameters; "norm2", dn2.parameters; "conv3", d3.parameters ]
      Generate = generate
      Discriminate = discriminate }
