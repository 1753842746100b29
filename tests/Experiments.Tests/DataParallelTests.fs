/// Data-parallel training as a user runs it: two ranks of one thread each on this machine, started
/// by hand (--world-size, --rank), by torchrun (its agent's store, elastic restarts, two "nodes"),
/// and across two network namespaces. Two ranks equal one process on the global batch; every
/// family trains; a rank killed mid-epoch stops the others within the timeout and the run resumes
/// bit for bit; faults are one line each.
module Research.Experiments.Tests.DataParallelTests

open System
open System.Diagnostics
open System.IO
open System.Net
open System.Net.Sockets
open System.Text.Json
open Expecto
open Research.Tests.Checks
open Research.Experiments.Tests.Cli

/// A TCP port that nothing listens on now.
let private freePort () =
    let listener = new TcpListener(IPAddress.Loopback, 0)
    listener.Start()
    let port = (listener.LocalEndpoint :?> IPEndPoint).Port
    listener.Stop()
    port

/// Both ranks' results of `research <args>` started by hand as ranks 0 and 1 of 2 (`env` per rank).
let private twoRanks (folder: string) (env: int -> (string * string) list) (args: string list) =
    let port = freePort ()
    let started =
        [ for r in 0..1 -> start folder (env r) (researchDll :: args @ [ "--world-size"; "2"; "--rank"; string r; "--master-port"; string port ]) ]
    let results = started |> List.map finish
    for p in started do p.Dispose()
    results

/// torchrun (python3-torch's) on this machine: `python3 -m torch.distributed.run <launcher args>
/// --no_python dotnet research.dll <args>`.
let private torchrun (folder: string) (env: (string * string) list) (launcher: string list) (args: string list) =
    // torch 1.13's run takes underscore flags; under Python 3.11 it needs --redirects and --tee as
    // maps (a local rank 9 that does not exist keeps them harmless).
    runProgram folder "/usr/bin/python3" env
        ([ "-m"; "torch.distributed.run" ] @ launcher @ [ "--redirects"; "9:1"; "--tee"; "9:1"; "--no_python"; "dotnet"; researchDll ] @ args)

/// A safetensors file's parameters, by name, as doubles.
let private parameters (path: string) =
    let bytes = File.ReadAllBytes path
    let n = int (BitConverter.ToUInt64(bytes, 0))
    use header = JsonDocument.Parse(ReadOnlyMemory(bytes, 8, n))
    [ for p in header.RootElement.EnumerateObject() do
          if p.Name <> "__metadata__" && p.Value.GetProperty("dtype").GetString() = "F32" then
              let offsets = p.Value.GetProperty("data_offsets")
              let a = 8 + n + offsets[0].GetInt32()
              let count = (offsets[1].GetInt32() - offsets[0].GetInt32()) / 4
              yield p.Name, Array.init count (fun i -> float (BitConverter.ToSingle(bytes, a + 4 * i))) ]

/// A metrics.csv column.
let private column (folder: string) (name: string) =
    let rows = File.ReadAllLines(Path.Combine(folder, "metrics.csv"))
    let i = Array.IndexOf(rows[0].Split ',', name)
    rows[1..] |> Array.map (fun r -> Double.Parse(r.Split(',')[i], Globalization.CultureInfo.InvariantCulture))

let private succeeded (results: Result list) =
    for i, r in List.indexed results do
        Expect.equal r.ExitCode 0 $"rank {i} failed: {r.Err}"

/// One line on standard error, starting "error:", and a nonzero exit.
let private failedInOneLine (what: string) (r: Result) =
    Expect.notEqual r.ExitCode 0 $"{what}: the exit code"
    let errors = lines r.Err
    Expect.equal errors.Length 1 $"{what}: one line on stderr, got: {r.Err}"
    Expect.stringStarts errors[0] "error: " $"{what}: the line"

let private mlp = [ "mlp"; "train"; "--threads"; "1"; "--validation"; "500"; "--batch-size"; "128" ]

/// Expects two runs' last weights to agree, every parameter within 1e-5 relative (L2).
let private sameWeights (what: string) (one: string) (two: string) =
    let a, b = parameters (Path.Combine(one, "checkpoints", "last.safetensors")), parameters (Path.Combine(two, "checkpoints", "last.safetensors"))
    let norm (v: float[]) = sqrt (Array.sumBy (fun x -> x * x) v)
    for (name, x), (_, y) in List.zip a b do
        let relative = norm (Array.map2 (-) x y) / norm x
        output.WriteLine $"{what}: {name}, relative L2 difference {relative:G3}"
        Expect.isLessThan relative 1e-5 $"{name}: relative L2 difference"

/// A Slurm cluster of one node on loopback, in a folder of its own (Debian's slurmctld, slurmd and
/// munged, as root): its own munge key and socket, its own ports, state and logs. Dispose stops it.
type private LocalSlurm(folder: string) =
    let file (name: string) = Path.Combine(folder, name)
    let config, socket, key = file "slurm.conf", file "munge.socket", file "munge.key"
    let env = [ "SLURM_CONF", config ]
    let daemon (program: string) (args: string list) =
        let r = runProgram folder program env args
        if r.ExitCode <> 0 then failtest $"{program}: exit {r.ExitCode}: {r.Err}"
    let pids = [ "slurmd.pid"; "slurmctld.pid"; "munged.pid" ] |> List.map file
    do
        File.WriteAllBytes(key, Security.Cryptography.RandomNumberGenerator.GetBytes 1024)
        File.SetUnixFileMode(key, UnixFileMode.UserRead ||| UnixFileMode.UserWrite)
        let log, pid, seed = file "munged.log", file "munged.pid", file "munged.seed"
        daemon "/usr/sbin/munged" [ $"--socket={socket}"; $"--key-file={key}"; $"--pid-file={pid}"; $"--log-file={log}"; $"--seed-file={seed}" ]
        let state, spool = Directory.CreateDirectory(file "state").FullName, Directory.CreateDirectory(file "spool").FullName
        let setting (name: string) (value: string) = $"{name}={value}"
        File.WriteAllLines(
            config,
            [ "ClusterName=research-tests"
              "SlurmctldHost=localhost(127.0.0.1)"
              "SlurmUser=root"
              "AuthType=auth/munge"
              setting "AuthInfo" $"socket={socket}"
              setting "StateSaveLocation" state
              setting "SlurmdSpoolDir" spool
              setting "SlurmctldPidFile" (file "slurmctld.pid")
              setting "SlurmdPidFile" (file "slurmd.pid")
              setting "SlurmctldLogFile" (file "slurmctld.log")
              setting "SlurmdLogFile" (file "slurmd.log")
              setting "SlurmctldPort" (string (freePort ()))
              setting "SlurmdPort" (string (freePort ()))
              // No cgroups in a container: process groups track a job's tasks.
              "ProctrackType=proctrack/pgid"
              "TaskPlugin=task/none"
              "MpiDefault=none"
              "JobAcctGatherType=jobacct_gather/none"
              "AccountingStorageType=accounting_storage/none"
              $"NodeName=localhost NodeAddr=127.0.0.1 CPUs={Environment.ProcessorCount} State=UNKNOWN"
              "PartitionName=tests Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES" ])
        daemon "/usr/sbin/slurmctld" []
        daemon "/usr/sbin/slurmd" [ "-N"; "localhost" ]
        let clock = Stopwatch.StartNew()
        let nodeState () = (runProgram folder "sinfo" env [ "-h"; "-o"; "%T" ]).Out.Trim()
        while nodeState () <> "idle" && clock.Elapsed.TotalSeconds < 60.0 do
            Threading.Thread.Sleep 500
        if nodeState () <> "idle" then
            let logs = [ "slurmd.log"; "slurmctld.log" ] |> List.map (file >> File.ReadAllText)
            failtest $"the Slurm node did not come up: {String.Join(' ', logs)}"

    /// Runs a batch script (`sbatch --wait`) with its working folder `folder`; Out is what the job wrote.
    member _.Batch (workingFolder: string) (lines: string list) =
        let script, output = file "job.sh", file "job.out"
        File.WriteAllLines(script, "#!/bin/bash" :: lines)
        let r = runProgram folder "sbatch" env [ "--wait"; $"--output={output}"; $"--chdir={workingFolder}"; script ]
        { r with Out = if File.Exists output then File.ReadAllText output else "" }

    interface IDisposable with
        member _.Dispose() =
            for pid in pids do
                if File.Exists pid then
                    try
                        use p = Process.GetProcessById(int (File.ReadAllText(pid).Trim()))
                        p.Kill()
                        p.WaitForExit 10000 |> ignore
                    with _ -> ()

[<Tests>]
let tests =
    testSequenced <| testList "DataParallelTests" [
        // 50 steps of 128, then a last batch of 37 images (19 + 18), or of 1 image (rank 1 steps on a
        // stand-in that counts for nothing).
        for limit, last in [ 6400, "none"; 6437, "37 images"; 6401, "1 image" ] do
            testCase $"2 ranks at global batch 128 equal 1 process after 50 steps (last batch: {last})" <| fun () ->
                use temp = new TempFolder "ddp-mlp"
                let one, two = Path.Combine(temp.Path, "one"), Path.Combine(temp.Path, "two")
                let args = mlp @ [ "--limit"; string limit; "--epochs"; "1" ]
                Expect.equal (research temp.Path [] (args @ [ "--out"; one ])).ExitCode 0 "one process"
                let results = twoRanks temp.Path (fun _ -> []) (args @ [ "--out"; two ])
                succeeded results
                Expect.equal results[1].Out "" "rank 1 prints nothing"
                Expect.isFalse (Directory.Exists(Path.Combine(two, "rank1"))) "rank 1 writes nothing"
                sameWeights $"last batch {last}" one two
                for name in [ "train_loss"; "val_loss" ] do
                    let x, y = column one name, column two name
                    Expect.floatClose Accuracy.medium y[0] x[0] $"{name}, a global mean"
                Expect.stringContains (File.ReadAllText(Path.Combine(two, "config.json"))) "\"world_size\": 2" "the config records the world size"
        testCase "the VAE, the MLP GAN, a small flow and a tiny diffusion model train 2 epochs at 2 ranks" <| fun () ->
            use temp = new TempFolder "ddp-families"
            let common = [ "--threads"; "1"; "--epochs"; "2"; "--validation"; "300"; "--image-epochs"; "0,2" ]
            let train name args =
                let folder = Path.Combine(temp.Path, name)
                succeeded (twoRanks temp.Path (fun _ -> []) (args @ common @ [ "--out"; folder ]))
                Expect.isTrue (File.Exists(Path.Combine(folder, "images", "samples-epoch-002.png"))) $"{name}: rank 0 saved the samples"
                folder
            let vae = train "vae" [ "vae"; "train"; "--limit"; "2000"; "--hidden"; "64"; "--latent"; "4" ]
            let elbo = column vae "train_elbo"
            Expect.isGreaterThan elbo[1] elbo[0] "the VAE's ELBO rises: its loss falls"
            let gan = train "gan" [ "gan"; "train"; "--limit"; "2000"; "--gen-hidden"; "64,128"; "--disc-hidden"; "128,64"; "--latent"; "16" ]
            // D's loss starts at log 4 (D(x) = 1/2 everywhere) and falls as D learns to tell its
            // images apart; D(x) on the validation images rises above a half.
            let dLoss = column gan "d_loss"
            Expect.isLessThan dLoss[0] (log 4.0 - 0.05) "D's loss over epoch 1 is below log 4"
            let dReal = column gan "val_d_real"
            Expect.isGreaterThan dReal[1] 0.5 "D(x) on validation images"
            let flow = train "flow" [ "flow"; "train"; "--limit"; "512"; "--batch-size"; "64"; "--hidden"; "8,8,8"; "--couplings"; "2,2,2" ]
            let bpd = column flow "train_bpd"
            Expect.isLessThan bpd[1] bpd[0] "the flow's bits per dimension fall"
            let diffusion = train "diffusion" [ "diffusion"; "train"; "--limit"; "512"; "--batch-size"; "64"; "--channels"; "8"; "--steps"; "100"; "--warmup"; "0" ]
            let loss = column diffusion "val_loss"
            Expect.isLessThan loss[1] loss[0] "the diffusion model's validation loss (by the weights' average) falls"
        testCase "a rank killed mid-epoch stops the other within the timeout; --resume auto ends where an unbroken run does, byte for byte" <| fun () ->
            use temp = new TempFolder "ddp-kill"
            let args = mlp @ [ "--limit"; "2000"; "--epochs"; "2"; "--timeout"; "30" ]
            let straight, broken = Path.Combine(temp.Path, "straight"), Path.Combine(temp.Path, "broken")
            succeeded (twoRanks temp.Path (fun _ -> []) (args @ [ "--out"; straight ]))
            // 16 steps an epoch: rank 1 dies as it begins step 4 of epoch 2.
            let clock = Stopwatch.StartNew()
            let killed = twoRanks temp.Path (fun r -> if r = 1 then [ "RESEARCH_TEST_KILL_AT_STEP", "1:20" ] else []) (args @ [ "--out"; broken ])
            Expect.equal killed[1].ExitCode 137 "rank 1 was killed"
            failedInOneLine "rank 0 after its peer died" killed[0]
            Expect.stringContains killed[0].Err "another rank has stopped" "rank 0 says why"
            within 0.0 30.0 clock.Elapsed.TotalSeconds "seconds until both stopped"
            succeeded (twoRanks temp.Path (fun _ -> []) (args @ [ "--out"; broken; "--resume"; "auto" ]))
            let resume (folder: string) = File.ReadAllBytes(Path.Combine(folder, "checkpoints", "resume.safetensors"))
            Expect.isTrue (resume straight = resume broken) "resume.safetensors is byte-identical"
            // torchrun restarts the whole group once after rank 1 dies; --resume auto continues.
            let elastic = Path.Combine(temp.Path, "elastic")
            let r =
                torchrun temp.Path [ "RESEARCH_TEST_KILL_AT_STEP", "1:20" ]
                    [ "--nproc_per_node"; "2"; "--max_restarts"; "1"; "--master_addr"; "127.0.0.1"; "--master_port"; string (freePort ()) ]
                    (args @ [ "--out"; elastic; "--resume"; "auto" ])
            Expect.equal r.ExitCode 0 $"torchrun with a restart: {r.Err}"
            Expect.isTrue (resume straight = resume elastic) "after torchrun's restart, resume.safetensors is byte-identical"
        testCase "mismatched options or data, an unserved rendezvous, a missing rank and a port in use: one line each, within the timeout" <| fun () ->
            use temp = new TempFolder "ddp-faults"
            // Ranks that both start wait long enough for a slow start; the faults that only a timeout
            // ends wait 5 s.
            let patient = mlp @ [ "--limit"; "1000"; "--epochs"; "1"; "--timeout"; "60" ]
            let short = mlp @ [ "--limit"; "1000"; "--epochs"; "1"; "--timeout"; "5" ]
            let port = freePort ()
            let mismatched =
                [ start temp.Path [] (researchDll :: patient @ [ "--hidden"; "64"; "--world-size"; "2"; "--rank"; "0"; "--master-port"; string port; "--out"; "m" ])
                  start temp.Path [] (researchDll :: patient @ [ "--hidden"; "32"; "--world-size"; "2"; "--rank"; "1"; "--master-port"; string port; "--out"; "m" ]) ]
                |> List.map (fun p -> use p = p in finish p)
            for r in mismatched do
                failedInOneLine "mismatched options" r
                Expect.stringContains r.Err "different configurations" "the reason"
            Expect.stringContains mismatched[1].Err "hidden" "rank 1 names the option"
            Expect.isFalse (Directory.Exists(Path.Combine(temp.Path, "m"))) "no run folder is made"
            // Ranks that read different copies of the data (here one grey level of the last training
            // image differs): one line on each, naming the rank, and no folder left.
            let copy = Path.Combine(temp.Path, "data")
            Directory.CreateDirectory(Path.Combine(copy, "mnist")) |> ignore
            for file in Directory.GetFiles(mnistFolder, "*-ubyte") do
                File.Copy(file, Path.Combine(copy, "mnist", Path.GetFileName file))
            let images = Path.Combine(copy, "mnist", "train-images-idx3-ubyte")
            let bytes = File.ReadAllBytes images
            bytes[bytes.Length - 400] <- bytes[bytes.Length - 400] ^^^ 1uy
            File.WriteAllBytes(images, bytes)
            let differing = twoRanks temp.Path (fun r -> if r = 1 then [ "RESEARCH_DATA", copy ] else []) (patient @ [ "--out"; "d" ])
            for r in differing do
                failedInOneLine "different data" r
                Expect.stringContains r.Err "the ranks read different training data: rank(s) 1 differ from rank 0's MNIST images or labels" "the reason"
            Expect.isFalse (Directory.Exists(Path.Combine(temp.Path, "d"))) "no run folder is left"
            // Each within its 5 s timeout, a process's start (a few seconds on a loaded machine) aside.
            let timed (f: unit -> 'T) =
                let clock = Stopwatch.StartNew()
                let r = f ()
                within 0.0 25.0 clock.Elapsed.TotalSeconds "seconds until it stopped"
                r
            let alone = timed (fun () -> research temp.Path [] (short @ [ "--world-size"; "2"; "--rank"; "1"; "--master-port"; string (freePort ()); "--out"; "alone" ]))
            failedInOneLine "an unserved rendezvous" alone
            Expect.stringContains alone.Err "reaching the rendezvous" "the reason"
            let port = freePort ()
            let third =
                timed (fun () ->
                    [ for r in 0..1 -> start temp.Path [] (researchDll :: short @ [ "--world-size"; "3"; "--rank"; string r; "--master-port"; string port; "--out"; "three" ]) ]
                    |> List.map (fun p -> use p = p in finish p))
            for r in third do failedInOneLine "a world of 3 with 2 ranks" r
            use occupied = new TcpListener(IPAddress.Loopback, 0)
            occupied.Start()
            let busy = timed (fun () -> research temp.Path [] (short @ [ "--world-size"; "2"; "--rank"; "0"; "--master-port"; string (occupied.LocalEndpoint :?> IPEndPoint).Port; "--out"; "busy" ]))
            failedInOneLine "a port in use" busy
            Expect.isFalse (busy.Err.Contains "one of that machine's") "a port in use is not blamed on the address"
            // Rank 0 told that the master is another machine (192.0.2.1, a documentation address no
            // network routes): its own server starts, its connection to the master does not.
            let elsewhere = timed (fun () -> research temp.Path [] (short @ [ "--world-size"; "2"; "--rank"; "0"; "--master-addr"; "192.0.2.1"; "--master-port"; string (freePort ()); "--out"; "elsewhere" ]))
            failedInOneLine "rank 0 at another machine's address" elsewhere
            Expect.stringContains elsewhere.Err "so the master address must be one of that machine's" "the line says what to fix"
            // A run folder that a failed start touched still starts, and resumes; at its world size only.
            let again = twoRanks temp.Path (fun _ -> []) (patient @ [ "--out"; "three"; "--resume"; "auto" ])
            succeeded again
            let alone = research temp.Path [] (mlp @ [ "--limit"; "1000"; "--epochs"; "2"; "--out"; "three"; "--resume" ])
            failedInOneLine "a resume at another world size" alone
            Expect.stringContains alone.Err "trained by 2 process(es) and resumes only at that world size, not at 1" "the line names both sizes"
        testCase "two torchrun launches of one rank each (--nnodes 2, node ranks 0 and 1) train together" <| fun () ->
            use temp = new TempFolder "ddp-nodes"
            let port = string (freePort ())
            let node (r: int) =
                Threading.Tasks.Task.Run(fun () ->
                    torchrun temp.Path [] [ "--nnodes"; "2"; "--node_rank"; string r; "--nproc_per_node"; "1"; "--master_addr"; "127.0.0.1"; "--master_port"; port ]
                        (mlp @ [ "--limit"; "1000"; "--epochs"; "1"; "--out"; Path.Combine(temp.Path, $"node{r}") ]))
            let results = Threading.Tasks.Task.WhenAll([ node 0; node 1 ]).Result |> List.ofArray
            succeeded results
            Expect.isTrue (File.Exists(Path.Combine(temp.Path, "node0", "checkpoints", "resume.safetensors"))) "node 0's rank 0 holds the run"
            Expect.isFalse (Directory.Exists(Path.Combine(temp.Path, "node1"))) "node 1's rank writes nothing"
        testCase "two ranks in two network namespaces, joined by a veth pair, train over that interface" <| fun () ->
            if Environment.UserName <> "root" then skiptest "making network namespaces (ip netns) needs root"
            use temp = new TempFolder "ddp-netns"
            let id = Guid.NewGuid().ToString("N").Substring(0, 6)
            let a, b = $"rsa{id}", $"rsb{id}"
            let ip (args: string) =
                use p = Process.Start(ProcessStartInfo("ip", args, RedirectStandardError = true, UseShellExecute = false))
                let err = p.StandardError.ReadToEnd()
                p.WaitForExit()
                if p.ExitCode <> 0 then failtest $"ip {args}: {err}"
            try
                // Two test hosts of this test's own, 10.213.0.1 and .2, on a link of their own.
                ip $"netns add {a}"
                ip $"netns add {b}"
                ip $"link add va{id} type veth peer name vb{id}"
                ip $"link set va{id} netns {a}"
                ip $"link set vb{id} netns {b}"
                for ns, dev, address in [ a, $"va{id}", "10.213.0.1/24"; b, $"vb{id}", "10.213.0.2/24" ] do
                    ip $"-n {ns} addr add {address} dev {dev}"
                    ip $"-n {ns} link set {dev} up"
                    ip $"-n {ns} link set lo up"
                let port = "29517"
                let rank (r: int) (ns: string) (dev: string) =
                    let args =
                        [ "netns"; "exec"; ns; "dotnet"; researchDll ] @ mlp
                        @ [ "--limit"; "1000"; "--epochs"; "1"; "--timeout"; "20"; "--world-size"; "2"; "--rank"; string r; "--master-addr"; "10.213.0.1"
                            "--master-port"; port; "--out"; Path.Combine(temp.Path, $"ns{r}") ]
                    let info = ProcessStartInfo("ip", RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
                    for x in args do info.ArgumentList.Add x
                    info.Environment["GLOO_SOCKET_IFNAME"] <- dev
                    Process.Start info
                let results = [ rank 0 a $"va{id}"; rank 1 b $"vb{id}" ] |> List.map (fun p -> use p = p in finish p)
                succeeded results
                Expect.isTrue (File.Exists(Path.Combine(temp.Path, "ns0", "checkpoints", "resume.safetensors"))) "rank 0 holds the run"
            finally
                for ns in [ a; b ] do
                    try ip $"netns del {ns}" with _ -> ()
        testCase "a Slurm batch job (one node on loopback) runs 2 ranks by srun that equal 1 process" <| fun () ->
            if Environment.UserName <> "root" then skiptest "running Slurm's daemons needs root"
            use temp = new TempFolder "ddp-slurm"
            use slurm = new LocalSlurm(temp.Path)
            let one, two = Path.Combine(temp.Path, "one"), Path.Combine(temp.Path, "two")
            let args = mlp @ [ "--limit"; "3237"; "--epochs"; "1" ]
            Expect.equal (research temp.Path [] (args @ [ "--out"; one ])).ExitCode 0 "one process"
            // The README's batch script: srun sets SLURM_PROCID, SLURM_NTASKS and SLURM_LOCALID, and
            // the script names rank 0's host from the job's node list.
            let r =
                slurm.Batch temp.Path
                    [ "#SBATCH --ntasks 2 --overcommit"
                      $"export MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1) MASTER_PORT={freePort ()} NO_COLOR=1"
                      String.Join(" ", [ "srun"; "--kill-on-bad-exit=1"; "dotnet"; researchDll ] @ args @ [ "--out"; two ]) ]
            Expect.equal r.ExitCode 0 $"sbatch: {r.Err} {r.Out}"
            Expect.stringContains r.Out "(rank 0 of 2)" "rank 0 prints the run folder, as rank 0 of 2"
            Expect.equal (lines r.Out |> Array.filter (fun l -> l.StartsWith "run folder:")).Length 1 "rank 1 prints nothing"
            Expect.stringContains (File.ReadAllText(Path.Combine(two, "config.json"))) "\"world_size\": 2" "the config records the world size"
            sameWeights "srun" one two
    ]
