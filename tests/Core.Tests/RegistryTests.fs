/// The family registry: a family registered at run time (as a script registers one) trains through
/// its entry's `train` command and is drawn like a shipped one; every family's commands declare
/// each option once, beside those the runner adds to every command.
module Research.Core.Tests.RegistryTests

open System
open System.IO
open Expecto
open Research.Tests.Checks
open Research.Core
open Research.Core.Families
open Research.Core.Models
open Research.Core.Training
open Research.Core.Tests.NnTestSupport

[<Tests>]
let tests =
    testList "RegistryTests" [
        testCase "a family registered at run time trains through its train command and is drawn like a shipped one" <| fun () ->
            let family = { MlpRun.family with Name = "registered-mlp" }
            let entry =
                { FamilyEntry.plain family "a registered family" "train it" "none: a classifier" with
                    Panels = fun _ _ -> [ Note "the family's own panel" ]
                    Recipe = Some(5, "its recipe") }
            Registry.register entry
            Expect.contains (Registry.names ()) "registered-mlp" "Registry.names ()"
            Expect.equal (Registry.entries () |> List.last).Name "registered-mlp" "the last of Registry.entries ()"
            // As the command line runs it: the given flags checked first, then the training.
            let given = [ "hidden", Int 16; "epochs", Int 1; "batch-size", Int 100; "threads", Int 1; "validation", Int 200; "limit", Int 500 ]
            raises<ArgumentException> (fun () -> entry.Train.Prepare (given @ [ "epochs", Int 0 ]) |> ignore) |> ignore
            let folder = tempFolder "registered"
            let threads = torch.get_num_threads ()
            let metrics =
                try (entry.Train.Prepare given).Invoke(folder, Loop.Start.Fresh, [], None, None, null)
                finally torch.set_num_threads threads
            Expect.equal metrics.Value.Rows.Length 1 "epochs trained"
            let config = File.ReadAllText(Path.Combine(folder, "config.json"))
            Expect.stringContains config "\"model\": \"registered-mlp\"" "config.json"
            Expect.stringContains config "\"hidden\": 16" "config.json"
            let _, panels = Registry.report folder ""
            let notes = panels |> List.map (function Note text -> text | _ -> "")
            Expect.equal notes [ "This run trained 1 epoch(s); its recipe in the README trains 5. Its figures show a model early in its training, not what the family reaches."
                                 "the family's own panel" ] "the report's panels"
            Expect.equal (Registry.likelihood folder) [ "", "none: a classifier" ] "Registry.likelihood"
        testCase "every family's commands declare each option once, beside those the runner adds" <| fun () ->
            let entries = Registry.entries ()
            let names = entries |> List.map _.Name
            Expect.equal (List.distinct names) names "family names"
            let flags (options: CommandOption list) = options |> List.map _.Flag
            for e in entries do
                let train = flags e.Train.Options @ [ "out"; "resume"; "data"; "world-size"; "rank"; "master-addr"; "master-port"; "timeout" ]
                Expect.equal (List.distinct train) train $"{e.Name} train"
                for c in FamilyEntry.commands e do
                    let own = flags c.Options @ [ "checkpoint"; "seed"; "threads" ] @ (if c.ReadsData then [ "data" ] else [])
                    Expect.equal (List.distinct own) own $"{e.Name} {c.Name}"
                    for o in c.Options do
                        // Each default reads back as itself through the option's own parse.
                        o.Default |> Option.iter (fun d -> Expect.equal (CommandOption.parse o (string d)) d $"{e.Name} {c.Name} --{o.Flag}")
    ]
