namespace Research.Core.Nn

open Research.Core

/// torch.nn.Conv2d with square kernels: weight [out, in/groups, k, k], stride, padding and
/// dilation the same along height and width.
type Conv2d =
    { weight: Tensor
      bias: Tensor option
      stride: int
      padding: int
      dilation: int
      groups: int }

    member c.forward(x: Tensor) =
        F.conv2d (x, c.weight, ?bias = c.bias, stride = c.stride, padding = c.padding, dilation = c.dilation, groups = c.groups)

    member c.parameters = Parameters.weightAndBias (c.weight, c.bias)

    interface IModule with
        member c.parameters = c.parameters

    /// A layer initialised as PyTorch does (Init.convolution) from the generator.
    static member create(generator: Generator, inChannels: int, outChannels: int, kernelSize: int, ?stride: int, ?padding: int,
                         ?dilation: int, ?groups: int, ?bias: bool, ?dtype: Dtype) =
        let groups = defaultArg groups 1
        let weight, bias = Init.convolution (generator, inChannels, outChannels, kernelSize, groups, false, defaultArg bias true, dtype)
        { weight = weight
          bias = bias
          stride = defaultArg stride 1
          padding = defaultArg padding 0
          dilation = defaultArg dilation 1
          groups = groups }
