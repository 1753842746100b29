/// Layers, initialisers and parameter collections against PyTorch's torch.nn.
module Research.Core.Tests.NnTests

open System
open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Nn
open Research.Core.Tests.TensorTestSupport
open Research.Core.Tests.NnTestSupport

/// An encoder with two convolutions and a batch norm, composed under prefixes.
let encoder (g: Generator) =
    let conv1 = Conv2d.create (g, 1, 4, 3)
    let bn1 = BatchNorm.create2d 4
    let conv2 = Conv2d.create (g, 4, 2, 3, bias = false)
    Parameters.compose [ "enc", Parameters.compose [ "conv1", conv1.parameters; "bn1", bn1.parameters; "conv2", conv2.parameters ] ]

[<Tests>]
let tests =
    testList "NnTests" [
        testList "PyTorchLayers" [
            testCase "default initialisation draws PyTorch's numbers from the same seed" <| fun () ->
                withPyTorch (fun () ->
                    let py =
                        runPython
                            """
nn = torch.nn
def drawn(seed, make):
    torch.manual_seed(seed)
    return [t.detach().flatten().tolist() for t in make().parameters()]
init = torch.nn.init
def filled(seed, f, shape):
    torch.manual_seed(seed)
    t = torch.empty(shape)
    f(t)
    return [t.flatten().tolist()]
print(json.dumps({
  'linear': drawn(1, lambda: nn.Linear(7, 5)),
  'linear_nobias': drawn(2, lambda: nn.Linear(3, 4, bias=False)),
  'conv2d': drawn(3, lambda: nn.Conv2d(4, 6, 3, stride=2, padding=1)),
  'conv2d_groups': drawn(4, lambda: nn.Conv2d(4, 6, 5, groups=2)),
  'conv_transpose2d': drawn(5, lambda: nn.ConvTranspose2d(6, 3, 4, stride=2, padding=1)),
  'conv_transpose2d_groups': drawn(6, lambda: nn.ConvTranspose2d(4, 6, 3, groups=2)),
  'xavier_uniform': filled(7, lambda t: init.xavier_uniform_(t, gain=init.calculate_gain('relu')), (5, 4, 3)),
  'xavier_normal': filled(8, lambda t: init.xavier_normal_(t, gain=0.5), (6, 7)),
  'kaiming_normal': filled(9, lambda t: init.kaiming_normal_(t, mode='fan_out', nonlinearity='relu'), (6, 7, 2)),
  'kaiming_uniform': filled(10, lambda t: init.kaiming_uniform_(t, a=0.2), (8, 3)),
}))
"""
                    let check (name: string) (seed: int64) (make: Generator -> Parameters) =
                        use g = new Generator(seed)
                        use p = make g
                        let expected = [ for t in py.GetProperty(name).EnumerateArray() -> floats t ]
                        Expect.equal p.tensors.Length expected.Length "p.tensors.Length"
                        for e, t in List.zip expected (List.ofArray p.tensors) do
                            assertClose name 0.0 0.0 e (t.toFloat64Array ())
                    let filled (f: Tensor -> Generator -> Tensor) (shape: int64[]) (g: Generator) =
                        Parameters.create [ "t", (f (torch.empty shape) g).requires_grad_ () ]
                    check "linear" 1L (fun g -> (Linear.create (g, 7, 5)).parameters)
                    check "linear_nobias" 2L (fun g -> (Linear.create (g, 3, 4, bias = false)).parameters)
                    check "conv2d" 3L (fun g -> (Conv2d.create (g, 4, 6, 3, stride = 2, padding = 1)).parameters)
                    check "conv2d_groups" 4L (fun g -> (Conv2d.create (g, 4, 6, 5, groups = 2)).parameters)
                    check "conv_transpose2d" 5L (fun g -> (ConvTranspose2d.create (g, 6, 3, 4, stride = 2, padding = 1)).parameters)
                    check "conv_transpose2d_groups" 6L (fun g -> (ConvTranspose2d.create (g, 4, 6, 3, groups = 2)).parameters)
                    check "xavier_uniform" 7L (filled (fun t g -> Init.xavier_uniform_ (t, g, gain = Init.gain "relu")) [| 5L; 4L; 3L |])
                    check "xavier_normal" 8L (filled (fun t g -> Init.xavier_normal_ (t, g, gain = 0.5)) [| 6L; 7L |])
                    check "kaiming_normal" 9L (filled (fun t g -> Init.kaiming_normal_ (t, g, mode = "fan_out", nonlinearity = "relu")) [| 6L; 7L; 2L |])
                    check "kaiming_uniform" 10L (filled (fun t g -> Init.kaiming_uniform_ (t, g, a = 0.2)) [| 8L; 3L |]))
            testCase "layers compute what torch.nn's compute, batch norm's running statistics included" <| fun () ->
                withPyTorch (fun () ->
                    use scope = new TensorScope()
                    let x = (randn64 21L [ 2; 6; 7; 7 ]).float ()
                    let v = (randn64 22L [ 5; 3 ]).float ()
                    let xPy, vPy = pyTensor (x.toFloat64Array ()) x.shape "float32", pyTensor (v.toFloat64Array ()) v.shape "float32"
                    let py =
                        runPython
                            $"""
nn = torch.nn
x = {xPy}
v = {vPy}
def seeded(seed, make):
    torch.manual_seed(seed)
    return make()
lin = seeded(1, lambda: nn.Linear(3, 4))
conv = seeded(2, lambda: nn.Conv2d(6, 4, 3, stride=2, padding=1, dilation=1))
convt = seeded(3, lambda: nn.ConvTranspose2d(6, 2, 4, stride=2, padding=1, output_padding=1))
bn = nn.BatchNorm2d(6)
bn_cumulative = nn.BatchNorm1d(3, momentum=None)
out = {{'linear': lin(v), 'conv2d': conv(x), 'conv_transpose2d': convt(x)}}
for i in range(3):
    out[f'bn_train{{i}}'] = bn(x * (i + 1) + i)
    out[f'bn1d_train{{i}}'] = bn_cumulative(v * (i + 1) - i)
out['running_mean'], out['running_var'] = bn.running_mean, bn.running_var
out['running_mean_1d'], out['running_var_1d'] = bn_cumulative.running_mean, bn_cumulative.running_var
bn.eval()
out['bn_eval'] = bn(x)
print(json.dumps({{k: t.detach().flatten().tolist() for k, t in out.items()}}))
"""
                    let expect name (t: Tensor) = assertClose name 1e-5 1e-6 (floats (py.GetProperty name)) (t.toFloat64Array ())
                    let seeded (seed: int64) make =
                        use g = new Generator(seed)
                        make g
                    let lin = seeded 1L (fun g -> Linear.create (g, 3, 4))
                    let conv = seeded 2L (fun g -> Conv2d.create (g, 6, 4, 3, stride = 2, padding = 1))
                    let convt = seeded 3L (fun g -> ConvTranspose2d.create (g, 6, 2, 4, stride = 2, padding = 1, outputPadding = 1))
                    let bn = BatchNorm.create2d 6
                    let bnCumulative = BatchNorm.create1d (3, momentum = None)
                    expect "linear" (lin.forward v)
                    expect "conv2d" (conv.forward x)
                    expect "conv_transpose2d" (convt.forward x)
                    for i in 0..2 do
                        expect $"bn_train{i}" (bn.forward (x * float (i + 1) + float i, training = true))
                        expect $"bn1d_train{i}" (bnCumulative.forward (v * float (i + 1) - float i, training = true))
                    expect "running_mean" bn.running_mean
                    expect "running_var" bn.running_var
                    expect "running_mean_1d" bnCumulative.running_mean
                    expect "running_var_1d" bnCumulative.running_var
                    Expect.equal (bn.num_batches_tracked.item ()) 3.0 "bn.num_batches_tracked.item ()"
                    expect "bn_eval" (bn.forward (x, training = false))
                    for layer in [ lin.parameters; conv.parameters; convt.parameters; bn.parameters; bnCumulative.parameters ] do
                        layer.Dispose())
        ]
        testList "Layers" [
            testCase "batch norm rejects inputs of the wrong rank" <| fun () ->
                use scope = new TensorScope()
                let bn = BatchNorm.create2d 3
                let e = raises<ArgumentException> (fun () -> bn.forward (torch.zeros [| 4L; 3L |], true) |> ignore)
                Expect.stringContains e.Message "BatchNorm2d expects 4D input, got 2D" "e.Message"
            testCase "dropout drops a fraction p and rescales, only in training" <| fun () ->
                use scope = new TensorScope()
                use g = new Generator(5L)
                let d = Dropout.create 0.3
                let x = torch.ones [| 100000L |]
                let y = d.forward (x, true, g)
                let kept = y.ne(0.0).``to``(Float64).mean().item ()
                within (0.7 - 0.005) (0.7 + 0.005) kept "kept"
                Expect.floatClose (digits 5) (y.max().item ()) (1.0 / 0.7) "y.max().item ()"
                Expect.isTrue ((d.forward (x, false)).equal x) "(d.forward (x, false)).equal x"
                raises<ArgumentException> (fun () -> Dropout.create 1.5 |> ignore) |> ignore
        ]
        testList "Collections" [
            testCase "composed names, buffers and counts follow PyTorch" <| fun () ->
                use g = new Generator(1L)
                use p = encoder g
                Expect.sequenceEqual (p.named |> Array.map fst) [ "enc.conv1.weight"; "enc.conv1.bias"; "enc.bn1.weight"; "enc.bn1.bias"; "enc.conv2.weight" ] "p.named |> Array.map fst"
                Expect.sequenceEqual (p.buffers |> Array.map fst) [ "enc.bn1.running_mean"; "enc.bn1.running_var"; "enc.bn1.num_batches_tracked" ] "p.buffers |> Array.map fst"
                // conv1 4*1*3*3 + 4, bn1 4 + 4, conv2 2*4*3*3.
                Expect.equal p.count (36L + 4L + 8L + 72L) "p.count"
                Expect.isTrue (p.tensors |> Array.forall (fun t -> t.requires_grad)) "p.tensors |> Array.forall (fun t -> t.requires_grad)"
                Expect.isFalse (p.["enc.bn1.running_var"].requires_grad) "p.[\"enc.bn1.running_var\"].requires_grad"
            testCase "a state dict loads into a fresh model and mismatches are named" <| fun () ->
                use g1 = new Generator(1L)
                use g2 = new Generator(2L)
                use a = encoder g1
                use b = encoder g2
                Expect.isFalse (a.["enc.conv1.weight"].equal b.["enc.conv1.weight"]) "a.[\"enc.conv1.weight\"].equal b.[\"enc.conv1.weight\"]"
                (use state = a.state_dict () in b.load_state_dict state)
                for (name, x), (_, y) in Array.zip (Array.append a.named a.buffers) (Array.append b.named b.buffers) do
                    Expect.isTrue (x.equal y) $"{name} differs after load_state_dict"
                // The state dict aliases the model: what it holds is what the model holds now.
                use state = a.state_dict ()
                (use _ = torch.no_grad () in a.["enc.conv1.bias"].add_ 1.0 |> ignore)
                Expect.isTrue (state.["enc.conv1.bias"].equal a.["enc.conv1.bias"]) "state.[\"enc.conv1.bias\"].equal a.[\"enc.conv1.bias\"]"
                use partial = new StateDict([ "enc.conv1.weight", torch.zeros [| 4L; 1L; 3L; 3L |]; "enc.extra", torch.zeros [| 1L |] ])
                let e = raises<ArgumentException> (fun () -> b.load_state_dict partial)
                Expect.stringContains e.Message "missing key enc.conv1.bias" "e.Message"
                Expect.stringContains e.Message "unexpected key enc.extra" "e.Message"
                use wrong = new StateDict([ "enc.conv1.bias", torch.zeros [| 5L |] ])
                let e = raises<ArgumentException> (fun () -> b.load_state_dict (wrong, strict = false))
                Expect.stringContains e.Message "size mismatch for enc.conv1.bias" "e.Message"
                // Non-strict loading copies what matches and leaves the rest.
                use zeros = new StateDict([ "enc.conv1.weight", torch.zeros [| 4L; 1L; 3L; 3L |] ])
                b.load_state_dict (zeros, strict = false)
                Expect.equal (b.["enc.conv1.weight"].abs().sum().item ()) 0.0 "b.[\"enc.conv1.weight\"].abs().sum().item ()"
            testCase "moving to the device a tensor is on keeps the same tensors" <| fun () ->
                use g = new Generator(1L)
                use p = encoder g
                let before = p.["enc.conv1.weight"]
                use copy = before.clone ()
                p.``to`` Cpu
                Expect.isTrue (obj.ReferenceEquals(before, p.["enc.conv1.weight"])) "p.[\"enc.conv1.weight\"] is before"
                Expect.isTrue (before.equal copy) "before.equal copy"
            testCase "collections reject duplicate names and misfiled tensors" <| fun () ->
                use w = torch.zeros([| 2L |]).requires_grad_ ()
                use b = torch.zeros [| 2L |]
                raises<ArgumentException> (fun () -> Parameters.create [ "w", w; "w", w ] |> ignore) |> ignore
                raises<ArgumentException> (fun () -> Parameters.create [ "b", b ] |> ignore) |> ignore
                raises<ArgumentException> (fun () -> Parameters.create ([], [ "w", w ]) |> ignore) |> ignore
        ]
    ]
