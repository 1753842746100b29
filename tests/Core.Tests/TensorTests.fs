/// Values of the basic tensor operations against plain .NET computations.
module Research.Core.Tests.TensorTests

open System
open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Tests.TensorTestSupport

let a = [| 1.5; -2.0; 3.25; 0.5; 4.0; -1.0 |]
let b = [| 2.0; 0.5; -1.5; 3.0; -0.25; 2.5 |]

[<Tests>]
let tests =
    testList "TensorTests" [
        testCase "arrays round trip in every dtype with their shape" <| fun () ->
            use scope = new TensorScope()
            let x = torch.tensor ([| 1.0f; 2.5f; -3.0f; 4.0f; 5.0f; 6.0f |], [| 2L; 3L |])
            Expect.equal x.shape [| 2L; 3L |] "x.shape"
            Expect.equal (x.dim, x.numel, x.dtype, x.device) (2, 6L, Float32, Cpu) "(x.dim, x.numel, x.dtype, x.device)"
            Expect.equal (x.toFloat32Array ()) [| 1.0f; 2.5f; -3.0f; 4.0f; 5.0f; 6.0f |] "x.toFloat32Array ()"
            Expect.equal ((f64 [ 3; 2 ] a).toFloat64Array ()) a "(f64 [ 3; 2 ] a).toFloat64Array ()"
            Expect.equal ((torch.tensor [| 7L; -8L; 9L |]).toInt64Array ()) [| 7L; -8L; 9L |] "(torch.tensor [| 7L; -8L; 9L |]).toInt64Array ()"
            Expect.equal ((torch.tensor [| true; false; true |]).toArray<bool> ()) [| true; false; true |] "(torch.tensor [| true; false; true |]).toArray<bool> ()"
            Expect.equal ((torch.tensor [| 0uy; 255uy |]).toArray<byte> ()) [| 0uy; 255uy |] "(torch.tensor [| 0uy; 255uy |]).toArray<byte> ()"
            // Conversion on the way out follows the requested element type.
            Expect.equal (x.toInt64Array ()) [| 1L; 2L; -3L; 4L; 5L; 6L |] "x.toInt64Array ()"
            Expect.equal ((torch.tensor [| 4.0 |]).item ()) 4.0 "(torch.tensor [| 4.0 |]).item ()"
        testCase "arithmetic operators match element-wise .NET arithmetic" <| fun () ->
            use scope = new TensorScope()
            let x, y = f64 [ 2; 3 ] a, f64 [ 2; 3 ] b
            let check name (t: Tensor) (f: float -> float -> float) = assertClose name 1e-15 0.0 (Array.map2 f a b) (t.toFloat64Array ())
            check "x + y" (x + y) (+)
            check "x - y" (x - y) (-)
            check "x * y" (x * y) (*)
            check "x / y" (x / y) (/)
            check "x.add(y, 3)" (x.add (y, alpha = 3.0)) (fun p q -> p + 3.0 * q)
            check "x.sub(y, 2)" (x.sub (y, alpha = 2.0)) (fun p q -> p - 2.0 * q)
            check "|x| ** y" (x.abs () ** y) (fun p q -> Math.Pow(abs p, q))
            check "x + 2" (x + 2.0) (fun p _ -> p + 2.0)
            check "2 - x" (2.0 - x) (fun p _ -> 2.0 - p)
            check "3 * x" (3.0 * x) (fun p _ -> 3.0 * p)
            check "1 / x" (1.0 / x) (fun p _ -> 1.0 / p)
            check "x / 4" (x / 4.0) (fun p _ -> p / 4.0)
            check "-x" (-x) (fun p _ -> -p)
            check "x ** 2" (x ** 2.0) (fun p _ -> p * p)
            check "2 ** x" (torch.pow (2.0, x)) (fun p _ -> Math.Pow(2.0, p))
            check "maximum" (torch.maximum (x, y)) max
            check "minimum" (torch.minimum (x, y)) min
        testCase "element-wise functions match System.Math" <| fun () ->
            use scope = new TensorScope()
            let x = f64 [ 6 ] a
            let pos = x.abs () + 0.1
            let posA = a |> Array.map (fun v -> abs v + 0.1)
            let check name (t: Tensor) (xs: float[]) (f: float -> float) = assertClose name 1e-14 1e-15 (Array.map f xs) (t.toFloat64Array ())
            check "exp" (x.exp ()) a Math.Exp
            check "log" (pos.log ()) posA Math.Log
            check "log1p" (pos.log1p ()) posA (fun v -> Math.Log(1.0 + v))
            check "expm1" (x.expm1 ()) a (fun v -> Math.Exp v - 1.0)
            check "sqrt" (pos.sqrt ()) posA Math.Sqrt
            check "rsqrt" (pos.rsqrt ()) posA (fun v -> 1.0 / Math.Sqrt v)
            check "sin" (x.sin ()) a Math.Sin
            check "cos" (x.cos ()) a Math.Cos
            check "tanh" (x.tanh ()) a Math.Tanh
            check "sigmoid" (x.sigmoid ()) a (fun v -> 1.0 / (1.0 + Math.Exp -v))
            check "relu" (x.relu ()) a (fun v -> max v 0.0)
            check "softplus" (x.softplus ()) a (fun v -> Math.Log(1.0 + Math.Exp v))
            check "softplus beta 2" (x.softplus (beta = 2.0)) a (fun v -> Math.Log(1.0 + Math.Exp(2.0 * v)) / 2.0)
            check "logsigmoid" (x.logsigmoid ()) a (fun v -> -Math.Log(1.0 + Math.Exp -v))
            check "square" (x.square ()) a (fun v -> v * v)
            check "sign" (x.sign ()) a (fun v -> float (sign v))
            check "floor" (x.floor ()) a Math.Floor
            check "clamp" (x.clamp (-1.0, 2.0)) a (fun v -> max -1.0 (min 2.0 v))
            check "clamp min only" (x.clamp (min = 0.75)) a (fun v -> max 0.75 v)
        testCase "reductions over all and over chosen dimensions" <| fun () ->
            use scope = new TensorScope()
            let x = f64 [ 2; 3 ] a
            let rows = [| a.[0..2]; a.[3..5] |]
            let cols = Array.init 3 (fun j -> [| a.[j]; a.[j + 3] |])
            let close name (e: float[]) (t: Tensor) = assertClose name 1e-14 1e-14 e (t.toFloat64Array ())
            close "sum" [| Array.sum a |] (x.sum ())
            close "sum dim 1" (rows |> Array.map Array.sum) (x.sum 1)
            close "sum dim 0" (cols |> Array.map Array.sum) (x.sum 0)
            close "mean" [| Array.average a |] (x.mean ())
            close "mean dims [0;1]" [| Array.average a |] (x.mean [| 0; 1 |])
            close "max dim 1" (rows |> Array.map Array.max) (x.max 1)
            close "min" [| Array.min a |] (x.min ())
            close "prod dim 0" (cols |> Array.map (Array.fold (*) 1.0)) (x.prod 0)
            close "logsumexp dim 1" (rows |> Array.map (fun r -> log (r |> Array.sumBy exp))) (x.logsumexp 1)
            let var (r: float[]) = let m = Array.average r in (r |> Array.sumBy (fun v -> (v - m) ** 2.0)) / float (r.Length - 1)
            close "var dim 1 (unbiased)" (rows |> Array.map var) (x.var 1)
            close "std (unbiased)" [| sqrt (var a) |] (x.std ())
            close "std biased" [| sqrt (var a * 5.0 / 6.0) |] (x.std (unbiased = false))
            Expect.equal ((x.sum (1, keepdim = true)).shape) [| 2L; 1L |] "(x.sum (1, keepdim = true)).shape"
            Expect.equal ((x.argmax 1).toInt64Array ()) [| 2L; 1L |] "(x.argmax 1).toInt64Array ()"
            Expect.equal ((x.argmin ()).toInt64Array ()) [| 1L |] "(x.argmin ()).toInt64Array ()"
            let sortedRows descending = rows |> Array.map (fun r -> (if descending then Array.sortDescending r else Array.sort r)[.. 1]) |> Array.concat
            close "topk 2 dim 1" (sortedRows true) (x.topk (2, 1))
            close "topk 2 dim 1, smallest" (sortedRows false) (x.topk (2, 1, largest = false))
        testCase "integer tensors keep integer arithmetic with integral scalars" <| fun () ->
            use scope = new TensorScope()
            let n = torch.arange (5.0, Dtype.Int64)
            Expect.equal ((n + 1.0).dtype) Dtype.Int64 "(n + 1.0).dtype"
            Expect.equal ((n + 2.0).toInt64Array ()) [| 2L; 3L; 4L; 5L; 6L |] "(n + 2.0).toInt64Array ()"
            Expect.equal ((n + 0.5).dtype) Float32 "(n + 0.5).dtype"
        testCase "comparisons give Bool tensors" <| fun () ->
            use scope = new TensorScope()
            let x, y = f64 [ 6 ] a, f64 [ 6 ] b
            let check (t: Tensor) f =
                Expect.equal t.dtype Bool "t.dtype"
                Expect.equal (t.toArray<bool> ()) (Array.map2 f a b) "t.toArray<bool> ()"
            check (x.gt y) (>)
            check (x.lt y) (<)
            check (x.ge y) (>=)
            check (x.le y) (<=)
            check (x.eq y) (=)
            check (x.gt 1.0) (fun p _ -> p > 1.0)
            Expect.isTrue ((x.isnan ()).toArray<bool> () |> Array.forall not) "(x.isnan ()).toArray<bool> () |> Array.forall not"
            Expect.isTrue (x.allclose (x + 1e-9)) "x.allclose (x + 1e-9)"
            Expect.isFalse (x.allclose (x + 1e-3)) "x.allclose (x + 1e-3)"
        testCase "shape operations rearrange values as row-major layout says" <| fun () ->
            use scope = new TensorScope()
            let x = f64 [ 2; 3 ] a
            Expect.equal ((x.t().contiguous ()).toFloat64Array ()) [| a.[0]; a.[3]; a.[1]; a.[4]; a.[2]; a.[5] |] "(x.t().contiguous ()).toFloat64Array ()"
            Expect.equal ((x.transpose (0, 1)).toFloat64Array ()) ((x.t ()).toFloat64Array ()) "(x.transpose (0, 1)).toFloat64Array ()"
            Expect.equal ((x.view (3L, 2L)).shape) [| 3L; 2L |] "(x.view (3L, 2L)).shape"
            Expect.equal ((x.reshape -1L).shape) [| 6L |] "(x.reshape -1L).shape"
            Expect.equal ((x.unsqueeze 1).shape) [| 2L; 1L; 3L |] "(x.unsqueeze 1).shape"
            Expect.equal ((x.unsqueeze(1).squeeze ()).shape) [| 2L; 3L |] "(x.unsqueeze(1).squeeze ()).shape"
            Expect.equal ((x.permute (1, 0)).shape) [| 3L; 2L |] "(x.permute (1, 0)).shape"
            Expect.equal ((x.flatten ()).shape) [| 6L |] "(x.flatten ()).shape"
            Expect.equal ((x.expand (4L, 2L, 3L)).shape) [| 4L; 2L; 3L |] "(x.expand (4L, 2L, 3L)).shape"
            Expect.equal ((torch.cat ([ x; x ], 0)).toFloat64Array ()) (Array.append a a) "(torch.cat ([ x; x ], 0)).toFloat64Array ()"
            Expect.equal ((torch.stack [ x; x ]).shape) [| 2L; 2L; 3L |] "(torch.stack [ x; x ]).shape"
            Expect.equal ((torch.cat ([ x; x ], 1)).shape) [| 2L; 6L |] "(torch.cat ([ x; x ], 1)).shape"
            let parts = torch.split (x, 2L, 1)
            Expect.equal (parts |> Array.map (fun p -> p.shape)) [| [| 2L; 2L |]; [| 2L; 1L |] |] "parts |> Array.map (fun p -> p.shape)"
            Expect.equal (parts.[1].toFloat64Array ()) [| a.[2]; a.[5] |] "parts.[1].toFloat64Array ()"
            Expect.equal ((torch.chunk (f64 [ 6 ] a, 3)).Length) 3 "(torch.chunk (f64 [ 6 ] a, 3)).Length"
            Expect.equal ((x.flip 0).toFloat64Array ()) [| a.[3]; a.[4]; a.[5]; a.[0]; a.[1]; a.[2] |] "(x.flip 0).toFloat64Array ()"
        testCase "F# indexing and slicing (inclusive ranges, negative from the end)" <| fun () ->
            use scope = new TensorScope()
            let x = f64 [ 2; 3 ] a
            Expect.equal (x.[1].toFloat64Array ()) (a.[3..5]) "x.[1].toFloat64Array ()"
            Expect.equal (x.[1, 1].item ()) (a.[4]) "x.[1, 1].item ()"
            Expect.equal (x.[0, 1..2].toFloat64Array ()) (a.[1..2]) "x.[0, 1..2].toFloat64Array ()"
            Expect.equal (x.[*, 1].toFloat64Array ()) [| a.[1]; a.[4] |] "x.[*, 1].toFloat64Array ()"
            Expect.equal (x.[*, ..1].shape) [| 2L; 2L |] "x.[*, ..1].shape"
            Expect.equal (x.[-1..].toFloat64Array ()) (a.[3..5]) "x.[-1..].toFloat64Array ()"
            Expect.equal (x.[*, -1].toFloat64Array ()) [| a.[2]; a.[5] |] "x.[*, -1].toFloat64Array ()"
            Expect.equal ((x.narrow (1, 1L, 2L)).[0].toFloat64Array ()) [| a.[1]; a.[2] |] "(x.narrow (1, 1L, 2L)).[0].toFloat64Array ()"
            Expect.equal ((x.slice (1, 0L, 3L, 2L)).[0].toFloat64Array ()) [| a.[0]; a.[2] |] "(x.slice (1, 0L, 3L, 2L)).[0].toFloat64Array ()"
            let idx = torch.tensor [| 2L; 0L |]
            Expect.equal ((x.index_select (1, idx)).toFloat64Array ()) [| a.[2]; a.[0]; a.[5]; a.[3] |] "(x.index_select (1, idx)).toFloat64Array ()"
            let g = torch.tensor ([| 1L; 1L; 2L; 0L |], [| 2L; 2L |])
            Expect.equal ((x.gather (1, g)).toFloat64Array ()) [| a.[1]; a.[1]; a.[5]; a.[3] |] "(x.gather (1, g)).toFloat64Array ()"
            // Writing through an index writes into x.
            let y = x.clone ()
            y.[0] <- torch.zeros ([| 3L |], Float64)
            Expect.equal (y.toFloat64Array ()) (Array.append [| 0.0; 0.0; 0.0 |] a.[3..5]) "y.toFloat64Array ()"
        testCase "where, masked_fill and in-place updates" <| fun () ->
            use scope = new TensorScope()
            let x, y = f64 [ 6 ] a, f64 [ 6 ] b
            let cond = x.gt y
            Expect.equal ((torch.where (cond, x, y)).toFloat64Array ()) (Array.map2 max a b) "(torch.where (cond, x, y)).toFloat64Array ()"
            Expect.equal ((x.masked_fill (cond, 0.0)).toFloat64Array ()) (Array.map2 (fun p q -> if p > q then 0.0 else p) a b) "(x.masked_fill (cond, 0.0)).toFloat64Array ()"
            let z = x.clone ()
            z.add_(y, alpha = 2.0).mul_ (0.5) |> ignore
            assertClose "add_ mul_" 1e-15 0.0 (Array.map2 (fun p q -> (p + 2.0 * q) * 0.5) a b) (z.toFloat64Array ())
            z.sub_(y).div_ (2.0) |> ignore
            assertClose "sub_ div_" 1e-15 0.0 (Array.map2 (fun p q -> ((p + 2.0 * q) * 0.5 - q) / 2.0) a b) (z.toFloat64Array ())
            z.copy_ y |> ignore
            Expect.equal (z.toFloat64Array ()) b "z.toFloat64Array ()"
            Expect.equal ((z.fill_ 7.0).toFloat64Array ()) (Array.create 6 7.0) "(z.fill_ 7.0).toFloat64Array ()"
            Expect.equal ((z.zero_ ()).toFloat64Array ()) (Array.zeroCreate 6) "(z.zero_ ()).toFloat64Array ()"
            Expect.equal ((x.clone().clamp_ (0.0, 1.0)).toFloat64Array ()) (a |> Array.map (fun v -> max 0.0 (min 1.0 v))) "(x.clone().clamp_ (0.0, 1.0)).toFloat64Array ()"
        testCase "factories" <| fun () ->
            use scope = new TensorScope()
            Expect.equal ((torch.zeros [| 2L; 3L |]).toFloat32Array ()) (Array.zeroCreate 6) "(torch.zeros [| 2L; 3L |]).toFloat32Array ()"
            Expect.equal ((torch.ones ([| 4L |], Float64)).toFloat64Array ()) (Array.create 4 1.0) "(torch.ones ([| 4L |], Float64)).toFloat64Array ()"
            Expect.equal ((torch.full ([| 2L |], 2.5, Float64)).toFloat64Array ()) (Array.create 2 2.5) "(torch.full ([| 2L |], 2.5, Float64)).toFloat64Array ()"
            Expect.equal ((torch.arange (0.0, 2.0, 0.5, Float64)).toFloat64Array ()) [| 0.0; 0.5; 1.0; 1.5 |] "(torch.arange (0.0, 2.0, 0.5, Float64)).toFloat64Array ()"
            Expect.equal ((torch.linspace (0.0, 1.0, 5, Float64)).toFloat64Array ()) [| 0.0; 0.25; 0.5; 0.75; 1.0 |] "(torch.linspace (0.0, 1.0, 5, Float64)).toFloat64Array ()"
            Expect.equal ((torch.eye (2, 3, Float64)).toFloat64Array ()) [| 1.0; 0.0; 0.0; 0.0; 1.0; 0.0 |] "(torch.eye (2, 3, Float64)).toFloat64Array ()"
            Expect.equal ((torch.scalar_tensor 3.0).item ()) 3.0 "(torch.scalar_tensor 3.0).item ()"
            Expect.equal ((torch.scalar_tensor 3.0).shape) [||] "(torch.scalar_tensor 3.0).shape"
        testCase "matmul and linear agree with the naive triple loop" <| fun () ->
            use scope = new TensorScope()
            let x, w, bias = randn64 1L [ 4; 3 ], randn64 2L [ 5; 3 ], randn64 3L [ 5 ]
            let xs, ws, bs = x.toFloat64Array (), w.toFloat64Array (), bias.toFloat64Array ()
            let expected = Array.init 20 (fun k -> let i, j = k / 5, k % 5 in bs.[j] + Seq.sum (seq { for r in 0..2 -> xs.[i * 3 + r] * ws.[j * 3 + r] }))
            assertClose "linear" 1e-14 1e-14 expected ((F.linear (x, w, bias)).toFloat64Array ())
            assertClose "matmul" 1e-14 1e-14 expected ((x.matmul(w.t ()) + bias).toFloat64Array ())
        testCase "no_grad stops recording and restores the previous mode" <| fun () ->
            use scope = new TensorScope()
            let x = (randn64 4L [ 3 ]).requires_grad_ ()
            (use _ = torch.no_grad ()
             Expect.isFalse (torch.is_grad_enabled ()) "torch.is_grad_enabled ()"
             Expect.isFalse ((x * 2.0).requires_grad) "(x * 2.0).requires_grad")
            Expect.isTrue (torch.is_grad_enabled ()) "torch.is_grad_enabled ()"
            Expect.isTrue ((x * 2.0).requires_grad) "(x * 2.0).requires_grad"
        testCase "backward accumulates into leaves and grad can be cleared" <| fun () ->
            use scope = new TensorScope()
            let x = (f64 [ 3 ] [| 1.0; 2.0; 3.0 |]).requires_grad_ ()
            Expect.isNull x.grad "x.grad"
            (x * x).sum().backward ()
            Expect.equal (x.grad.toFloat64Array ()) [| 2.0; 4.0; 6.0 |] "x.grad.toFloat64Array ()"
            (x * 3.0).sum().backward ()
            Expect.equal (x.grad.toFloat64Array ()) [| 5.0; 7.0; 9.0 |] "x.grad.toFloat64Array ()"
            x.grad <- null
            Expect.isNull x.grad "x.grad"
            Expect.isTrue x.is_leaf "x.is_leaf"
            Expect.isFalse ((x * 2.0).is_leaf) "(x * 2.0).is_leaf"
        testCase "devices parse as in PyTorch" <| fun () ->
            Expect.equal (Device.Parse "cpu") Cpu "Device.Parse \"cpu\""
            Expect.equal (Device.Parse "cuda:1") (Cuda 1) "Device.Parse \"cuda:1\""
            Expect.equal (Device.Parse "CUDA") (Cuda -1) "Device.Parse \"CUDA\""
            Expect.equal ((Cuda 1).ToString()) "cuda:1" "(Cuda 1).ToString()"
            raises<ArgumentException> (fun () -> Device.Parse "gpu" |> ignore) |> ignore
            Expect.isFalse (torch.cuda_is_available ()) "torch.cuda_is_available ()"
        // libtorch's and OpenBLAS's thread counts are the process's, so this runs alone.
        testSequenced <| testCase "threads can be set" (fun () ->
            let before = torch.get_num_threads ()
            torch.set_num_threads 1
            Expect.equal (torch.get_num_threads ()) 1 "torch.get_num_threads ()"
            torch.set_num_threads before
            Expect.isTrue (torch.set_openblas_threads 1) "OpenBLAS should be loaded with Debian's libtorch")
    ]
