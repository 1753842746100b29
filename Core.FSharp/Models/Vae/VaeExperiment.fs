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

    /// Trains (or resumes) the run in `folder`; returns its metrics.
    static member Train(config: VaeConfig, folder: string, resume: bool,
                        [<Optional; DefaultParameterValue(null: string)>] dataFolder: string,
                        [<Optional; DefaultParameterValue(null: Action<Progress>)>] progress: Action<Progress>) =
        VaeRun.train (config, folder, resume, VaeExperiment.DataFolder dataFolder, VaeExperiment.Reporter progress)

    /// Evaluates a run's checkpoint on the MNIST test set, or on an IDX file of 28x28 uint8 images
    /// (taken as is unless `binarize` says otherwise), and writes the figures to
    /// eval-<checkpoint>-k<k>.json in the run folder.
    static member Evaluate(folder: string, checkpoint: string, k: int, chunk: int, images: string, binarize: string, limit: int,
                           seed: int, threads: int, dataFolder: string,
                           [<Optional; DefaultParameterValue(null: Action<Progress>)>] progress: Action<Progress>) =
        let config, vae = VaeRun.load (folder, checkpoint)
        VaeRun.useThreads (config.Architecture, threads)
        use _ = vae.Parameters
        use scope = new TensorScope()
        let source, all =
            if String.IsNullOrEmpty images then
                use mnist = VaeRun.loadData { config with Binarization = NoBinarization } (VaeExperiment.DataFolder dataFolder)
                use test = mnist.test.all ()
                "MNIST test set", test.x.clone ()
            else
                images, ImageFile.read images
        let binarization =
            if String.IsNullOrEmpty binarize then (if String.IsNullOrEmpty images then config.Binarization else NoBinarization)
            else VaeConfig.parseBinarization binarize
        let x = if limit > 0 then all.narrow (0, 0L, min (int64 limit) (all.size 0)) else all
        let result = VaeRun.evaluate (vae, x, binarization <> NoBinarization, k, chunk, int64 seed, VaeExperiment.Reporter progress)
        let json =
            JsonSerializer.Serialize(
                {| run = folder; checkpoint = checkpoint; images = source; count = result.Images
                   binarization = VaeConfig.binarizationName binarization; k = k; seed = seed
                   elbo = result.Elbo; kl = result.Kl; recon = result.Recon
                   log_likelihood = result.LogLikelihood; log_likelihood_stderr = result.LogLikelihoodStdErr |},
                JsonSerializerOptions(WriteIndented = true))
        AtomicFile.writeText (Path.Combine(folder, $"eval-{checkpoint}-k{k}.json")) json
        result
