/// Gradient clipping, which every optimizer applies before its update when asked (Optimizer.ClipNorm).
module Research.Core.Optim.Clip

open Research.Core

/// Scales the gradients so that their global L2 norm is at most `maxNorm` (torch.nn.utils.clip_grad_norm_).
let gradientNorm (parameters: Tensor[]) (maxNorm: float) =
    use _ = torch.no_grad ()
    let grads = parameters |> Array.choose (fun p -> Option.ofObj p.grad)
    let norm = sqrt (grads |> Array.sumBy (fun g -> g.square().sum().item ()))
    if norm > maxNorm then
        for g in grads do g.mul_ (maxNorm / (norm + 1e-6)) |> ignore
