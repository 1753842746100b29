/// `vae eval`: the test ELBO and importance-sampled log p(x) of a run's checkpoint.
module Research.Core.Models.Vae.VaeEvaluation

open System.IO
open Research.Core
open Research.Core.Data
open Research.Core.Training

/// Evaluates a run's checkpoint on the MNIST test set, or on an IDX file of uint8 images of the
/// model's shape (grey levels 0-255, taken as they are unless `binarize` says otherwise), and
/// writes the Evaluation to eval/<checkpoint>-<source>-k<k>-seed<seed>[-<binarization>].json in
/// the run folder, the source naming the images and the limit. Returns the result and the file.
let evaluateRun (folder: string, checkpoint: string, k: int, chunk: int, images: string option, binarize: string option, limit: int,
                 seed: int, threads: int, dataFolder: string option) (report: Progress -> unit) =
    if limit < 0 then invalidArg "limit" $"--limit must be positive, or 0 for all images (got {limit})"
    if k < 1 then invalidArg "k" $"--k must be at least 1 (got {k})"
    if chunk < 1 then invalidArg "chunk" $"--chunk must be at least 1 (got {chunk})"
    let config, settings, vae = VaeRun.load (folder, checkpoint)
    let settings = RunSettings.validate { settings with Threads = threads }
    Family.useThreadsOf VaeRun.family config settings.Threads
    use _ = vae.Parameters
    use scope = new TensorScope()
    let fromTestSet = images.IsNone
    let source, all =
        match images with
        | None ->
            use mnist = VaeRun.loadData { config with Binarization = NoBinarization } settings dataFolder
            use test = mnist.test.all ()
            "test", test.x.clone ()
        | Some file -> Path.GetFileName file, ImageFile.readAs vae.Image file
    let defaultBinarization = if fromTestSet then config.Binarization else NoBinarization
    let binarization = binarize |> Option.map VaeConfig.parseBinarization |> Option.defaultValue defaultBinarization
    let x = if limit > 0 then all.narrow (0, 0L, min (int64 limit) (all.size 0)) else all
    let variant = if binarization <> defaultBinarization then [ VaeConfig.binarizationName binarization ] else []
    let source = source + (if limit > 0 then $"-first{x.size 0}" else "")
    let result = VaeRun.evaluate (vae, x, binarization <> NoBinarization, k, chunk, int64 seed, report)
    let run = RunFolder folder
    let path =
        Evaluation.write run
            { Measure = "log p(x)"; Unit = "nats per image"; Estimate = result.LogLikelihood; StdErr = result.LogLikelihoodStdErr
              Bound = Some("test ELBO", result.Elbo)
              Checkpoint = checkpoint; Epoch = Checkpoint.epoch (run.Checkpoint checkpoint)
              Data = defaultArg images "MNIST test set"; Images = int result.Images; Samples = k; Seed = seed
              Settings = Evaluation.settings source k seed variant
              Details = [ "kl", result.Kl; "recon", result.Recon; "binarized", (if binarization <> NoBinarization then 1.0 else 0.0) ] }
    result, path
