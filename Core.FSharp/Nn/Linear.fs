namespace Research.Core.Nn

open Research.Core

/// torch.nn.Linear: y = x W^T + b with W [out, in].
type Linear =
    { weight: Tensor
      bias: Tensor option }

    member l.forward(x: Tensor) = F.linear (x, l.weight, ?bias = l.bias)

    member l.parameters = Parameters.weightAndBias (l.weight, l.bias)

    interface IModule with
        member l.parameters = l.parameters

    /// A layer initialised as PyTorch does (Init.pytorchDefault) from the generator.
    static member create(generator: Generator, inFeatures: int, outFeatures: int, ?bias: bool, ?dtype: Dtype) =
        let bias = if defaultArg bias true then Some(int64 outFeatures) else None
        let weight, bias = Init.pytorchDefault (generator, [| int64 outFeatures; int64 inFeatures |], bias, ?dtype = dtype)
        { weight = weight; bias = bias }
