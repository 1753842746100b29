/// Every architecture and likelihood trains: the conv VAE (also on the IWAE bound, whose k samples
/// pass through the transposed convolutions), and Gaussian pixels with learned or fixed variance on
/// grey levels. Two short epochs on 1000 images must raise the validation ELBO, and the best
/// checkpoint, reloaded, must give back the logged validation ELBO.
module Research.Core.Tests.VaeArchitectureTests

open System.IO
open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Training
open Research.Core.Models.Vae
open Research.Core.Tests.TensorTestSupport
open Research.Core.Tests.VaeTestSupport

let private small = { VaeConfig.defaults with Latent = 4; Hidden = [ 32 ] }

let private settings =
    { RunSettings.defaults with Epochs = 2; BatchSize = 50; Threads = 1; ValidationSize = 500; TrainLimit = 1000; ImageEpochs = [] }

let private variants =
    [ "conv, Bernoulli", { small with Architecture = Conv; Hidden = [ 4; 8 ] }
      "conv, IWAE k=3", { small with Architecture = Conv; Hidden = [ 4; 8 ]; ImportanceSamples = 3 }
      "mlp, Gaussian learned variance", { small with Likelihood = GaussianLearned; Binarization = NoBinarization }
      "mlp, Gaussian sigma 0.3, static binarization", { small with Likelihood = GaussianFixed 0.3; Binarization = Static } ]

let private trainsAndReloads (name: string) (config: VaeConfig) () =
    inTempFolder "vae-architecture" (fun folder ->
        let threads = torch.get_num_threads ()
        let metrics =
            try VaeRun.train (config, settings, folder, false, None, ignore)
            finally torch.set_num_threads threads
        let valElbo = metrics.Column "val_elbo"
        output.WriteLine $"{name}: val ELBO by epoch {valElbo.[0]:F2}, {valElbo.[1]:F2}"
        Expect.isTrue (Array.forall System.Double.IsFinite valElbo) $"{name}: {valElbo}"
        Expect.isTrue (valElbo.[1] > valElbo.[0]) $"{name}: the validation ELBO fell from {valElbo.[0]} to {valElbo.[1]}"
        let saved, savedSettings, vae = VaeRun.load (folder, "best")
        use _ = vae.Parameters
        Expect.equal saved config "saved"
        Expect.equal savedSettings settings "savedSettings"
        use data = VaeRun.loadData config settings None
        let elbo, _, _ = VaeRun.evaluateElbo vae config data.validation (int64 settings.Seed + 1L)
        Expect.floatClose (digits 6) elbo (Array.max valElbo) "elbo")

[<Tests>]
let tests =
    testList "VaeArchitectureTests" [
        testSequenced <| testList "trains and reloads" [
            for name, config in variants -> testCase name (trainsAndReloads name config)
        ]
    ]
