/// The VAE in the registry: its commands (`vae train`, `vae eval`), its report panels, its
/// likelihood and its samples for `score`.
module Research.Core.Models.Vae.VaeEntry

open Research.Core.Families
open Research.Core.Training

/// `vae eval`: the test ELBO and importance-sampled log p(x) of a checkpoint.
let eval =
    RunCommand.onData "eval" "Test ELBO and importance-sampled log p(x) of a trained VAE; writes eval/<checkpoint>-<images>-k<k>.json in the run."
        "random seed for the samples"
        [ CommandOption.int "k" "importance samples per image for log p(x)" 5000
          CommandOption.int "chunk" "samples drawn at once (bounds memory)" 500
          CommandOption.optional "images" "an IDX file of uint8 images of the model's size (28x28), grey levels 0-255 (binary images as 0 and 255), to evaluate instead of the MNIST test set"
          CommandOption.optional "binarize" "override the run's binarization for these images: dynamic | static | none (default: the run's; none with --images)"
          CommandOption.int "limit" "evaluate the first N images only (0 = all)" 0 ]
        (fun a out ->
            let o = a.Options
            let result, path =
                VaeEvaluation.evaluateRun (a.Folder, a.Checkpoint, o.Int "k", o.Int "chunk", o.TryText "images", o.TryText "binarize",
                                           o.Int "limit", a.Seed, a.Threads, a.Data) out.Report
            out.Print $"images:           {result.Images}"
            out.Print $"ELBO:             {result.Elbo:F2} nats  (KL {result.Kl:F2}, reconstruction {result.Recon:F2})"
            out.Print $"log p(x), k={result.K}: {result.LogLikelihood:F2} ± {result.LogLikelihoodStdErr:F2} nats"
            out.Print $"written: {path}")

/// The sample sets `score` draws: the decoder means, and draws from p(x|z).
let private scoreSamples (r: SampleRequest) (config: VaeConfig) (vae: Vae) =
    let draws = match config.Likelihood with Bernoulli -> "Bernoulli draws" | _ -> "decoder draws"
    [ "decoder means", VaeRun.sample vae config r.Seed false; draws, VaeRun.sample vae config r.Seed true ]

let entry =
    { FamilyEntry.plain VaeRun.family "Variational autoencoders on MNIST (Kingma & Welling 2014)."
          "Train a VAE; writes config.json, metrics.csv, checkpoints and image grids to the run folder."
          "a bound and an estimate: the ELBO and an importance-sampled log p(x) (run `vae eval`)" with
        Commands = [ eval ]
        Bench = Some VaeBenchmark.benchmark
        Panels = VaeFigures.panels
        Samples = FamilyEntry.samplesOf VaeRun.family VaeRun.load _.Parameters scoreSamples
        Recipe = Some(30, "the latent-20 VAE recipe") }
