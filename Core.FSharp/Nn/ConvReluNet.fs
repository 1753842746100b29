namespace Research.Core.Nn

#nowarn "9" "51"

open System
open System.Runtime.InteropServices
open Research.Core
open Research.Core.Native

/// conv3 (relu (conv2 (relu (conv1 x)))) for 3x3 convolutions with stride 1, padding 1 and biases:
/// the conv net of an affine coupling. On float32 CPU tensors it runs as one native operation on
/// oneDNN that keeps the hidden activations in oneDNN's channel-blocked layout, forward and
/// backward, instead of reordering them around every convolution, with a last layer of fewer than 8
/// outputs on loops of its own (native/convnet.cpp, native/narrow_conv.cpp); the numbers are those
/// of the layers composed.
module ConvReluNet =
    let private composed (c1: Conv2d) (c2: Conv2d) (c3: Conv2d) (x: Tensor) =
        c3.forward ((c2.forward ((c1.forward x).relu ())).relu ())

    let private fusable (c: Conv2d) =
        c.bias.IsSome && c.stride = 1 && c.padding = 1 && c.dilation = 1 && c.groups = 1

    /// f of the handles of x, w1, b1, w2, b2, w3 and b3, which stay alive until it returns.
    let private withHandles (c1: Conv2d, c2: Conv2d, c3: Conv2d) (x: Tensor) f =
        let tensors = [| x; c1.weight; c1.bias.Value; c2.weight; c2.bias.Value; c3.weight; c3.bias.Value |]
        let result = f (tensors |> Array.map (fun t -> t.Handle))
        GC.KeepAlive tensors
        result

    /// Whether `forward` runs as the fused native operation for these layers and this input (float32
    /// CPU tensors, contiguous, of matching widths), rather than as the layers composed.
    let fused (c1: Conv2d, c2: Conv2d, c3: Conv2d) (x: Tensor) =
        fusable c1 && fusable c2 && fusable c3
        && withHandles (c1, c2, c3) x (fun h ->
            let mutable r = 0
            check (ts_conv_net_fused (h[0], h[1], h[2], h[3], h[4], h[5], h[6], &&r))
            r = 1)

    let forward (c1: Conv2d, c2: Conv2d, c3: Conv2d) (x: Tensor) =
        if fusable c1 && fusable c2 && fusable c3 then
            withHandles (c1, c2, c3) x (fun h ->
                Tensor.New(fun o -> ts_conv_net (h[0], h[1], h[2], h[3], h[4], h[5], h[6], o)))
        else
            composed c1 c2 c3 x
