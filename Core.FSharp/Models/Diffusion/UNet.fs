/// The noise predictor eps_theta(x_t, t) of Ho et al. 2020 (appendix B), sized for 28 x 28 digits
/// on a CPU: a U-Net of residual blocks with GroupNorm (8 groups) and SiLU, the step t entering every
/// block through a sinusoidal embedding (Vaswani et al. 2017), C, 2C and 2C channels at 28, 14 and
/// 7 pixels, one block per level each way, optional self-attention at 7 x 7, and skip connections
/// between the levels of the same size.
module Research.Core.Models.Diffusion.UNet

open System
open Research.Core
open Research.Core.Nn

let private groups = 8

/// The sinusoidal embedding of steps t [B] (int64) in `dim` features: sin and cos of t at
/// frequencies 10000^(-i / (dim/2 - 1)).
let timeEmbedding (t: Tensor) (dim: int) =
    use scope = new TensorScope()
    let half = dim / 2
    let frequencies = (torch.arange (float half) * (-Math.Log 10000.0 / float (half - 1))).exp ()
    let angles = (t.``to`` Float32).unsqueeze(1) * frequencies.unsqueeze 0
    scope.MoveToOuter(torch.cat ([ angles.sin (); angles.cos () ], 1))

/// h = conv(SiLU(GN(x))) + W SiLU(temb), h = conv(SiLU(GN(h))), out = h + skip(x).
type ResBlock =
    { Norm1: GroupNorm
      Conv1: Conv2d
      Time: Linear
      Norm2: GroupNorm
      Conv2: Conv2d
      Skip: Conv2d option }

    member b.forward(x: Tensor, temb: Tensor) =
        let h = b.Conv1.forward (b.Norm1.forwardSilu x)
        let h = h + (b.Time.forward (temb.silu ())).view (h.size 0, h.size 1, 1L, 1L)
        let h = b.Conv2.forward (b.Norm2.forwardSilu h)
        h + (match b.Skip with Some s -> s.forward x | None -> x)

    member b.parameters =
        Parameters.compose [
            yield "norm1", b.Norm1.parameters
            yield "conv1", b.Conv1.parameters
            yield "time", b.Time.parameters
            yield "norm2", b.Norm2.parameters
            yield "conv2", b.Conv2.parameters
            match b.Skip with
            | Some s -> yield "skip", s.parameters
            | None -> () ]

    static member create(g: Generator, inChannels: int, outChannels: int, timeDim: int) =
        let conv a b = Conv2d.create (g, a, b, 3, padding = 1)
        { Norm1 = GroupNorm.create (groups, inChannels)
          Conv1 = conv inChannels outChannels
          Time = Linear.create (g, timeDim, outChannels)
          Norm2 = GroupNorm.create (groups, outChannels)
          Conv2 = conv outChannels outChannels
          Skip = if inChannels = outChannels then None else Some(Conv2d.create (g, inChannels, outChannels, 1)) }

/// Self-attention over the positions of a map (Vaswani et al. 2017), one head: x + proj(v softmax(q^T k / sqrt C)).
type Attention =
    { Norm: GroupNorm
      Qkv: Conv2d
      Proj: Conv2d }

    member a.forward(x: Tensor) =
        let n, c, h, w = x.size 0, x.size 1, x.size 2, x.size 3
        let qkv = (a.Qkv.forward (a.Norm.forward x)).view (n, 3L, c, h * w)
        let q, k, v = qkv.select (1, 0L), qkv.select (1, 1L), qkv.select (1, 2L)
        let weights = ((q.transpose (1, 2)).bmm k / sqrt (float c)).softmax 2    // [n, hw (query), hw (key)]
        let attended = v.bmm (weights.transpose (1, 2))                          // [n, c, hw]
        x + a.Proj.forward (attended.view (n, c, h, w))

    member a.parameters = Parameters.compose [ "norm", a.Norm.parameters; "qkv", a.Qkv.parameters; "proj", a.Proj.parameters ]

    static member create(g: Generator, channels: int) =
        { Norm = GroupNorm.create (groups, channels)
          Qkv = Conv2d.create (g, channels, 3 * channels, 1)
          Proj = Conv2d.create (g, channels, channels, 1) }

/// The network, a function of (x_t [B; 1; 28; 28], t [B] int64), and its parameters.
type Net = { Forward: Tensor -> Tensor -> Tensor; Parameters: Parameters }

/// A freshly initialised U-Net of base channels c for images of `imageChannels` channels, its weights
/// drawn from the generator as PyTorch initialises its layers, the output convolution at zero (the
/// first prediction of the noise is 0).
let create (g: Generator) (imageChannels: int) (c: int) (attention: bool) =
    let timeDim = 4 * c
    let time1, time2 = Linear.create (g, c, timeDim), Linear.create (g, timeDim, timeDim)
    let conv a b = Conv2d.create (g, a, b, 3, padding = 1)
    let input = conv imageChannels c
    let res a b = ResBlock.create (g, a, b, timeDim)
    let down0, down1, down2 = res c c, res c (2 * c), res (2 * c) (2 * c)
    let shrink0, shrink1 = Conv2d.create (g, c, c, 3, stride = 2, padding = 1), Conv2d.create (g, 2 * c, 2 * c, 3, stride = 2, padding = 1)
    let middle = res (2 * c) (2 * c)
    let up2, up1, up0 = res (4 * c) (2 * c), res (4 * c) (2 * c), res (3 * c) c
    let grow1, grow0 = conv (2 * c) (2 * c), conv (2 * c) (2 * c)
    let attend = if attention then Some(Attention.create (g, 2 * c), Attention.create (g, 2 * c)) else None
    let outNorm, output = GroupNorm.create (groups, c), conv c imageChannels
    (use _ = torch.no_grad ()
     output.weight.zero_ () |> ignore
     output.bias.Value.zero_ () |> ignore)
    let twice (x: Tensor) = F.interpolate (x, scale_factor = 2.0, mode = "nearest")
    let forward (x: Tensor) (t: Tensor) =
        let temb = time2.forward ((time1.forward (timeEmbedding t c)).silu ())
        let attendAt (i: int) (h: Tensor) =
            match attend with
            | Some(a, b) -> (if i = 0 then a else b).forward h
            | None -> h
        // Channels-last from the input on: oneDNN's convolutions read and write NHWC as it is, where
        // NCHW costs two layout conversions a convolution (a sixth of the step); the fused norms keep it.
        let h0 = down0.forward (input.forward (x.channelsLast ()), temb)                // C x 28 x 28
        let h1 = down1.forward (shrink0.forward h0, temb)                              // 2C x 14 x 14
        let h2 = attendAt 0 (down2.forward (shrink1.forward h1, temb))                 // 2C x 7 x 7
        let m = middle.forward (h2, temb)
        let u2 = attendAt 1 (up2.forward (torch.cat ([ m; h2 ], 1), temb))             // 2C x 7 x 7
        let u1 = up1.forward (torch.cat ([ grow1.forward (twice u2); h1 ], 1), temb)   // 2C x 14 x 14
        let u0 = up0.forward (torch.cat ([ grow0.forward (twice u1); h0 ], 1), temb)   // C x 28 x 28
        output.forward (outNorm.forwardSilu u0)
    let parameters =
        Parameters.compose [
            yield "time1", time1.parameters
            yield "time2", time2.parameters
            yield "input", input.parameters
            yield "down0", down0.parameters
            yield "shrink0", shrink0.parameters
            yield "down1", down1.parameters
            yield "shrink1", shrink1.parameters
            yield "down2", down2.parameters
            yield "middle", middle.parameters
            yield "up2", up2.parameters
            yield "grow1", grow1.parameters
            yield "up1", up1.parameters
            yield "grow0", grow0.parameters
            yield "up0", up0.parameters
            match attend with
            | Some(a, b) ->
                yield "attention_down", a.parameters
                yield "attention_up", b.parameters
            | None -> ()
            yield "out_norm", outNorm.parameters
            yield "output", output.parameters ]
    { Forward = forward; Parameters = parameters }
