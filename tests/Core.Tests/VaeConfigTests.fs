/// VaeConfig and RunSettings: config.json round trips, the differences a resume checks, and clear
/// parse and validation errors.
module Research.Core.Tests.VaeConfigTests

open System
open System.IO
open Expecto
open Research.Tests.Checks
open FsCheck
open FsCheck.FSharp
open Research.Core.Training
open Research.Core.Models.Vae

/// Any configuration, valid or not: the JSON form must carry every field exactly.
let private configs =
    gen {
        let! latent = Gen.choose (1, 64)
        let! hidden = Gen.choose (1, 3) >>= fun n -> Gen.listOfLength n (Gen.choose (1, 1024))
        let! architecture = Gen.elements [ Mlp; Conv ]
        // Doubles that need all 17 digits, tiny and huge ones.
        let! sigma = Gen.elements [ 0.1; 1.0 / 3.0; 1e-7; 2.5e10; Math.PI ]
        let! likelihood = Gen.elements [ Bernoulli; GaussianFixed sigma; GaussianLearned ]
        let! binarization = Gen.elements [ Dynamic; Static; NoBinarization ]
        let! lr = Gen.elements [ 1e-3; 3e-4; 0.1 + 0.2; 1.0 / 7.0; 5e-324 ]
        let! samples = Gen.choose (1, 5000)
        return
            { Latent = latent; Hidden = hidden; Architecture = architecture; Likelihood = likelihood; Binarization = binarization
              LearningRate = lr; ImportanceSamples = samples }
    }

/// Any run settings, valid or not.
let private settings =
    gen {
        let! epochs, batch, seed = Gen.zip3 (Gen.choose (1, 500)) (Gen.choose (1, 4096)) (Gen.choose (Int32.MinValue, Int32.MaxValue))
        let! threads, validation, limit = Gen.zip3 (Gen.choose (1, 16)) (Gen.choose (0, 59999)) (Gen.choose (0, 60000))
        let! images = Gen.choose (0, 4) >>= fun n -> Gen.listOfLength n (Gen.choose (0, 500))
        return
            { Epochs = epochs; BatchSize = batch; Seed = seed; Threads = threads; ValidationSize = validation
              TrainLimit = limit; ImageEpochs = images }
    }

/// A run's config.json as the loop writes it, read back as the loop reads it.
let private roundTrip (c: VaeConfig) (s: RunSettings) =
    let text = Loop.configText VaeRun.family c s 1 (Some { Column = "val_elbo"; Better = Higher })
    ConfigReader.Parse("config.json", text, fun r -> Settings.read VaeConfig.settings r, RunSettings.read r)

/// The defaults' config.json with one property's text replaced (or removed with null).
let private edited (property: string) (replacement: string option) =
    let text = Loop.configText VaeRun.family VaeConfig.defaults RunSettings.defaults 1 (Some { Column = "val_elbo"; Better = Higher })
    let json = Text.Json.Nodes.JsonNode.Parse(text).AsObject()
    match replacement with
    | Some text -> json.[property] <- Text.Json.Nodes.JsonNode.Parse text
    | None -> json.Remove property |> ignore
    json.ToJsonString()

let private parseError (json: string) =
    (raises<InvalidDataException> (fun () ->
        ConfigReader.Parse("/runs/a/config.json", json, fun r -> Settings.read VaeConfig.settings r, RunSettings.read r) |> ignore)).Message

[<Tests>]
let tests =
    testList "VaeConfigTests" [
        testCase "config.json round-trips every field" <| fun () ->
            let roundTrips (c: VaeConfig, s: RunSettings) = roundTrip c s = (c, s)
            Check.One(Config.QuickThrowOnFailure.WithMaxTest(300), Prop.forAll (Arb.fromGen (Gen.zip configs settings)) roundTrips)
            let roundTripsAlone (c: VaeConfig) = VaeConfig.ofJson "config.json" (VaeConfig.toJson c) = c
            Check.One(Config.QuickThrowOnFailure.WithMaxTest(100), Prop.forAll (Arb.fromGen configs) roundTripsAlone)
        testCase "differences name each fixed field that changed and ignore the rest" <| fun () ->
            let saved = { VaeConfig.defaults with Latent = 8; Hidden = [ 64 ] }
            let savedRun = { RunSettings.defaults with TrainLimit = 1000 }
            // Epochs, threads and image epochs may change on resume.
            Expect.isEmpty (RunSettings.differences savedRun { savedRun with Epochs = 50; Threads = 1; ImageEpochs = [ 3 ] }) "RunSettings.differences savedRun { savedRun with Epochs = 50; Threads = 1; ImageEpochs = [ 3 ] }"
            Expect.isEmpty (Settings.differences VaeConfig.settings saved saved) "Settings.differences VaeConfig.settings saved saved"
            let changed =
                { saved with Latent = 4; Hidden = [ 64; 32 ]; Likelihood = GaussianFixed 0.1; LearningRate = 1e-4; ImportanceSamples = 5 }
            let lines = Settings.differences VaeConfig.settings saved changed @ RunSettings.differences savedRun { savedRun with TrainLimit = 0 }
            Expect.equal lines.Length 6 "lines.Length"
            let has (text: string) = Expect.exists lines (fun l -> l.StartsWith text) $"a line starts with {text}"
            has "--latent: saved 8, requested 4"
            has "--hidden:"
            has "--likelihood:"
            has "--lr:"
            has "--limit: saved 1000, requested 0"
            has "--importance-samples: saved 1, requested 5"
            for field, change in
                [ "--arch", { saved with Architecture = Conv }
                  "--binarize", { saved with Binarization = Static } ] do
                match Settings.differences VaeConfig.settings saved change with
                | [ line ] -> Expect.stringStarts line (field + ": saved ") "line"
                | other -> failtest $"changing {field}: {other}"
            for field, change in
                [ "--batch-size", { savedRun with BatchSize = 64 }
                  "--seed", { savedRun with Seed = 2 }
                  "--validation", { savedRun with ValidationSize = 5000 } ] do
                match RunSettings.differences savedRun change with
                | [ line ] -> Expect.stringStarts line (field + ": saved ") "line"
                | other -> failtest $"changing {field}: {other}"
        testCase "parse errors name the file and the problem" <| fun () ->
            let expect (fragment: string) (json: string) =
                let message = parseError json
                Expect.stringStarts message "/runs/a/config.json: " "message"
                Expect.stringContains message fragment "the parse error"
            expect "not valid JSON" "{ \"latent\": 20, "
            expect "not valid JSON" ""
            expect "missing \"latent\"" (edited "latent" None)
            expect "missing \"train_limit\"" (edited "train_limit" None)
            expect "\"latent\" is not an integer" (edited "latent" (Some "\"twenty\""))
            expect "\"latent\" is not an integer" (edited "latent" (Some "2.5"))
            expect "\"hidden\" is not a list of integers" (edited "hidden" (Some "400"))
            expect "\"hidden\" is not a list of integers" (edited "hidden" (Some "[400, \"x\"]"))
            expect "\"architecture\" is not a string" (edited "architecture" (Some "3"))
            expect "\"architecture\" is not a string" (edited "architecture" (Some "null"))
            expect "unknown architecture 'transformer'" (edited "architecture" (Some "\"transformer\""))
            expect "unknown likelihood 'poisson'" (edited "likelihood" (Some "\"poisson\""))
            expect "unknown binarization 'sometimes'" (edited "binarization" (Some "\"sometimes\""))
            expect "\"lr\" is not a number" (edited "lr" (Some "\"fast\""))
            expect "missing \"gaussian_sigma\"" (edited "likelihood" (Some "\"gaussian\""))
        testCase "validate rejects configurations that cannot train" <| fun () ->
            let rejects (what: string) (c: VaeConfig) =
                let e = raisesAny<ArgumentException> (fun () -> VaeConfig.validate c |> ignore)
                Expect.stringContains e.Message what "e.Message"
            let d = VaeConfig.defaults
            Expect.equal (VaeConfig.validate d) d "VaeConfig.validate d"
            rejects "latent must be positive" { d with Latent = 0 }
            rejects "hidden must be a non-empty list" { d with Hidden = [] }
            rejects "hidden must be a non-empty list" { d with Hidden = [ 400; 0 ] }
            rejects "two channel counts" { d with Architecture = Conv; Hidden = [ 32 ] }
            rejects "--lr must be a positive, finite number" { d with LearningRate = nan }
            rejects "--lr must be a positive, finite number (got Infinity)" { d with LearningRate = infinity }
            rejects "sigma" { d with Likelihood = GaussianFixed -0.1 }
            let rejectsRun (what: string) (s: RunSettings) =
                let e = raisesAny<ArgumentException> (fun () -> RunSettings.validate s |> ignore)
                Expect.stringContains e.Message what "e.Message"
            let r = { RunSettings.defaults with Threads = 1 }
            Expect.equal (RunSettings.validate r) r "RunSettings.validate r"
            rejectsRun "--epochs must be positive" { r with Epochs = -1 }
            rejectsRun "--validation must be between 1 and 59999" { r with ValidationSize = 60000 }
            // No validation images: nothing to choose the best checkpoint on (it used to log NaN, then crash).
            rejectsRun "--validation must be between 1 and 59999" { r with ValidationSize = 0 }
            rejectsRun "--limit must be positive" { r with TrainLimit = -1 }
            // More threads than cores used to run silently oversubscribed.
            rejectsRun $"--threads must be between 1 and this machine's {Environment.ProcessorCount} cores (got 999)" { r with Threads = 999 }
            rejectsRun "--threads must be between 1" { r with Threads = 0 }
    ]
