/// The affine coupling layer of RealNVP (Dinh et al. 2017, eq. 7-9): with a binary mask m, the
/// masked half passes unchanged and conditions a scale s and shift t for the other half,
///     z' = m * z + (1 - m) * ((z + t(m z)) * exp(s(m z))),   log|det| = sum (1 - m) s(m z),
/// inverted by z = m * z' + (1 - m) * (z' exp(-s) - t). s is kept stable as in the UvA tutorial,
/// s = tanh(s_raw / e^c) e^c with a learned scale c per channel, and the network's last layer
/// starts at zero, so the flow starts at the identity.
module Research.Core.Models.Flow.Coupling

open Research.Core
open Research.Core.Data
open Research.Core.Nn

/// A checkerboard mask [1; 1; H; W]: 1 where (row + column) is even, or odd when `flip`.
let checkerboard (height: int) (width: int) (flip: bool) (dtype: Dtype) =
    let values = [| for r in 0 .. height - 1 do for c in 0 .. width - 1 -> if ((r + c) % 2 = 0) <> flip then 1.0 else 0.0 |]
    torch.tensor(values, [| 1L; 1L; int64 height; int64 width |]).``to`` dtype

/// A channel mask [1; C; 1; 1]: 1 on the first half of the channels, or the second when `flip`.
let channels (count: int) (flip: bool) (dtype: Dtype) =
    let values = [| for c in 0 .. count - 1 -> if (c < count / 2) <> flip then 1.0 else 0.0 |]
    torch.tensor(values, [| 1L; int64 count; 1L; 1L |]).``to`` dtype

/// An affine coupling on maps of `shape` whose conv net (of `hidden` channels) sees the masked input
/// and, when `conditionChannels` > 0, a conditioning input beside it (Flow++'s dequantization flow
/// conditions on the image). Forward and reverse take the condition first.
type Conditional =
    { Parameters: Parameters
      Forward: Tensor option -> Tensor * Tensor -> Tensor * Tensor
      Reverse: Tensor option -> Tensor -> Tensor }

let conditional (generator: Generator) (shape: ImageShape) (mask: Tensor) (hidden: int) (conditionChannels: int) (dtype: Dtype) =
    let c = shape.Channels
    let conv a b = Conv2d.create (generator, a, b, 3, padding = 1, dtype = dtype)
    let c1, c2, c3 = conv (c + conditionChannels) hidden, conv hidden hidden, conv hidden (2 * c)
    (use _ = torch.no_grad ()
     c3.weight.zero_ () |> ignore
     c3.bias.Value.zero_ () |> ignore)
    let scale = (torch.zeros ([| 1L; int64 c; 1L; 1L |], dtype = dtype)).requires_grad_ ()
    let keep = mask
    let change = mask.neg () + 1.0
    /// s and t of the masked input.
    let scaleShift (condition: Tensor option) (z: Tensor) =
        let input = match condition with Some y -> torch.cat ([ z * keep; y ], 1) | None -> z * keep
        let out = ConvReluNet.forward (c1, c2, c3) input
        let sRaw, t = out.narrow (1, 0L, int64 c), out.narrow (1, int64 c, int64 c)
        let factor = scale.exp ()
        (sRaw / factor).tanh () * factor * change, t * change
    { Parameters =
        Parameters.create (
            [ yield "scale", scale
              for n, l in [ "net.0", c1; "net.2", c2; "net.4", c3 ] do
                  for p, t in l.parameters.named -> $"{n}.{p}", t ],
            [ "mask", mask ])
      Forward =
        fun condition (z, ldj) ->
            let s, t = scaleShift condition z
            (z + t) * s.exp (), ldj + FlowLayer.perExample s
      Reverse =
        fun condition z ->
            let s, t = scaleShift condition z
            z * (s.neg ()).exp () - t }

/// An affine coupling layer on maps of `shape` with the given mask and a conv net of `hidden` channels.
let create (generator: Generator) (name: string) (shape: ImageShape) (mask: Tensor) (hidden: int) (dtype: Dtype) : FlowLayer =
    let coupling = conditional generator shape mask hidden 0 dtype
    { Name = name; Parameters = coupling.Parameters; Forward = coupling.Forward None; Reverse = coupling.Reverse None }
