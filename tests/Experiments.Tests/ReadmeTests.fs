/// The README's commands as a newcomer copies them: every `research` command line in its bash blocks
/// parses as written, and all of them run, in the README's order in one working folder, with their
/// sizes made tiny (epochs, images, samples, rounds) so that the whole README runs in minutes.
module Research.Experiments.Tests.ReadmeTests

open System
open System.Diagnostics
open System.IO
open System.Text.RegularExpressions
open Expecto
open Research.Tests.Checks
open Research.Experiments.Tests.Cli

/// The argument lists of the `$R ...` (and `.../research.dll ...`) lines of the README's bash blocks,
/// continuation lines joined and comments cut.
let commands (readme: string) =
    [ for block in Regex.Matches(readme, @"```bash\n(.*?)```", RegexOptions.Singleline) do
          for line in block.Groups[1].Value.Replace("\\\n", " ").Split '\n' do
              let code = Regex.Replace(line, @"\s#.*$", "")
              let m = Regex.Match(code, @"(?:\$R|research\.dll) (.*)$")
              if m.Success && not (code.StartsWith "R=") then
                  yield m.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries) |> List.ofArray ]

/// `args` with `flag`'s value replaced by `change` of it (None: the flag is absent; a None result
/// leaves it out).
let private withFlag (flag: string) (change: string option -> string option) (args: string list) =
    let rec find before =
        function
        | f :: value :: rest when f = flag -> List.rev before, Some value, rest
        | a :: rest -> find (a :: before) rest
        | [] -> List.rev before, None, []
    let before, value, after = find [] args
    match change value with
    | Some v -> before @ after @ [ flag; v ]
    | None -> before @ after

let private fixedAt (value: int) = fun (_: string option) -> Some(string value)
let private atMost (most: int) = Option.map (fun (v: string) -> string (min most (int v)))

/// A README command made tiny: a fresh training runs 1 epoch (a resumed one to 2) on 64 images with
/// 32 held out, keeping its image epochs up to 2, and a fresh diffusion model has T = 100 steps (the
/// most DDIM steps the README asks of it; its ancestral sampler and its bound over every step run
/// all T); evaluations take 16 test images (1 for the bound over all T steps), samples 4 images,
/// scores 64, a benchmark one round of one epoch on 256 images. Everything else is as written.
let tiny (args: string list) =
    match args with
    | command :: "train" :: _ ->
        let resumed = List.contains "--resume" args
        let epochs = if resumed then 2 else 1
        args
        |> withFlag "--epochs" (fun e -> if resumed && e.IsNone then None else Some(string epochs))
        |> withFlag "--image-epochs" (Option.map (fun e -> e.Split ',' |> Array.filter (fun x -> int x <= 2) |> String.concat ","))
        |> withFlag "--limit" (fixedAt 64)
        |> withFlag "--validation" (fixedAt 32)
        |> if command = "diffusion" && not resumed then withFlag "--steps" (fun t -> Some(string (min 100 (defaultArg (Option.map int t) 100)))) else id
    | "vae" :: "eval" :: _ -> args |> withFlag "--k" (atMost 8) |> withFlag "--limit" (fixedAt 16)
    | "flow" :: "eval" :: _ -> args |> withFlag "--samples" (atMost 2) |> withFlag "--limit" (fixedAt 16)
    | "diffusion" :: "eval" :: _ -> args |> withFlag "--limit" (fixedAt (if List.contains "--all-steps" args then 1 else 16))
    | _ :: ("sample" | "sweep") :: _ -> args |> withFlag "--n" (fun n -> Some(string (min 4 (defaultArg (Option.map int n) 4))))
    | "score" :: _ -> args |> withFlag "--n" (fixedAt 64)
    | "bench" :: _ -> args |> withFlag "--rounds" (fixedAt 1) |> withFlag "--epochs" (fixedAt 1) |> withFlag "--limit" (fixedAt 256)
    | _ -> args

/// The first `n` MNIST test images as an IDX file: the README's "any IDX file of 28 x 28 images".
let private writeImages (path: string) (n: int) =
    let source = File.ReadAllBytes(Path.Combine(mnistFolder, "t10k-images-idx3-ubyte"))
    let header = Array.copy source[.. 15]
    header[4 .. 7] <- [| byte (n >>> 24); byte (n >>> 16); byte (n >>> 8); byte n |]
    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath path)) |> ignore
    File.WriteAllBytes(path, Array.append header source[16 .. 16 + n * 784 - 1])

[<Tests>]
let tests =
    testList "ReadmeTests" [
        testCase "every research command in the README parses as written" <| fun () ->
            let readme = File.ReadAllText(Path.Combine(repository, "README.md"))
            let all = commands readme
            // The sections' commands: training, evaluation, sampling, scores, reports, benchmarks.
            Expect.isGreaterThan all.Length 50 "the README's commands are found"
            for verb in [ "vae"; "gan"; "flow"; "diffusion"; "beta-vae"; "mlp"; "score"; "report"; "verify"; "bench" ] do
                Expect.exists all (fun c -> c.Head = verb) $"a README command starts with {verb}"
            let failures =
                all
                |> Array.ofList
                |> Array.Parallel.map (fun args ->
                    let r = research repository [ "RESEARCH_TEST_PARSE_ONLY", "1" ] args
                    if r.ExitCode = 0 then None else Some $"""{String.concat " " args}: {r.Err.Trim()}""")
                |> Array.choose id
            Expect.isEmpty failures $"""README commands that do not parse: {String.concat " | " failures}"""
        testCase "the parse-only check refuses a command line that does not parse" <| fun () ->
            let r = research repository [ "RESEARCH_TEST_PARSE_ONLY", "1" ] [ "flow"; "train"; "--temprature"; "0.7" ]
            oneLineError 2 "research flow train has no option --temprature" r
        testCase "tiny limits change only sizes" <| fun () ->
            Expect.equal (tiny [ "flow"; "train"; "--epochs"; "16"; "--image-epochs"; "0,1,4,8,16"; "--out"; "runs/flow"; "--resume" ])
                [ "flow"; "train"; "--out"; "runs/flow"; "--resume"; "--epochs"; "2"; "--image-epochs"; "0,1"; "--limit"; "64"; "--validation"; "32" ] "a resumed training"
            Expect.equal (tiny [ "diffusion"; "train"; "--out"; "runs/diffusion"; "--resume" ])
                [ "diffusion"; "train"; "--out"; "runs/diffusion"; "--resume"; "--limit"; "64"; "--validation"; "32" ] "--resume alone keeps the run's epochs and T"
            Expect.equal (tiny [ "diffusion"; "train"; "--out"; "runs/diffusion" ])
                [ "diffusion"; "train"; "--out"; "runs/diffusion"; "--epochs"; "1"; "--limit"; "64"; "--validation"; "32"; "--steps"; "100" ] "a fresh diffusion model"
            Expect.equal (tiny [ "vae"; "eval"; "runs/vae"; "--k"; "1000" ]) [ "vae"; "eval"; "runs/vae"; "--k"; "8"; "--limit"; "16" ] "an evaluation"
            Expect.equal (tiny [ "report"; "runs/flow" ]) [ "report"; "runs/flow" ] "a report"
        testCase "the main job's runs carry the names of the README's recipes, under runs/main/" <| fun () ->
            let recipes = set [ for args in commands (File.ReadAllText(Path.Combine(repository, "README.md"))) do
                                   match List.tryFindIndex ((=) "--out") args with
                                   | Some i -> yield args.[i + 1]
                                   | None -> () ]
            let script = File.ReadAllText(Path.Combine(repository, "scripts", "main.sh"))
            // The VAEs' folders are named in a loop over the latent sizes.
            let latents = Regex.Match(script, @"for latent in ([\d ]+);").Groups[1].Value.Split ' '
            let runs =
                [ for m in Regex.Matches(script, @"--out ""?(runs/[\w/$-]+)") do
                      if m.Groups[1].Value.Contains "$latent" then
                          for l in latents -> m.Groups[1].Value.Replace("$latent", l)
                      elif m.Groups[1].Value <> "runs/main" then yield m.Groups[1].Value ]
            Expect.isGreaterThanOrEqual runs.Length 5 $"the main job's runs: {runs}"
            for run in runs do
                Expect.stringStarts run "runs/main/" "a main job's run"
                Expect.isTrue (recipes.Contains("runs/" + run.Substring "runs/main/".Length)) $"{run} is not a README recipe's folder under runs/main/"
        // A section's fresh training starts its folder afresh (a reader trying another section's
        // settings picks a new folder or removes the old one); its other commands find the runs
        // that the sections before it left, as a reader going down the page does.
        testCase "every research command in the README runs as written, on tiny limits" <| fun () ->
            use temp = new TempFolder "readme"
            writeImages (Path.Combine(temp.Path, "samples", "mine-idx3-ubyte")) 16
            writeImages (Path.Combine(temp.Path, "some-idx3-ubyte")) 16
            let all = commands (File.ReadAllText(Path.Combine(repository, "README.md")))
            // A benchmark reads no run: one that ran as written above (the README repeats them in
            // its benchmarks section) is not run again.
            let benched = Collections.Generic.HashSet<string>()
            let failures =
                [ for args in all |> List.map tiny |> List.filter (fun a -> a.Head <> "bench" || benched.Add(String.concat " " a)) do
                      if List.contains "train" args && not (List.contains "--resume" args) then
                          let out = Path.Combine(temp.Path, args.[List.findIndex ((=) "--out") args + 1])
                          if Directory.Exists out then Directory.Delete(out, true)
                      let clock = Stopwatch.StartNew()
                      let r = research temp.Path [] args
                      output.WriteLine $"""{clock.Elapsed.TotalSeconds,6:F1} s  research {String.concat " " args}"""
                      if r.ExitCode <> 0 then yield $"""research {String.concat " " args}: exit {r.ExitCode}: {r.Err.Trim()}""" ]
            Expect.isEmpty failures $"""README commands that failed: {String.concat " | " failures}"""
    ]
