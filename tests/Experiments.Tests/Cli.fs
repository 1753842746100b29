/// Running the `research` command line and the example scripts as separate processes, as a user
/// does: exit codes, standard output and error, and kills.
module Research.Experiments.Tests.Cli

open System
open System.Diagnostics
open System.IO
open Expecto

/// The repository (the folder holding Research.sln) above this test assembly.
let repository =
    let rec up (dir: DirectoryInfo) =
        if isNull dir then failwith $"no Research.sln above {AppContext.BaseDirectory}"
        elif File.Exists(Path.Combine(dir.FullName, "Research.sln")) then dir.FullName
        else up dir.Parent
    up (DirectoryInfo AppContext.BaseDirectory)

/// The build configuration this assembly was built in (Release, Debug), to run the matching research.dll.
let private configuration = DirectoryInfo(Path.TrimEndingDirectorySeparator AppContext.BaseDirectory).Parent.Name

let researchDll = Path.Combine(repository, "Experiments.CSharp", "bin", configuration, "net10.0", "research.dll")

/// The MNIST files the commands read: <RESEARCH_DATA or the repository's data/>/mnist, as they find them.
let mnistFolder =
    let data = match Environment.GetEnvironmentVariable "RESEARCH_DATA" with null | "" -> Path.Combine(repository, "data") | d -> d
    Path.Combine(data, "mnist")

type Result = { ExitCode: int; Out: string; Err: string }

/// Starts `program <args>` in `folder` with extra environment variables.
let startProgram (folder: string) (program: string) (env: (string * string) list) (args: string list) =
    let info = ProcessStartInfo(program, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
    info.WorkingDirectory <- folder
    for a in args do info.ArgumentList.Add a
    for k, v in env do info.Environment[k] <- v
    // A plain terminal-less run: progress as lines, no colours.
    info.Environment["NO_COLOR"] <- "1"
    Process.Start info

/// Waits for a started process (at most ten minutes) and collects its output.
let finish (p: Process) =
    let out = p.StandardOutput.ReadToEndAsync()
    let err = p.StandardError.ReadToEndAsync()
    if not (p.WaitForExit(TimeSpan.FromMinutes 10.0)) then
        p.Kill true
        failwith "the process ran for more than ten minutes"
    { ExitCode = p.ExitCode; Out = out.Result; Err = err.Result }

/// Starts `dotnet <args>` in `folder` with extra environment variables.
let start (folder: string) (env: (string * string) list) (args: string list) = startProgram folder "dotnet" env args

/// Runs `program <args>` in `folder` and waits for it.
let runProgram (folder: string) (program: string) (env: (string * string) list) (args: string list) =
    use p = startProgram folder program env args
    finish p

/// Runs `research <args>` in `folder` and waits for it.
let research (folder: string) (env: (string * string) list) (args: string list) =
    runProgram folder "dotnet" env (researchDll :: args)

/// A fresh folder, deleted with what is in it on Dispose.
type TempFolder(name: string) =
    let path = Path.Combine(Path.GetTempPath(), "research-cli-tests", $"{name}-{Guid.NewGuid():N}")
    do Directory.CreateDirectory path |> ignore
    member _.Path = path
    interface IDisposable with
        member _.Dispose() = if Directory.Exists path then Directory.Delete(path, true)

/// The lines of a text, without empty ones.
let lines (text: string) = text.Split('\n', StringSplitOptions.RemoveEmptyEntries ||| StringSplitOptions.TrimEntries)

/// Expects the runner's one error path: exit code `code`, one line on stderr starting "error: " and
/// holding `fragment`, no stack trace.
let oneLineError (code: int) (fragment: string) (r: Result) =
    Expect.isTrue (code = r.ExitCode) $"exit code {r.ExitCode}, expected {code}; stderr: {r.Err}; stdout: {r.Out}"
    let errors = lines r.Err
    Expect.isTrue (errors.Length = 1) $"expected one line on stderr, got: {r.Err}"
    Expect.stringStarts (errors[0]) "error: " "errors[0]"
    Expect.stringContains (errors[0]) fragment "errors[0]"
    Expect.isFalse ((r.Out + r.Err).Contains "   at ") "r.Out + r.Err does not contain \" at \""
