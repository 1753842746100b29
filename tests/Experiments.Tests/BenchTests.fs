/// What `research bench` tells a user about the machine it ran on.
module Research.Experiments.Tests.BenchTests

open System
open System.IO
open System.Threading
open Expecto
open Research.Experiments.Tests.Cli

/// The processes whose parent is `pid` (Linux's /proc).
let private childrenOf (pid: int) =
    [| for dir in Directory.GetDirectories "/proc" do
           match Int32.TryParse(Path.GetFileName dir) with
           | true, child ->
               let parent =
                   try File.ReadAllLines(Path.Combine(dir, "status")) |> Array.tryFind (fun l -> l.StartsWith "PPid:")
                   with :? IOException | :? UnauthorizedAccessException -> None // it ended meanwhile
               if parent = Some $"PPid:\t{pid}" then yield child
           | _ -> () |]

/// Whether process `pid` runs: it exists and is not a zombie (one whose parent has not collected
/// it; where PID 1 collects no orphans, an ended process stays one).
let private runs (pid: int) =
    try File.ReadAllLines $"/proc/{pid}/status" |> Array.exists (fun l -> l.StartsWith "State:" && not (l.Contains "zombie"))
    with :? IOException | :? UnauthorizedAccessException -> false

/// Waits up to `seconds` for `condition`; whether it came.
let private within (seconds: float) (condition: unit -> bool) =
    let clock = Diagnostics.Stopwatch.StartNew()
    while not (condition ()) && clock.Elapsed.TotalSeconds < seconds do
        Thread.Sleep 50
    condition ()

[<Tests>]
let tests =
    testList "BenchTests" [
        // bench traces oneDNN to name any reference kernel; a user who sets ONEDNN_VERBOSE=1 to look
        // for one (the performance issue's check) still sees oneDNN's own lines, and bench's verdict
        // agrees with them.
        testCase "ONEDNN_VERBOSE=1 shows oneDNN's lines through bench's trace, and its verdict agrees with them" <| fun () ->
            use temp = new TempFolder "bench-verbose"
            let bench env = research temp.Path env [ "bench"; "flow"; "--limit"; "256"; "--skip-pytorch"; "--threads"; "1" ]
            let isExec (l: string) = l.StartsWith "onednn_verbose,exec,cpu,"
            let verbose = bench [ "ONEDNN_VERBOSE", "1" ]
            Expect.equal verbose.ExitCode 0 $"exit code; stderr: {verbose.Err}"
            let executed = lines verbose.Out |> Array.filter isExec
            Expect.isTrue (executed |> Array.exists (fun l -> l.Contains ",convolution,")) $"oneDNN's convolution lines on stdout: {verbose.Out}"
            let references = executed |> Array.filter (fun l -> (l.Split ',').[4].StartsWith "ref")
            let verdict = lines verbose.Out |> Array.find (fun l -> l.StartsWith "oneDNN ran ")
            Expect.equal (verdict.EndsWith "none a reference kernel") (references.Length = 0) $"bench says '{verdict}'; oneDNN's reference lines: {references}"
            let quiet = bench []
            Expect.equal quiet.ExitCode 0 $"exit code; stderr: {quiet.Err}"
            Expect.isFalse (lines quiet.Out |> Array.exists isExec) "without ONEDNN_VERBOSE the trace's lines stay out of the output"
        // Each side is a process of its own: a bench stopped while one computes ends it too, rather
        // than leave it computing for the rest of its epoch on a machine the user wanted back.
        testCase "a bench stopped by Ctrl-C or SIGTERM ends the side it was timing" <| fun () ->
            use temp = new TempFolder "bench-stop"
            for signal, code in [ "TERM", 143; "INT", 130 ] do
                use p = start temp.Path [] [ researchDll; "bench"; "vae"; "--epochs"; "20"; "--skip-pytorch"; "--threads"; "1" ]
                Expect.isTrue (within 60.0 (fun () -> childrenOf p.Id |> Array.isEmpty |> not)) "the side's process started"
                let side = (childrenOf p.Id)[0]
                use kill = Diagnostics.Process.Start("kill", [ $"-{signal}"; string p.Id ])
                kill.WaitForExit()
                let r = finish p
                Expect.equal r.ExitCode code $"SIG{signal}'s exit code: {r.Err}"
                Expect.isTrue (within 10.0 (fun () -> not (runs side))) $"the side (process {side}) still runs after SIG{signal}"
        // The data-parallel report's bound: one thread's epoch over the ranks is what perfect scaling
        // would give, and the speed-up it allows is the one-process epoch over that.
        testCase "bench --ranks 2 prints the bound perfect scaling sets, from its own one-thread side" <| fun () ->
            use temp = new TempFolder "bench-ranks"
            let r = research temp.Path [] [ "bench"; "flow"; "--ranks"; "2"; "--limit"; "256"; "--skip-pytorch" ]
            Expect.equal r.ExitCode 0 $"exit code; stderr: {r.Err}"
            let out = lines r.Out
            let best side =
                let line = out |> Array.find (fun l -> l.StartsWith $"{side} ")
                let words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries)
                float words[Array.IndexOf(words, "best") + 1]
            let one, threads, ranks = best "research 1 x 2", best "research 1 x 1", best "research 2 x 1"
            let bound = out |> Array.find (fun l -> l.StartsWith "research 1 x 1 / 2 = ")
            let figures = Text.RegularExpressions.Regex.Matches(bound, @"[0-9]+\.[0-9]+") |> Seq.map (fun m -> float m.Value) |> Array.ofSeq
            // The report prints milliseconds and hundredths; the checks allow for its rounding.
            let printed = { absolute = 0.005; relative = 0.01 }
            Expect.floatClose { absolute = 0.001; relative = 0.0 } figures[0] (threads / 2.0) $"the perfect-scaling epoch in: {bound}"
            Expect.floatClose printed figures[1] (one / (threads / 2.0)) $"the bound on the speed-up in: {bound}"
            Expect.floatClose printed figures[2] (threads / one) $"the second thread's speed-up in: {bound}"
            Expect.isTrue (ranks > 0.0) "the ranks' epoch is printed"
            // With --threads 1 the one-process side is itself the one-thread process.
            let r = research temp.Path [] [ "bench"; "flow"; "--ranks"; "2"; "--threads"; "1"; "--limit"; "256"; "--skip-pytorch" ]
            Expect.equal r.ExitCode 0 $"exit code with --threads 1; stderr: {r.Err}"
            Expect.equal (lines r.Out |> Array.filter (fun l -> l.StartsWith "research 1 x 1 ") |> Array.length) 2 "one one-thread side, and its bound"
    ]
