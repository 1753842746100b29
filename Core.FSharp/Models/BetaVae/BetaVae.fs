/// The beta-VAE (Higgins et al. 2017): a VAE whose KL term is weighted by beta, with a decoder of
/// two tanh layers. Its networks and its objective's two terms.
module Research.Core.Models.BetaVae.BetaVae

open Research.Core
open Research.Core.Data
open Research.Core.Nn
open Research.Core.Probability

type BetaVaeConfig = { Beta: float; Latent: int; Hidden: int; LearningRate: float }

/// q(z|x) = N(mu(x), diag sigma^2(x)) with one ReLU layer; p(x|z) = Bernoulli(sigmoid(f(z))) with
/// f two tanh layers and a linear output. Returns the parameters, the encoder and the decoder.
let networks (c: BetaVaeConfig) (image: ImageShape) (g: Generator) =
    let linear a b = Linear.create (g, a, b)
    let hidden, mu, logvar = linear image.Pixels c.Hidden, linear c.Hidden c.Latent, linear c.Hidden c.Latent
    let dec1, dec2, out = linear c.Latent c.Hidden, linear c.Hidden c.Hidden, linear c.Hidden image.Pixels
    let encode (x: Tensor) =
        let h = (hidden.forward (x.flatten 1)).relu ()
        DiagonalGaussian(mu.forward h, logvar.forward h)
    let decode (z: Tensor) = BernoulliLogits(z |> dec1.forward |> F.tanh |> dec2.forward |> F.tanh |> out.forward)
    let parameters =
        Parameters.compose [
            "encoder", Parameters.compose [ "hidden", hidden.parameters; "mu", mu.parameters; "logvar", logvar.parameters ]
            "decoder", Parameters.compose [ "hidden1", dec1.parameters; "hidden2", dec2.parameters; "out", out.parameters ] ]
    parameters, encode, decode

/// Per image: E_q[log p(x|z)] (one sample) and KL(q(z|x) || N(0, I)). The beta-VAE maximises
/// recon - beta KL (Higgins et al. 2017, eq. 4); beta = 1 is the ELBO.
let terms (encode: Tensor -> DiagonalGaussian) (decode: Tensor -> PixelDistribution) (g: Generator) (x: Tensor) =
    let q = encode x
    (decode (q.rsample (generator = g))).log_prob (x.flatten 1), q.kl_standard_normal ()
