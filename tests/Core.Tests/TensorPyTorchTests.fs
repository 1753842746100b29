/// Op values against PyTorch's own numbers (same libtorch through /usr/bin/python3).
module Research.Core.Tests.TensorPyTorchTests

open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Tests.TensorTestSupport

[<Tests>]
let tests =
    testList "TensorPyTorchTests" [
        testList "PyTorchValues" [
            testCase "nn.functional ops match PyTorch" <| fun () ->
                withPyTorch (fun () ->
                    use scope = new TensorScope()
                    let xv = (randn64 11L [ 2; 3; 6; 6 ]).toFloat64Array ()
                    let wv = (randn64 12L [ 4; 3; 3; 3 ]).toFloat64Array ()
                    let bv = (randn64 13L [ 4 ]).toFloat64Array ()
                    let tv = (randn64 14L [ 3; 4; 2; 2 ]).toFloat64Array ()
                    let lv = (randn64 15L [ 5; 4 ]).toFloat64Array ()
                    let py =
                        runPython $"""
d = torch.float64
x = torch.tensor({pyList xv}, dtype=d).reshape(2, 3, 6, 6)
w = torch.tensor({pyList wv}, dtype=d).reshape(4, 3, 3, 3)
b = torch.tensor({pyList bv}, dtype=d)
wt = torch.tensor({pyList tv}, dtype=d).reshape(3, 4, 2, 2)
l = torch.tensor({pyList lv}, dtype=d).reshape(5, 4)
F = torch.nn.functional
y = torch.tensor([0., 1., 1., 0.], dtype=d).expand(5, 4)
labels = torch.tensor([3, 0, 1, 1, 2])
rm, rv = torch.zeros(3, dtype=d), torch.ones(3, dtype=d)
bn = F.batch_norm(x, rm, rv, training=True, momentum=0.1, eps=1e-5)
r = {{
  'conv2d': F.conv2d(x, w, b, stride=2, padding=1),
  'conv_transpose2d': F.conv_transpose2d(x, wt, None, stride=2, padding=1, output_padding=1),
  'batch_norm': bn, 'running_mean': rm, 'running_var': rv,
  'max_pool2d': F.max_pool2d(x, 2), 'avg_pool2d': F.avg_pool2d(x, 3, stride=2, padding=1),
  'interpolate': F.interpolate(x, scale_factor=2, mode='nearest'),
  'pad': F.pad(x, (1, 2, 0, 1), value=0.5),
  'bce_logits': F.binary_cross_entropy_with_logits(l, y),
  'bce_logits_sum_pos': F.binary_cross_entropy_with_logits(l, y, pos_weight=torch.full((4,), 2.0, dtype=d), reduction='sum'),
  'bce': F.binary_cross_entropy(torch.sigmoid(l), y, reduction='none'),
  'cross_entropy': F.cross_entropy(l, labels), 'cross_entropy_smooth': F.cross_entropy(l, labels, label_smoothing=0.1),
  'nll': F.nll_loss(F.log_softmax(l, 1), labels, reduction='sum'), 'mse': F.mse_loss(l, y),
  'softplus': F.softplus(l, beta=2, threshold=1), 'logsigmoid': F.logsigmoid(l), 'gelu': F.gelu(l), 'elu': F.elu(l, 0.5),
  'leaky_relu': F.leaky_relu(l, 0.2), 'log_softmax': F.log_softmax(l, 1), 'softmax': F.softmax(l, 0),
  'logsumexp': torch.logsumexp(l, 1), 'std': l.std(0), 'lgamma': torch.lgamma(l.abs() + 0.5),
  'erfc': torch.erfc(l * 3), 'group_norm': F.group_norm(x, 3, b[:3], b[1:]), 'group_norm_one': F.group_norm(x, 1),
}}
print(json.dumps({{k: v.flatten().tolist() for k, v in r.items()}}))
"""
                    let x = f64 [ 2; 3; 6; 6 ] xv
                    let w = f64 [ 4; 3; 3; 3 ] wv
                    let bias = f64 [ 4 ] bv
                    let wt = f64 [ 3; 4; 2; 2 ] tv
                    let l = f64 [ 5; 4 ] lv
                    let y = (f64 [ 4 ] [| 0.0; 1.0; 1.0; 0.0 |]).expand (5L, 4L)
                    let labels = torch.tensor [| 3L; 0L; 1L; 1L; 2L |]
                    let rm, rv = torch.zeros ([| 3L |], Float64), torch.ones ([| 3L |], Float64)
                    let bn = F.batch_norm (x, rm, rv, training = true, momentum = 0.1, eps = 1e-5)
                    let ours =
                        [ "conv2d", F.conv2d (x, w, bias, stride = 2, padding = 1)
                          "conv_transpose2d", F.conv_transpose2d (x, wt, stride = 2, padding = 1, output_padding = 1)
                          "batch_norm", bn
                          "running_mean", rm
                          "running_var", rv
                          "max_pool2d", F.max_pool2d (x, 2)
                          "avg_pool2d", F.avg_pool2d (x, 3, stride = 2, padding = 1)
                          "interpolate", F.interpolate (x, scale_factor = 2.0)
                          "pad", F.pad (x, [| 1; 2; 0; 1 |], 0.5)
                          "bce_logits", F.binary_cross_entropy_with_logits (l, y)
                          "bce_logits_sum_pos",
                          F.binary_cross_entropy_with_logits (l, y, pos_weight = torch.full ([| 4L |], 2.0, Float64), reduction = "sum")
                          "bce", F.binary_cross_entropy (l.sigmoid (), y, reduction = "none")
                          "cross_entropy", F.cross_entropy (l, labels)
                          "cross_entropy_smooth", F.cross_entropy (l, labels, label_smoothing = 0.1)
                          "nll", F.nll_loss (F.log_softmax (l, 1), labels, reduction = "sum")
                          "mse", F.mse_loss (l, y)
                          "softplus", F.softplus (l, beta = 2.0, threshold = 1.0)
                          "logsigmoid", F.logsigmoid l
                          "gelu", F.gelu l
                          "elu", F.elu (l, 0.5)
                          "leaky_relu", F.leaky_relu (l, 0.2)
                          "log_softmax", F.log_softmax (l, 1)
                          "softmax", F.softmax (l, 0)
                          "logsumexp", l.logsumexp 1
                          "std", l.std 0
                          "lgamma", (l.abs () + 0.5).lgamma ()
                          "erfc", (l * 3.0).erfc ()
                          "group_norm", F.group_norm (x, 3, bias.narrow (0, 0L, 3L), bias.narrow (0, 1L, 3L))
                          "group_norm_one", F.group_norm (x, 1) ]
                    for name, t in ours do
                        assertClose name 1e-12 1e-12 (floats (py.GetProperty name)) (t.flatten().toFloat64Array ()))
            testCase "seeded generators draw the same numbers as PyTorch" <| fun () ->
                withPyTorch (fun () ->
                    use scope = new TensorScope()
                    let py =
                        runPython """
g = torch.Generator().manual_seed(2024)
r = {'randn': torch.randn(7, generator=g, dtype=torch.float64), 'rand': torch.rand(5, generator=g),
     'randperm': torch.randperm(9, generator=g), 'randint': torch.randint(0, 10, (6,), generator=g),
     'normal': torch.empty(4).normal_(2.0, 3.0, generator=g), 'bernoulli': torch.bernoulli(torch.full((8,), 0.4), generator=g)}
print(json.dumps({k: v.double().tolist() for k, v in r.items()}))
"""
                    use g = new Generator(2024L)
                    let ours =
                        [ "randn", torch.randn ([| 7L |], Float64, generator = g)
                          "rand", torch.rand ([| 5L |], generator = g)
                          "randperm", torch.randperm (9L, generator = g)
                          "randint", torch.randint (0L, 10L, [| 6L |], generator = g)
                          "normal", torch.empty([| 4L |]).normal_ (2.0, 3.0, generator = g)
                          "bernoulli", torch.bernoulli (torch.full ([| 8L |], 0.4), generator = g) ]
                    for name, t in ours do
                        Expect.equal (t.toFloat64Array ()) (floats (py.GetProperty name)) "t.toFloat64Array ()")
            testCase "printing matches PyTorch's str" <| fun () ->
                withPyTorch (fun () ->
                    use scope = new TensorScope()
                    let py =
                        runPython """
cases = [torch.tensor([[1.5, -2.25], [3.0, 4.125]]), torch.tensor([1., 2., 3.], dtype=torch.float64),
         torch.arange(6).reshape(2, 3), torch.tensor([True, False]), torch.zeros(2, 2, 2),
         torch.tensor([1e-5, 1.0]), torch.tensor([1., 2000.]), torch.tensor([123456.5, -0.25]), torch.tensor(3.5), torch.tensor([0.5, -1.0]).requires_grad_()]
print(json.dumps([str(c) for c in cases]))
"""
                    let ours =
                        [ torch.tensor ([| 1.5f; -2.25f; 3.0f; 4.125f |], [| 2L; 2L |])
                          torch.tensor [| 1.0; 2.0; 3.0 |]
                          torch.arange(6.0, Dtype.Int64).reshape (2L, 3L)
                          torch.tensor [| true; false |]
                          torch.zeros [| 2L; 2L; 2L |]
                          torch.tensor [| 1e-5f; 1.0f |]
                          torch.tensor [| 1.0f; 2000.0f |]
                          torch.tensor [| 123456.5f; -0.25f |]
                          torch.scalar_tensor 3.5
                          (torch.tensor [| 0.5f; -1.0f |]).requires_grad_ () ]
                    let expected = [ for e in py.EnumerateArray() -> e.GetString() ]
                    Expect.equal (ours |> List.map string) expected "ours |> List.map string")
        ]
    ]
