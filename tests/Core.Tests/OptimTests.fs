/// Adam and SGD against torch.optim: the same start values and loss give the same trajectories.
module Research.Core.Tests.OptimTests

open System
open System.Diagnostics
open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Nn
open Research.Core.Optim
open Research.Core.Checkpoints
open Research.Core.Tests.TensorTestSupport
open Research.Core.Tests.NnTestSupport

/// Start values of a small regression problem: weights w [3, 4] (non-contiguous when asked, which
/// takes the ATen path), bias b [3] and an unused parameter u [2] that never gets a gradient.
type Problem =
    { x: float[]
      y: float[]
      w: float[]
      b: float[]
      u: float[] }

let problem =
    use scope = new TensorScope()
    { x = (randn64 1L [ 5; 4 ]).toFloat64Array ()
      y = (randn64 2L [ 5; 3 ]).toFloat64Array ()
      w = (randn64 3L [ 3; 4 ]).toFloat64Array ()
      b = (randn64 4L [ 3 ]).toFloat64Array ()
      u = (randn64 5L [ 2 ]).toFloat64Array () }

/// loss(w, b) = mean((x w^T + b - y)^2) + 0.01 sum(w^4): the same expression on both sides.
let pythonLoss = "((x @ w.T + b - y) ** 2).mean() + 0.01 * (w ** 4).sum()"

let loss (x: Tensor) (y: Tensor) (w: Tensor) (b: Tensor) =
    (x.matmul (w.t ()) + b - y).square().mean () + 0.01 * w.pow(4.0).sum ()

/// Each optimizer as PyTorch builds it (over the list `params`) and as we do.
let optimizers: (string * (Parameters -> Optimizer)) list =
    [ "Adam(params, lr=0.1)", (fun p -> new Adam(p, lr = 0.1))
      "Adam(params, lr=0.05, betas=(0.8, 0.99), eps=1e-6)", (fun p -> new Adam(p, lr = 0.05, beta1 = 0.8, beta2 = 0.99, eps = 1e-6))
      "Adam(params, lr=0.1, weight_decay=0.5)", (fun p -> new Adam(p, lr = 0.1, weight_decay = 0.5))
      "Adam(params, lr=0.1, amsgrad=True)", (fun p -> new Adam(p, lr = 0.1, amsgrad = true))
      "Adam(params, lr=0.1, amsgrad=True, weight_decay=0.3)", (fun p -> new Adam(p, lr = 0.1, amsgrad = true, weight_decay = 0.3))
      "SGD(params, lr=0.1)", (fun p -> new Sgd(p, 0.1))
      "SGD(params, lr=0.1, weight_decay=0.2)", (fun p -> new Sgd(p, 0.1, weight_decay = 0.2))
      "SGD(params, lr=0.05, momentum=0.9)", (fun p -> new Sgd(p, 0.05, momentum = 0.9))
      "SGD(params, lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.1)",
      (fun p -> new Sgd(p, 0.05, momentum = 0.9, dampening = 0.3, weight_decay = 0.1))
      "SGD(params, lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)",
      (fun p -> new Sgd(p, 0.05, momentum = 0.8, nesterov = true, weight_decay = 0.1)) ]

let steps = 6

/// Every case: optimizer, dtype, and whether w is a non-contiguous (transposed) leaf.
let cases =
    [ for python, make in optimizers do
          for dtype in [ Float64; Float32 ] do
              for transposed in [ false; true ] -> python, make, dtype, transposed ]

/// PyTorch's trajectories, one per case: [w, b, u] flattened after each step.
let pytorchTrajectories () =
    let case (python, _, dtype, transposed) =
        let dtype = string dtype
        let w = if transposed then $"{pyTensor problem.w [| 4L; 3L |] dtype}.t()" else pyTensor problem.w [| 3L; 4L |] dtype
        $"""(lambda: run(torch.{dtype}, {w}, lambda params: {python}))"""
    runPython
        $"""
from torch.optim import Adam, SGD
def run(dtype, w0, make):
    x = {pyTensor problem.x [| 5L; 4L |] "float64"}.to(dtype)
    y = {pyTensor problem.y [| 5L; 3L |] "float64"}.to(dtype)
    w = w0.detach().requires_grad_()
    b = {pyTensor problem.b [| 3L |] "float64"}.to(dtype).requires_grad_()
    u = {pyTensor problem.u [| 2L |] "float64"}.to(dtype).requires_grad_()
    opt = make([w, b, u])
    out = []
    for _ in range({steps}):
        opt.zero_grad()
        ({pythonLoss}).backward()
        opt.step()
        out.append(w.detach().flatten().tolist() + b.detach().tolist() + u.detach().tolist())
    return out
print(json.dumps([f() for f in [{cases |> List.map case |> String.concat ", "}]]))
"""

/// Our trajectory with the same start values.
let ourTrajectory (make: Parameters -> Optimizer) (dtype: Dtype) (transposed: bool) =
    let tensor (values: float[]) (shape: int64[]) = (torch.tensor (values, shape)).``to`` dtype
    use x = tensor problem.x [| 5L; 4L |]
    use y = tensor problem.y [| 5L; 3L |]
    let w =
        if transposed then (use wt = tensor problem.w [| 4L; 3L |] in wt.t().detach().requires_grad_ ())
        else (tensor problem.w [| 3L; 4L |]).requires_grad_ ()
    Expect.equal w.is_contiguous (not transposed) "w.is_contiguous"
    use parameters =
        Parameters.create [ "w", w; "b", (tensor problem.b [| 3L |]).requires_grad_ (); "u", (tensor problem.u [| 2L |]).requires_grad_ () ]
    use opt = make parameters
    [ for _ in 1..steps ->
          use scope = new TensorScope()
          opt.zero_grad ()
          (loss x y parameters.["w"] parameters.["b"]).backward ()
          opt.step ()
          Array.concat [ parameters.["w"].toFloat64Array (); parameters.["b"].toFloat64Array (); parameters.["u"].toFloat64Array () ] ]

/// A two-layer model with the shapes of a VAE's decoder half, for resume tests.
let smallModel (seed: int64) =
    use g = new Generator(seed)
    let fc1 = Linear.create (g, 6, 5)
    let fc2 = Linear.create (g, 5, 4)
    Parameters.compose [ "fc1", fc1.parameters; "fc2", fc2.parameters ], (fun (x: Tensor) -> x |> fc1.forward |> F.tanh |> fc2.forward)

/// Trains `steps` steps on a fixed batch.
let train (forward: Tensor -> Tensor) (opt: Optimizer) (steps: int) =
    use scope = new TensorScope()
    let x = randn64 7L [ 8; 6 ]
    let y = randn64 8L [ 8; 4 ]
    for _ in 1..steps do
        use step = new TensorScope()
        opt.zero_grad ()
        (F.mse_loss (forward (x.float ()), y.float ())).backward ()
        opt.step ()

let resumesExactly (make: Parameters -> Optimizer) =
    let folder = tempFolder "resume"
    let path = IO.Path.Combine(folder, "checkpoint.safetensors")
    // Run A: 3 steps, checkpoint, 2 more steps.
    let parametersA, forwardA = smallModel 1L
    use _ = parametersA
    use optA = make parametersA
    train forwardA optA 3
    (use model = parametersA.state_dict ()
     use optimizer = optA.state_dict ()
     use both = StateDict.concat [ "model.", model; "optimizer.", optimizer ]
     Safetensors.save (path, both))
    train forwardA optA 2
    // Run B: a different start, restored from the checkpoint, then the same 2 steps.
    let parametersB, forwardB = smallModel 2L
    use _ = parametersB
    use optB = make parametersB
    (use saved = Safetensors.load path
     use model = saved.sub "model."
     use optimizer = saved.sub "optimizer."
     parametersB.load_state_dict model
     optB.load_state_dict optimizer)
    train forwardB optB 2
    for (name, a), (_, b) in Array.zip parametersA.named parametersB.named do
        Expect.isTrue (a.equal b) $"parameter {name} differs after resuming"
    IO.Directory.Delete(folder, true)

[<Tests>]
let tests =
    testList "OptimTests" [
        testList "Trajectories" [
            testCase "Adam and SGD trajectories equal torch.optim's" <| fun () ->
                withPyTorch (fun () ->
                    let expected = pytorchTrajectories ()
                    let worst = Collections.Generic.Dictionary<Dtype, float>()
                    for i, (python, make, dtype, transposed) in List.indexed cases do
                        let rtol, atol = if dtype = Float64 then 1e-12, 1e-14 else 2e-6, 1e-7
                        let layout = if transposed then "non-contiguous w" else "contiguous w"
                        let ours = ourTrajectory make dtype transposed
                        for step, values in List.indexed ours do
                            let reference = floats expected.[i].[step]
                            assertClose $"{python} ({dtype}, {layout}), step {step + 1}" rtol atol reference values
                            let diff = Array.map2 (fun a b -> abs (a - b)) reference values |> Array.max
                            worst[dtype] <- max diff (match worst.TryGetValue dtype with | true, d -> d | _ -> 0.0)
                        // The unused parameter never moves: both skip parameters without a gradient.
                        let u0 = if dtype = Float32 then problem.u |> Array.map (float32 >> float) else problem.u
                        assertClose $"{python}: unused parameter" 0.0 0.0 u0 (List.last ours).[15..]
                    for KeyValue(dtype, d) in worst do
                        output.WriteLine $"{dtype}: largest |ours - torch.optim| over {cases.Length / 2} cases x {steps} steps = {d:E2}")
        ]
        testList "State" [
            testCase "Adam resumes exactly from a safetensors checkpoint" <| fun () ->
                resumesExactly (fun p -> new Adam(p, lr = 0.01, amsgrad = true, weight_decay = 0.01))
            testCase "SGD with momentum resumes exactly from a safetensors checkpoint" <| fun () ->
                resumesExactly (fun p -> new Sgd(p, 0.05, momentum = 0.9, nesterov = true))
            testCase "state dict names follow PyTorch's state entries" <| fun () ->
                let parameters, forward = smallModel 3L
                use _ = parameters
                use adam = new Adam(parameters, amsgrad = true)
                (use fresh = adam.state_dict () in Expect.equal fresh.Count 0 "fresh.Count")
                train forward adam 2
                use state = adam.state_dict ()
                let expected =
                    [ for name in [ "fc1.weight"; "fc1.bias"; "fc2.weight"; "fc2.bias" ] do
                          for s in [ "step"; "exp_avg"; "exp_avg_sq"; "max_exp_avg_sq" ] -> $"state.{name}.{s}" ]
                Expect.sequenceEqual state.names expected "state.names"
                Expect.equal (state.["state.fc1.weight.step"].item ()) 2.0 "state.[\"state.fc1.weight.step\"].item ()"
                Expect.sequenceEqual (state.["state.fc2.weight.exp_avg"].shape) (parameters.["fc2.weight"].shape) "state.[\"state.fc2.weight.exp_avg\"].shape"
                use unknown = new StateDict([ "state.fc9.weight.step", torch.scalar_tensor 1.0 ])
                let e = raises<ArgumentException> (fun () -> adam.load_state_dict unknown)
                Expect.stringContains e.Message "state.fc9.weight.step" "e.Message"
            testCase "zero_grad drops or zeroes the gradients" <| fun () ->
                let parameters, forward = smallModel 4L
                use _ = parameters
                use sgd = new Sgd(parameters, 0.1)
                let backward () =
                    use scope = new TensorScope()
                    (forward (torch.ones [| 2L; 6L |])).sum().backward ()
                backward ()
                sgd.zero_grad (set_to_none = false)
                for name, p in parameters.named do
                    use g = p.grad
                    Expect.isTrue (not (isNull g) && g.abs().sum().item () = 0.0) $"{name}.grad should be zeros"
                backward ()
                sgd.zero_grad ()
                for name, p in parameters.named do
                    Expect.isTrue (isNull p.grad) $"{name}.grad should be None"
            testCase "bad hyperparameters are rejected" <| fun () ->
                use parameters = Parameters.create [ "w", torch.zeros([| 2L |]).requires_grad_ () ]
                raises<ArgumentException> (fun () -> new Adam(parameters, lr = -1.0) |> ignore) |> ignore
                raises<ArgumentException> (fun () -> new Adam(parameters, beta1 = 1.0) |> ignore) |> ignore
                let e = raises<ArgumentException> (fun () -> new Sgd(parameters, 0.1, nesterov = true) |> ignore)
                Expect.stringContains e.Message "Nesterov" "e.Message"
        ]
    ]
