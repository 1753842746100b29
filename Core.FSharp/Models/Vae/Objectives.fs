/// The VAE's objectives and log-likelihood estimators, per example.
module Research.Core.Models.Vae.Objectives

open System
open Research.Core
open Research.Core.Probability

/// Images as the models see them: flat, [batch; 784].
let private flat (x: Tensor) = if x.dim = 2 then x else x.flatten (1)

/// ELBO terms with one reparameterised sample z = mu + sigma * eps.
let elboTerms (vae: Vae) (generator: Generator option) (x: Tensor) =
    let x = flat x
    let q = vae.Encode x
    let z = q.rsample(?generator = generator)
    { Recon = (vae.Decode z).log_prob x; Kl = q.kl_standard_normal() }

/// For k samples z_i ~ q(z|x): log p(x|z_i) and the log importance weights
/// log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x), both [k; batch].
let private sampleLogWeights (vae: Vae) (q: DiagonalGaussian) (generator: Generator option) (k: int) (x: Tensor) =
    let z = q.rsample(k, ?generator = generator)
    let logLikelihood = (vae.Decode z).log_prob x
    logLikelihood, logLikelihood + StandardNormal.log_prob z - q.log_prob z

let private importanceLogWeights vae q generator k x = snd (sampleLogWeights vae q generator k x)

/// log (1/k) sum_i exp(logw_i) along dimension 0, stable.
let private logMeanExp (logw: Tensor) (k: int) = logw.logsumexp(dim = 0) - Math.Log(float k)

/// The importance-weighted bound L_k = E[log (1/k) sum_i p(x, z_i) / q(z_i|x)]   (Burda et al. 2016, eq. 8).
/// L_1 is the ELBO; L_k rises with k towards log p(x). Differentiable.
let iwae (vae: Vae) (generator: Generator option) (k: int) (x: Tensor) =
    let x = flat x
    logMeanExp (importanceLogWeights vae (vae.Encode x) generator k x) k

/// L_k together with the ELBO's terms estimated from the same k samples (Recon averages
/// log p(x|z_i) over them; KL in closed form), for training on L_k while logging the ELBO.
let iwaeWithTerms (vae: Vae) (generator: Generator option) (k: int) (x: Tensor) =
    let x = flat x
    let q = vae.Encode x
    let logLikelihood, logw = sampleLogWeights vae q generator k x
    logMeanExp logw k, { Recon = logLikelihood.mean (dim = 0); Kl = q.kl_standard_normal () }

/// log (1/k) sum_i exp(logw_i) over k log-weights drawn `chunk` at a time (drawLogWeights c gives
/// [c; batch]), so memory stays bounded: each chunk is reduced to its logsumexp before the next is
/// drawn; after each chunk `drawn` is told how many of the k have been drawn (a long estimate's
/// progress). No gradients; the result [batch] goes to the caller's scope.
let private chunkedLogMeanExp (k: int) (chunk: int) (drawn: int -> unit) (drawLogWeights: int -> Tensor) =
    if k < 1 then invalidArg "k" $"the number of samples must be at least 1 (got {k})"
    if chunk < 1 then invalidArg "chunk" $"the chunk size must be at least 1 (got {chunk})"
    use _ = torch.no_grad()
    use scope = new TensorScope()
    let partial =
        [| for start in 0 .. chunk .. k - 1 ->
               use inner = new TensorScope()
               let reduced = inner.MoveToOuter((drawLogWeights (min chunk (k - start))).logsumexp(dim = 0))
               drawn (min k (start + chunk))
               reduced |]
    // logsumexp over all k weights = logsumexp over the chunks' logsumexps.
    scope.MoveToOuter(torch.stack(partial, 0).logsumexp(dim = 0) - Math.Log(float k))

/// log p(x) by importance sampling with q(z|x) as the proposal, k samples drawn `chunk` at a time,
/// telling `drawn` how many after each chunk (the IWAE paper uses k = 5000).
let logLikelihoodReporting (drawn: int -> unit) (vae: Vae) (generator: Generator option) (k: int) (chunk: int) (x: Tensor) =
    use _ = torch.no_grad()
    use scope = new TensorScope()
    let x = flat x
    let q = vae.Encode x
    scope.MoveToOuter(chunkedLogMeanExp k chunk drawn (fun c -> importanceLogWeights vae q generator c x))

/// log p(x) by importance sampling with q(z|x) as the proposal, k samples (the IWAE paper uses 5000).
let logLikelihood vae generator k chunk x = logLikelihoodReporting ignore vae generator k chunk x

/// The naive estimator log (1/k) sum_i p(x|z_i) with z_i ~ p(z). Unbiased in p(x), but almost every
/// z from the prior explains x badly, so its variance explodes as the latent size grows (seeds, 1.4).
let naiveLogLikelihood (vae: Vae) (generator: Generator option) (k: int) (chunk: int) (x: Tensor) =
    let x = flat x
    chunkedLogMeanExp k chunk ignore (fun c ->
        let z = StandardNormal.sample ([| int64 c; x.shape[0]; int64 vae.Latent |], x, generator)
        (vae.Decode z).log_prob x)
