namespace Research.Core.Models.Vae

open System
open Research.Core
open Research.Core.Data
open Research.Core.Distributed
open Research.Core.Training
open Research.Core.Benchmarks

/// `research bench vae`: the training epoch of `vae train` (Loop.trainEpoch over the VAE's trainer) timed on
/// pytorch/examples' VAE, with the GEMM work it does and the machine's sgemm rate to judge it by.
module VaeBenchmark =
    /// pytorch/examples' VAE as `vae train` runs it: 784-400-20-400-784, Bernoulli likelihood with
    /// the grey-level images as targets (no binarization, as the example does), Adam 1e-3.
    let config = { VaeConfig.defaults with Binarization = NoBinarization }

    /// Floating-point operations of the matrix products in one training step of the MLP VAE, per
    /// image (2 per multiply-add): every linear layer's forward product x W^T and weight gradient
    /// g^T x, and the input gradient g W of every layer but the first (the images need none). Biases,
    /// activations and the optimizer are not GEMM work. Exact for any batch: each product is linear in it.
    let gemmFlopsPerImage (config: VaeConfig) =
        let pixels = Mnist.imageShape.Pixels
        if config.Architecture <> Mlp then invalidArg "config" "the GEMM count is for the MLP VAE"
        let last = List.last config.Hidden
        // (in, out) of each linear layer: encoder hidden layers, mu and logvar, decoder hidden layers, output.
        let layers =
            List.pairwise (pixels :: config.Hidden) @ [ last, config.Latent; last, config.Latent ]
            @ List.pairwise (config.Latent :: List.rev config.Hidden) @ [ List.head config.Hidden, pixels ]
        layers
        |> List.mapi (fun i (fanIn, fanOut) -> 2L * (if i = 0 then 2L else 3L) * int64 fanIn * int64 fanOut)
        |> List.sum

    /// The VAE's products run on oneDNN here and on OpenBLAS in PyTorch: each side its own split.
    let model =
        let hidden = config.Hidden |> List.map string
        { FamilyBenchmark.model VaeRun.family config VaeRun.family.Name
              $"""VAE 784-{String.concat "-" hidden}-{config.Latent}-{String.concat "-" (List.rev hidden)}-784, Adam {config.LearningRate}""" [] with
            PeerThreads = fun threads -> PyTorchPeer.Threads(true, threads)
            FlopsPerImage = Some(gemmFlopsPerImage config)
            Target = 1.5 }

    let benchmark =
        { Family = VaeRun.family.Name
          Description = "Train pytorch/examples' VAE (784-400-20-400-784, Adam 1e-3, batch 128) here and in PyTorch; compare seconds per epoch."
          RunDefaults = RunSettings.defaults
          Epochs = 3
          Limit = 0
          LimitHelp = "train on N images per epoch only (0 = all 60000); e.g. 5000 for a smoke run"
          ThreadsHelp = "threads, as `vae train --threads` uses them (both sides)"
          Models = [ model ] }
