/// Seeded random numbers repeat exactly; generator state can be saved and restored.
module Research.Core.Tests.TensorRandomTests

open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Tests.TensorTestSupport

[<Tests>]
let tests =
    testList "TensorRandomTests" [
        testCase "the same generator seed gives the same numbers" <| fun () ->
            use scope = new TensorScope()
            let draw () =
                use g = new Generator(123L)
                (torch.randn ([| 100L |], generator = g)).toFloat32Array ()
            Expect.equal (draw ()) (draw ()) "draw ()"
            use g = new Generator(124L)
            Expect.notEqual ((torch.randn ([| 100L |], generator = g)).toFloat32Array ()) (draw ()) "(torch.randn ([| 100L |], generator = g)).toFloat32Array ()"
            Expect.equal g.seed 124L "g.seed"
        testCase "saving and restoring the generator state repeats the stream" <| fun () ->
            use scope = new TensorScope()
            use g = new Generator(7L)
            torch.rand ([| 10L |], generator = g) |> ignore
            let state = g.state
            let next () =
                [| yield! (torch.randn ([| 5L |], Float64, generator = g)).toFloat64Array ()
                   yield! (torch.rand ([| 5L |], Float64, generator = g)).toFloat64Array ()
                   yield! (torch.randperm (10L, generator = g)).toFloat64Array ()
                   yield! (torch.randint (0L, 100L, [| 5L |], generator = g)).toFloat64Array ()
                   yield! (torch.bernoulli (torch.full ([| 5L |], 0.5), generator = g)).toFloat64Array ()
                   yield! (torch.zeros([| 5L |]).normal_ (1.0, 2.0, generator = g)).toFloat64Array ()
                   yield! (torch.zeros([| 5L |]).uniform_ (-1.0, 1.0, generator = g)).toFloat64Array () |]
            let first = next ()
            g.state <- state
            Expect.equal (next ()) first "next ()"
        // The default generator is process-wide, so this runs outside the parallel tests.
        testSequenced <| testList "DefaultGenerator" [
            testCase "manual_seed repeats the default generator and the state restores it" <| fun () ->
                use scope = new TensorScope()
                let draw () =
                    torch.manual_seed 99L
                    (torch.randn [| 20L |]).toFloat32Array ()
                Expect.equal (draw ()) (draw ()) "draw ()"
                use d = Generator.Default
                Expect.equal d.seed 99L "d.seed"
                let state = d.state
                let first = (torch.rand [| 5L |]).toFloat32Array ()
                d.state <- state
                Expect.equal ((torch.rand [| 5L |]).toFloat32Array ()) first "(torch.rand [| 5L |]).toFloat32Array ()"
        ]
        testCase "random draws have the right support and moments" <| fun () ->
            use scope = new TensorScope()
            use g = new Generator(5L)
            let perm = (torch.randperm (1000L, generator = g)).toInt64Array ()
            Expect.equal (Array.sort perm) (Array.init 1000 int64) "Array.sort perm"
            let ints = (torch.randint (3L, 7L, [| 10000L |], generator = g)).toInt64Array ()
            Expect.isTrue (ints |> Array.forall (fun v -> v >= 3L && v < 7L)) "ints |> Array.forall (fun v -> v >= 3L && v < 7L)"
            Expect.equal (Array.distinct ints |> Array.sort) [| 3L; 4L; 5L; 6L |] "Array.distinct ints |> Array.sort"
            let u = (torch.rand ([| 100000L |], Float64, generator = g)).toFloat64Array ()
            Expect.isTrue (u |> Array.forall (fun v -> v >= 0.0 && v < 1.0)) "u |> Array.forall (fun v -> v >= 0.0 && v < 1.0)"
            // Mean of 1e5 uniforms: standard error 0.0009.
            within 0.495 0.505 (Array.average u) "Array.average u"
            let n = torch.randn ([| 100000L |], Float64, generator = g)
            within -0.01 0.01 ((n.mean ()).item ()) "(n.mean ()).item ()"
            within 0.99 1.01 ((n.std ()).item ()) "(n.std ()).item ()"
            let coin = torch.bernoulli (torch.full ([| 100000L |], 0.3, Float64), generator = g)
            within 0.295 0.305 ((coin.mean ()).item ()) "(coin.mean ()).item ()"
        testCase "dropout with a generator is repeatable and scales kept units by 1 over 1-p" <| fun () ->
            use scope = new TensorScope()
            let x = torch.ones ([| 10000L |], Float64)
            let drop seed =
                use g = new Generator(seed)
                F.dropout (x, 0.25, true, g)
            let d = (drop 3L).toFloat64Array ()
            Expect.equal ((drop 3L).toFloat64Array ()) d "(drop 3L).toFloat64Array ()"
            Expect.isTrue (d |> Array.forall (fun v -> v = 0.0 || abs (v - 1.0 / 0.75) < 1e-15)) "d |> Array.forall (fun v -> v = 0.0 || abs (v - 1.0 / 0.75) < 1e-15)"
            let kept = d |> Array.filter (fun v -> v <> 0.0) |> Array.length
            within 0.735 0.765 (float kept / 10000.0) "float kept / 10000.0"
            Expect.equal ((F.dropout (x, 0.25, false)).toFloat64Array ()) (x.toFloat64Array ()) "(F.dropout (x, 0.25, false)).toFloat64Array ()"
    ]
