namespace Research.Core.Nn

open Research.Core

/// torch.nn.ConvTranspose2d with square kernels: weight [in, out/groups, k, k]; the output is
/// (H - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1 high (and as wide).
type ConvTranspose2d =
    { weight: Tensor
      bias: Tensor option
      stride: int
      padding: int
      outputPadding: int
      groups: int
      dilation: int }

    member c.forward(x: Tensor) =
        F.conv_transpose2d (x, c.weight, ?bias = c.bias, stride = c.stride, padding = c.padding,
                            output_padding = c.outputPadding, groups = c.groups, dilation = c.dilation)

    member c.parameters = Parameters.weightAndBias (c.weight, c.bias)

    interface IModule with
        member c.parameters = c.parameters

    /// A layer initialised as PyTorch does (Init.convolution, transposed: fan_in comes from weight
    /// dimension 1, i.e. out/groups * k * k) from the generator.
    static member create(generator: Generator, inChannels: int, outChannels: int, kernelSize: int, ?stride: int, ?padding: int,
                         ?outputPadding: int, ?groups: int, ?bias: bool, ?dilation: int, ?dtype: Dtype) =
        let groups = defaultArg groups 1
        let weight, bias = Init.convolution (generator, inChannels, outChannels, kernelSize, groups, true, defaultArg bias true, dtype)
        { weight = weight
          bias = bias
          stride = defaultArg stride 1
          padding = defaultArg padding 0
          outputPadding = defaultArg outputPadding 0
          groups = groups
          dilation = defaultArg dilation 1 }
