/// Shared helpers: temporary folders and running the system Python (stdlib + numpy) as an
/// independent reference implementation.
module Research.Analysis.Tests.TestSupport

open System
open System.Diagnostics
open System.IO

/// A fresh folder under the system temp folder, deleted with everything in it on Dispose.
type TempFolder(name: string) =
    let path = Path.Combine(Path.GetTempPath(), "research-analysis-tests", $"{name}-{Guid.NewGuid():N}")
    do Directory.CreateDirectory path |> ignore
    member _.Path = path

    interface IDisposable with
        member _.Dispose() =
            if Directory.Exists path then Directory.Delete(path, true)

/// Runs `script` with /usr/bin/python3 in isolated mode (no user site, no current-folder imports)
/// and returns its standard output; a non-zero exit fails with Python's stderr.
let python (script: string) (args: string list) =
    let info = ProcessStartInfo("/usr/bin/python3", RedirectStandardOutput = true, RedirectStandardError = true)
    info.WorkingDirectory <- Path.GetTempPath()
    for a in [ "-I"; "-c"; script ] @ args do
        info.ArgumentList.Add a
    use p = Process.Start info
    let stdout = p.StandardOutput.ReadToEndAsync()
    let stderr = p.StandardError.ReadToEndAsync()
    p.WaitForExit()
    if p.ExitCode <> 0 then
        failwith $"python3 exited with {p.ExitCode}:\n{stderr.Result}"
    stdout.Result

/// One run of `verify` (seed 0) for the tests that look at its page and figures.
let verifyResult = lazy (Research.Analysis.Verify.Verification.Run 0)
