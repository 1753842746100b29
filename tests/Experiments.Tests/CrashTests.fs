/// Crash safety of the run folder: `vae train` is killed (SIGKILL, through the RESEARCH_TEST_KILL_AT
/// hook of AtomicFile) at every step of every file it writes, then continued as a user would; each
/// time, the finished run equals one that was never interrupted, bit for bit, and no temporary
/// file is left.
module Research.Experiments.Tests.CrashTests

open System
open System.IO
open System.Text.Json
open Expecto
open Research.Tests.Checks
open Research.Experiments.Tests.Cli

/// Two epochs of a tiny VAE: about twenty atomic writes, two steps each.
let private args =
    [ "vae"; "train"; "--latent"; "2"; "--hidden"; "16"; "--limit"; "300"; "--validation"; "100"; "--batch-size"; "100"
      "--threads"; "1"; "--epochs"; "2"; "--image-epochs"; "0,1,2" ]

/// A safetensors file's tensors (names, dtypes, shapes, bytes), its metadata left out.
let private tensors (path: string) =
    let bytes = File.ReadAllBytes path
    let n = int (BitConverter.ToUInt64(bytes, 0))
    use header = JsonDocument.Parse(ReadOnlyMemory(bytes, 8, n))
    [ for p in header.RootElement.EnumerateObject() do
          if p.Name <> "__metadata__" then
              let offsets = p.Value.GetProperty("data_offsets")
              let a, b = offsets[0].GetInt32(), offsets[1].GetInt32()
              yield p.Name, p.Value.GetProperty("dtype").GetString(), p.Value.GetProperty("shape").GetRawText(), bytes[8 + n + a .. 8 + n + b - 1] ]

/// metrics.csv without its wall-clock column.
let private metrics (folder: string) =
    File.ReadAllLines(Path.Combine(folder, "metrics.csv")) |> Array.map (fun l -> l.Substring(0, l.LastIndexOf ','))

let private assertSameRun (expected: string) (actual: string) (what: string) =
    Expect.isTrue (metrics expected = metrics actual) $"{what}: metrics.csv differs"
    for name in [ "last"; "best"; "resume" ] do
        let file (folder: string) = Path.Combine(folder, "checkpoints", name + ".safetensors")
        Expect.isTrue (tensors (file expected) = tensors (file actual)) $"{what}: {name}.safetensors differs"
    let images (folder: string) =
        Directory.GetFiles(Path.Combine(folder, "images")) |> Array.sort |> Array.map (fun f -> Path.GetFileName f, File.ReadAllBytes f)
    Expect.isTrue (images expected = images actual) $"{what}: the image grids differ"
    Expect.equal (File.ReadAllText(Path.Combine(actual, "config.json"))) (File.ReadAllText(Path.Combine(expected, "config.json"))) "File.ReadAllText(Path.Combine(actual, \"config.json\"))"
    let temps = Directory.GetFiles(actual, "*.tmp", SearchOption.AllDirectories)
    let left = String.Join(" ", temps)
    Expect.isTrue (temps.Length = 0) $"{what}: temporary files are left: {left}"

/// What `strace` saw a command do to files: every rename into `folder`, with whether the file's
/// data had been fsync'd before it and whether its folder was fsync'd after it.
let private renames (log: string) (folder: string) =
    let paths = Collections.Generic.Dictionary<string, string>()
    let synced = Collections.Generic.HashSet<string>()
    let pending = Collections.Generic.List<string * string * bool * bool ref>()
    // A call another thread interrupted is logged in two pieces: "PID name(args <unfinished ...>",
    // then "PID <... name resumed>rest) = R"; joined here.
    let unfinished = Collections.Generic.Dictionary<string, string>()
    let joined =
        [ for line in File.ReadAllLines log do
              let first = Text.RegularExpressions.Regex.Match(line, @"^(\d+)\s+(.*) <unfinished \.\.\.>$")
              let resumed = Text.RegularExpressions.Regex.Match(line, @"^(\d+)\s+<\.\.\. \w+ resumed>(.*)$")
              if first.Success then unfinished[first.Groups[1].Value] <- first.Groups[2].Value
              elif resumed.Success && unfinished.ContainsKey resumed.Groups[1].Value then
                  yield resumed.Groups[1].Value + " " + unfinished[resumed.Groups[1].Value] + resumed.Groups[2].Value
              else yield line ]
    for line in joined do
        let call = Text.RegularExpressions.Regex.Match(line, @"^\d+\s+(\w+)\((.*)\)\s+=\s+(-?\d+)")
        if call.Success then
            let name, args, result = call.Groups[1].Value, call.Groups[2].Value, call.Groups[3].Value
            let strings = [ for m in Text.RegularExpressions.Regex.Matches(args, "\"([^\"]*)\"") -> m.Groups[1].Value ]
            match name with
            | "openat" when result <> "-1" && strings.Length = 1 -> paths[result] <- Path.GetFullPath strings[0]
            | "fsync" when result = "0" ->
                match paths.TryGetValue args with
                | true, path ->
                    synced.Add path |> ignore
                    for _, target, _, folderSynced in pending do
                        if Path.GetDirectoryName target = path then folderSynced.Value <- true
                | _ -> ()
            | "rename" | "renameat" | "renameat2" when result = "0" && strings.Length = 2 ->
                let source, target = Path.GetFullPath strings[0], Path.GetFullPath strings[1]
                if target.StartsWith folder then pending.Add((source, target, synced.Contains source, ref false))
            | _ -> ()
    [ for source, target, dataSynced, folderSynced in pending -> Path.GetFileName target, dataSynced, folderSynced.Value ]

[<Tests>]
let tests =
    testList "CrashTests" [
        testCase "every file a run commits reaches the disk before its rename, and the rename before the next write" <| fun () ->
            use temp = new TempFolder "fsync"
            let folder = Path.Combine(temp.Path, "run")
            let log = Path.Combine(temp.Path, "strace.log")
            let r =
                let info = Diagnostics.ProcessStartInfo("strace", RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
                for a in [ "-f"; "-qq"; "-e"; "trace=openat,fsync,rename,renameat,renameat2"; "-o"; log; "dotnet"; researchDll; "mlp"; "train"
                           "--epochs"; "1"; "--limit"; "500"; "--validation"; "100"; "--threads"; "1"; "--out"; folder ] do
                    info.ArgumentList.Add a
                use p = Diagnostics.Process.Start info
                finish p
            Expect.equal r.ExitCode 0 $"the traced run failed: {r.Err}"
            let seen = renames log folder
            let names = seen |> List.map (fun (n, _, _) -> n) |> List.distinct |> List.sort
            Expect.equal names [ ".lock-owner"; "best.safetensors"; "config.json"; "last.safetensors"; "metrics.csv"; "resume.safetensors" ] "the files renamed into place"
            for name, dataSynced, folderSynced in seen do
                Expect.isTrue dataSynced $"{name}: its data were not fsync'd before the rename"
                Expect.isTrue folderSynced $"{name}: its folder was not fsync'd after the rename"
        testCase "a kill at any step of any write leaves a run that continues to the uninterrupted result" <| fun () ->
            use temp = new TempFolder "kills"
            let reference = Path.Combine(temp.Path, "reference")
            Expect.equal ((research temp.Path [] (args @ [ "--out"; reference ])).ExitCode) 0 "(research temp.Path [] (args @ [ \"--out\"; reference ])).ExitCode"
            let mutable step, finished = 1, false
            while not finished do
                let folder = Path.Combine(temp.Path, $"killed-at-{step}")
                let killed = research temp.Path [ "RESEARCH_TEST_KILL_AT", string step ] (args @ [ "--out"; folder ])
                if killed.ExitCode = 0 then
                    // The run made fewer writes than `step`: every one of them has been killed at.
                    finished <- true
                else
                    Expect.isTrue (137 = killed.ExitCode) $"step {step}: exit code {killed.ExitCode} (expected SIGKILL's 137): {killed.Err}"
                    // As a user would: resume a run that has committed an epoch, else start it again.
                    let committed = File.Exists(Path.Combine(folder, "checkpoints", "resume.safetensors"))
                    let continued = research temp.Path [] (args @ [ "--out"; folder ] @ (if committed then [ "--resume" ] else []))
                    Expect.isTrue (0 = continued.ExitCode) $"step {step}: continuing failed: {continued.Err}"
                    assertSameRun reference folder $"killed at step {step}"
                    Directory.Delete(folder, true)
                    step <- step + 1
            // Epoch 0's images, and per epoch the metrics, images, two model files, config and the commit.
            Expect.isTrue (step > 20) $"only {step - 1} write steps were killed at"
    ]
