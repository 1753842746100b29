/// The beta-VAE as a family of the shared training loop: its settings and its TrainingRun. The loop
/// (Training/Loop.fs) owns epochs, batches, progress, metrics.csv, checkpoints, exact resume, the
/// divergence check and the run folder's lock.
module Research.Core.Models.BetaVae.BetaVaeRun

open Research.Core
open Research.Core.Data
open Research.Core.IO
open Research.Core.Optim
open Research.Core.Training
open Research.Core.Models.BetaVae.BetaVae

let trainer (c: BetaVaeConfig) (settings: RunSettings) (data: Mnist) (g: Generator) : TrainingRun =
    let image = data.train.imageShape
    let parameters, encode, decode = networks c image g
    let adam = new Adam(parameters, lr = c.LearningRate)
    { Model = parameters
      Optimizers = [ ("adam", adam) ]
      Generators = []
      TrainColumns = [ "train_objective"; "train_elbo"; "kl" ]
      ValidationColumns = [ "val_objective"; "val_elbo"; "val_kl" ]
      Headline = Some { Column = "val_objective"; Better = Higher }
      Step =
        fun batch ->
            adam.zero_grad ()
            let recon, kl = terms encode decode g (torch.bernoulli (batch.x, g))
            let recon, kl = recon.sum (), kl.sum ()
            let loss = kl * c.Beta - recon
            loss.backward ()
            adam.step ()
            let recon, kl = recon.item (), kl.item ()
            { Loss = loss.item (); Sums = [| recon - c.Beta * kl; recon - kl; kl |] }
      Objective = SumOverImages
      Validate =
        fun () ->
            use _ = torch.no_grad ()
            use fixedNoise = new Generator(int64 settings.Seed + 1L)
            let mutable recon, kl = 0.0, 0.0
            for batch in data.validation.batches (500, shuffle = false) do
                use scope = new TensorScope()
                let r, k = terms encode decode fixedNoise (torch.bernoulli (batch.x, fixedNoise))
                recon <- recon + r.sum().item ()
                kl <- kl + k.sum().item ()
            let n = float data.validation.count
            [| (recon - c.Beta * kl) / n; (recon - kl) / n; kl / n |]
      Images =
        fun _ ->
            use _ = torch.no_grad ()
            use scope = new TensorScope()
            use fixedLatents = new Generator(int64 settings.Seed + 2L)
            let means = (decode (torch.randn ([| 64L; int64 c.Latent |], generator = fixedLatents))).mean
            [ ("samples", Png.Grid(means.toFloat32Array (), image.Height, image.Width, 8, 8)) ] }

let family =
    let settings =
        Settings.declare
            [ Setting.number "beta" "beta" "the KL term's weight" _.Beta (fun v c -> { c with Beta = v })
              Setting.int "latent" "latent" "latent size" _.Latent (fun v c -> { c with Latent = v })
              Setting.int "hidden" "hidden" "hidden units" _.Hidden (fun v c -> { c with Hidden = v })
              Setting.number "lr" "lr" "Adam learning rate" _.LearningRate (fun v c -> { c with LearningRate = v }) ]
            { Beta = 4.0; Latent = 10; Hidden = 256; LearningRate = 1e-3 }
            (fun c -> (if not (c.Beta > 0.0 && System.Double.IsFinite c.Beta) then invalidArg "beta" $"--beta must be a positive, finite number (got {c.Beta})"); c)
    Family.create "beta-vae" settings { RunSettings.defaults with Threads = 1 } trainer
