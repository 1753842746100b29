/// Data-parallel training's parts: how a launch is read from torchrun's and Slurm's environments,
/// the shares of a global batch, and the process group itself against PyTorch's own
/// torch.distributed: a python3-torch process joins the same group, as rank 1 or as rank 0, and
/// both sides see the same broadcast, allreduce and allgather.
module Research.Core.Tests.DistributedTests

open System
open System.Diagnostics
open System.Net
open System.Net.Sockets
open System.Text.Json
open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Distributed
open Research.Core.Training
open Research.Core.Tests.TensorTestSupport

let private env (pairs: (string * string) list) (name: string) = pairs |> List.tryFind (fun (k, _) -> k = name) |> Option.map snd
let private timeout = TimeSpan.FromSeconds 30.0

/// A TCP port that nothing listens on now.
let freePort () =
    let listener = new TcpListener(IPAddress.Loopback, 0)
    listener.Start()
    let port = (listener.LocalEndpoint :?> IPEndPoint).Port
    listener.Stop()
    port

/// The PyTorch rank: joins the default group with init_process_group("gloo") (env://), then
/// prints, as JSON, what it saw of a broadcast from rank 0, a sum and a max over the ranks, and
/// an allgather, with its rank's own inputs: [rank + 1, 10 (rank + 1)] and rank 0's [7, 8, 9].
let private pythonRank =
    """
import datetime, json, os, torch, torch.distributed as dist
dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=30))
r = dist.get_rank()
b = torch.tensor([7.0, 8.0, 9.0]) if r == 0 else torch.zeros(3)
dist.broadcast(b, 0)
s = torch.tensor([r + 1.0, 10.0 * (r + 1)], dtype=torch.float64)
dist.all_reduce(s)
m = torch.tensor([float(r)], dtype=torch.float64)
dist.all_reduce(m, op=dist.ReduceOp.MAX)
g = [torch.zeros(2, dtype=torch.int64) for _ in range(2)]
dist.all_gather(g, torch.tensor([r, 100 + r]))
dist.barrier()
print(json.dumps({"broadcast": b.tolist(), "sum": s.tolist(), "max": m.tolist(), "gather": [t.tolist() for t in g]}), flush=True)
# Out without the interpreter's teardown: torch 1.13's c10d threads can abort it (std::terminate,
# exit 134) when the other rank has closed its connections first; what is checked is done.
os._exit(0)
"""

/// This process's side of the same exchange.
let private ourRank (group: ProcessGroup) =
    use scope = new TensorScope()
    let r = group.Rank
    let b = if r = 0 then torch.tensor [| 7.0f; 8.0f; 9.0f |] else torch.zeros [| 3L |]
    group.Broadcast(b, 0)
    let s = torch.tensor [| float r + 1.0; 10.0 * float (r + 1) |]
    group.AllReduce(s, Sum)
    let m = torch.tensor [| float r |]
    group.AllReduce(m, Max)
    let g = group.AllGather(torch.tensor [| int64 r; 100L + int64 r |])
    group.Barrier()
    b.toFloat64Array (), s.toFloat64Array (), m.toFloat64Array (), g |> Array.map (fun t -> t.toInt64Array ())

/// Runs our rank `ourRankNumber` in this process and PyTorch's other rank beside it.
let private withPythonPeer (ourRankNumber: int) =
    withPyTorch (fun () ->
        let port = freePort ()
        let info = ProcessStartInfo("/usr/bin/python3", "-", RedirectStandardInput = true, RedirectStandardOutput = true,
                                    RedirectStandardError = true, UseShellExecute = false)
        for k, v in [ "MASTER_ADDR", "127.0.0.1"; "MASTER_PORT", string port; "RANK", string (1 - ourRankNumber)
                      "WORLD_SIZE", "2"; "GLOO_SOCKET_IFNAME", "lo" ] do
            info.Environment[k] <- v
        use python = Process.Start info
        python.StandardInput.Write pythonRank
        python.StandardInput.Close()
        let out, err = python.StandardOutput.ReadToEndAsync(), python.StandardError.ReadToEndAsync()
        let launch = { Rank = ourRankNumber; WorldSize = 2; LocalRank = ourRankNumber; MasterAddr = "127.0.0.1"; MasterPort = port
                       AgentAttempt = None; Timeout = timeout }
        let ours =
            use group = ProcessGroup.Join launch
            ourRank group
        if not (python.WaitForExit 60000) then python.Kill true
        Expect.equal python.ExitCode 0 $"the PyTorch rank failed: {err.Result}"
        let theirs = JsonDocument.Parse(out.Result).RootElement
        let b, s, m, g = ours
        Expect.equal b [| 7.0; 8.0; 9.0 |] "our broadcast from rank 0"
        Expect.equal (floats (theirs.GetProperty "broadcast")) b "PyTorch's broadcast"
        Expect.equal s [| 3.0; 30.0 |] "our sum"
        Expect.equal (floats (theirs.GetProperty "sum")) s "PyTorch's sum"
        Expect.equal m [| 1.0 |] "our max"
        Expect.equal (floats (theirs.GetProperty "max")) m "PyTorch's max"
        Expect.equal g [| [| 0L; 100L |]; [| 1L; 101L |] |] "our allgather, in rank order"
        let gathered = [| for t in (theirs.GetProperty "gather").EnumerateArray() -> [| for v in t.EnumerateArray() -> v.GetInt64() |] |]
        Expect.equal gathered g "PyTorch's allgather")

/// Two ranks (threads of this process) reduce the gradients of a small net through a reducer of
/// tiny buckets: each rank backpropagates its share of six rows (rank 0 also a term in `extra`,
/// which rank 1 never uses), `passes` times before the step. Returns each rank's gradients after
/// Finish and how many buckets started during backward, with the gradients one process gets from
/// all six rows.
let private reduceOverRanks (passes: int) =
    let x = (randn64 5L [ 6L; 5L ]).``to`` Float32
    let weights () =
        [| yield torch.zeros [| 4L |] + 0.5                       // extra
           yield ((randn64 6L [ 8L; 5L ]) * 0.3).``to`` Float32  // W1
           yield ((randn64 7L [ 8L ]) * 0.1).``to`` Float32      // b1
           yield ((randn64 8L [ 3L; 8L ]) * 0.3).``to`` Float32  // W2
           yield ((randn64 9L [ 3L ]) * 0.1).``to`` Float32 |]    // b2
        |> Array.map (fun t -> t.requires_grad_ ())
    let loss (p: Tensor[]) (rows: Tensor) (withExtra: bool) =
        let h = (rows.matmul (p[1].t ()) + p[2]).tanh ()
        let y = h.matmul (p[3].t ()) + p[4]
        (y * y).sum () + (if withExtra then (p[0] * p[0] * p[0]).sum () else torch.zeros [||])
    let backward (p: Tensor[]) (rows: Tensor) (withExtra: bool) =
        for pass in 1 .. passes do ((loss p rows withExtra) * float pass).backward ()
    let one = weights ()
    backward one x true
    let port = freePort ()
    let rank (r: int) =
        Threading.Tasks.Task.Run(fun () ->
            use scope = new TensorScope()
            let launch = { Rank = r; WorldSize = 2; LocalRank = r; MasterAddr = "127.0.0.1"; MasterPort = port
                           AgentAttempt = None; Timeout = timeout }
            use group = ProcessGroup.Join launch
            let p = weights ()
            // 64-byte buckets: b2, W2, b1 and W1 in buckets of their own (first), extra's last.
            use reducer = group.Reducer(p, 64L)
            backward p (x.narrow (0, 3L * int64 r, 3L)) (r = 0)
            reducer.Finish()
            let grads = p |> Array.map (fun t -> scope.Detach(t.grad.clone ()))
            grads, reducer.Overlapped)
    let results = Threading.Tasks.Task.WhenAll([ rank 0; rank 1 ]).Result
    one |> Array.map (fun t -> t.grad), results

[<Tests>]
let tests =
    testList "DistributedTests" [
        testList "Launch" [
            testCase "torchrun's environment, with and without its agent's store" <| fun () ->
                let torchrun = [ "RANK", "1"; "WORLD_SIZE", "4"; "LOCAL_RANK", "1"; "MASTER_ADDR", "10.1.2.3"; "MASTER_PORT", "29400" ]
                let plain = (Launch.fromEnvironment (env torchrun) timeout).Value
                Expect.equal (plain.Rank, plain.WorldSize, plain.LocalRank, plain.MasterAddr, plain.MasterPort, plain.AgentAttempt)
                    (1, 4, 1, "10.1.2.3", 29400, None) "plain"
                let agent = torchrun @ [ "TORCHELASTIC_USE_AGENT_STORE", "True"; "TORCHELASTIC_RESTART_COUNT", "2" ]
                Expect.equal (Launch.fromEnvironment (env agent) timeout).Value.AgentAttempt (Some 2) "the agent's store, attempt 2"
            testCase "Slurm's environment; torchrun's wins under Slurm; one task or none is one process" <| fun () ->
                let slurm = [ "SLURM_PROCID", "3"; "SLURM_NTASKS", "8"; "SLURM_LOCALID", "1"; "MASTER_ADDR", "node1"; "MASTER_PORT", "29500" ]
                let l = (Launch.fromEnvironment (env slurm) timeout).Value
                Expect.equal (l.Rank, l.WorldSize, l.LocalRank, l.MasterAddr) (3, 8, 1, "node1") "srun"
                let both = slurm @ [ "RANK", "0"; "WORLD_SIZE", "2" ]
                Expect.equal (Launch.fromEnvironment (env both) timeout).Value.WorldSize 2 "torchrun under Slurm"
                Expect.isNone (Launch.fromEnvironment (env [ "SLURM_PROCID", "0"; "SLURM_NTASKS", "1" ]) timeout) "one task"
                Expect.isNone (Launch.fromEnvironment (env []) timeout) "no launcher"
            testCase "a launch that cannot be is one clear error" <| fun () ->
                let fails (pairs: (string * string) list) (says: string) =
                    let e = raises<ArgumentException> (fun () -> Launch.fromEnvironment (env pairs) timeout |> ignore)
                    Expect.stringContains e.Message says "the message"
                fails [ "SLURM_PROCID", "0"; "SLURM_NTASKS", "2" ] "MASTER_ADDR is not set"
                fails [ "RANK", "two"; "WORLD_SIZE", "2"; "MASTER_ADDR", "a"; "MASTER_PORT", "1" ] "RANK is 'two', not an integer"
                fails [ "RANK", "2"; "WORLD_SIZE", "2"; "MASTER_ADDR", "a"; "MASTER_PORT", "1" ] "rank 2 is not one of the 2 ranks"
                fails [ "RANK", "0"; "WORLD_SIZE", "2"; "MASTER_ADDR", "a"; "MASTER_PORT", "70000" ] "the master port must be 1..65535"
                let e = raises<ArgumentException> (fun () -> Launch.resolve (1, -1, "127.0.0.1", 29500, 10.0) |> ignore)
                Expect.stringContains e.Message "--rank needs --world-size" "a rank without a world"
                let e = raises<ArgumentException> (fun () -> Launch.resolve (0, 0, "127.0.0.1", 29500, 10.0) |> ignore)
                Expect.stringContains e.Message "--world-size must be positive (got 0)" "world size 0"
                let e = raises<ArgumentException> (fun () -> Launch.resolve (-5, 2, "127.0.0.1", 29500, 10.0) |> ignore)
                Expect.stringContains e.Message "--rank must be 0 to world size - 1 (got -5)" "a negative rank"
                let e = raises<ArgumentException> (fun () -> Launch.resolve (0, 2, "127.0.0.1", 29500, 0.0) |> ignore)
                Expect.stringContains e.Message "--timeout must be a positive number" "timeout 0"
                Expect.isNone (Launch.resolve (0, 1, "127.0.0.1", 29500, 10.0)) "world size 1 is one process"
        ]
        testCase "each rank's share of a global batch: consecutive, in rank order, sizes differing by at most one" <| fun () ->
            for ranks in 1..5 do
                for n in 0L..20L do
                    let shares = [ for r in 0 .. ranks - 1 -> DataParallel.Share(n, r, ranks) ]
                    Expect.equal (shares |> List.sumBy snd) n $"{n} images over {ranks} ranks: all taken"
                    for (s1, l1), (s2, _) in List.pairwise shares do
                        Expect.equal s2 (s1 + l1) $"{n} over {ranks}: consecutive"
                    let sizes = shares |> List.map snd
                    Expect.isLessThanOrEqual (List.max sizes - List.min sizes) 1L $"{n} over {ranks}: even"
            Expect.equal [ for r in 0..1 -> DataParallel.Share(37L, r, 2) ] [ 0L, 19L; 19L, 18L ] "37 images: 19 + 18"
        testSequenced <| testList "ProcessGroup" [
            testCase "a python3-torch rank and this process (rank 0, serving the rendezvous) see the same collectives" <| fun () ->
                withPythonPeer 0
            testCase "this process as rank 1 of a group whose rank 0 is python3-torch's" <| fun () ->
                withPythonPeer 1
            testCase "the gradients' reducer: buckets started during backward, an unused parameter and a twice-run backward give one process's gradients" <| fun () ->
                for passes in [ 1; 2 ] do
                    use scope = new TensorScope()
                    let expected, ranks = reduceOverRanks passes
                    for r, (grads, overlapped) in Array.indexed ranks do
                        for i, (e, a) in Array.indexed (Array.zip expected grads) do
                            closeToScale $"{passes} pass(es), rank {r}, parameter {i}" e a
                        // Once: every bucket whose gradients arrived started in backward (rank 1 never
                        // gives extra's, the last). Twice: the early sums were discarded, none counts.
                        let started = if passes = 2 then 0 elif r = 0 then 5 else 4
                        Expect.equal overlapped started $"{passes} pass(es), rank {r}: buckets started during backward"
            testCase "a rendezvous that nobody serves fails within the timeout, in one line" <| fun () ->
                let clock = Stopwatch.StartNew()
                let launch = { Rank = 1; WorldSize = 2; LocalRank = 1; MasterAddr = "127.0.0.1"; MasterPort = freePort ()
                               AgentAttempt = None; Timeout = TimeSpan.FromSeconds 2.0 }
                let e = raises<IO.IOException> (fun () -> ProcessGroup.Join launch |> ignore)
                Expect.stringContains e.Message "reaching the rendezvous at 127.0.0.1" "the message"
                Expect.isFalse (e.Message.Contains '\n') "one line"
                output.WriteLine $"an unserved rendezvous failed after {clock.Elapsed.TotalSeconds:F1} s (timeout 2 s): {e.Message}"
                within 0.0 15.0 clock.Elapsed.TotalSeconds "seconds to fail"
        ]
    ]
