/// The normalizing flow: every layer and the flow invert exactly, each layer's log|det J| equals
/// the log-determinant of its full Jacobian (autodiff, float64), the bits per dimension of the
/// identity flow on uniform noise equal the closed form, and a short run resumes bit for bit and
/// lowers the validation bits per dimension.
module Research.Core.Tests.FlowTests

open System
open System.IO
open MathNet.Numerics.LinearAlgebra
open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Checkpoints
open Research.Core.Data
open Research.Core.Training
open Research.Core.Models.Flow
open Research.Core.Tests.TensorTestSupport
open Research.Core.Tests.NnTestSupport

/// Random weights everywhere, N(0, std^2) (a fresh coupling starts at the identity, which inverts
/// trivially).
let private perturb (parameters: Research.Core.Nn.Parameters) (g: Generator) (std: float) =
    use _ = torch.no_grad ()
    for _, t in parameters.named do
        t.copy_ (torch.randn (t.shape, dtype = t.dtype, generator = g) * std) |> ignore

/// log|det| of a square Jacobian, in doubles.
let private logAbsDet (j: Tensor) =
    let n = int j.shape[0]
    let values = j.toFloat64Array ()
    let m = Matrix<float>.Build.Dense(n, n, fun r c -> values[r * n + c])
    log (abs (m.Determinant()))

let private small = { Channels = 1; Height = 4; Width = 4 }

/// The layers of a multi-scale flow on 1x4x4 images, with random weights, in float64.
let private layers (g: Generator) =
    let s1 = { Channels = 4; Height = 2; Width = 2 }
    [ "checkerboard coupling", [], Coupling.create g "c" small (Coupling.checkerboard 4 4 false Float64) 6 Float64
      "checkerboard coupling (flipped)", [], Coupling.create g "c" small (Coupling.checkerboard 4 4 true Float64) 6 Float64
      "channel coupling (after a squeeze)", [ MultiScale.squeeze ], Coupling.create g "c" s1 (Coupling.channels 4 false Float64) 6 Float64
      "squeeze", [], MultiScale.squeeze ]

/// The flow after its dequantization: continuous in, continuous out.
let private withoutDequantization (flow: Flow) = { flow with Steps = List.tail flow.Steps }

let private tinyFlow = { FlowConfig.multiScale with Hidden = [ 8; 8; 8 ]; Couplings = [ 2; 2; 2 ]; Warmup = 4; Dequantization = Variational }
let private flowSettings =
    { FlowConfig.runDefaults with Epochs = 2; BatchSize = 64; Seed = 3; Threads = 1; ValidationSize = 200; TrainLimit = 512; ImageEpochs = [ 2 ] }

[<Tests>]
let tests =
    testList "FlowTests" [
        testList "FlowLayers" [
            testCase "every layer's log-determinant is that of its Jacobian, and it inverts to 1e-10 in float64" <| fun () ->
                use scope = new TensorScope()
                use g = new Generator(3L)
                for name, before, layer in layers g do
                    perturb layer.Parameters g 0.3
                    let prepare (x: Tensor) = before |> List.fold (fun (z, l) (b: FlowLayer) -> b.Forward (z, l)) (x, torch.zeros ([| 1L |], dtype = Float64)) |> fst
                    let x = prepare (torch.randn ([| 1L; 1L; 4L; 4L |], dtype = Float64, generator = g))
                    let y, ldj = layer.Forward (x, torch.zeros ([| 1L |], dtype = Float64))
                    let j = Autodiff.jacobian (fun v -> fst (layer.Forward (v, torch.zeros ([| 1L |], dtype = Float64)))) x
                    let expected = logAbsDet j
                    output.WriteLine $"{name}: log|det J| {ldj.item ():F6}, from the Jacobian {expected:F6}"
                    Expect.floatClose (digits 9) (ldj.item ()) expected "ldj.item ()"
                    let back = layer.Reverse y
                    Expect.isTrue ((back - x).abs().max().item () < 1e-10) $"{name}: inverse off by {(back - x).abs().max().item ()}"
                // The logit pre-transform on (0, 1).
                let v = torch.rand ([| 1L; 1L; 4L; 4L |], dtype = Float64, generator = g) * 0.98 + 0.01
                let y, ldj = Dequantization.logit.Forward (v, torch.zeros ([| 1L |], dtype = Float64))
                let j = Autodiff.jacobian (fun v -> fst (Dequantization.logit.Forward (v, torch.zeros ([| 1L |], dtype = Float64)))) v
                Expect.floatClose (digits 9) (ldj.item ()) (logAbsDet j) "ldj.item ()"
                Expect.isTrue ((Dequantization.logit.Reverse y - v).abs().max().item () < 1e-10) "(Dequantization.logit.Reverse y - v).abs().max().item () < 1e-10"
                // Variational dequantization: log|du/du0| of the noise flow (conditioned on the image) is
                // -log q(u | x), checked against the Jacobian of u0 -> u.
                let noiseFlow = Dequantization.noiseFlow g small Float64
                for c in noiseFlow do perturb c.Parameters g 0.05
                let x = (torch.rand ([| 1L; 1L; 4L; 4L |], dtype = Float64, generator = g) * 256.0).floor ()
                let u0 = torch.rand ([| 1L; 1L; 4L; 4L |], dtype = Float64, generator = g)
                let u, ldj = Dequantization.transformNoise noiseFlow x (u0, torch.zeros ([| 1L |], dtype = Float64))
                let j = Autodiff.jacobian (fun u0 -> fst (Dequantization.transformNoise noiseFlow x (u0, torch.zeros ([| 1L |], dtype = Float64)))) u0
                output.WriteLine $"variational dequantization: log|det du/du0| {ldj.item ():F6}, from the Jacobian {logAbsDet j:F6}"
                Expect.floatClose (digits 9) (ldj.item ()) (logAbsDet j) "ldj.item ()"
                Expect.isTrue (u.min().item () > 0.0 && u.max().item () < 1.0) "the dequantization noise u must lie in (0, 1)"
            testCase "the single-scale flow inverts to 1e-4 in float32 and dequantization to the same pixels" <| fun () ->
                use scope = new TensorScope()
                use g = new Generator(5L)
                let flow = FlowModel.create g FlowConfig.singleScale Mnist.imageShape Float32
                use parameters = flow.Parameters
                // Weights of a trained flow's size: each coupling scales by up to e^0.2 or so.
                perturb parameters g 0.05
                let x = (torch.rand ([| 3L; 1L; 28L; 28L |], generator = g) * 256.0).floor ()
                // Without the dequantization: continuous in, continuous out.
                let v = (x + 0.5) / 256.0
                let continuous = withoutDequantization flow
                let back = Flow.decode continuous (fst (Flow.encode continuous v))
                let error = (back - v).abs().max().item ()
                output.WriteLine $"single-scale flow: max |f^-1(f(v)) - v| = {error:G3}"
                Expect.isTrue (error < 1e-4) $"the flow inverts only to {error}"
                // The whole flow, dequantization included, gives back the same pixel values.
                let z, _ = Flow.encode flow x
                Expect.equal ((Flow.decode flow z - x).abs().max().item ()) 0.0 "(Flow.decode flow z - x).abs().max().item ()"
            testCase "the multi-scale flow keeps its split-off latents and inverts to 1e-4 in float32 and 1e-10 in float64" <| fun () ->
                use scope = new TensorScope()
                use g = new Generator(6L)
                for dtype, tolerance in [ Float32, 1e-4; Float64, 1e-10 ] do
                    let config = { FlowConfig.multiScale with Hidden = [ 8; 8; 8 ]; Dequantization = Variational }
                    let flow = FlowModel.create g config Mnist.imageShape dtype
                    use parameters = flow.Parameters
                    perturb parameters g 0.05
                    let x = (torch.rand ([| 3L; 1L; 28L; 28L |], dtype = dtype, generator = g) * 256.0).floor ()
                    let v = (x + 0.5) / 256.0
                    let continuous = withoutDequantization flow
                    let z, _ = Flow.encode continuous v
                    // One factored-out part (2 x 14 x 14) and the final part (8 x 7 x 7): all 784 dimensions.
                    Expect.equal (z.Parts |> List.map (fun p -> p.numel)) [ 3L * 392L; 3L * 392L ] "z.Parts |> List.map (fun p -> p.numel)"
                    let error = (Flow.decode continuous z - v).abs().max().item ()
                    output.WriteLine $"multi-scale flow ({dtype}): max |f^-1(f(v)) - v| = {error:G3}"
                    Expect.isTrue (error < tolerance) $"the {dtype} multi-scale flow inverts only to {error} (tolerance {tolerance})"
                    // With the (variational) dequantization: the same pixels come back.
                    let z, _ = Flow.encode flow x
                    Expect.equal ((Flow.decode flow z - x).abs().max().item ()) 0.0 "(Flow.decode flow z - x).abs().max().item ()"
            testCase "every coupling's scale factor is a parameter, saved and trained" <| fun () ->
                use scope = new TensorScope()
                use g = new Generator(7L)
                let flow = FlowModel.create g { FlowConfig.multiScale with Hidden = [ 8; 8; 8 ] } Mnist.imageShape Float32
                use parameters = flow.Parameters
                let scales = parameters.named |> Array.filter (fun (name, _) -> name.EndsWith ".scale")
                // 4 + 2 + 4 couplings, each with one c per channel of its maps (1, 4 and 8).
                Expect.equal (scales |> Array.map (fun (_, t) -> t.numel)) [| 1L; 1L; 1L; 1L; 4L; 4L; 8L; 8L; 8L; 8L |] "the scales' sizes"
                let state = parameters.state_dict ()
                Expect.isTrue (scales |> Array.forall (fun (name, _) -> (state.TryFind name).IsSome)) "the checkpoint holds them"
                // Away from the identity (the nets' last layers start at zero) the bits per dimension depend on c.
                perturb parameters g 0.05
                let x = (torch.rand ([| 4L; 1L; 28L; 28L |], generator = g) * 256.0).floor ()
                let grads = Autodiff.gradN (fun _ -> (Flow.bitsPerDim flow (Flow.logLikelihood flow x)).mean ()) (Array.map snd scales)
                for (name, _), grad in Array.zip scales grads do
                    Expect.isGreaterThan (grad.abs().max().item ()) 0.0 $"d bpd / d {name}"
            testCase "bits per dimension of the identity flow on uniform noise equal the closed form" <| fun () ->
                use scope = new TensorScope()
                use g = new Generator(9L)
                // A fresh flow is the identity after dequantization and the logit (zero-initialised couplings).
                let flow = FlowModel.create g FlowConfig.singleScale Mnist.imageShape Float64
                use parameters = flow.Parameters
                let x = (torch.rand ([| 2L; 1L; 28L; 28L |], dtype = Float64, generator = g) * 256.0).floor ()
                use noise1 = new Generator(11L)
                let bpd = Flow.withNoise flow noise1 (fun () -> (Flow.bitsPerDim flow (Flow.logLikelihood flow x)).toFloat64Array ())
                // The same u, drawn again, and the change of variables written out in doubles.
                use noise2 = new Generator(11L)
                let u = (torch.rand (x.shape, dtype = Float64, generator = noise2)).toFloat64Array ()
                let pixels = x.toFloat64Array ()
                let a, d = Dequantization.alpha, 784
                let expected =
                    [| for i in 0 .. 1 ->
                           let logp =
                               Seq.sum (seq {
                                   for j in i * d .. i * d + d - 1 ->
                                       let s = a + (1.0 - 2.0 * a) * (pixels[j] + u[j]) / 256.0
                                       let y = log s - log (1.0 - s)
                                       -0.5 * (log (2.0 * Math.PI) + y * y) + log (1.0 - 2.0 * a) - log s - log (1.0 - s) - log 256.0 })
                           -logp / (float d * log 2.0) |]
                assertClose "bits per dimension" 1e-10 1e-10 expected bpd
        ]
        testSequenced <| testList "FlowRunTests" [
            testCase "a short multi-scale run with variational dequantization lowers the bits per dimension and resumes bit for bit" <| fun () ->
                let root = tempFolder "flow-runs"
                let threads = torch.get_num_threads ()
                try
                    let straight, resumed = Path.Combine(root, "straight"), Path.Combine(root, "resumed")
                    let train settings folder resume = Loop.train FlowRun.family tinyFlow settings folder resume None ignore
                    let metrics = train flowSettings straight false
                    train { flowSettings with Epochs = 1 } resumed false |> ignore
                    train flowSettings resumed true |> ignore
                    let bpd = metrics.Column "val_bpd"
                    output.WriteLine $"validation bpd {bpd[0]:F3} -> {bpd[1]:F3}"
                    Expect.isTrue (bpd[1] < bpd[0]) $"the validation bpd went from {bpd[0]} to {bpd[1]}"
                    let rows folder = (MetricsLog.Open (RunFolder folder).MetricsPath).Rows |> Array.map (fun r -> r[.. r.Length - 2])
                    Expect.equal (rows resumed) (rows straight) "rows resumed"
                    for name in [ "last"; "best"; "resume" ] do
                        use a = Safetensors.load ((RunFolder straight).Checkpoint name)
                        use b = Safetensors.load ((RunFolder resumed).Checkpoint name)
                        for (n, x), (_, y) in Array.zip a.entries b.entries do
                            Expect.isTrue (x.toArray<byte> () = y.toArray<byte> ()) $"{name}: {n} differs"
                    Expect.equal (File.ReadAllBytes((RunFolder resumed).ImagePath("samples", 2))) (File.ReadAllBytes((RunFolder straight).ImagePath("samples", 2))) "File.ReadAllBytes((RunFolder resumed).ImagePath(\"samples\", 2))"
                finally
                    torch.set_num_threads threads
                    Directory.Delete(root, true)
        ]
        // `research bench flow` in smoke mode: a few steps on each side train the same flow to the same
        // bits per dimension (not timed).
        testSequenced <| testList "FlowBenchmarkTests" [
            testCase "a smoke epoch trains both sides to about the same bits per dimension" <| fun () ->
                let threads = torch.get_num_threads ()
                try
                    let bench = FlowBenchmark.benchmark
                    let settings = bench.Settings(1, 256, 1, 1)
                    let ours = bench.Models.Head.Run settings None None
                    Expect.equal (ours.[0].Images) 256L "ours.[0].Images"
                    withPyTorch (fun () ->
                        let theirs = bench.Models.Head.RunPyTorch("/usr/bin/python3", bench.PyTorchScript(), settings, 1, 1)
                        output.WriteLine $"mean bpd over 2 steps: ours {ours.[0].Loss:F3}, PyTorch {theirs.Epochs.[0].Loss:F3}"
                        // The same identity start and the same first steps: only the noise differs.
                        within (theirs.Epochs.[0].Loss - 0.5) (theirs.Epochs.[0].Loss + 0.5) (ours.[0].Loss) "ours.[0].Loss")
                finally
                    torch.set_num_threads threads
        ]
        // A oneDNN reference kernel is correct but tens of times slower than its JIT kernels; which
        // primitives are JIT-compiled depends on the CPU (on AVX-512 CPUs one 8-channel weight
        // gradient was a reference kernel), so this runs on whatever machine runs the tests.
        testSequenced <| testList "FlowKernels" [
            for name, config in [ "default (the recipe's and the benchmark's)", FlowConfig.multiScale
                                  "single-scale", FlowConfig.singleScale
                                  "variationally dequantized", { FlowConfig.multiScale with Dequantization = Variational } ] do
                testCase $"the {name} flow's training step and validation run no oneDNN reference kernel" <| fun () ->
                    use scope = new TensorScope()
                    use g = new Generator(5L)
                    let flow = FlowModel.create g config Mnist.imageShape Float32
                    use _ = flow.Parameters
                    let pixels (n: int64) = (torch.rand ([| n; 1L; 28L; 28L |], generator = g) * 256.0).floor ()
                    let train, validation = pixels 128L, pixels 500L
                    let (), ran =
                        OneDnn.trace (fun () ->
                            (Flow.bitsPerDim flow (Flow.logLikelihood flow train)).mean().backward ()
                            use _ = torch.no_grad ()
                            Flow.logLikelihood flow validation |> ignore)
                    let convolutions = ran |> List.filter (fun p -> p.Kind = "convolution")
                    output.WriteLine $"{name}: {ran.Length} kinds of oneDNN primitive ({convolutions.Length} convolutions) on {OneDnn.isa ()}"
                    Expect.equal (convolutions |> List.map (fun p -> p.Propagation) |> List.distinct |> List.sort)
                        [ "backward_data"; "backward_weights"; "forward_training" ] "the traced convolutions' kinds"
                    Expect.exists convolutions (fun p -> p.Problem.StartsWith "mb500") "the validation batch's convolutions are traced"
                    Expect.equal (ran |> List.filter (fun p -> p.IsReference) |> List.map string) [] "reference kernels"
            testCase "a reference kernel in oneDNN's log is recognised as one" <| fun () ->
                let log =
                    "onednn_verbose,info,cpu,isa:Intel AVX-512 with Intel DL Boost and bfloat16 support\n"
                    + "onednn_verbose,exec,cpu,convolution,ref:any,backward_weights,src_f32::blocked:abcd:f0 wei_f32::blocked:abcd:f0 bia_f32::blocked:a:f0 dst_f32::blocked:aBcd16b:f0,,alg:convolution_direct,mb128_ic8oc64_ih7oh7kh3sh1dh0ph1_iw7ow7kw3sw1dw0pw1,422.11\n"
                    + "onednn_verbose,exec,cpu,convolution,jit:avx512_core,forward_training,src_f32::blocked:abcd:f0 wei_f32::blocked:Acdb16a:f0 bia_f32::blocked:a:f0 dst_f32::blocked:aBcd16b:f0,,alg:convolution_direct,mb128_ic8oc64_ih7oh7kh3sh1dh0ph1_iw7ow7kw3sw1dw0pw1,1.5\n"
                match OneDnn.parse log with
                | [ slow; fast ] ->
                    Expect.isTrue slow.IsReference "ref:any is a reference kernel"
                    Expect.equal (string slow) "convolution backward_weights mb128_ic8oc64_ih7oh7kh3sh1dh0ph1_iw7ow7kw3sw1dw0pw1 (ref:any)" "its name"
                    Expect.isFalse fast.IsReference "jit:avx512_core is not"
                | other -> failtest $"expected two primitives, got {other}"
        ]
    ]
