/// Shape properties with FsCheck: broadcasting, matmul shapes, view/reshape/permute round trips.
module Research.Core.Tests.BroadcastTests

open Expecto
open Research.Tests.Checks
open FsCheck
open FsCheck.FSharp
open Research.Core
open Research.Core.Tests.TensorTestSupport

let private config = { FsCheckConfig.defaultConfig with maxTest = 150 }

/// Two shapes broadcastable to a common one: each is a suffix of the result with some sizes set to 1.
let private broadcastablePair =
    gen {
        let! rank = Gen.choose (0, 4)
        let! result = Gen.listOfLength rank (Gen.choose (1, 4))
        let derive =
            gen {
                let! drop = Gen.choose (0, rank)
                let! ones = Gen.listOfLength rank (Gen.elements [ true; false; false ])
                return List.zip result ones |> List.skip drop |> List.map (fun (d, one) -> if one then 1 else d)
            }
        let! a = derive
        let! b = derive
        return a, b
    }

/// NumPy's rule, written independently: align right, sizes equal or 1.
let private broadcastShape (a: int list) (b: int list) =
    let n = max a.Length b.Length
    let pad (s: int list) = List.replicate (n - s.Length) 1 @ s
    List.map2 (fun x y -> if x = 1 then y elif y = 1 then x elif x = y then x else failwith "not broadcastable") (pad a) (pad b)

/// The element of a (shape sa) that broadcasting reads for the multi-index idx of the result.
let private broadcastRead (values: float[]) (sa: int list) (idx: int list) =
    let idx = List.skip (idx.Length - sa.Length) idx
    let strides = List.scanBack (*) sa 1 |> List.tail
    List.zip3 idx sa strides |> List.sumBy (fun (i, d, s) -> (if d = 1 then 0 else i) * s) |> fun k -> values.[k]

let private multiIndices (shape: int list) =
    List.foldBack (fun d acc -> [ for i in 0 .. d - 1 do for rest in acc -> i :: rest ]) shape [ [] ]

let private tensorOf (seed: int) (shape: int list) = randn64 (int64 seed) (List.map int64 shape)

[<Tests>]
let tests =
    testList "BroadcastTests" [
        testPropertyWithConfig config "binary ops broadcast as NumPy's rule says, with values of the explicit expansion" (
            let property (sa: int list, sb: int list) =
                use scope = new TensorScope()
                let a, b = tensorOf 1 sa, tensorOf 2 sb
                let av, bv = a.toFloat64Array (), b.toFloat64Array ()
                let expectedShape = broadcastShape sa sb
                let expected op = multiIndices expectedShape |> List.map (fun i -> op (broadcastRead av sa i) (broadcastRead bv sb i)) |> List.toArray
                let sum, prod, mx = a + b, a * b, a.maximum b
                let shapeOk = (sum.shape |> Array.map int |> List.ofArray) = expectedShape
                let valuesOk =
                    sum.toFloat64Array () = expected (+) && prod.toFloat64Array () = expected (*) && mx.toFloat64Array () = expected max
                // The same values through explicit expand.
                let target = List.map int64 expectedShape |> List.toArray
                let viaExpand = (a.expand target + b.expand target).toFloat64Array () = sum.toFloat64Array ()
                shapeOk && valuesOk && viaExpand
            Prop.forAll (Arb.fromGen broadcastablePair) property)
        testPropertyWithConfig config "shapes that do not broadcast are rejected by libtorch" (
            let property (n: int, m: int) =
                use scope = new TensorScope()
                let a, b = tensorOf 1 [ 2; n ], tensorOf 2 [ m ]
                try
                    (a + b) |> ignore
                    false
                with :? TorchException as e -> e.Message.Contains "must match the size"
            let sizes = gen { let! n = Gen.choose (2, 6) in let! d = Gen.choose (1, 4) in return n, n + d }
            Prop.forAll (Arb.fromGen sizes) property)
        testPropertyWithConfig config "matmul of batched matrices has shape batch x n x m and the naive values" (
            let shapes =
                gen {
                    let! rank = Gen.choose (0, 2)
                    let! batch = Gen.listOfLength rank (Gen.choose (1, 3))
                    let! n, k, m = Gen.zip3 (Gen.choose (1, 4)) (Gen.choose (1, 4)) (Gen.choose (1, 4))
                    let! bcast = Gen.elements [ true; false ]
                    return batch, n, k, m, bcast
                }
            let property (batch: int list, n, k, m, bcastRight: bool) =
                use scope = new TensorScope()
                let a = tensorOf 3 (batch @ [ n; k ])
                let b = tensorOf 4 (if bcastRight then [ k; m ] else batch @ [ k; m ])
                let c = a.matmul b
                let av, bv, cv = a.toFloat64Array (), b.toFloat64Array (), c.toFloat64Array ()
                let nb = List.fold (*) 1 batch
                let expected =
                    [| for t in 0 .. nb - 1 do
                         for i in 0 .. n - 1 do
                             for j in 0 .. m - 1 ->
                                 let bOff = if bcastRight then 0 else t * k * m
                                 Seq.sum (seq { for r in 0 .. k - 1 -> av.[t * n * k + i * k + r] * bv.[bOff + r * m + j] }) |]
                (c.shape |> Array.map int |> List.ofArray) = batch @ [ n; m ]
                && Array.forall2 (fun (e: float) (v: float) -> abs (e - v) <= 1e-12 * (1.0 + abs e)) expected cv
            Prop.forAll (Arb.fromGen shapes) property)
        testPropertyWithConfig config "view, reshape and permute round trips keep every value" (
            let shapes =
                gen {
                    let! dims = Gen.choose (1, 4) >>= fun r -> Gen.listOfLength r (Gen.choose (1, 4))
                    let! perm = Gen.shuffle [ 0 .. dims.Length - 1 ]
                    return dims, List.ofArray perm
                }
            let property (dims: int list, perm: int list) =
                use scope = new TensorScope()
                let x = tensorOf 5 dims
                let shape = List.map int64 dims |> List.toArray
                let n = Array.fold (*) 1L shape
                let flat = x.view n
                let back = flat.view shape
                let p = x.permute (List.toArray perm)
                let inverse = perm |> List.indexed |> List.sortBy snd |> List.map fst |> List.toArray
                let unpermuted = p.permute inverse
                let permutedShapeOk = p.shape = (perm |> List.map (fun d -> shape.[d]) |> List.toArray)
                // Reshaping a permuted (non-contiguous) tensor copies in the permuted order.
                let reshaped = p.reshape(n).reshape (p.shape)
                back.equal x && unpermuted.equal x && permutedShapeOk && reshaped.equal p
                && flat.toFloat64Array () = x.toFloat64Array ()
            Prop.forAll (Arb.fromGen shapes) property)
    ]
