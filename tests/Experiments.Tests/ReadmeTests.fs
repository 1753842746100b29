/// The README's commands as a newcomer copies them: every `research` command line in its bash blocks
/// parses (its subcommand, flags and values exist as written). Running them on tiny limits is left
/// to the family tests; this catches a flag renamed in the code and not in the README.
module Research.Experiments.Tests.ReadmeTests

open System
open System.IO
open System.Text.RegularExpressions
open Expecto
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

[<Tests>]
let tests =
    testList "ReadmeTests" [
        testCase "every research command in the README parses as written" <| fun () ->
            let readme = File.ReadAllText(Path.Combine(repository, "README.md"))
            let all = commands readme
            // The sections' commands: training, evaluation, sampling, scores, reports, benchmarks.
            Expect.isGreaterThan all.Length 50 "the README's commands are found"
            for verb in [ "vae"; "gan"; "flow"; "diffusion"; "mlp"; "score"; "report"; "verify"; "bench" ] do
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
            oneLineError 2 "Unrecognized command or argument '--temprature'" r
    ]
