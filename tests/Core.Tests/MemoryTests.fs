/// Native memory: scopes free what they own, LiveCount returns to its start, RSS stays flat
/// over thousands of training steps. These read process-wide counters, so they run serially.
module Research.Core.Tests.MemoryTests

open System
open System.IO
open System.Runtime.CompilerServices
open Xunit
open Xunit.Abstractions
open Research.Core
open Research.Core.Tests.TensorTestSupport

/// Runs pending finalizers (of tensors other tests leaked to the safety net) so counts are stable.
let private settle () =
    GC.Collect()
    GC.WaitForPendingFinalizers()
    GC.Collect()

/// Resident set size in bytes, from /proc/self/statm (second field, in pages).
let private rss () =
    let resident = (File.ReadAllText "/proc/self/statm").Split(' ').[1] |> int64
    resident * int64 Environment.SystemPageSize

[<Collection(ProcessWideState)>]
type Memory(output: ITestOutputHelper) =
    /// Creates n tensors and drops them; not inlined, so no stack slot keeps the last one alive.
    [<MethodImpl(MethodImplOptions.NoInlining)>]
    static member Leak(n: int) =
        for _ in 1..n do
            torch.ones [| 10L |] |> ignore

    [<Fact>]
    member _.``drawing samples in batches frees each batch's intermediates before the next`` () =
        settle ()
        let start = Tensor.LiveCount
        let liveAtEachBatch = Collections.Generic.List<int64>()
        // Each batch makes 20 intermediate tensors and returns one: only the returned ones may pile up.
        let make (count: int) =
            liveAtEachBatch.Add(Tensor.LiveCount - start)
            let mutable x = torch.ones [| int64 count; 3L |]
            for _ in 1..20 do x <- x + 1.0
            x
        use images = Research.Core.Training.SampleFiles.draw 700 make
        Assert.Equal<int64>([ 0L; 1L; 2L; 3L ], List.ofSeq liveAtEachBatch)
        Assert.Equal<int64[]>([| 700L; 3L |], images.shape)
        Assert.Equal(start + 1L, Tensor.LiveCount)
        use scope = new TensorScope()
        Assert.Equal(21.0, images.min().item ())

    [<Fact>]
    member _.``a scope frees what it owns except tensors moved out`` () =
        settle ()
        let start = Tensor.LiveCount
        let kept =
            use scope = new TensorScope()
            let a = torch.ones [| 3L |]
            let b = (a + a) * 2.0
            Assert.Equal(start + 3L, Tensor.LiveCount)
            scope.MoveToOuter b
        Assert.Equal(start + 1L, Tensor.LiveCount)
        Assert.Equal<float32[]>([| 4.0f; 4.0f; 4.0f |], kept.toFloat32Array ())
        kept.Dispose()
        Assert.Equal(start, Tensor.LiveCount)

    [<Fact>]
    member _.``nested scopes hand moved tensors to the enclosing scope`` () =
        settle ()
        let start = Tensor.LiveCount
        let detached =
            use outer = new TensorScope()
            let fromInner =
                use inner = new TensorScope()
                Assert.Same(inner, TensorScope.Current)
                torch.zeros([| 2L |]).add(1.0).MoveToOuterScope ()
            Assert.Same(outer, TensorScope.Current)
            Assert.False fromInner.IsDisposed
            Assert.Equal(1, outer.Count)
            let d = outer.Detach(torch.ones [| 1L |])
            Assert.Equal(start + 2L, Tensor.LiveCount)
            d
        Assert.Null TensorScope.Current
        Assert.Equal(start + 1L, Tensor.LiveCount)
        detached.Dispose()
        Assert.Equal(start, Tensor.LiveCount)
        // A tensor the scope does not own cannot be moved by it.
        use s = new TensorScope()
        Assert.Throws<ArgumentException>(fun () -> s.MoveToOuter detached |> ignore) |> ignore

    [<Fact>]
    member _.``scopes disposed out of order still free everything`` () =
        settle ()
        let start = Tensor.LiveCount
        let outer = new TensorScope()
        torch.ones [| 1L |] |> ignore
        let inner = new TensorScope()
        torch.ones [| 1L |] |> ignore
        outer.Dispose()
        // New tensors now go to the nearest live scope: inner.
        torch.ones [| 1L |] |> ignore
        Assert.Equal(2, inner.Count)
        inner.Dispose()
        inner.Dispose()
        Assert.Null TensorScope.Current
        Assert.Equal(start, Tensor.LiveCount)

    [<Fact>]
    member _.``the finalizer frees tensors nobody disposed`` () =
        settle ()
        let start = Tensor.LiveCount
        Memory.Leak 1000
        settle ()
        Assert.Equal(start, Tensor.LiveCount)

    [<Fact>]
    member _.``autodiff returns its results and frees its intermediates`` () =
        settle ()
        let x = torch.tensor [| 0.5; -1.0; 2.0 |]
        let start = Tensor.LiveCount
        let g = Autodiff.grad (fun x -> (x.sin () * x.exp ()).sum ()) x
        let h = Autodiff.hvp (fun x -> (x.sin () * x.exp ()).sum ()) x g
        Assert.Equal(start + 2L, Tensor.LiveCount)
        g.Dispose()
        h.Dispose()
        x.Dispose()
        Assert.Equal(start - 1L, Tensor.LiveCount)

    [<Fact>]
    member _.``3000 training steps in per-step scopes keep LiveCount and RSS flat`` () =
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
        settle ()
        let growth = rss () - rssAt500
        output.WriteLine $"RSS at step 500: {rssAt500 / 1048576L} MiB; growth to step 3000: {growth / 1024L} KiB; loss {firstLoss:F4} -> {lastLoss:F4}"
        Assert.Equal(start, Tensor.LiveCount)
        Assert.True(growth < 20L * 1024L * 1024L, $"RSS grew by {growth / 1024L} KiB between step 500 and 3000")
        Assert.True(lastLoss < 0.5 * firstLoss, $"training should reduce the loss: {firstLoss} -> {lastLoss}")
