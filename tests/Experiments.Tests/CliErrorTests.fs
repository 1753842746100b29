/// The runner's one error path, tried as a user would: a bad flag or value, a folder in use, a
/// diverging run, evaluation files and bad image files end with one line and the documented exit
/// code, and leave nothing behind.
module Research.Experiments.Tests.CliErrorTests

open System
open System.IO
open System.Threading
open Expecto
open Research.Tests.Checks
open Research.Experiments.Tests.Cli

/// A small, fast VAE run (a few seconds).
let private small = [ "--latent"; "4"; "--hidden"; "32"; "--limit"; "500"; "--validation"; "200"; "--batch-size"; "100"; "--threads"; "1" ]

[<Tests>]
let tests =
    testList "CliErrorTests" [
        testCase "a bad flag or value is one line and exit code 2, and creates nothing" <| fun () ->
            use temp = new TempFolder "bad-flags"
            let cores = Environment.ProcessorCount
            // MNIST's training images, cut short after 100 bytes.
            Directory.CreateDirectory(Path.Combine(temp.Path, "bad-data", "mnist")) |> ignore
            using (File.OpenRead(Path.Combine(mnistFolder, "train-images-idx3-ubyte"))) (fun images ->
                let start = Array.zeroCreate<byte> 100
                images.ReadExactly(start, 0, 100)
                File.WriteAllBytes(Path.Combine(temp.Path, "bad-data", "mnist", "train-images-idx3-ubyte"), start))
            for args, fragment in
                [ [ "vae"; "train"; "--out"; "run"; "--bogus" ], "research vae train has no option --bogus (see research vae train --help)"
                  [ "vae"; "train"; "--out"; "run"; "--epoch"; "3" ], "research vae train has no option --epoch (did you mean --epochs?)"
                  [ "vea"; "train" ], "research has no command 'vea' (did you mean vae?); its commands: mlp, vae, gan,"
                  [ "gan"; "smaple"; "run" ], "research gan has no command 'smaple' (did you mean sample?); its commands: train, sample"
                  [ "vae" ], "research vae needs a command: train, sample, eval (see research vae --help)"
                  [ "report" ], "research report needs <runs>"
                  [ "vae"; "train"; "--out"; "run"; "extra" ], "research vae train takes no argument 'extra'"
                  [ "bench"; "vae"; "--skip-pytorch"; "yes" ], "--skip-pytorch is a flag and takes no value (got 'yes')"
                  // Counts are checked before the peer script is looked for (none above this folder).
                  [ "bench"; "flow"; "--rounds"; "0" ], "--rounds must be at least 1 (got 0)"
                  [ "bench"; "vae"; "--sgemm-size"; "0" ], "--sgemm-size must be at least 1 (got 0)"
                  [ "bench"; "gan"; "--intra-op-threads"; "-2" ], "--intra-op-threads must be 0 or more (got -2)"
                  [ "vae"; "train"; "--out"; "run"; "--epochs" ], "--epochs needs a whole number"
                  [ "vae"; "train"; "--out"; "run"; "--epochs"; "abc" ], "--epochs takes a whole number (got 'abc')"
                  [ "vae"; "train"; "--out"; "run"; "--lr"; "fast" ], "--lr takes a number (got 'fast')"
                  [ "vae"; "train"; "--out"; "run"; "--threads"; "999" ], $"--threads must be between 1 and this machine's {cores} cores (got 999)"
                  [ "vae"; "train"; "--out"; "run"; "--lr"; "Infinity" ], "--lr must be a positive, finite number (got Infinity)"
                  [ "vae"; "train"; "--out"; "run"; "--validation"; "0" ], "--validation must be between 1 and 59999"
                  [ "vae"; "train"; "--out"; "run"; "--arch"; "transformer" ], "unknown architecture 'transformer'"
                  [ "vae"; "train"; "--out"; "run"; "--hidden"; "400,x" ], "--hidden: 'x' is not an integer"
                  [ "mlp"; "train"; "--out"; "run"; "--lr"; "-1" ], "--lr must be a positive, finite number (got -1)"
                  [ "gan"; "train"; "--out"; "run"; "--arch"; "transformer" ], "unknown architecture 'transformer' (expected mlp or dcgan)"
                  [ "gan"; "train"; "--out"; "run"; "--d-steps"; "0" ], "--d-steps must be at least 1 (got 0)"
                  [ "gan"; "train"; "--out"; "run"; "--arch"; "dcgan"; "--gen-hidden"; "32,64" ], "the DCGAN takes one base channel count for --gen-hidden"
                  [ "gan"; "sample"; "nowhere" ], "nowhere is not a run folder: it has no config.json"
                  [ "vae"; "eval"; "nowhere" ], "nowhere is not a run folder: it has no config.json"
                  [ "report"; "nowhere"; "--no-verify"; "--out"; "run" ], "nowhere is not a run folder: it has no config.json"
                  [ "vae"; "train"; "--out"; "run"; "--hidden"; "400,,3" ], "--hidden: '400,,3' has an empty entry"
                  [ "vae"; "train"; "--out"; "run"; "--limit"; "70000" ], "--limit 70000 asks for more training images than the 50000 that MNIST's 60000 leave after --validation 10000"
                  [ "vae"; "train"; "--out"; "run"; "--validation"; "59999"; "--limit"; "500" ], "--limit 500 asks for more training images than the 1 that"
                  [ "vae"; "train"; "--out"; "run"; "--resume" ], "nothing to resume:"
                  [ "flow"; "sample"; "nowhere"; "--temperature"; "Infinity" ], "--temperature must be a positive, finite number (got Infinity)"
                  [ "flow"; "sample"; "nowhere"; "--temperature"; "NaN" ], "--temperature must be a positive, finite number (got NaN)"
                  [ "flow"; "sample"; "nowhere"; "--temperature"; "0" ], "--temperature must be a positive, finite number (got 0)"
                  [ "score"; "nowhere"; "--temperature"; "Infinity" ], "--temperature must be a positive, finite number (got Infinity)"
                  // Read before any side starts: the data's own error, not a side's failure.
                  [ "bench"; "flow"; "--skip-pytorch"; "--data"; "run" ], $"""missing data file '{Path.Combine("run", "mnist", "train-images-idx3-ubyte")}'"""
                  [ "bench"; "gan"; "--skip-pytorch"; "--data"; "bad-data" ], $"""IDX file '{Path.Combine("bad-data", "mnist", "train-images-idx3-ubyte")}': shape [60000, 28, 28] of UInt8 expected 47040000 bytes of data, found 84"""
                  // An unset shell variable ($OUT) gives an empty value; .NET's own line named no option.
                  [ "vae"; "train"; "--out"; "" ], "--out was given an empty value"
                  [ "vae"; "train"; "--out"; "run"; "--data"; " " ], "--data was given an empty value"
                  [ "report"; "" ], "<runs> was given an empty value"
                  [ "vae"; "train"; "--out"; "a-file" ], "a-file is a file; --out names a folder"
                  // report and score take any number of inputs: an unknown option was read as one more.
                  [ "score"; "nowhere"; "--out"; "run" ], "research score has no option --out (see research score --help)"
                  [ "report"; "nowhere"; "--no-verfy" ], "research report has no option --no-verfy (did you mean --no-verify?)"
                  [ "mlp"; "train"; "--out"; "run"; "--world-size"; "2" ], "--world-size needs --rank"
                  [ "mlp"; "train"; "--out"; "run"; "--resume"; "sometimes" ], "--resume takes no value, or 'auto' (got 'sometimes')"
                  // Refused before its minute of checks, not after.
                  [ "verify"; "--out"; "a-file" ], "--out a-file is a file; give a folder for verify.html"
                  [ "verify"; "--out"; Path.Combine("pages", "verify.html") ], $"""--out {Path.Combine("pages", "verify.html")} names a page; give the folder for verify.html (--out pages)"""
                  [ "verify"; "--out"; Path.Combine("a-file", "run") ], "is not writable" ] do
                File.WriteAllText(Path.Combine(temp.Path, "a-file"), "")
                let r = research temp.Path [] args
                oneLineError 2 fragment r
                Expect.isFalse (Directory.Exists(Path.Combine(temp.Path, "run"))) $"{args}: a run folder was created"
                Expect.isFalse (Directory.Exists(Path.Combine(temp.Path, "pages"))) $"{args}: a page's folder was created"
        testCase "bench refuses a --python that cannot run or cannot import torch before it times anything" <| fun () ->
            use temp = new TempFolder "bench-python"
            let noTorch = Path.Combine(temp.Path, "python-without-torch")
            File.WriteAllText(noTorch, "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'torch'\" >&2\nexit 1\n")
            File.SetUnixFileMode(noTorch, UnixFileMode.UserRead ||| UnixFileMode.UserExecute)
            for python, says in [ noTorch, $"--python {noTorch} cannot import torch (ModuleNotFoundError: No module named 'torch'); give a Python with torch (Debian's python3-torch), or --skip-pytorch"
                                  Path.Combine(temp.Path, "nowhere"), "cannot run it" ] do
                let r = research temp.Path [] [ "bench"; "vae"; "--python"; python; "--script"; "peer.py"; "--limit"; "256" ]
                oneLineError 2 says r
                Expect.isFalse (r.Out.Contains "research (.NET") $"this workspace's side ran first: {r.Out}"
        // The thread that runs a command keeps SIGINT and SIGTERM off (Signals); the processes it
        // starts must not inherit that, or Ctrl-C and SIGTERM would not reach them.
        testCase "a process that bench starts receives SIGINT and SIGTERM (its signal mask blocks neither)" <| fun () ->
            use temp = new TempFolder "bench-mask"
            let python = Path.Combine(temp.Path, "python-showing-its-mask")
            File.WriteAllText(python, "#!/bin/sh\ngrep SigBlk /proc/self/status >&2\nexit 1\n")
            File.SetUnixFileMode(python, UnixFileMode.UserRead ||| UnixFileMode.UserExecute)
            let r = research temp.Path [] [ "bench"; "vae"; "--python"; python; "--limit"; "256" ]
            oneLineError 2 "cannot import torch (SigBlk:" r
            let shown = r.Err.Substring(r.Err.IndexOf "SigBlk:" + 7).TrimStart().Substring(0, 16)
            Expect.equal (Convert.ToUInt64(shown, 16) &&& 0x4002UL) 0UL $"the child's blocked signals: {shown}"
        testCase "a run folder on a read-only file system is one line saying it is not writable" <| fun () ->
            if Environment.UserName <> "root" then skiptest "a read-only bind mount needs root"
            use temp = new TempFolder "read-only"
            let outer = Path.Combine(temp.Path, "mounted")
            let run = Path.Combine(outer, "run")
            Directory.CreateDirectory run |> ignore
            // What a process that has since died left: its lock file and its name.
            File.WriteAllText(Path.Combine(run, ".lock"), "")
            File.WriteAllText(Path.Combine(run, ".lock-owner"), "process 1 on elsewhere since 2026-01-01T00:00:00")
            let mount (args: string) =
                use p = Diagnostics.Process.Start(Diagnostics.ProcessStartInfo("mount", args, RedirectStandardError = true))
                p.WaitForExit()
                if p.ExitCode <> 0 then failtest $"mount {args}: {p.StandardError.ReadToEnd()}"
            mount $"--bind {outer} {outer}"
            try
                mount $"-o remount,bind,ro {outer}"
                oneLineError 2 $"{run} is not writable" (research temp.Path [] ([ "vae"; "train"; "--out"; run ] @ small))
            finally
                use p = Diagnostics.Process.Start("umount", outer)
                p.WaitForExit()
        testCase "an IDX file of no images is one line saying so" <| fun () ->
            use temp = new TempFolder "empty-idx"
            let empty = Path.Combine(temp.Path, "empty-idx3-ubyte")
            File.WriteAllBytes(empty, [| 0uy; 0uy; 8uy; 3uy; 0uy; 0uy; 0uy; 0uy; 0uy; 0uy; 0uy; 28uy; 0uy; 0uy; 0uy; 28uy |])
            oneLineError 2 $"IDX file '{empty}' holds no images" (research temp.Path [] [ "score"; empty; "--n"; "10" ])
        testCase "a second process on a run folder is refused while the first trains, and the first is unharmed" <| fun () ->
            use temp = new TempFolder "two-processes"
            let first = start temp.Path [] [ researchDll; "vae"; "train"; "--epochs"; "3"; "--limit"; "20000"; "--validation"; "500"; "--threads"; "1"; "--out"; "run" ]
            let owner = Path.Combine(temp.Path, "run", ".lock-owner")
            let clock = Diagnostics.Stopwatch.StartNew()
            while not (File.Exists owner) && clock.Elapsed < TimeSpan.FromSeconds 60.0 && not first.HasExited do
                Thread.Sleep 50
            let second = research temp.Path [] ([ "vae"; "train"; "--out"; "run" ] @ small)
            let firstDone = finish first
            Expect.equal firstDone.ExitCode 0 "firstDone.ExitCode"
            oneLineError 2 $"run is in use by process {first.Id}" second
            Expect.equal second.Out "" "nothing but the error line"
            // The first run's folder is its own: its config, all three epochs.
            let config = File.ReadAllText(Path.Combine(temp.Path, "run", "config.json"))
            Expect.stringContains config ("\"train_limit\": 20000") "config"
            Expect.equal (File.ReadAllLines(Path.Combine(temp.Path, "run", "metrics.csv")).Length) 4 "File.ReadAllLines(Path.Combine(temp.Path, \"run\", \"metrics.csv\")).Length"
            // Once it has finished, the folder is free again (to resume, here).
            let third = research temp.Path [] [ "vae"; "train"; "--epochs"; "4"; "--limit"; "20000"; "--validation"; "500"; "--threads"; "1"; "--out"; "run"; "--resume" ]
            Expect.equal third.ExitCode 0 "third.ExitCode"
        testCase "Ctrl-C or SIGTERM stops a run at once with one line saying what it holds, and --resume continues it" <| fun () ->
            use temp = new TempFolder "interrupted"
            let train (out: string) (epochs: int) = [ researchDll; "vae"; "train"; "--epochs"; string epochs; "--out"; out ] @ small
            for signal, code in [ "INT", 130; "TERM", 143 ] do
                let folder = Path.Combine(temp.Path, signal)
                let resumeFile = Path.Combine(folder, "checkpoints", "resume.safetensors")
                use p = start temp.Path [] (train folder 1000)
                // Stopped once an epoch is committed, in a later one.
                let clock = Diagnostics.Stopwatch.StartNew()
                while not (File.Exists resumeFile) && clock.Elapsed < TimeSpan.FromSeconds 60.0 && not p.HasExited do
                    Thread.Sleep 50
                Thread.Sleep 300
                use kill = Diagnostics.Process.Start("kill", [ $"-{signal}"; string p.Id ])
                kill.WaitForExit()
                let r = finish p
                Expect.equal r.ExitCode code $"SIG{signal}'s exit code: {r.Err}"
                // The committed epoch, from the resume file's metadata (metrics.csv may hold a row more).
                let committed =
                    let bytes = File.ReadAllBytes resumeFile
                    use header = Text.Json.JsonDocument.Parse(ReadOnlyMemory(bytes, 8, int (BitConverter.ToUInt64(bytes, 0))))
                    int (header.RootElement.GetProperty("__metadata__").GetProperty("epoch").GetString())
                Expect.isGreaterThan committed 0 "an epoch committed before the signal"
                Expect.equal (lines r.Err) [| $"stopped by SIG{signal}: {folder} holds {committed} committed epoch(s); --resume continues from the last" |] "one line on stderr"
                let resumed = research temp.Path [] [ "vae"; "train"; "--resume"; "--epochs"; string (committed + 1); "--out"; folder ]
                Expect.equal resumed.ExitCode 0 resumed.Err
                Expect.equal (File.ReadAllLines(Path.Combine(folder, "metrics.csv")).Length - 1) (committed + 1) "the resume trains one more epoch"
        testCase "--resume alone continues the run with its own settings, the model's too, to its own total; a finished run says so; --epochs extends it" <| fun () ->
            use temp = new TempFolder "resume-settings"
            // 1000 images in batches of 100: 10 steps an epoch; killed in epoch 3 of 5 (the family's
            // default is 3 epochs, batches of 128, no limit).
            let mlp = [ "mlp"; "train"; "--out"; "run" ]
            let epochsIn () = File.ReadAllLines(Path.Combine(temp.Path, "run", "metrics.csv")).Length - 1
            let settings = [ "--threads"; "1"; "--limit"; "1000"; "--validation"; "500"; "--batch-size"; "100"; "--seed"; "3" ]
            // The model's own setting too: 32 hidden units, not the default 256.
            let killed = research temp.Path [ "RESEARCH_TEST_KILL_AT_STEP", "0:25" ] (mlp @ settings @ [ "--epochs"; "5"; "--hidden"; "32" ])
            Expect.notEqual killed.ExitCode 0 "the kill stops the run"
            Expect.equal (epochsIn ()) 2 "two epochs committed before the kill"
            let config () = File.ReadAllText(Path.Combine(temp.Path, "run", "config.json"))
            let before = config ()
            let resumed = research temp.Path [] (mlp @ [ "--resume" ])
            Expect.equal resumed.ExitCode 0 resumed.Err
            Expect.equal (epochsIn ()) 5 "the resume trains to the run's 5 epochs, not the default 3"
            Expect.equal (config ()) before "the run's settings, unchanged"
            // A setting given and different is still refused, in one line naming it.
            oneLineError 2 "--batch-size: saved 100, requested 128" (research temp.Path [] (mlp @ [ "--resume"; "--batch-size"; "128"; "--epochs"; "6" ]))
            oneLineError 2 "--hidden: saved 32, requested 64" (research temp.Path [] (mlp @ [ "--resume"; "--hidden"; "64"; "--epochs"; "6" ]))
            let again = research temp.Path [] (mlp @ [ "--resume" ])
            Expect.equal again.ExitCode 0 again.Err
            Expect.stringContains again.Err "has trained 5 epochs, all that --epochs 5 asks for" "a finished run says so"
            Expect.equal (epochsIn ()) 5 "and trains nothing"
            let further = research temp.Path [] (mlp @ [ "--resume"; "--epochs"; "6"; "--batch-size"; "100" ])
            Expect.equal further.ExitCode 0 further.Err
            Expect.equal (epochsIn ()) 6 "--epochs 6 trains one more"
            Expect.stringContains (File.ReadAllText(Path.Combine(temp.Path, "run", "config.json"))) "\"epochs\": 6" "config.json has the new total"
        testCase "a config.json edited after training is refused where a checkpoint is read, in one line naming both values" <| fun () ->
            use temp = new TempFolder "edited-config"
            let trained = research temp.Path [] ([ "vae"; "train"; "--epochs"; "1"; "--out"; "run" ] @ small)
            Expect.equal trained.ExitCode 0 trained.Err
            let path = Path.Combine(temp.Path, "run", "config.json")
            let saved = File.ReadAllText path
            let edit (before: string) (after: string) =
                Expect.stringContains saved before "the setting in config.json"
                File.WriteAllText(path, saved.Replace(before, after))
            let best, resumeFile = Path.Combine(temp.Path, "run", "checkpoints", "best.safetensors"), Path.Combine(temp.Path, "run", "checkpoints", "resume.safetensors")
            let sample () = research temp.Path [] [ "vae"; "sample"; "run"; "--n"; "4"; "--threads"; "1" ]
            let resume () = research temp.Path [] [ "vae"; "train"; "--resume"; "--out"; "run"; "--epochs"; "2" ]
            // The model's setting: another model than the checkpoints hold, for sampling, evaluation and resuming.
            edit "\"latent\": 4" "\"latent\": 5"
            oneLineError 2 $"{best} was written with other settings than {path} holds (--latent 4 there, 5 in config.json); config.json was edited or replaced: restore it" (sample ())
            oneLineError 2 "(--latent 4 there, 5 in config.json)" (research temp.Path [] [ "vae"; "eval"; "run"; "--threads"; "1"; "--limit"; "20" ])
            oneLineError 2 $"{resumeFile} was written with other settings than {path} holds (--latent 4 there, 5 in config.json)" (resume ())
            // The run's setting: the model is the same, so sampling goes on; resuming another split is refused.
            edit "\"seed\": 1" "\"seed\": 7"
            let drawn = sample ()
            Expect.equal drawn.ExitCode 0 drawn.Err
            oneLineError 2 "(--seed 1 there, 7 in config.json)" (resume ())
            File.WriteAllText(path, saved)
            let resumed = resume ()
            Expect.equal resumed.ExitCode 0 resumed.Err
        testCase "a fresh start in a folder holding files that no run wrote is refused in one line, and touches nothing" <| fun () ->
            use temp = new TempFolder "foreign"
            let project = Path.Combine(temp.Path, "project")
            Directory.CreateDirectory(Path.Combine(project, "images")) |> ignore
            File.WriteAllText(Path.Combine(project, "notes.txt"), "mine")
            File.WriteAllText(Path.Combine(project, "images", "holiday.png"), "mine too")
            let before () = Directory.GetFileSystemEntries(project, "*", SearchOption.AllDirectories) |> Array.sort
            let entries = before ()
            for resume in [ []; [ "--resume"; "auto" ] ] do
                let r = research temp.Path [] ([ "vae"; "train"; "--epochs"; "1"; "--out"; project ] @ resume @ small)
                oneLineError 2 $"{project} holds files that no run wrote (images, notes.txt); a run starts in a new or empty --out folder, or its own" r
                Expect.equal (before ()) entries "the folder is as it was, without a lock file"
            // What a failed start of a run left is no obstacle: it is cleared and the run starts.
            let failed = Path.Combine(temp.Path, "failed")
            let diverged = research temp.Path [] ([ "vae"; "train"; "--lr"; "1e10"; "--image-epochs"; "0,1"; "--out"; failed ] @ small)
            Expect.equal diverged.ExitCode 3 diverged.Err
            Expect.isTrue (File.Exists(Path.Combine(failed, "images", "samples-epoch-000.png"))) "the failed start's epoch-0 grid"
            let started = research temp.Path [] ([ "vae"; "train"; "--epochs"; "1"; "--out"; failed ] @ small)
            Expect.equal started.ExitCode 0 started.Err
        testCase "a run whose resume checkpoint was removed is neither started afresh over nor cleared; a failed start is" <| fun () ->
            use temp = new TempFolder "lost-commit"
            let run = Path.Combine(temp.Path, "run")
            let trained = research temp.Path [] ([ "vae"; "train"; "--epochs"; "2"; "--out"; run ] @ small)
            Expect.equal trained.ExitCode 0 trained.Err
            File.Delete(Path.Combine(run, "checkpoints", "resume.safetensors"))
            // Its files but the lock's (.lock-owner names the last process that held the folder).
            let files () =
                Directory.GetFiles(run, "*", SearchOption.AllDirectories)
                |> Array.filter (fun f -> not (Path.GetFileName(f).StartsWith ".lock"))
                |> Array.sort |> Array.map (fun f -> f, File.ReadAllBytes f)
            let before = files ()
            for resume in [ []; [ "--resume" ]; [ "--resume"; "auto" ] ] do
                let r = research temp.Path [] ([ "vae"; "train"; "--epochs"; "3"; "--out"; run ] @ resume @ small)
                oneLineError 2 $"{run} holds a run of 2 epochs (metrics.csv) whose commit, checkpoints/resume.safetensors, is missing, so it can neither resume nor be cleared for a new run" r
                Expect.equal (files ()) before "the run's files, untouched"
            // A start that failed before its first commit holds no run: --resume starts it afresh, saying so.
            let failed = Path.Combine(temp.Path, "failed")
            let diverged = research temp.Path [] ([ "vae"; "train"; "--lr"; "1e10"; "--out"; failed ] @ small)
            Expect.equal diverged.ExitCode 3 diverged.Err
            let resumed = research temp.Path [] ([ "vae"; "train"; "--epochs"; "1"; "--resume"; "--out"; failed ] @ small)
            Expect.equal resumed.ExitCode 0 resumed.Err
            Expect.stringContains resumed.Err $"note: {failed} holds no committed epoch (its first epoch never finished); starting it afresh" "the note"
            Expect.equal (File.ReadAllLines(Path.Combine(failed, "metrics.csv")).Length) 2 "one epoch trained"
        testCase "a diverging run exits with code 3 and one line naming where it stopped" <| fun () ->
            use temp = new TempFolder "diverging"
            let r = research temp.Path [] ([ "vae"; "train"; "--lr"; "1e10"; "--out"; "run" ] @ small)
            oneLineError 3 "the loss became NaN at epoch 1, step" r
            Expect.isFalse (File.Exists(Path.Combine(temp.Path, "run", "config.json"))) "File.Exists(Path.Combine(temp.Path, \"run\", \"config.json\"))"
        testCase "evaluations of other images or fewer of them do not overwrite the test-set result" <| fun () ->
            use temp = new TempFolder "eval-names"
            Expect.equal ((research temp.Path [] ([ "vae"; "train"; "--epochs"; "1"; "--out"; "run" ] @ small)).ExitCode) 0 "(research temp.Path [] ([ \"vae\"; \"train\"; \"--epochs\"; \"1\"; \"--out\"; \"run\" ] @ small)).ExitCode"
            // 12 grey-level images of the model's size as an IDX file.
            let rng = Random 3
            let idx = Path.Combine(temp.Path, "mine-idx3-ubyte")
            let header = [| 0uy; 0uy; 8uy; 3uy; 0uy; 0uy; 0uy; 12uy; 0uy; 0uy; 0uy; 28uy; 0uy; 0uy; 0uy; 28uy |]
            File.WriteAllBytes(idx, Array.append header (Array.init (12 * 784) (fun _ -> byte (rng.Next 256))))
            let eval args = research temp.Path [] ([ "vae"; "eval"; "run"; "--threads"; "1" ] @ args)
            for args, file in
                [ [ "--k"; "3" ], "best-test-k3-seed1.json"
                  [ "--k"; "4" ], "best-test-k4-seed1.json"
                  [ "--k"; "3"; "--seed"; "2" ], "best-test-k3-seed2.json"
                  [ "--k"; "3"; "--limit"; "50" ], "best-test-first50-k3-seed1.json"
                  [ "--k"; "3"; "--images"; idx ], "best-mine-idx3-ubyte-k3-seed1.json"
                  [ "--k"; "3"; "--images"; idx; "--binarize"; "dynamic" ], "best-mine-idx3-ubyte-k3-seed1-dynamic.json"
                  [ "--checkpoint"; "last"; "--k"; "2" ], "last-test-k2-seed1.json" ] do
                let r = eval args
                Expect.isTrue (0 = r.ExitCode) r.Err
                Expect.stringContains r.Out file "the command's output"
            for args, says in [ [ "--k"; "0" ], "--k must be at least 1 (got 0)"; [ "--chunk"; "0" ], "--chunk must be at least 1 (got 0)" ] do
                oneLineError 2 says (eval args)
            let written = Directory.GetFiles(Path.Combine(temp.Path, "run", "eval")) |> Array.map Path.GetFileName |> Array.sort
            Expect.equal written [| "best-mine-idx3-ubyte-k3-seed1-dynamic.json"; "best-mine-idx3-ubyte-k3-seed1.json"; "best-test-first50-k3-seed1.json"
                                    "best-test-k3-seed1.json"; "best-test-k3-seed2.json"; "best-test-k4-seed1.json"; "last-test-k2-seed1.json" |] "written"
            let file = File.ReadAllText(Path.Combine(temp.Path, "run", "eval", "best-mine-idx3-ubyte-k3-seed1.json"))
            for field in [ "\"images\": 12"; "\"measure\": \"log p(x)\""; "\"epoch\": 1"; "\"samples\": 3"; "\"bound\": \"test ELBO\"" ] do
                Expect.stringContains file field "the evaluation record"
            // The run's report lists every evaluation, labelled by checkpoint and settings.
            let report = research temp.Path [] [ "report"; "run"; "--no-verify" ]
            Expect.equal report.ExitCode 0 report.Err
            let page = File.ReadAllText(Path.Combine(temp.Path, "run", "report.html"))
            for label in [ "best (epoch 1), test-k3-seed1"; "best (epoch 1), test-k4-seed1"; "last (epoch 1), test-k2-seed1" ] do
                Expect.stringContains page label "the report's evaluations"
            // A folder for the images, a file for the report's folder, a folder that is no run: one line each, before any work.
            oneLineError 2 $"'{temp.Path}' is a folder, not an IDX file" (eval [ "--images"; temp.Path ])
            oneLineError 2 $"--out {idx} is a file; give a folder for report.html" (research temp.Path [] [ "report"; "run"; "--out"; idx ])
            let late = research temp.Path [] [ "report"; "run"; "nowhere"; "--out"; "both" ]
            oneLineError 2 "nowhere is not a run folder" late
            Expect.isFalse (late.Out.Contains "its figures") $"the figures were drawn before the check: {late.Out}"
            let run = Path.Combine(temp.Path, "run")
            // A stage that fails ends its own line, so the error stands on a line of its own.
            let broken = Path.Combine(temp.Path, "broken")
            Directory.CreateDirectory(Path.Combine(broken, "checkpoints")) |> ignore
            for file in [ "config.json"; "checkpoints/best.safetensors"; "checkpoints/last.safetensors" ] do File.Copy(Path.Combine(run, file), Path.Combine(broken, file))
            File.WriteAllText(Path.Combine(broken, "metrics.csv"), File.ReadAllText(Path.Combine(run, "metrics.csv")) + "2,-5\n")
            let failing = research temp.Path [] [ "report"; "broken"; "--no-verify" ]
            oneLineError 2 "broken/metrics.csv, line 3:" failing
            Expect.equal (lines failing.Out) [| "report: broken: its figures ... failed" |] "the stage's line"
            oneLineError 2 $"{run} is given 2 times; a report shows each run once"
                (research temp.Path [] [ "report"; "run"; "run/"; "--no-verify"; "--out"; "both" ])
            // Another run's folder as --out would replace that run's own report.html.
            oneLineError 2 "--out broken is the folder of another run, whose report.html is its own; give a folder that holds no run"
                (research temp.Path [] [ "report"; "run"; "--no-verify"; "--out"; "broken" ])
            Expect.isFalse (File.Exists(Path.Combine(broken, "report.html"))) "the other run's folder got a report"
            // Binary images stored as 0 and 1 (instead of 0 and 255) are refused, not read as near-black.
            let binary = Path.Combine(temp.Path, "binary-idx3-ubyte")
            File.WriteAllBytes(binary, Array.append header (Array.init (12 * 784) (fun _ -> byte (rng.Next 2))))
            oneLineError 2 "every pixel is 0 or 1; binary images must be stored as 0 and 255" (eval [ "--images"; binary ])
            // Images of another size than the model's.
            let small = Path.Combine(temp.Path, "small-idx3-ubyte")
            File.WriteAllBytes(small, Array.append [| 0uy; 0uy; 8uy; 3uy; 0uy; 0uy; 0uy; 2uy; 0uy; 0uy; 0uy; 14uy; 0uy; 0uy; 0uy; 14uy |] (Array.init (2 * 196) (fun i -> byte i)))
            oneLineError 2 "its images are 1x14x14, the model's are 1x28x28" (eval [ "--images"; small ])
        testCase "two flow evaluations with other settings, from other working directories, keep two files; the comparison lists both" <| fun () ->
            use temp = new TempFolder "flow-evals"
            let train = research temp.Path [] [ "flow"; "train"; "--hidden"; "8,8,8"; "--couplings"; "2,2,2"; "--epochs"; "1"; "--limit"; "500"
                                                "--validation"; "100"; "--batch-size"; "100"; "--threads"; "1"; "--image-epochs"; "1"; "--out"; "flow" ]
            Expect.equal train.ExitCode 0 train.Err
            let elsewhere = Path.Combine(temp.Path, "elsewhere")
            Directory.CreateDirectory elsewhere |> ignore
            let run = Path.Combine(temp.Path, "flow")
            for folder, samples in [ temp.Path, "2"; elsewhere, "3" ] do
                let r = research folder [] [ "flow"; "eval"; run; "--samples"; samples; "--limit"; "100"; "--threads"; "1" ]
                Expect.equal r.ExitCode 0 r.Err
            let written = Directory.GetFiles(Path.Combine(run, "eval")) |> Array.map Path.GetFileName |> Array.sort
            Expect.equal written [| "best-test-first100-k2-seed1.json"; "best-test-first100-k3-seed1.json" |] "one file per evaluation"
            // A comparison of the run with a copy of it lists both evaluations of each.
            let copy = Path.Combine(temp.Path, "flow-copy")
            for file in Directory.GetFiles(run, "*", SearchOption.AllDirectories) do
                let target = Path.Combine(copy, Path.GetRelativePath(run, file))
                Directory.CreateDirectory(Path.GetDirectoryName target) |> ignore
                File.Copy(file, target)
            let compare = Path.Combine(temp.Path, "compare")
            let report = research temp.Path [] [ "report"; run; copy; "--no-verify"; "--out"; compare ]
            Expect.equal report.ExitCode 0 report.Err
            let page = File.ReadAllText(Path.Combine(compare, "report.html"))
            for label in [ "best (epoch 1), test-first100-k2-seed1"; "best (epoch 1), test-first100-k3-seed1"; "bits per dimension" ] do
                Expect.stringContains page label "the comparison's likelihoods"
        testCase "gan train then gan sample writes an IDX file of the requested images and a grid" <| fun () ->
            use temp = new TempFolder "gan-sample"
            let train = research temp.Path [] [ "gan"; "train"; "--latent"; "8"; "--gen-hidden"; "32,64"; "--disc-hidden"; "64,32"; "--epochs"; "1"
                                                "--limit"; "500"; "--validation"; "200"; "--batch-size"; "50"; "--threads"; "1"; "--out"; "gan" ]
            Expect.isTrue (0 = train.ExitCode) train.Err
            let sample = research temp.Path [] [ "gan"; "sample"; "gan"; "--n"; "70"; "--threads"; "1" ]
            Expect.isTrue (0 = sample.ExitCode) sample.Err
            Expect.stringContains sample.Out "drawing: 70/70, " "the drawing's progress at its end"
            let idx = Path.Combine(temp.Path, "gan", "samples", "last-n70-seed1-idx3-ubyte")
            let bytes = File.ReadAllBytes idx
            // IDX: magic 0x00000803, then 70, 28, 28 big-endian, then the pixels.
            Expect.equal (bytes.[.. 15]) [| 0uy; 0uy; 8uy; 3uy; 0uy; 0uy; 0uy; 70uy; 0uy; 0uy; 0uy; 28uy; 0uy; 0uy; 0uy; 28uy |] "bytes.[.. 15]"
            Expect.equal bytes.Length (16 + 70 * 784) "bytes.Length"
            Expect.isTrue (File.Exists(Path.Combine(temp.Path, "gan", "samples", "last-n70-seed1.png"))) "File.Exists(Path.Combine(temp.Path, \"gan\", \"samples\", \"last-n70-seed1.png\"))"
            // The same seed gives the same images.
            let again = research temp.Path [] [ "gan"; "sample"; "gan"; "--n"; "70"; "--threads"; "1"; "--out"; "again" ]
            Expect.isTrue (0 = again.ExitCode) again.Err
            Expect.equal (File.ReadAllBytes(Path.Combine(temp.Path, "again-idx3-ubyte"))) bytes "File.ReadAllBytes(Path.Combine(temp.Path, \"again-idx3-ubyte\"))"
            // --out naming either file stands for their prefix.
            for out in [ "named.png"; "named-idx3-ubyte" ] do
                let named = research temp.Path [] [ "gan"; "sample"; "gan"; "--n"; "70"; "--threads"; "1"; "--out"; out ]
                Expect.isTrue (0 = named.ExitCode) named.Err
                Expect.stringContains named.Out $"""grid:   {Path.Combine(temp.Path, "named.png")}""" out
                Expect.equal (File.ReadAllBytes(Path.Combine(temp.Path, "named-idx3-ubyte"))) bytes out
                Expect.isFalse (File.Exists(Path.Combine(temp.Path, "named.png.png")) || File.Exists(Path.Combine(temp.Path, "named-idx3-ubyte.png"))) out
            // A GAN has no headline metric, so no best checkpoint: asked for one, it names what it has.
            let best = research temp.Path [] [ "gan"; "sample"; "gan"; "--checkpoint"; "best"; "--n"; "4" ]
            oneLineError 2 "has no 'best' checkpoint (it has last; pass --checkpoint last)" best
            // An --out under a file is one line naming the file in the way, and leaves nothing behind.
            File.WriteAllText(Path.Combine(temp.Path, "afile"), "")
            let blocked = research temp.Path [] [ "gan"; "sample"; "gan"; "--n"; "4"; "--out"; Path.Combine("afile", "x") ]
            let target, inTheWay = Path.Combine(temp.Path, "afile", "x-idx3-ubyte"), Path.Combine(temp.Path, "afile")
            oneLineError 2 $"cannot write {target}: {inTheWay} is a file, not a folder" blocked
            // Ctrl-C or SIGTERM while samples stream to their file removes the unfinished file.
            for signal, code in [ "INT", 130; "TERM", 143 ] do
                use p = start temp.Path [] [ researchDll; "gan"; "sample"; "gan"; "--n"; "2000000"; "--threads"; "1"; "--out"; "stopped" ]
                let unfinished () = Directory.GetFiles(temp.Path, ".stopped-idx3-ubyte.*.tmp")
                let clock = Diagnostics.Stopwatch.StartNew()
                while unfinished().Length = 0 && clock.Elapsed < TimeSpan.FromSeconds 60.0 && not p.HasExited do
                    Thread.Sleep 20
                Expect.equal (unfinished().Length) 1 "the file being written"
                use kill = Diagnostics.Process.Start("kill", [ $"-{signal}"; string p.Id ])
                kill.WaitForExit()
                let r = finish p
                Expect.equal r.ExitCode code $"SIG{signal}'s exit code: {r.Err}"
                Expect.equal (Directory.GetFiles(temp.Path, "*stopped*")) [||] $"files left after SIG{signal}"
            // Samples stream to their files (memory stays flat whatever --n), and a file larger than its disk's room is refused at the first batch.
            // (Not on a disk with room for 1.6 TB, where the command would write them.)
            if DriveInfo(temp.Path).AvailableFreeSpace < 1_500_000_000_000L then
                let huge = research temp.Path [] [ "gan"; "sample"; "gan"; "--n"; "2000000000"; "--threads"; "1"; "--out"; "huge" ]
                oneLineError 2 $"""cannot write {Path.Combine(temp.Path, "huge-idx3-ubyte")}: 2000000000 images take 1568.0 GB and its disk has""" huge
                Expect.stringContains huge.Err "GB free; ask for fewer (--n)" "the remedy"
                Expect.isFalse (File.Exists(Path.Combine(temp.Path, "huge.png"))) "a grid of the refused samples"
            Expect.equal (Directory.GetFiles temp.Path |> Array.map Path.GetFileName |> Array.filter (fun f -> f.StartsWith ".")) [||] "temporary files left"
    ]
