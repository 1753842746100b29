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

    /// A layer initialised as PyTorch does (Init.pytorchDefault) from the generator.
    static member create(generator: Generator, inChannels: int, outChannels: int, kernelSize: int, ?stride: int, ?padding: int,
                         ?dilation: int, ?groups: int, ?bias: bool, ?dtype: Dtype) =
        let groups = defaultArg groups 1
        if inChannels % groups <> 0 || outChannels % groups <> 0 then
            invalidArg "groups" $"in_channels {inChannels} and out_channels {outChannels} must be divisible by groups {groups}"
        let k = int64 kernelSize
        let bias = if defaultArg bias true then Some(int64 outChannels) else None
        let weight, bias = Init.pytorchDefault (generator, [| int64 outChannels; int64 (inChannels / groups); k; k |], bias, ?dtype = dtype)
        { weight = weight
          bias = bias
          stride = defaultArg stride 1
          padding = defaultArg padding 0
          dilation = defaultArg dilation 1
          groups = groups }
