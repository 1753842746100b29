/// The GAN: its losses and their gradients against PyTorch's on the same weights and inputs, the
/// value -log 4 at D = 1/2, train and eval modes reaching BatchNorm and dropout, BatchNorm's
/// running statistics in the checkpoint, resume bit for bit (both architectures), and a short run
/// in which the generator learns.
module Research.Core.Tests.GanTests

open System
open System.IO
open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Checkpoints
open Research.Core.Data
open Research.Core.Nn
open Research.Core.Training
open Research.Core.Models.Gan
open Research.Core.Tests.TensorTestSupport
open Research.Core.Tests.NnTestSupport

/// A small seed-004 GAN: latent 4, G 4-8-16-pixels, D pixels-16-8-1, no dropout (so both sides
/// compute the same function), on 6x6 images.
let private smallConfig = { GanConfig.mlp with Latent = 4; GeneratorHidden = [ 8; 16 ]; DiscriminatorHidden = [ 16; 8 ]; Dropout = 0.0 }
let private image = { Channels = 1; Height = 6; Width = 6 }

let private mlpRun = { GanConfig.mlp with Latent = 8; GeneratorHidden = [ 32; 64 ]; DiscriminatorHidden = [ 64; 32 ] }
let private dcganRun = { GanConfig.dcgan with Latent = 8; GeneratorHidden = [ 8 ]; DiscriminatorHidden = [ 8 ] }
let private runSettings =
    { GanConfig.runDefaults with Epochs = 2; BatchSize = 50; Seed = 2; Threads = 1; ValidationSize = 200; TrainLimit = 500; ImageEpochs = [ 0; 2 ] }

let private train (config: GanConfig) (settings: RunSettings) (folder: string) (resume: bool) =
    let threads = torch.get_num_threads ()
    try Loop.train GanRun.family config settings folder resume None ignore
    finally torch.set_num_threads threads

/// For each architecture, a run of two epochs straight and one of one epoch resumed to two.
type GanRuns() =
    let root = tempFolder "gan-runs"
    let folder (arch: string) (kind: string) = Path.Combine(root, $"{arch}-{kind}")
    do
        for name, config in [ "mlp", mlpRun; "dcgan", dcganRun ] do
            train config runSettings (folder name "straight") false |> ignore
            train config { runSettings with Epochs = 1 } (folder name "resumed") false |> ignore
            train config runSettings (folder name "resumed") true |> ignore
    member _.Folder(arch, kind) = folder arch kind
    interface IDisposable with
        member _.Dispose() = Directory.Delete(root, true)

let private runs = shared (fun () -> new GanRuns())

let private resumedEqualsStraight (arch: string) () =
    let straight, resumed = RunFolder(runs.Value.Folder(arch, "straight")), RunFolder(runs.Value.Folder(arch, "resumed"))
    let rows (r: RunFolder) = (MetricsLog.Open r.MetricsPath).Rows |> Array.map (fun row -> row.[.. row.Length - 2])
    Expect.equal ((rows straight).Length) 2 "(rows straight).Length"
    Expect.equal (rows resumed) (rows straight) "rows resumed"
    for name in [ "last"; "resume" ] do
        use a = Safetensors.load (straight.Checkpoint name)
        use b = Safetensors.load (resumed.Checkpoint name)
        Expect.equal b.names a.names "b.names"
        for (n, x), (_, y) in Array.zip a.entries b.entries do
            Expect.isTrue (x.toArray<byte> () = y.toArray<byte> ()) $"{arch} {name}: {n} differs"
    // Both optimizers are in the resume file, and a GAN keeps no best checkpoint.
    use state = Safetensors.load straight.ResumePath
    Expect.exists state.names (fun n -> n.StartsWith "optimizer.generator.") "the resume file has the generator optimizer's state"
    Expect.exists state.names (fun n -> n.StartsWith "optimizer.discriminator.") "the resume file has the discriminator optimizer's state"
    Expect.isFalse (File.Exists(straight.Checkpoint "best")) "File.Exists(straight.Checkpoint \"best\")"
    Expect.equal (File.ReadAllBytes(resumed.ImagePath("samples", 2))) (File.ReadAllBytes(straight.ImagePath("samples", 2))) "File.ReadAllBytes(resumed.ImagePath(\"samples\", 2))"

[<Tests>]
let tests =
    testList "GanTests" [
        testList "GanObjectives" [
            testCase "at D = 1/2 everywhere the value is -log 4, and G's losses are log 2 and -log 2" <| fun () ->
                use scope = new TensorScope()
                let half = torch.zeros ([| 7L |], dtype = Float64) // logit 0: D = 1/2
                let dLoss = (Objectives.discriminatorReal half + Objectives.discriminatorFake half).item ()
                // V(D, G) = E[log D(x)] + E[log(1 - D(G(z)))] = -(D's loss).
                Expect.floatClose (digits 12) (-dLoss) (-log 4.0) "-dLoss"
                Expect.floatClose (digits 12) dLoss Objectives.optimumDiscriminatorLoss "dLoss"
                Expect.floatClose (digits 12) ((Objectives.generator NonSaturating half).item ()) (log 2.0) "(Objectives.generator NonSaturating half).item ()"
                Expect.floatClose (digits 12) ((Objectives.generator Saturating half).item ()) (-log 2.0) "(Objectives.generator Saturating half).item ()"
            testCase "the losses stay finite for logits far beyond float range of exp" <| fun () ->
                use scope = new TensorScope()
                let l = torch.tensor [| -1000.0f; -80.0f; 0.0f; 80.0f; 1000.0f |]
                for name, loss in
                    [ "D real", Objectives.discriminatorReal l; "D fake", Objectives.discriminatorFake l
                      "G non-saturating", Objectives.generator NonSaturating l; "G saturating", Objectives.generator Saturating l ] do
                    Expect.isTrue (Double.IsFinite(loss.item ())) $"{name} is {loss.item ()}"
                // -log D(x) = softplus(-l): 1000, 80, log 2, e^-80 and e^-1000 for these logits.
                Expect.floatClose (digits 3) ((Objectives.discriminatorReal l).item ()) ((1000.0 + 80.0 + log 2.0) / 5.0) "(Objectives.discriminatorReal l).item ()"
            testCase "D's and G's losses and gradients equal PyTorch's on the same weights and images" <| fun () ->
                withPyTorch (fun () ->
                    use scope = new TensorScope()
                    use g = new Generator(7L)
                    let gan = MlpGan.create g smallConfig image
                    use parameters = gan.Parameters
                    let x = Gan.toTanhRange (torch.rand ([| 5L; 1L; 6L; 6L |], generator = g))
                    let z = torch.randn ([| 5L; 4L |], generator = g)
                    // Ours: D's loss on real and detached fakes, G's two losses on the same fakes.
                    let fake = gan.Generate true z
                    let dLoss = Objectives.discriminatorReal (gan.Discriminate true x) + Objectives.discriminatorFake (gan.Discriminate true (fake.detach ()))
                    let dGrads = Autodiff.autogradGrad [| dLoss |] gan.Discriminator.tensors null false
                    let gLosses =
                        [ for loss in [ NonSaturating; Saturating ] ->
                              let l = Objectives.generator loss (gan.Discriminate true (gan.Generate true z))
                              l.item (), Autodiff.autogradGrad [| l |] gan.Generator.tensors null false ]
                    let tensorPy (name: string, t: Tensor) =
                        let shape = t.shape |> Array.map string |> String.concat ", "
                        let values = pyList (t.toFloat64Array ())
                        $"'{name}': torch.tensor({values}, dtype=torch.float32).reshape({shape},)"
                    let tensorsPy (p: Parameters) = "{" + (p.named |> Array.map tensorPy |> String.concat ", ") + "}"
                    let gPy, dPy, xPy, zPy = tensorsPy gan.Generator, tensorsPy gan.Discriminator, pyList (x.toFloat64Array ()), pyList (z.toFloat64Array ())
                    let py =
                        runPython
                            $"""
import torch.nn.functional as F
G = {gPy}
D = {dPy}
for t in list(G.values()) + list(D.values()): t.requires_grad_()
x = torch.tensor({xPy}, dtype=torch.float32).reshape(5, 36)
z = torch.tensor({zPy}, dtype=torch.float32).reshape(5, 4)
def gen(z):
    h = F.leaky_relu(F.linear(z, G['hidden.0.weight'], G['hidden.0.bias']), 0.2)
    h = F.linear(h, G['hidden.1.weight'], G['hidden.1.bias'])
    h = F.batch_norm(h, torch.zeros(16), torch.ones(16), G['norm.1.weight'], G['norm.1.bias'], training=True)
    h = F.leaky_relu(h, 0.2)
    return torch.tanh(F.linear(h, G['out.weight'], G['out.bias']))
def disc(x):
    h = F.leaky_relu(F.linear(x, D['hidden.0.weight'], D['hidden.0.bias']), 0.2)
    h = F.leaky_relu(F.linear(h, D['hidden.1.weight'], D['hidden.1.bias']), 0.2)
    return F.linear(h, D['out.weight'], D['out.bias']).view(-1)
bce = F.binary_cross_entropy_with_logits
fake = gen(z)
d_loss = bce(disc(x), torch.ones(5)) + bce(disc(fake.detach()), torch.zeros(5))
d_grads = torch.autograd.grad(d_loss, list(D.values()))
out = {{'d_loss': d_loss.item(), 'd_grads': [g.flatten().tolist() for g in d_grads], 'g': []}}
for loss in ('ns', 's'):
    logits = disc(gen(z))
    l = bce(logits, torch.ones(5)) if loss == 'ns' else -bce(logits, torch.zeros(5))
    out['g'].append({{'loss': l.item(), 'grads': [g.flatten().tolist() for g in torch.autograd.grad(l, list(G.values()))]}})
print(json.dumps(out))
"""
                    Expect.floatClose (digits 5) (dLoss.item ()) (py.GetProperty("d_loss").GetDouble()) "dLoss.item ()"
                    let names (p: Parameters) = p.named |> Array.map fst
                    for (name, ours), theirs in Array.zip (Array.zip (names gan.Discriminator) dGrads) [| for e in py.GetProperty("d_grads").EnumerateArray() -> floats e |] do
                        assertClose $"dD/d{name}" 1e-4 1e-6 theirs (ours.toFloat64Array ())
                    for (loss, grads), theirs in List.zip gLosses [ for e in py.GetProperty("g").EnumerateArray() -> e ] do
                        Expect.floatClose (digits 5) loss (theirs.GetProperty("loss").GetDouble()) "loss"
                        for (name, ours), expected in Array.zip (Array.zip (names gan.Generator) grads) [| for e in theirs.GetProperty("grads").EnumerateArray() -> floats e |] do
                            assertClose $"dG/d{name}" 1e-4 1e-6 expected (ours.toFloat64Array ()))
        ]
        // Which oneDNN kernels serve the DCGAN's channels-last convolutions depends on the CPU, so
        // this runs on whatever machine runs the tests (as the flow's FlowKernels do).
        testSequenced <| testList "DcganKernels" [
            testCase "a DCGAN training step runs no oneDNN reference kernel, and its gradients keep the weights' layout" <| fun () ->
                use scope = new TensorScope()
                use g = new Generator(3L)
                let gan = Dcgan.create g GanConfig.dcgan Mnist.imageShape
                use parameters = gan.Parameters
                let x = Gan.toTanhRange (torch.rand ([| 128L; 1L; 28L; 28L |], generator = g))
                let z = torch.randn ([| 128L; int64 GanConfig.dcgan.Latent |], generator = g)
                let (), ran =
                    OneDnn.trace (fun () ->
                        let fake = gan.Generate true z
                        (Objectives.discriminatorReal (gan.Discriminate true x) + Objectives.discriminatorFake (gan.Discriminate true (fake.detach ()))).backward ()
                        (Objectives.generator NonSaturating (gan.Discriminate true fake)).backward ())
                let convolutions = ran |> List.filter (fun p -> p.Kind = "convolution")
                output.WriteLine $"DCGAN step: {ran.Length} kinds of oneDNN primitive ({convolutions.Length} convolutions) on {OneDnn.isa ()}"
                Expect.equal (convolutions |> List.map (fun p -> p.Propagation) |> List.distinct |> List.sort)
                    [ "backward_data"; "backward_weights"; "forward_training" ] "the traced convolutions' kinds"
                Expect.equal (ran |> List.filter (fun p -> p.IsReference) |> List.map string) [] "reference kernels"
                // The fused Adam step reads each gradient as a plain buffer in its weight's layout.
                for name, w in Array.append gan.Generator.named gan.Discriminator.named do
                    Expect.isTrue w.grad.is_contiguous $"{name}'s gradient is contiguous"
                    Expect.equal w.grad.shape w.shape $"{name}'s gradient's shape"
        ]
        testSequenced <| testList "GanRunTests" [
            testList "a resumed GAN run equals an uninterrupted one bit for bit" [
                for arch in [ "mlp"; "dcgan" ] -> testCase arch (resumedEqualsStraight arch)
            ]
            testCase "BatchNorm's running statistics are trained and saved" <| fun () ->
                let run = RunFolder(runs.Value.Folder("dcgan", "straight"))
                use last = Safetensors.load (run.Checkpoint "last")
                // 500 images in batches of 50, two epochs: G's batch norms saw one batch per step, D's three
                // (the real images and the detached fakes in D's step, the fakes again in G's).
                Expect.equal (last.["generator.norm1.num_batches_tracked"].item ()) 20.0 "last.[\"generator.norm1.num_batches_tracked\"].item ()"
                Expect.equal (last.["discriminator.norm2.num_batches_tracked"].item ()) 60.0 "last.[\"discriminator.norm2.num_batches_tracked\"].item ()"
                let mean = last.["generator.norm1.running_mean"].toFloat64Array ()
                Expect.isTrue (mean |> Array.exists (fun v -> v <> 0.0)) "the running mean never moved from 0"
                let _, _, gan = GanRun.load (run.Path, "last")
                use _ = gan.Parameters
                for name, t in gan.Parameters.buffers do
                    Expect.isTrue (t.toArray<byte> () = last.[name].toArray<byte> ()) $"{name} did not load"
            testCase "evaluation mode uses the running statistics and no dropout; training mode the batch and dropout" <| fun () ->
                let _, _, gan = GanRun.load (runs.Value.Folder("mlp", "straight"), "last")
                use _ = gan.Parameters
                use scope = new TensorScope()
                use g = new Generator(3L)
                let z = torch.randn ([| 6L; 8L |], generator = g)
                let eval1, eval2 = gan.Generate false z, gan.Generate false z
                Expect.equal ((eval1 - eval2).abs().max().item ()) 0.0 "(eval1 - eval2).abs().max().item ()"
                // One image alone gives the same output in evaluation mode (no batch statistics).
                Expect.floatClose (digits 6) (((gan.Generate false (z.narrow (0, 0L, 1L))) - eval1.narrow (0, 0L, 1L)).abs().max().item ()) 0.0 "((gan.Generate false (z.narrow (0, 0L, 1L))) - eval1.narrow (0, 0L, 1L)).abs().max().item ()"
                Expect.isTrue (((gan.Generate true z) - eval1).abs().max().item () > 1e-3) "training mode gave evaluation mode's output"
                let x = eval1.detach ()
                Expect.equal (((gan.Discriminate false x) - (gan.Discriminate false x)).abs().max().item ()) 0.0 "((gan.Discriminate false x) - (gan.Discriminate false x)).abs().max().item ()"
                Expect.isTrue (((gan.Discriminate true x) - (gan.Discriminate true x)).abs().max().item () > 1e-4) "dropout did not drop in training mode"
            testCase "sample grids are written before training and at the chosen epochs" <| fun () ->
                let run = RunFolder(runs.Value.Folder("mlp", "straight"))
                Expect.equal (Directory.GetFiles run.ImageFolder |> Array.map Path.GetFileName |> Array.sort) [| "samples-epoch-000.png"; "samples-epoch-002.png" |] "Directory.GetFiles run.ImageFolder |> Array.map Path.GetFileName |> Array.sort"
                let grid = Research.Core.IO.Png.Decode(File.ReadAllBytes(run.ImagePath("samples", 2)))
                Expect.isTrue (grid.Width >= 8 * 28 && grid.Height >= 8 * 28) $"a {grid.Width}x{grid.Height} grid"
        ]
        testSequenced <| testList "GanLearning" [
            testCase "the generator learns: from a discriminator that rejects its images, D(G(z)) rises" <| fun () ->
                let threads = torch.get_num_threads ()
                torch.set_num_threads 1
                try
                    let settings = { runSettings with BatchSize = 64; TrainLimit = 3000 }
                    use data = Family.mnist settings None
                    use generator = new Generator(1L)
                    use trainer = GanRun.trainer GanConfig.mlp settings data generator
                    let gAdam = trainer.Optimizers |> List.find (fst >> (=) "generator") |> snd
                    // D(G(z)) at each step of an epoch of 47 steps.
                    let epoch () =
                        [| for batch in data.train.batches (64, generator = generator) do
                               use scope = new TensorScope()
                               let r = trainer.Step batch
                               yield r.Sums.[5] / float (batch.x.size 0) |]
                    // An epoch with G frozen (step size 0): D learns to reject its images.
                    gAdam.lr <- 0.0
                    let frozen = epoch ()
                    gAdam.lr <- GanConfig.mlp.GeneratorLr
                    let learning = Array.append (epoch ()) (epoch ())
                    let rejected = Array.average frozen.[frozen.Length - 10 ..]
                    let recovered = Array.average learning.[learning.Length - 20 ..]
                    output.WriteLine $"D(G(z)): {frozen.[0]:F3} -> {rejected:F3} with G frozen, then {Array.average learning.[.. 9]:F3} -> {recovered:F3} as G learns"
                    Expect.isTrue (rejected < 0.1) $"D did not learn to reject G's images (D(G(z)) {rejected})"
                    Expect.isTrue (recovered > 0.3) $"G did not learn to fool D: D(G(z)) {rejected} -> {recovered}"
                finally
                    torch.set_num_threads threads
        ]
        // `research bench gan` in smoke mode: the MLP GAN's GEMM count against PyTorch's profiler, and a
        // short epoch on each side that trains the same model to about the same losses (not timed).
        testSequenced <| testList "GanBenchmarkTests" [
            testCase "the MLP GAN's GEMM count is what PyTorch's profiler counts for one step" <| fun () ->
                withPyTorch (fun () ->
                    let script = Research.Core.Benchmarks.PyTorchPeer.Script "gan_pytorch.py"
                    let py =
                        runPython
                            $"""
import importlib.util, torch.nn.functional as F
from torch.profiler import profile
spec = importlib.util.spec_from_file_location('peer', {sprintf "%A" script})
peer = importlib.util.module_from_spec(spec); spec.loader.exec_module(peer)
G, D = peer.mlp_gan(100)
x = torch.rand(128, 1, 28, 28) * 2 - 1
bce = F.binary_cross_entropy_with_logits
with profile(with_flops=True) as p:
    fake = G(torch.randn(128, 100))
    d_loss = bce(D(x), torch.ones(128)) + bce(D(fake.detach()), torch.zeros(128))
    d_loss.backward()
    g_loss = bce(D(fake), torch.ones(128))
    g_loss.backward()
print(json.dumps(sum(e.flops for e in p.key_averages() if e.key in ('aten::addmm', 'aten::mm')) / 128))
"""
                    Expect.equal (float (GanBenchmark.gemmFlopsPerImage GanConfig.mlp)) (py.GetDouble()) "float (GanBenchmark.gemmFlopsPerImage GanConfig.mlp)")
            testCase "a smoke epoch trains both sides to about the same losses" <| fun () ->
                let threads = torch.get_num_threads ()
                try
                    let settings = GanBenchmark.benchmark.Settings(1, 1280, 1, 1)
                    for arch in [ "mlp"; "dcgan" ] do
                        let model = GanBenchmark.model arch
                        let ours = model.Run settings None None
                        Expect.equal (ours.[0].Images) 1280L "ours.[0].Images"
                        withPyTorch (fun () ->
                            let theirs = model.RunPyTorch("/usr/bin/python3", GanBenchmark.benchmark.PyTorchScript(), settings, 1, 1)
                            Expect.equal (theirs.Epochs.[0].Images) 1280L "theirs.Epochs.[0].Images"
                            output.WriteLine $"{arch}: D + G loss per step, ours {ours.[0].Loss:F3}, PyTorch {theirs.Epochs.[0].Loss:F3}"
                            // Different initial weights and noise: the sums of the two losses agree loosely
                            // (both start near log 4 + log 2 = 2.08).
                            within (theirs.Epochs.[0].Loss - 0.35) (theirs.Epochs.[0].Loss + 0.35) (ours.[0].Loss) "ours.[0].Loss")
                finally
                    torch.set_num_threads threads
        ]
    ]
