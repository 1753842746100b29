namespace Research.Core.Distributed

#nowarn "51"

open System
open System.IO
open Research.Core
open Research.Core.Native

/// A reduction across the ranks.
type Reduction =
    | Sum
    | Max
    | Min

/// A collective started on a group and not yet waited for: it runs on the group's threads while
/// this thread goes on. Wait returns once it is done on this rank (raising as the collective would
/// have); Dispose releases it, waited for or not. The tensor it works on must be left as it is until then.
[<Sealed>]
type PendingCollective internal (work: nativeint, check: int -> unit) =
    let mutable handle = work
    member _.Wait() =
        if handle = 0n then raise (ObjectDisposedException "PendingCollective")
        check (ts_dist_work_wait handle)
    interface IDisposable with
        member _.Dispose() =
            let h = Threading.Interlocked.Exchange(&handle, 0n)
            if h <> 0n then ts_dist_work_free h |> ignore

/// One optimizer's gradients summed over the ranks while backward runs (native/distributed.cpp's
/// Reducer, as DistributedDataParallel's): each bucket of gradients, the last layers' first, starts
/// its allreduce as soon as backward has produced it; Finish, before the optimizer's step, reduces
/// the rest, waits, and leaves every parameter's gradient the sum over the ranks of Weight times each
/// rank's. Its parameters are held (and their gradients' hooks kept) until Dispose.
[<Sealed>]
type GradientReducer internal (handle: nativeint, parameters: Tensor[], check: int -> unit) =
    let mutable h = handle
    let live () =
        if h = 0n then raise (ObjectDisposedException "GradientReducer")
        h
    /// The weight of this rank's gradients in the steps from now on (its share of the global batch).
    member _.Weight
        with set (weight: float) = check (ts_dist_reducer_weight (live (), weight))
    /// The sums, written into the parameters' gradients (raising as a failed collective does).
    member _.Finish() =
        check (ts_dist_reducer_finish (live ()))
        GC.KeepAlive parameters
    /// How many buckets started while the last finished step's backward ran (the rest at Finish).
    member _.Overlapped =
        let mutable n = 0
        check (ts_dist_reducer_overlapped (live (), &&n))
        n
    interface IDisposable with
        member _.Dispose() =
            let old = Threading.Interlocked.Exchange(&h, 0n)
            if old <> 0n then ts_dist_reducer_free old |> ignore

/// The ranks of a data-parallel run as libtorch's c10d joins them: a TCPStore rendezvous and a
/// process group on Gloo, made exactly as torch.distributed.init_process_group("gloo") makes its
/// default group (native/distributed.cpp), so a Python process can be one of the ranks. Its
/// collectives work in place on CPU tensors, contiguous, of the same shape and dtype on every rank;
/// one that fails (a rank died, or did not come within the timeout) raises IOException.
[<Sealed>]
type ProcessGroup private (store: nativeint, group: nativeint, launch: Launch) =
    let mutable disposed = false
    let opCode = function Sum -> 0 | Max -> 1 | Min -> 2

    let collective (what: string) (status: int) =
        if status <> 0 then
            let message = Runtime.InteropServices.Marshal.PtrToStringUTF8(ts_last_error ())
            let oneLine = String.Join(" ", message.Split('\n', StringSplitOptions.RemoveEmptyEntries ||| StringSplitOptions.TrimEntries))
            raise (IOException $"rank {launch.Rank} of {launch.WorldSize}: {what} failed, so another rank has stopped or did not answer within {launch.Timeout.TotalSeconds:G4} s ({oneLine})")

    member _.Rank = launch.Rank
    member _.WorldSize = launch.WorldSize
    member _.Launch = launch

    /// Joins the group `launch` describes; returns once every rank has joined, or raises
    /// IOException after the launch's timeout. On a loopback rendezvous Gloo talks over "lo"
    /// unless GLOO_SOCKET_IFNAME names the interfaces.
    static member Join(launch: Launch) =
        let launch = Launch.validate launch
        let fail (what: string) (hint: string -> string) =
            let message = Runtime.InteropServices.Marshal.PtrToStringUTF8(ts_last_error ())
            let oneLine = String.Join(" ", message.Split('\n', StringSplitOptions.RemoveEmptyEntries ||| StringSplitOptions.TrimEntries))
            IOException $"rank {launch.Rank} of {launch.WorldSize}: {what} at {launch.MasterAddr}:{launch.MasterPort} failed ({oneLine}){hint oneLine}"
        let timeout = int64 launch.Timeout.TotalMilliseconds
        let isServer = launch.IsLeader && launch.AgentAttempt.IsNone
        let mutable store = 0n
        if ts_dist_store (launch.MasterAddr, launch.MasterPort, launch.WorldSize, (if isServer then 1 else 0),
                          defaultArg launch.AgentAttempt -1, timeout, &&store) <> 0 then
            if isServer then
                // Rank 0 listens on its own machine and then connects to MASTER_ADDR as every rank
                // does: where the port was free, the address named another machine.
                raise (fail "serving the rendezvous" (fun m ->
                    if m.Contains "Address already in use" then ""
                    else "; rank 0 serves it on its own machine, so the master address must be one of that machine's"))
            else raise (fail "reaching the rendezvous" (fun _ -> ""))
        let interfaces =
            match Launch.environment "GLOO_SOCKET_IFNAME" with
            | Some names -> names
            | None when Launch.isLoopback launch.MasterAddr -> "lo"
            | None -> null
        let mutable group = 0n
        if ts_dist_group (store, 0, launch.Rank, launch.WorldSize, timeout, interfaces, &&group) <> 0 then
            let error = fail "joining the process group" (fun _ -> "")
            ts_dist_store_free store |> ignore
            raise error
        new ProcessGroup(store, group, launch)

    member private _.Group =
        if disposed then raise (ObjectDisposedException "ProcessGroup")
        group

    /// root's t on every rank.
    member g.Broadcast(t: Tensor, root: int) =
        collective "a broadcast" (ts_dist_broadcast (g.Group, t.Handle, root))
        GC.KeepAlive t

    /// t reduced over the ranks, on every rank.
    member g.AllReduce(t: Tensor, reduction: Reduction) =
        collective "an allreduce" (ts_dist_allreduce (g.Group, t.Handle, opCode reduction))
        GC.KeepAlive t

    /// Starts reducing t over the ranks, in place: its values are the reduction once Wait returns.
    member g.StartAllReduce(t: Tensor, reduction: Reduction) =
        let mutable work = 0n
        collective "an allreduce" (ts_dist_allreduce_start (g.Group, t.Handle, opCode reduction, &&work))
        GC.KeepAlive t
        new PendingCollective(work, collective "an allreduce")

    /// A reducer of the gradients of `parameters` (one optimizer's), in buckets of about
    /// `bucketBytes`, the last parameters' first.
    member g.Reducer(parameters: Tensor[], bucketBytes: int64) =
        let mutable r = 0n
        collective "setting up the gradients' reduction"
            (ts_dist_reducer (g.Group, parameters |> Array.map (fun p -> p.Handle), parameters.Length, bucketBytes, &&r))
        new GradientReducer(r, parameters, collective "reducing the gradients")

    /// Every rank's t, in rank order (new tensors, owned by the current scope).
    member g.AllGather(t: Tensor) =
        let outs = Array.zeroCreate<nativeint> launch.WorldSize
        collective "an allgather" (ts_dist_allgather (g.Group, t.Handle, outs))
        GC.KeepAlive t
        outs |> Array.map Tensor.Wrap

    /// Returns once every rank has called it.
    member g.Barrier() = collective "a barrier" (ts_dist_barrier g.Group)

    interface IDisposable with
        member _.Dispose() =
            if not disposed then
                disposed <- true
                ts_dist_group_free group |> ignore
                ts_dist_store_free store |> ignore
