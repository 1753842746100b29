namespace Research.Core.Models.Gan

open System
open Research.Core
open Research.Core.Benchmarks
open Research.Core.Data
open Research.Core.Distributed
open Research.Core.Training

/// `research bench gan`: the training epoch of `gan train` (Loop.trainEpoch over the GAN's trainer)
/// timed on the MLP GAN and the DCGAN, beside bench/gan_pytorch.py.
module GanBenchmark =
    /// Floating-point operations of the matrix products in one step of the MLP GAN, per image (2 per
    /// multiply-add), with S_G and S_D the sums of in x out over G's and D's linear layers and S'
    /// the same without the first layer: G's forward (once: D's step and G's share the fakes), D's
    /// forward on real and fake images, its weight gradients for both, its input gradients down to
    /// the second layer for both (D's step), then D's forward, weight and input gradients on the
    /// fakes and G's weight and input gradients (G's step):
    /// 2 S_G + 2 (2 S_D) + 2 (2 S_D) + 2 (2 S'_D) + 3 (2 S_D) + 2 S_G + 2 S'_G.
    /// This is the work of the PyTorch peer (checked against its profiler). `gan train` freezes D in
    /// G's step and so skips D's weight gradients there (2 S_D): its share of the sgemm rate is of
    /// this nominal count.
    let gemmFlopsPerImage (config: GanConfig) =
        if config.Architecture <> MlpGan then invalidArg "config" "the GEMM count is for the MLP GAN"
        let pixels = Mnist.imageShape.Pixels
        let sums (sizes: int list) =
            let products = List.pairwise sizes |> List.map (fun (a, b) -> int64 a * int64 b)
            List.sum products, List.sum (List.tail products)
        let g, g' = sums (config.Latent :: config.GeneratorHidden @ [ pixels ])
        let d, d' = sums (pixels :: config.DiscriminatorHidden @ [ 1 ])
        2L * g + 4L * d + 4L * d + 4L * d' + 6L * d + 2L * g + 2L * g'

    /// Seed 004's MLP GAN or the DCGAN (ngf = ndf = 32), as `gan train` defaults: the MLP's products
    /// run on OpenBLAS on both sides, the DCGAN's convolutions in libtorch's pool.
    let model (architecture: string) =
        let config = Settings.ofGiven GanConfig.settings [ ("arch", Text architecture) ]
        let mlp = config.Architecture = MlpGan
        let widths (sizes: int list) = sizes |> List.map string |> String.concat "-"
        let title =
            if mlp then $"MLP GAN G {config.Latent}-{widths config.GeneratorHidden}-784, D 784-{widths config.DiscriminatorHidden}-1"
            else $"DCGAN ngf {config.GeneratorHidden.Head}, ndf {config.DiscriminatorHidden.Head}, latent {config.Latent}"
        { FamilyBenchmark.model GanRun.family config architecture title [ "--arch"; architecture; "--latent"; string config.Latent ] with
            PeerThreads = fun threads -> PyTorchPeer.Threads(mlp, threads)
            FlopsPerImage = (if mlp then Some(gemmFlopsPerImage config) else None)
            Target = 1.5 }

    let benchmark =
        { Family = GanRun.family.Name
          Description = "Train the MLP GAN and the DCGAN (batch 128, Adam 2e-4, betas 0.5, 0.999) here and in PyTorch; compare seconds per epoch."
          RunDefaults = { GanConfig.runDefaults with BatchSize = 128 }
          Epochs = 1
          Limit = 20000
          LimitHelp = "train on N images per epoch (0 = all 60000)"
          ThreadsHelp = "threads, as `gan train --threads` uses them (both sides): OpenBLAS's for the MLP, libtorch's for the DCGAN"
          Models = [ model "mlp"; model "dcgan" ] }
