/// The workspace driven from an F# script: the beta-VAE (Higgins et al. 2017; its family is
/// Core.FSharp/Models/BetaVae/, one line in the registry) trained through the shared loop into a
/// normal run folder, then drawn by the report with its own panel. After a build:
///
///     dotnet fsi examples/beta_vae.fsx [run-folder] [epochs] [beta]
///
/// (`research beta-vae train` does the same from the command line.) A script can also define a
/// family of its own, as Models/BetaVae/ does, and `Registry.register` its entry: the commands this
/// process runs (the report, the scores) then treat its runs as a shipped family's.
#r "../Experiments.CSharp/bin/Release/net10.0/Research.Core.dll"
#r "../Experiments.CSharp/bin/Release/net10.0/Plotly.NET.dll"
#r "../Experiments.CSharp/bin/Release/net10.0/Research.Analysis.dll"

open System
open Research.Core
open Research.Core.Training
open Research.Core.Models.BetaVae
open Research.Analysis.Report

/// The script's arguments, [run-folder] [epochs] [beta], or a usage error.
let parse (args: string[]) =
    let usage = "usage: dotnet fsi examples/beta_vae.fsx [run-folder] [epochs] [beta]"
    let number (what: string) (parse: string -> bool * 'T) (text: string) =
        match parse text with
        | true, v -> v
        | _ -> invalidArg what $"{what} is '{text}', not a number ({usage})"
    if args.Length > 3 then invalidArg "args" usage
    (if args.Length > 0 then args[0] else "runs/beta-vae"),
    (if args.Length > 1 then number "epochs" Int32.TryParse args[1] else 1),
    (if args.Length > 2 then number "beta" Double.TryParse args[2] else 4.0)

// MNIST (and plotly.js, for the report) from RESEARCH_DATA, else from the repository's data/ folder
// (scripts/setup.sh fetches them), for the workspace's code in this process too.
let data =
    match Environment.GetEnvironmentVariable "RESEARCH_DATA" with
    | null | "" -> IO.Path.GetFullPath(IO.Path.Combine(__SOURCE_DIRECTORY__, "..", "data"))
    | folder -> folder
Environment.SetEnvironmentVariable("RESEARCH_DATA", data)

// Bad arguments or input end in one line and exit code 2, as the research command line's do.
try
    let folder, epochs, beta = parse (fsi.CommandLineArgs |> Array.skip 1)
    let family = BetaVaeRun.family
    let config = Settings.ofGiven family.Settings [ ("beta", Number beta) ]
    let settings = { family.RunDefaults with Epochs = epochs; ImageEpochs = [ 0; epochs ] }
    let metrics = Loop.train family config settings folder false (Some data) ignore
    for row in metrics.Rows do
        printfn "%s" (String.Join("  ", Array.map2 (fun (c: string) (v: float) -> $"{c} {v:F2}") metrics.Columns row))
    printfn $"run folder: {IO.Path.GetFullPath folder}"
    let references, panels = Research.Core.Reports.Score.runReport folder null
    printfn "report: %s" (Report.Write(folder, [ RunReportData.read folder (references, panels) ], []))
with
| :? ArgumentException | :? IO.IOException | :? InvalidOperationException | :? TorchException as e ->
    let message = match e with :? ArgumentException as a when not (isNull a.ParamName) -> a.Message.Replace($" (Parameter '{a.ParamName}')", "") | _ -> e.Message
    eprintfn "error: %s" message
    exit 2
