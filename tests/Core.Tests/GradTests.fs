/// Every differentiable op's gradient against central finite differences in float64.
/// Each case is f(inputs) -> tensor; the test differentiates sum(f(inputs) * W) for a fixed
/// random W of f's output shape, so every output element's gradient is checked.
module Research.Core.Tests.GradTests

open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Tests.TensorTestSupport

/// Inputs of a case: shapes with a domain for the values.
type Input =
    | Normal of int64 list        // standard normal values
    | Positive of int64 list      // |normal| + 0.5
    | Unit of int64 list          // in (0.1, 0.9)

let private make seed input =
    match input with
    | Normal s -> randn64 seed s
    | Positive s -> (randn64 seed s).abs () + 0.5
    | Unit s -> (randn64 seed s).sigmoid () * 0.8 + 0.1

let private cases: (string * Input list * (Tensor[] -> Tensor)) list =
    let one f = fun (xs: Tensor[]) -> f xs.[0]
    let two f = fun (xs: Tensor[]) -> f xs.[0] xs.[1]
    let m = [ 3L; 4L ]
    [ // unary
      "exp", [ Normal m ], one (fun x -> x.exp ())
      "log", [ Positive m ], one (fun x -> x.log ())
      "log1p", [ Positive m ], one (fun x -> x.log1p ())
      "expm1", [ Normal m ], one (fun x -> x.expm1 ())
      "sqrt", [ Positive m ], one (fun x -> x.sqrt ())
      "rsqrt", [ Positive m ], one (fun x -> x.rsqrt ())
      "abs", [ Normal m ], one (fun x -> x.abs ())
      "neg", [ Normal m ], one (fun x -> -x)
      "square", [ Normal m ], one (fun x -> x.square ())
      "reciprocal", [ Positive m ], one (fun x -> x.reciprocal ())
      "sin", [ Normal m ], one (fun x -> x.sin ())
      "cos", [ Normal m ], one (fun x -> x.cos ())
      "tan", [ Unit m ], one (fun x -> x.tan ())
      "tanh", [ Normal m ], one (fun x -> x.tanh ())
      "sigmoid", [ Normal m ], one (fun x -> x.sigmoid ())
      "relu", [ Normal m ], one (fun x -> x.relu ())
      "softplus", [ Normal m ], one (fun x -> x.softplus ())
      "softplus beta 2 threshold 1.5", [ Normal m ], one (fun x -> F.softplus (x, beta = 2.0, threshold = 1.5))
      "logsigmoid", [ Normal m ], one (fun x -> x.logsigmoid ())
      "gelu", [ Normal m ], one (fun x -> x.gelu ())
      "silu", [ Normal m ], one (fun x -> x.silu ())
      "erf", [ Normal m ], one (fun x -> x.erf ())
      "erfc", [ Normal m ], one (fun x -> x.erfc ())
      "lgamma", [ Positive m ], one (fun x -> x.lgamma ())
      "digamma", [ Positive m ], one (fun x -> x.digamma ())
      "clamp inside range", [ Normal m ], one (fun x -> (x * 0.3).clamp (-0.35, 0.35))
      "leaky_relu", [ Normal m ], one (fun x -> F.leaky_relu (x, 0.2))
      "elu", [ Normal m ], one (fun x -> F.elu (x, 0.7))
      "pow 3", [ Normal m ], one (fun x -> x ** 3.0)
      "pow 2.5", [ Positive m ], one (fun x -> x ** 2.5)
      "2 ** x", [ Normal m ], one (fun x -> torch.pow (2.0, x))
      "1 / x", [ Positive m ], one (fun x -> 1.0 / x)
      "3 - x", [ Normal m ], one (fun x -> 3.0 - x)
      "softmax", [ Normal m ], one (fun x -> x.softmax 1)
      "log_softmax", [ Normal m ], one (fun x -> x.log_softmax 0)
      "cumsum", [ Normal m ], one (fun x -> x.cumsum 1)
      "tril", [ Normal [ 4L; 4L ] ], one (fun x -> x.tril ())
      // binary, with broadcasting
      "add alpha [3,4]+[4]", [ Normal m; Normal [ 4L ] ], two (fun x y -> x.add (y, alpha = 2.0))
      "sub [3,1]-[1,4]", [ Normal [ 3L; 1L ]; Normal [ 1L; 4L ] ], two (fun x y -> x - y)
      "mul [2,3,4]*[3,1]", [ Normal [ 2L; 3L; 4L ]; Normal [ 3L; 1L ] ], two (fun x y -> x * y)
      "div [3,4]/[4]", [ Normal m; Positive [ 4L ] ], two (fun x y -> x / y)
      "pow tensor", [ Positive m; Normal m ], two (fun x y -> x ** y)
      "maximum", [ Normal m; Normal m ], two (fun x y -> x.maximum y)
      "minimum", [ Normal m; Normal [ 1L; 4L ] ], two (fun x y -> torch.minimum (x, y))
      "atan2", [ Normal m; Normal m ], two (fun x y -> x.atan2 y)
      "xlogy", [ Normal m; Positive m ], two (fun x y -> x.xlogy y)
      "where", [ Normal m; Normal [ 4L ] ],
      two (fun x y -> torch.where ((torch.tensor [| true; false; false; true |]).expand (3L, 4L), x, y))
      // reductions
      "sum", [ Normal m ], one (fun x -> x.sum ())
      "sum dim 1", [ Normal m ], one (fun x -> x.sum 1)
      "mean dim 0 keepdim", [ Normal m ], one (fun x -> x.mean (0, keepdim = true))
      "mean dims", [ Normal [ 2L; 3L; 4L ] ], one (fun x -> x.mean [| 0; 2 |])
      "max dim 1", [ Normal m ], one (fun x -> x.max 1)
      "min", [ Normal m ], one (fun x -> x.min ())
      "logsumexp", [ Normal m ], one (fun x -> x.logsumexp 1)
      "std", [ Normal m ], one (fun x -> x.std 1)
      "var", [ Normal m ], one (fun x -> x.var ())
      "prod", [ Normal m ], one (fun x -> x.prod 1)
      // linear algebra
      "matmul", [ Normal m; Normal [ 4L; 2L ] ], two (fun x y -> x.matmul y)
      "matmul batched broadcast", [ Normal [ 2L; 3L; 4L ]; Normal [ 4L; 5L ] ], two (fun x y -> x.matmul y)
      "bmm", [ Normal [ 2L; 3L; 4L ]; Normal [ 2L; 4L; 2L ] ], two (fun x y -> x.bmm y)
      "outer", [ Normal [ 3L ]; Normal [ 4L ] ], two (fun x y -> x.outer y)
      "t", [ Normal m ], one (fun x -> x.t ())
      "linear", [ Normal [ 5L; 3L ]; Normal [ 4L; 3L ]; Normal [ 4L ] ], (fun xs -> F.linear (xs.[0], xs.[1], xs.[2]))
      "conv2d", [ Normal [ 2L; 3L; 5L; 5L ]; Normal [ 4L; 3L; 3L; 3L ]; Normal [ 4L ] ],
      (fun xs -> F.conv2d (xs.[0], xs.[1], xs.[2], stride = 2, padding = 1))
      "conv2d groups dilation", [ Normal [ 1L; 4L; 6L; 6L ]; Normal [ 2L; 2L; 2L; 2L ] ],
      two (fun x w -> F.conv2d (x, w, groups = 2, dilation = 2))
      "conv_transpose2d", [ Normal [ 2L; 4L; 3L; 3L ]; Normal [ 4L; 3L; 3L; 3L ]; Normal [ 3L ] ],
      (fun xs -> F.conv_transpose2d (xs.[0], xs.[1], xs.[2], stride = 2, padding = 1, output_padding = 1))
      "batch_norm training", [ Normal [ 4L; 3L; 2L; 2L ]; Positive [ 3L ]; Normal [ 3L ] ],
      (fun xs -> F.batch_norm (xs.[0], null, null, xs.[1], xs.[2], training = true))
      "group_norm", [ Normal [ 2L; 4L; 2L; 3L ]; Positive [ 4L ]; Normal [ 4L ] ],
      (fun xs -> F.group_norm (xs.[0], 2, xs.[1], xs.[2]))
      "batch_norm eval", [ Normal [ 4L; 3L ]; Positive [ 3L ]; Normal [ 3L ] ],
      (fun xs ->
          F.batch_norm (xs.[0], torch.tensor [| 0.1; -0.2; 0.3 |], torch.tensor [| 0.5; 1.5; 2.0 |], xs.[1], xs.[2]))
      // losses
      "binary_cross_entropy_with_logits", [ Normal m; Unit m ], two (fun x y -> F.binary_cross_entropy_with_logits (x, y))
      // libtorch does not differentiate with respect to pos_weight, so it is a constant.
      "bce with logits pos_weight sum", [ Normal m; Unit m ],
      two (fun x y -> F.binary_cross_entropy_with_logits (x, y, pos_weight = torch.tensor [| 0.5; 1.0; 2.0; 3.0 |], reduction = "sum"))
      // libtorch has no derivative of binary_cross_entropy for the target, so the target is a constant.
      "binary_cross_entropy", [ Unit m ],
      one (fun p -> F.binary_cross_entropy (p, (torch.linspace (0.0, 1.0, 12, Float64)).view (3L, 4L), reduction = "none"))
      "mse_loss", [ Normal m; Normal m ], two (fun x y -> F.mse_loss (x, y))
      "cross_entropy", [ Normal [ 5L; 4L ] ], one (fun x -> F.cross_entropy (x, torch.tensor [| 3L; 0L; 1L; 1L; 2L |]))
      "cross_entropy label smoothing", [ Normal [ 5L; 4L ] ],
      one (fun x -> F.cross_entropy (x, torch.tensor [| 3L; 0L; 1L; 1L; 2L |], label_smoothing = 0.2))
      "nll_loss", [ Normal [ 5L; 4L ] ], one (fun x -> F.nll_loss (x.log_softmax 1, torch.tensor [| 3L; 0L; 1L; 1L; 2L |]))
      // shapes and indexing
      "view", [ Normal m ], one (fun x -> x.view (2L, 6L))
      "reshape after permute", [ Normal [ 2L; 3L; 4L ] ], one (fun x -> x.permute(2, 0, 1).reshape (4L, 6L))
      "transpose", [ Normal [ 2L; 3L; 4L ] ], one (fun x -> x.transpose (0, 2))
      "expand", [ Normal [ 3L; 1L ] ], one (fun x -> x.expand (2L, 3L, 4L))
      "repeat", [ Normal [ 2L; 3L ] ], one (fun x -> x.repeat (2L, 2L))
      "flip", [ Normal m ], one (fun x -> x.flip 1)
      "cat", [ Normal m; Normal [ 2L; 4L ] ], two (fun x y -> torch.cat ([ x; y ], 0))
      "stack", [ Normal m; Normal m ], two (fun x y -> torch.stack ([ x; y ], 1))
      "split", [ Normal [ 5L; 2L ] ], one (fun x -> let p = torch.split (x, [| 2L; 3L |]) in p.[1] * 2.0 + p.[0].sum ())
      "index_select", [ Normal m ], one (fun x -> x.index_select (1, torch.tensor [| 3L; 0L; 3L |]))
      "gather", [ Normal m ], one (fun x -> x.gather (1, torch.tensor ([| 0L; 3L; 1L; 1L; 2L; 0L |], [| 3L; 2L |])))
      "narrow", [ Normal m ], one (fun x -> x.narrow (1, 1L, 2L))
      "F# slice", [ Normal m ], one (fun x -> x.[1.., 1..2])
      "select", [ Normal m ], one (fun x -> x.[2])
      "masked_fill", [ Normal m ], one (fun x -> x.masked_fill (x.gt 0.5, 0.0))
      "pad", [ Normal [ 1L; 2L; 3L; 3L ] ], one (fun x -> F.pad (x, [| 1; 2; 0; 1 |], 0.5))
      "max_pool2d", [ Normal [ 1L; 2L; 4L; 4L ] ], one (fun x -> F.max_pool2d (x, 2))
      "avg_pool2d", [ Normal [ 1L; 2L; 5L; 5L ] ], one (fun x -> F.avg_pool2d (x, 3, stride = 2, padding = 1))
      "interpolate nearest", [ Normal [ 1L; 2L; 3L; 3L ] ], one (fun x -> F.interpolate (x, scale_factor = 2.0))
      "dropout (seeded mask)", [ Normal m ],
      one (fun x ->
          use g = new Generator(17L)
          F.dropout (x, 0.3, true, g)) ]

let private gradientEqualsFiniteDifferences name inputSpecs (f: Tensor[] -> Tensor) () =
    use scope = new TensorScope()
    let inputs = inputSpecs |> List.mapi (fun i s -> make (int64 (100 + i)) s) |> List.toArray
    let weights = randn64 7L (List.ofArray (f inputs).shape)
    let objective (xs: Tensor[]) = (f xs * weights).sum ()
    let analytic = Autodiff.gradN objective inputs
    for i in 0 .. inputs.Length - 1 do
        let withInput (xi: Tensor) = objective (Array.updateAt i xi inputs)
        let numeric = numericGrad withInput inputs.[i] 1e-6
        assertClose $"{name}: d/d input {i}" 1e-6 1e-7 numeric (analytic.[i].toFloat64Array ())

[<Tests>]
let tests =
    testList "GradTests" [
        testList "gradient equals central finite differences" [
            for name, inputSpecs, f in cases -> testCase name (gradientEqualsFiniteDifferences name inputSpecs f)
        ]
    ]
