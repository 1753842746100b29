namespace Research.Core.Models.Vae

open System
open System.IO
open System.Runtime.InteropServices
open System.Text.Json
open Research.Core
open Research.Core.Data
open Research.Core.IO
open Research.Core.Training

/// The VAE experiments as the C# runner calls them: tupled members, .NET delegates, null for defaults.
[<AbstractClass; Sealed>]
type VaeExperiment =
    static member private Reporter(progress: Action<Progress>) =
        if isNull progress then ignore else progress.Invoke

    static member private DataFolder(dataFolder: string) =
        if String.IsNullOrEmpty dataFolder then None else Some dataFolder

    /// Evaluates a run's checkpoint on the MNIST test set, or on an IDX file of uint8 images of the
    /// model's shape (grey levels 0-255, taken as they are unless `binarize` says otherwise), and
    /// writes the Evaluation to eval/<checkpoint>-<source>-k<k>-seed<seed>[-<binarization>].json in
    /// the run folder, the source naming the images and the limit.
    static member Evaluate(folder: string, checkpoint: string, k: int, chunk: int, images: string, binarize: string, limit: int,
                           seed: int, threads: int, dataFolder: string,
                           [<Optional; DefaultParameterValue(null: Action<Progress>)>] progress: Action<Progress>) =
        if limit < 0 then invalidArg "limit" $"--limit must be positive, or 0 for all images (got {limit})"
        let config, settings, vae = VaeRun.load (folder, checkpoint)
        let settings = RunSettings.validate { settings with Threads = threads }
        Family.useThreadsOf VaeRun.family config settings.Threads
        use _ = vae.Parameters
        use scope = new TensorScope()
        let fromTestSet = String.IsNullOrEmpty images
        let source, all =
            if fromTestSet then
                use mnist = VaeRun.loadData { config with Binarization = NoBinarization } settings (VaeExperiment.DataFolder dataFolder)
                use test = mnist.test.all ()
                "test", test.x.clone ()
            else
                Path.GetFileName images, ImageFile.readAs vae.Image images
        let defaultBinarization = if fromTestSet then config.Binarization else NoBinarization
        let binarization = if String.IsNullOrEmpty binarize then defaultBinarization else VaeConfig.parseBinarization binarize
        let x = if limit > 0 then all.narrow (0, 0L, min (int64 limit) (all.size 0)) else all
        let variant = if binarization <> defaultBinarization then [ VaeConfig.binarizationName binarization ] else []
        let source = source + (if limit > 0 then $"-first{x.size 0}" else "")
        let result = VaeRun.evaluate (vae, x, binarization <> NoBinarization, k, chunk, int64 seed, VaeExperiment.Reporter progress)
        let run = RunFolder folder
        let path =
            Evaluation.write run
                { Measure = "log p(x)"; Unit = "nats per image"; Estimate = result.LogLikelihood; StdErr = result.LogLikelihoodStdErr
                  Bound = Some("test ELBO", result.Elbo)
                  Checkpoint = checkpoint; Epoch = Checkpoint.epoch (run.Checkpoint checkpoint)
                  Data = (if fromTestSet then "MNIST test set" else images); Images = int result.Images; Samples = k; Seed = seed
                  Settings = Evaluation.settings source k seed variant
                  Details = [ "kl", result.Kl; "recon", result.Recon; "binarized", (if binarization <> NoBinarization then 1.0 else 0.0) ] }
        result, path
