/// `research bench vae` in smoke mode: its GEMM count against PyTorch's profiler, and one short epoch
/// on each side (not timed: only that both train the same model to the same loss).
module Research.Core.Tests.VaeBenchmarkTests

open Expecto
open Research.Tests.Checks
open Research.Core.Models.Vae
open Research.Core.Tests.TensorTestSupport

[<Tests>]
let tests =
    testList "VaeBenchmarkTests" [
        testSequenced <| testList "VaeBenchmarkTests" [
            testCase "the GEMM count is what PyTorch's profiler counts for pytorch/examples' VAE" <| fun () ->
                withPyTorch (fun () ->
                    // One forward and backward of bench/vae_pytorch.py's model; the profiler's FLOP formulas for
                    // addmm (forward) and mm (backward) over the batch.
                    let py =
                        runPython """
import torch.nn as nn, torch.nn.functional as F
from torch.profiler import profile
layers = [nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20), nn.Linear(20, 400), nn.Linear(400, 784)]
x = torch.rand(128, 784)
with profile(with_flops=True) as p:
    h = F.relu(layers[0](x)); mu, logvar = layers[1](h), layers[2](h)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
    logits = layers[4](F.relu(layers[3](z)))
    loss = F.binary_cross_entropy_with_logits(logits, x, reduction='sum') - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    loss.backward()
print(json.dumps(sum(e.flops for e in p.key_averages() if e.key in ('aten::addmm', 'aten::mm')) / 128))
"""
                    Expect.equal (float (VaeBenchmark.gemmFlopsPerImage VaeBenchmark.config)) (py.GetDouble()) "float (VaeBenchmark.gemmFlopsPerImage VaeBenchmark.config)")
            testCase "the GEMM count follows the layer sizes" <| fun () ->
                // 784-300-100-8 and back: forward and weight-gradient products of every layer, input gradients
                // of all but the first, 2 FLOP per multiply-add.
                let config = { VaeBenchmark.config with Hidden = [ 300; 100 ]; Latent = 8 }
                let products = [ 784 * 300, 2; 300 * 100, 3; 100 * 8, 3; 100 * 8, 3; 8 * 100, 3; 100 * 300, 3; 300 * 784, 3 ]
                let expected = products |> List.sumBy (fun (macs, n) -> 2L * int64 n * int64 macs)
                Expect.equal (VaeBenchmark.gemmFlopsPerImage config) expected "VaeBenchmark.gemmFlopsPerImage config"
                raises<System.ArgumentException> (fun () -> VaeBenchmark.gemmFlopsPerImage { config with Architecture = Conv } |> ignore)
                |> ignore
            testCase "a smoke run trains to the loss PyTorch reaches" <| fun () ->
                let settings = VaeBenchmark.benchmark.Settings(1, 3000, 1, 1)
                let ours = VaeBenchmark.model.Run settings None None
                Expect.equal ours.Length 1 "ours.Length"
                Expect.equal (ours.[0].Images) 3000L "ours.[0].Images"
                Expect.isTrue (ours.[0].Seconds > 0.0) "ours.[0].Seconds > 0.0"
                output.WriteLine $"ours: {ours.[0].Loss:F3} nats per image after one epoch of 3000 images"
                // An untrained VAE costs about 543 nats per image; one epoch brings either side to about 329.
                within 250.0 400.0 (ours.[0].Loss) "ours.[0].Loss"
                withPyTorch (fun () ->
                    let theirs = VaeBenchmark.model.RunPyTorch("/usr/bin/python3", VaeBenchmark.benchmark.PyTorchScript(), settings, 1, 1)
                    Expect.equal theirs.IntraOpThreads 1 "theirs.IntraOpThreads"
                    Expect.equal (theirs.Epochs.[0].Images) 3000L "theirs.Epochs.[0].Images"
                    output.WriteLine $"PyTorch {theirs.Version}: {theirs.Epochs.[0].Loss:F3}"
                    // Different initial weights and image orders move this by about 1 nat between seeds.
                    within (theirs.Epochs.[0].Loss * 0.985) (theirs.Epochs.[0].Loss * 1.015) (ours.[0].Loss) "ours.[0].Loss")
            testCase "a failing PyTorch side is a clear error" <| fun () ->
                let settings = VaeBenchmark.benchmark.Settings(1, 100, 1, 1)
                let missing = raises<System.IO.FileNotFoundException> (fun () ->
                    VaeBenchmark.model.RunPyTorch("/nonexistent/python3", VaeBenchmark.benchmark.PyTorchScript(), settings, 1, 1) |> ignore)
                Expect.stringContains missing.Message "/nonexistent/python3" "missing.Message"
                let script = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"bench-fails-{System.Guid.NewGuid()}.py")
                System.IO.File.WriteAllText(script, "import sys\nsys.exit('no torch here')\n")
                try
                    let failed = raises<System.InvalidOperationException> (fun () ->
                        VaeBenchmark.model.RunPyTorch("/usr/bin/python3", script, settings, 1, 1) |> ignore)
                    Expect.stringContains failed.Message "no torch here" "failed.Message"
                finally
                    System.IO.File.Delete script
        ]
    ]
