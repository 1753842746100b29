namespace Research.Core.Training

open System
open System.Text
open Research.Core
open Research.Core.Distributed

/// Sums over the ranks on their way (DataParallel.SumLater): Wait gives them, once every rank has
/// given its values; the time spent waiting counts as time in the collectives.
[<Sealed>]
type PendingSums internal (values: Tensor, work: PendingCollective, clock: Diagnostics.Stopwatch) =
    member _.Wait() =
        clock.Start()
        try
            work.Wait()
            values.toFloat64Array ()
        finally
            clock.Stop()
    interface IDisposable with
        member _.Dispose() =
            (work :> IDisposable).Dispose()
            values.Dispose()

/// Data-parallel training over a process group, as the loop applies it, with the semantics of
/// PyTorch's DistributedDataParallel (Li et al., VLDB 2020) and the mechanism of its reducer: the
/// batch size is the global one, every rank takes a consecutive share of each global batch, and the
/// gradients are summed over the ranks in flat buckets while backward runs, each rank's weighted by
/// its share, so that the update equals one process's on the whole batch; the step waits for the
/// sums (as Horovod's DistributedOptimizer at step()). Rank 0, the leader, holds the run folder and
/// broadcasts the state. Disposing it releases the reducers Attach made.
[<Sealed>]
type DataParallel(group: ProcessGroup) =
    // Gradients cross in flat buckets of about this size, DDP's default bucket_cap_mb. DDP's smaller
    // first bucket (1 MB, to start sooner) made the MLP models' two ranks slower on the 2-core
    // machine (one run each: the MLP GAN 3.36 against 3.03 s, the VAE 2.46 against 2.04 s), where no
    // core is spare for the early allreduce's threads.
    static let bucketBytes = 25L <<< 20
    let mutable weight = 1.0
    let reducers = Collections.Generic.List<GradientReducer>()
    // Time spent in the training collectives (gradients and step figures), for `bench --ranks`.
    let collectives = Diagnostics.Stopwatch()

    member _.Group = group
    member _.Rank = group.Rank
    member _.WorldSize = group.WorldSize
    member _.IsLeader = group.Rank = 0

    /// The seed of rank r's generator for a run's seed: rank 0's is a single process's, the others'
    /// differ by the rank.
    static member Seed(seed: int, rank: int) = int64 seed + (int64 rank <<< 32)

    /// Seconds this rank has spent in the training steps' collectives (the waits for the gradients'
    /// sums at each step and for the steps' figures), waiting for the other ranks included.
    member _.CollectiveSeconds = collectives.Elapsed.TotalSeconds

    /// The consecutive share (start, length) of `rank` among `ranks` in a global batch of n images:
    /// equal shares, the first n % ranks ranks one image more.
    static member Share(n: int64, rank: int, ranks: int) =
        let q, r = n / int64 ranks, n % int64 ranks
        int64 rank * q + min (int64 rank) r, q + (if int64 rank < r then 1L else 0L)

    /// The weight of this rank's gradients in the step being taken: its share of the global batch
    /// for a mean objective, 1 for a sum, 0 for a rank without images in this batch. Set before the
    /// step's backward, whose gradients start crossing as it runs.
    member _.Weight
        with get () = weight
        and set (value: float) =
            weight <- value
            for r in reducers do r.Weight <- value

    /// The sums over the ranks of `values`.
    member dp.Sum(values: float[]) : float[] =
        use sums: PendingSums = dp.SumLater values
        sums.Wait()

    /// Starts summing `values` over the ranks and returns them on their way: the collective runs
    /// while this rank computes on, so that figures read later cost no wait of their own.
    member _.SumLater(values: float[]) =
        collectives.Start()
        use scope = new TensorScope()
        let t = scope.Detach(torch.tensor values)
        let work = group.StartAllReduce(t, Sum)
        collectives.Stop()
        new PendingSums(t, work, collectives)

    /// Makes a trainer data-parallel: each optimizer's gradients are summed over the ranks as its
    /// backward runs and waited for before its step, and the model starts from rank 0's initial
    /// weights and buffers.
    member dp.Attach(trainer: TrainingRun) =
        for _, o in trainer.Optimizers do
            let reducer = group.Reducer(o.parameters, bucketBytes)
            reducers.Add reducer
            reducer.Weight <- weight
            o.BeforeStep <-
                Some(fun _ ->
                    collectives.Start()
                    try reducer.Finish()
                    finally collectives.Stop())
        dp.Broadcast(Array.append trainer.Model.tensors (Array.map snd trainer.Model.buffers))

    /// The leader's tensors on every rank, in place, one broadcast each.
    member _.Broadcast(tensors: Tensor seq) =
        use _ = torch.no_grad ()
        for t in tensors do group.Broadcast(t, 0)

    /// The leader's values on every rank (the others pass as many).
    member _.FromLeader(values: float[]) =
        use t = torch.tensor values
        group.Broadcast(t, 0)
        t.toFloat64Array ()

    /// What `f` gives on the leader, on every rank: the leader runs it; if it raises, every rank
    /// raises (the leader its own exception, the others one that quotes it), so that no rank waits
    /// for a broadcast that never comes.
    member _.OnLeader(f: unit -> byte[]) : byte[] =
        let outcome =
            if group.Rank = 0 then
                try Ok(f ())
                with e -> Error e
            else Ok [||]
        // The header: 0 for a result, 1 for a failure, then the payload's length.
        let payload =
            match outcome with
            | Ok bytes -> bytes
            | Error e -> Encoding.UTF8.GetBytes e.Message
        use header = torch.tensor [| (match outcome with Error _ -> 1L | Ok _ -> 0L); int64 payload.Length |]
        group.Broadcast(header, 0)
        let h = header.toInt64Array ()
        let failed, length = h[0] = 1L, h[1]
        use buffer = if group.Rank = 0 then torch.tensor payload else torch.zeros ([| length |], Dtype.UInt8)
        if length > 0L then group.Broadcast(buffer, 0)
        match outcome with
        | Error e -> raise (Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e).SourceException)
        | Ok _ when failed -> raise (InvalidOperationException $"rank 0 stopped: {Encoding.UTF8.GetString(buffer.toArray<byte> ())}")
        | Ok bytes when group.Rank = 0 -> bytes
        | Ok _ -> buffer.toArray<byte> ()

    /// Every rank's bytes (of one length on every rank), in rank order.
    member _.Gather(bytes: byte[]) =
        use scope = new TensorScope()
        use t = torch.tensor bytes
        group.AllGather t |> Array.map (fun g -> g.toArray<byte> ())

    /// Checks that every rank read the data the leader read (`fingerprint`: exact sums over it), as
    /// ranks on machines without a shared file system read their own copies: on a difference every
    /// rank raises ArgumentException naming the ranks that differ.
    member dp.CheckSameData(fingerprint: float[]) =
        let ranks = dp.Differing(dp.FromLeader fingerprint <> fingerprint)
        if ranks.Length > 0 then
            let which = String.Join(", ", ranks)
            invalidArg "data" $"the ranks read different training data: rank(s) {which} differ from rank 0's MNIST images or labels; give every rank the same files (--data or RESEARCH_DATA)"

    /// Checks that every rank was started with the leader's configuration text: on a difference,
    /// every rank raises ArgumentException saying which ranks differ, and how.
    member dp.CheckSameConfiguration(text: string) =
        let leaders = Encoding.UTF8.GetString(dp.OnLeader(fun () -> Encoding.UTF8.GetBytes text))
        let differs = leaders <> text
        let ranks = dp.Differing differs
        if ranks.Length > 0 then
            let lines (t: string) = t.Split('\n', StringSplitOptions.TrimEntries) |> Set.ofArray
            let mine = if differs then " (here: " + String.Join("; ", Set.difference (lines text) (lines leaders) |> Set.map (fun l -> l.TrimEnd ',')) + ")" else ""
            invalidArg "configuration" $"the ranks were started with different configurations: {ranks.Length} of the {dp.WorldSize} differ from rank 0's{mine}; start every rank with the same options"

    /// The ranks, on every rank, where `differs` is true (each rank gives its own).
    member private dp.Differing(differs: bool) : int[] =
        dp.Gather [| (if differs then 1uy else 0uy) |] |> Array.indexed |> Array.filter (fun (_, d) -> d[0] = 1uy) |> Array.map fst

    interface IDisposable with
        member _.Dispose() =
            for r in reducers do (r :> IDisposable).Dispose()
            reducers.Clear()
