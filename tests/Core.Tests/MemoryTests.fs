/// Native memory: scopes free what they own, LiveCount returns to its start, RSS stays flat
/// over thousands of training steps. These read process-wide counters, so they run serially.
module Research.Core.Tests.MemoryTests

open System
open System.Runtime.CompilerServices
open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Tests.TensorTestSupport

/// Creates n tensors and drops them; not inlined, so no stack slot keeps the last one alive.
[<MethodImpl(MethodImplOptions.NoInlining)>]
let private leak (n: int) =
    for _ in 1..n do
        torch.ones [| 10L |] |> ignore

[<Tests>]
let tests =
    testList "MemoryTests" [
        testSequenced <| testList "Memory" [
            testCase "drawing samples in batches frees each batch before the next; written to files, none is kept" <| fun () ->
                settle ()
                let folder = IO.Directory.CreateTempSubdirectory("research-samples-").FullName
                use _ = { new IDisposable with member _.Dispose() = IO.Directory.Delete(folder, true) }
                let start = Tensor.LiveCount
                let liveAtEachBatch = Collections.Generic.List<int64>()
                // Each batch makes 20 intermediate tensors and returns one: only the gathered images may stay.
                let make (count: int) =
                    liveAtEachBatch.Add(Tensor.LiveCount - start)
                    let mutable x = torch.arange(float (count * 16)).view(int64 count, 1L, 4L, 4L) / 3200.0
                    for _ in 1..20 do x <- x + 0.001
                    x
                let gathered =
                    use images = Research.Core.Training.SampleFiles.draw ignore 700 make
                    Expect.equal images.shape [| 700L; 1L; 4L; 4L |] "images.shape"
                    Expect.equal Tensor.LiveCount (start + 1L) "Tensor.LiveCount"
                    let written = Research.Core.Training.SampleFiles.write (IO.Path.Combine(folder, "all")) images
                    fst written |> IO.File.ReadAllBytes, snd written |> IO.File.ReadAllBytes
                // Gathered once: one tensor stays from the second batch on.
                Expect.sequenceEqual (List.ofSeq liveAtEachBatch) [ 0L; 1L; 1L; 1L ] "live tensors when each batch is made, gathered"
                liveAtEachBatch.Clear()
                // Each batch's end reports the images made so far (a long draw's progress).
                let made = Collections.Generic.List<int64>()
                let idx, png = Research.Core.Training.SampleFiles.writeDrawn made.Add (IO.Path.Combine(folder, "streamed")) 700 make
                Expect.sequenceEqual made [ 200L; 400L; 600L; 700L ] "images made at each report"
                // Streamed: nothing stays between batches, whatever n.
                Expect.sequenceEqual (List.ofSeq liveAtEachBatch) [ 0L; 0L; 0L; 0L ] "live tensors when each batch is made, streamed"
                Expect.equal Tensor.LiveCount start "Tensor.LiveCount after streaming"
                Expect.isTrue (IO.File.ReadAllBytes idx = fst gathered) "the streamed IDX file is the gathered one's"
                Expect.isTrue (IO.File.ReadAllBytes png = snd gathered) "the streamed grid is the gathered one's"
            testCase "a scope frees what it owns except tensors moved out" <| fun () ->
                settle ()
                let start = Tensor.LiveCount
                let kept =
                    use scope = new TensorScope()
                    let a = torch.ones [| 3L |]
                    let b = (a + a) * 2.0
                    Expect.equal Tensor.LiveCount (start + 3L) "Tensor.LiveCount"
                    scope.MoveToOuter b
                Expect.equal Tensor.LiveCount (start + 1L) "Tensor.LiveCount"
                Expect.equal (kept.toFloat32Array ()) [| 4.0f; 4.0f; 4.0f |] "kept.toFloat32Array ()"
                kept.Dispose()
                Expect.equal Tensor.LiveCount start "Tensor.LiveCount"
            testCase "nested scopes hand moved tensors to the enclosing scope" <| fun () ->
                settle ()
                let start = Tensor.LiveCount
                let detached =
                    use outer = new TensorScope()
                    let fromInner =
                        use inner = new TensorScope()
                        Expect.isTrue (obj.ReferenceEquals(inner, TensorScope.Current)) "TensorScope.Current is inner"
                        torch.zeros([| 2L |]).add(1.0).MoveToOuterScope ()
                    Expect.isTrue (obj.ReferenceEquals(outer, TensorScope.Current)) "TensorScope.Current is outer"
                    Expect.isFalse fromInner.IsDisposed "fromInner.IsDisposed"
                    Expect.equal outer.Count 1 "outer.Count"
                    let d = outer.Detach(torch.ones [| 1L |])
                    Expect.equal Tensor.LiveCount (start + 2L) "Tensor.LiveCount"
                    d
                Expect.isNull TensorScope.Current "TensorScope.Current"
                Expect.equal Tensor.LiveCount (start + 1L) "Tensor.LiveCount"
                detached.Dispose()
                Expect.equal Tensor.LiveCount start "Tensor.LiveCount"
                // A tensor the scope does not own cannot be moved by it.
                use s = new TensorScope()
                raises<ArgumentException> (fun () -> s.MoveToOuter detached |> ignore) |> ignore
            testCase "scopes disposed out of order still free everything" <| fun () ->
                settle ()
                let start = Tensor.LiveCount
                let outer = new TensorScope()
                torch.ones [| 1L |] |> ignore
                let inner = new TensorScope()
                torch.ones [| 1L |] |> ignore
                outer.Dispose()
                // New tensors now go to the nearest live scope: inner.
                torch.ones [| 1L |] |> ignore
                Expect.equal inner.Count 2 "inner.Count"
                inner.Dispose()
                inner.Dispose()
                Expect.isNull TensorScope.Current "TensorScope.Current"
                Expect.equal Tensor.LiveCount start "Tensor.LiveCount"
            testCase "the finalizer frees tensors nobody disposed" <| fun () ->
                settle ()
                let start = Tensor.LiveCount
                leak 1000
                settle ()
                Expect.equal Tensor.LiveCount start "Tensor.LiveCount"
            testCase "autodiff returns its results and frees its intermediates" <| fun () ->
                settle ()
                let x = torch.tensor [| 0.5; -1.0; 2.0 |]
                let start = Tensor.LiveCount
                let g = Autodiff.grad (fun x -> (x.sin () * x.exp ()).sum ()) x
                let h = Autodiff.hvp (fun x -> (x.sin () * x.exp ()).sum ()) x g
                Expect.equal Tensor.LiveCount (start + 2L) "Tensor.LiveCount"
                g.Dispose()
                h.Dispose()
                x.Dispose()
                Expect.equal Tensor.LiveCount (start - 1L) "Tensor.LiveCount"
            testCase "3000 training steps in per-step scopes keep LiveCount and RSS flat" <| fun () ->
                settle ()
                use setup = new TensorScope()
                use g = new Generator(1L)
                let x = torch.randn ([| 64L; 8L |], generator = g)
                let y = (x.sum (1, keepdim = true)).sin ()
                let ps =
                    [| torch.randn([| 32L; 8L |], generator = g).mul_(0.3).requires_grad_ ()
                       torch.zeros([| 32L |]).requires_grad_ ()
                       torch.randn([| 1L; 32L |], generator = g).mul_(0.2).requires_grad_ ()
                       torch.zeros([| 1L |]).requires_grad_ () |]
                let loss (ps: Tensor[]) = F.mse_loss (F.linear (F.linear(x, ps.[0], ps.[1]).tanh (), ps.[2], ps.[3]), y)
                let start = Tensor.LiveCount
                let mutable firstLoss, lastLoss, rssAt500 = nan, nan, 0L
                for step in 1..3000 do
                    use scope = new TensorScope()
                    // Both ways of differentiating: the functional one, and backward() into .grad.
                    let value, grads =
                        if step % 2 = 0 then
                            Autodiff.valueAndGrads loss ps
                        else
                            let l = loss ps
                            l.backward ()
                            let gs = ps |> Array.map (fun p -> p.grad)
                            for p in ps do
                                p.grad <- null
                            l, gs
                    (use _ = torch.no_grad ()
                     for p, gr in Array.zip ps grads do
                         p.sub_ (gr, alpha = 0.1) |> ignore)
                    if step = 1 then firstLoss <- value.item ()
                    if step = 3000 then lastLoss <- value.item ()
                    if step = 500 then
                        settle ()
                        rssAt500 <- rss ()
                expectFlatMemory "3000 steps, warm-up 500" start rssAt500
                output.WriteLine $"loss {firstLoss:F4} -> {lastLoss:F4}"
                Expect.isTrue (lastLoss < 0.5 * firstLoss) $"training should reduce the loss: {firstLoss} -> {lastLoss}"
        ]
    ]
