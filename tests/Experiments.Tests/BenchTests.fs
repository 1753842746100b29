/// What `research bench` tells a user about the machine it ran on.
module Research.Experiments.Tests.BenchTests

open Expecto
open Research.Experiments.Tests.Cli

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
    ]
