/// The diffusion family through the runner, as a user drives it: a tiny run trained, sampled by DDIM
/// and ancestrally, its bound evaluated (Monte Carlo and over every step) into the typed record the
/// comparison reads, swept over sampling steps, scored, and compared with the other three families
/// on one page; and its bad settings refused with one line.
module Research.Experiments.Tests.DiffusionCliTests

open System.IO
open System.Text.Json
open Expecto
open Research.Tests.Checks
open Research.Experiments.Tests.Cli

let private quick = [ "--epochs"; "1"; "--limit"; "300"; "--validation"; "100"; "--batch-size"; "50"; "--threads"; "1"; "--image-epochs"; "1" ]

[<Tests>]
let tests =
    testList "DiffusionCliTests" [
        testCase "diffusion train, sample, eval, sweep, score and report on a tiny run; the comparison shows four families" <| fun () ->
            use temp = new TempFolder "diffusion"
            let at name = Path.Combine(temp.Path, name)
            let ok (r: Result) = Expect.equal r.ExitCode 0 $"stderr: {r.Err}; stdout: {r.Out}"
            ok (research temp.Path [] ([ "diffusion"; "train"; "--channels"; "8"; "--steps"; "40"; "--out"; "diffusion" ] @ quick))
            // DDIM over 10 steps and ancestral sampling over all 40: the IDX files hold what was asked.
            ok (research temp.Path [] [ "diffusion"; "sample"; "diffusion"; "--n"; "12"; "--steps"; "10"; "--threads"; "1" ])
            ok (research temp.Path [] [ "diffusion"; "sample"; "diffusion"; "--n"; "5"; "--ancestral"; "--threads"; "1" ])
            for name, n in [ "best-n12-steps10-eta0-seed1", 12; "best-n5-ancestral-seed1", 5 ] do
                let bytes = File.ReadAllBytes(Path.Combine(at "diffusion", "samples", name + "-idx3-ubyte"))
                Expect.equal bytes.Length (16 + n * 784) $"{name}: {n} images"
            // The bound, by Monte Carlo over t and exactly over every t, as typed records.
            let mc = research temp.Path [] [ "diffusion"; "eval"; "diffusion"; "--limit"; "50"; "--threads"; "1" ]
            ok mc
            let everyStep = research temp.Path [] [ "diffusion"; "eval"; "diffusion"; "--limit"; "10"; "--all-steps"; "--threads"; "1" ]
            ok everyStep
            // T passes per image take minutes on a full test set: the evaluation reports its progress.
            Expect.stringContains everyStep.Out "the bound: 10/10, " "the bound's progress at its end"
            let written = Directory.GetFiles(Path.Combine(at "diffusion", "eval")) |> Array.map Path.GetFileName |> Array.sort
            Expect.equal written [| "best-test-first10-k40-seed1-all-steps.json"; "best-test-first50-k1-seed1-monte-carlo.json" |] "one record per evaluation"
            use record = JsonDocument.Parse(File.ReadAllText(Path.Combine(at "diffusion", "eval", written[1])))
            let bound = record.RootElement.GetProperty("estimate").GetDouble()
            let stderr = record.RootElement.GetProperty("stderr").GetDouble()
            output.WriteLine $"tiny model's bound: {bound:F3} ± {stderr:F3} bits per dimension"
            // Between a model that has learnt something and 8 bits, the cost of a uniform guess.
            within 0.5 8.0 bound "the bound in bits per dimension"
            // Exact over the steps, the ten images are still a sample of the test set: a standard error.
            use exact = JsonDocument.Parse(File.ReadAllText(Path.Combine(at "diffusion", "eval", written[0])))
            let exactErr = exact.RootElement.GetProperty("stderr").GetDouble()
            Expect.isTrue (System.Double.IsFinite exactErr && exactErr > 0.0) $"the every-step bound's standard error over the images ({exactErr})"
            Expect.isGreaterThan stderr 0.0 "a Monte-Carlo standard error"
            Expect.equal (record.RootElement.GetProperty("unit").GetString()) "bits per dimension" "the unit"
            // The steps sweep, on a few samples, lands in the run for its report.
            ok (research temp.Path [] [ "diffusion"; "sweep"; "diffusion"; "--n"; "20"; "--steps"; "5,10"; "--threads"; "1" ])
            use sweep = JsonDocument.Parse(File.ReadAllText(Path.Combine(at "diffusion", "fid-by-steps.json")))
            Expect.equal (sweep.RootElement.GetProperty("points").GetArrayLength()) 3 "DDIM 5, DDIM 10 and ancestral"
            // score draws DDIM samples from it.
            let scored = research temp.Path [] [ "score"; "diffusion"; "--n"; "50"; "--steps"; "10"; "--threads"; "1" ]
            ok scored
            Expect.stringContains scored.Out "diffusion: DDIM, 10 steps" "score's row"
            // The other three families, briefly, and one comparison of all four.
            ok (research temp.Path [] ([ "vae"; "train"; "--latent"; "4"; "--hidden"; "32"; "--out"; "vae" ] @ quick))
            ok (research temp.Path [] ([ "gan"; "train"; "--latent"; "8"; "--gen-hidden"; "32,64"; "--disc-hidden"; "64,32"; "--out"; "gan" ] @ quick))
            ok (research temp.Path [] ([ "flow"; "train"; "--hidden"; "8,8,8"; "--couplings"; "2,2,2"; "--out"; "flow" ] @ quick))
            ok (research temp.Path [] [ "flow"; "eval"; "flow"; "--samples"; "2"; "--limit"; "50"; "--threads"; "1" ])
            ok (research temp.Path [] [ "report"; "diffusion"; "--no-verify"; "--out"; "single" ])
            let single = File.ReadAllText(Path.Combine(at "single", "report.html"))
            for text in [ "The loss by step"; "The denoising chain"; "FID against the sampling steps"
                          "<p class=\"note\">This run trained 1 epoch(s); the diffusion recipe in the README trains 22." ] do
                Expect.stringContains single text "the diffusion run's report"
            let compare = research temp.Path [] [ "report"; "vae"; "gan"; "flow"; "diffusion"; "--no-verify"; "--out"; "compare" ]
            ok compare
            // It says what it works on, and how long each stage took.
            for stage in [ "vae: its figures"; "gan: its figures"; "flow: its figures"; "diffusion: its figures"; "the comparison"; "the page" ] do
                Expect.isTrue (System.Text.RegularExpressions.Regex.IsMatch(compare.Out, $@"(?m)^report: {stage} \.\.\. \d+\.\d s$")) $"a progress line for {stage} in: {compare.Out}"
            let page = File.ReadAllText(Path.Combine(at "compare", "report.html"))
            for text in [ "variational bound"; "bits per dimension"; "none: a GAN defines no density"; "diffusion: DDIM, 10 steps" ] do
                Expect.stringContains page text "the comparison of four families"
        testCase "bad sampler settings are one line and exit code 2" <| fun () ->
            use temp = new TempFolder "diffusion-errors"
            Expect.equal (research temp.Path [] ([ "diffusion"; "train"; "--channels"; "8"; "--steps"; "20"; "--out"; "run" ] @ quick)).ExitCode 0 "the tiny run"
            for args, fragment in
                [ [ "diffusion"; "sample"; "run"; "--steps"; "0" ], "--steps must be at least 1 (got 0)"
                  [ "diffusion"; "sample"; "run"; "--steps"; "50" ], "--steps 50 is more than the run's T = 20 diffusion steps; pass --steps 20 or fewer"
                  [ "diffusion"; "sample"; "run"; "--eta"; "-0.5" ], "--eta must be a finite number, 0 or more (got -0.5)"
                  [ "diffusion"; "sample"; "run"; "--eta"; "NaN" ], "--eta must be a finite number, 0 or more (got NaN)"
                  [ "diffusion"; "sample"; "run"; "--eta"; "Infinity" ], "--eta must be a finite number, 0 or more (got Infinity)"
                  [ "diffusion"; "sweep"; "run"; "--steps"; "5,0" ], "--steps must be at least 1 (got 0)"
                  [ "diffusion"; "sweep"; "run"; "--steps"; "5,30" ], "--steps 30 is more than the run's T = 20 diffusion steps"
                  [ "diffusion"; "eval"; "run"; "--limit"; "-1" ], "--limit must be positive, or 0 for all images (got -1)"
                  [ "score"; "run"; "--steps"; "0" ], "--steps must be at least 1 (got 0)"
                  [ "score"; "run"; "--steps"; "21" ], "--steps 21 is more than the run's T = 20 diffusion steps"
                  [ "diffusion"; "train"; "--out"; "other"; "--steps"; "0" ], "--steps (T) must be between 2 and 10000 (got 0)"
                  [ "diffusion"; "train"; "--out"; "other"; "--ema"; "NaN" ], "--ema must be in [0, 1) (got NaN)"
                  [ "diffusion"; "train"; "--out"; "other"; "--lr"; "Infinity" ], "--lr must be a positive, finite number (got Infinity)"
                  [ "diffusion"; "train"; "--out"; "other"; "--channels"; "12" ], "--channels must be a positive multiple of 8"
                  [ "diffusion"; "train"; "--out"; "other"; "--schedule"; "quadratic" ], "unknown schedule 'quadratic' (expected linear or cosine)" ] do
                oneLineError 2 fragment (research temp.Path [] args)
            Expect.isFalse (Directory.Exists(Path.Combine(temp.Path, "other"))) "a refused run creates no folder"
            Expect.isFalse (Directory.Exists(Path.Combine(temp.Path, "run", "samples"))) "a refused sampler writes nothing"
    ]
