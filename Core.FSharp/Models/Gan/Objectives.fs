/// The GAN objective (Goodfellow et al. 2014, eq. 1), on D's logits l, D = sigmoid(l):
///
///     min_G max_D V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))]
///
/// with log D = -softplus(-l) and log(1 - D) = -softplus(l), stable for any logit. Each loss is a
/// mean over its batch, as torch.nn.BCEWithLogitsLoss.
module Research.Core.Models.Gan.Objectives

open Research.Core

/// D's loss on real images: -E_x[log D(x)] = BCE(l, 1).
let discriminatorReal (logits: Tensor) = logits.neg().softplus().mean ()

/// D's loss on generated images: -E_z[log(1 - D(G(z)))] = BCE(l, 0).
let discriminatorFake (logits: Tensor) = logits.softplus().mean ()

/// G's loss on D's logits for its images: the non-saturating -E_z[log D(G(z))] (the default), or
/// the saturating E_z[log(1 - D(G(z)))] of the minimax game.
let generator (loss: GeneratorLoss) (logits: Tensor) =
    match loss with
    | NonSaturating -> logits.neg().softplus().mean ()
    | Saturating -> -(logits.softplus().mean ())

/// At the game's optimum p_g = p_data and D = 1/2 everywhere (Goodfellow et al. 2014, prop. 1 and
/// thm. 1): V = -log 4, so D's loss is log 4, and the non-saturating G loss is log 2.
let optimumDiscriminatorLoss = log 4.0
let optimumGeneratorLoss = log 2.0
