/// `bench`'s measure of what other processes do to the machine.
module Research.Tests.MachineLoadTests

open System.Diagnostics
open Expecto
open Research.Core.Benchmarks

[<Tests>]
let tests =
    // Alone in the test program, so that the spinning process gets a core of its own.
    testSequenced <| testList "MachineLoad" [
        testCase "a process that spins on one core counts as about one busy core" <| fun () ->
            let start = ProcessStartInfo("sh", UseShellExecute = false)
            for a in [ "-c"; "while :; do :; done" ] do start.ArgumentList.Add a
            use spinner = Process.Start start
            try
                // Let it reach the run queue before the measure starts.
                System.Threading.Thread.Sleep 200
                match MachineLoad.otherBusyCores 1.0 with
                | Some busy -> Expect.isGreaterThanOrEqual busy 0.7 "the spinning process's core"
                | None -> failtest "/proc/stat could not be read"
            finally
                spinner.Kill()
                spinner.WaitForExit()
    ]
