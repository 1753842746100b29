namespace Research.Core.Nn

open Research.Core

/// torch.nn.BatchNorm1d / BatchNorm2d (Ioffe & Szegedy 2015): normalises each channel of
/// [N, C] or [N, C, L] (1d) or [N, C, H, W] (2d) inputs. In training it uses the batch statistics
/// and updates the running ones, running <- (1 - momentum) running + momentum batch (unbiased
/// variance), with a cumulative average when momentum is None; in evaluation it uses the running
/// statistics. weight (gamma, ones) and bias (beta, zeros) are learned when affine.
type BatchNorm =
    { weight: Tensor option
      bias: Tensor option
      running_mean: Tensor
      running_var: Tensor
      num_batches_tracked: Tensor
      momentum: float option
      eps: float
      /// "BatchNorm1d" or "BatchNorm2d" and the input ranks it accepts.
      kind: string * int list }

    member b.forward(x: Tensor, training: bool) =
        let name, ranks = b.kind
        if not (List.contains x.dim ranks) then
            let expected = ranks |> List.map (sprintf "%dD") |> String.concat " or "
            invalidArg "x" $"{name} expects {expected} input, got {x.dim}D"
        let factor =
            if training then
                (use _ = torch.no_grad () in b.num_batches_tracked.add_ 1.0) |> ignore
                match b.momentum with
                | Some m -> m
                | None -> 1.0 / b.num_batches_tracked.item ()
            else
                0.0
        F.batch_norm (x, b.running_mean, b.running_var, ?weight = b.weight, ?bias = b.bias, training = training,
                      momentum = factor, eps = b.eps)

    member b.parameters =
        Parameters.create (
            [ match b.weight, b.bias with
              | Some w, Some c -> yield! [ "weight", w; "bias", c ]
              | _ -> () ],
            [ "running_mean", b.running_mean; "running_var", b.running_var; "num_batches_tracked", b.num_batches_tracked ]
        )

    interface IModule with
        member b.parameters = b.parameters

    static member private Create(kind, features: int, eps, momentum, affine, dtype) =
        let dtype = defaultArg dtype Float32
        let n = [| int64 features |]
        let affine = defaultArg affine true
        { weight = if affine then Some((torch.ones (n, dtype)).requires_grad_ ()) else None
          bias = if affine then Some((torch.zeros (n, dtype)).requires_grad_ ()) else None
          running_mean = torch.zeros (n, dtype)
          running_var = torch.ones (n, dtype)
          num_batches_tracked = torch.zeros ([||], Dtype.Int64)
          momentum = defaultArg momentum (Some 0.1)
          eps = defaultArg eps 1e-5
          kind = kind }

    /// Over [N, C] or [N, C, L]; PyTorch's defaults eps 1e-5, momentum Some 0.1, affine.
    static member create1d(features: int, ?eps: float, ?momentum: float option, ?affine: bool, ?dtype: Dtype) =
        BatchNorm.Create(("BatchNorm1d", [ 2; 3 ]), features, eps, momentum, affine, dtype)

    /// Over [N, C, H, W]; PyTorch's defaults eps 1e-5, momentum Some 0.1, affine.
    static member create2d(features: int, ?eps: float, ?momentum: float option, ?affine: bool, ?dtype: Dtype) =
        BatchNorm.Create(("BatchNorm2d", [ 4 ]), features, eps, momentum, affine, dtype)
