namespace Research.Core.Nn

open Research.Core

/// torch.nn.GroupNorm (Wu & He 2018): the channels of each sample in `groups` groups, each group
/// normalised over its channels and positions, then scaled (weight, ones) and shifted (bias, zeros)
/// per channel. The same in training and evaluation: no running statistics.
type GroupNorm =
    { groups: int
      weight: Tensor
      bias: Tensor
      eps: float }

    member g.forward(x: Tensor) = F.group_norm (x, g.groups, g.weight, g.bias, g.eps)

    /// SiLU(GroupNorm(x)), a U-Net's normalisation and activation, as one operation.
    member g.forwardSilu(x: Tensor) = F.group_norm_silu (x, g.groups, g.weight, g.bias, g.eps)

    member g.parameters = Parameters.create [ "weight", g.weight; "bias", g.bias ]

    interface IModule with
        member g.parameters = g.parameters

    /// PyTorch's defaults: eps 1e-5, affine.
    static member create(groups: int, channels: int, ?eps: float, ?dtype: Dtype) =
        if groups < 1 || channels % groups <> 0 then
            invalidArg "groups" $"{channels} channels do not split into {groups} groups"
        let dtype = defaultArg dtype Float32
        { groups = groups
          weight = (torch.ones ([| int64 channels |], dtype)).requires_grad_ ()
          bias = (torch.zeros ([| int64 channels |], dtype)).requires_grad_ ()
          eps = defaultArg eps 1e-5 }
