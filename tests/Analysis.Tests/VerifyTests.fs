module Research.Analysis.Tests.VerifyTests

open System
open MathNet.Numerics.Random
open Expecto
open Research.Tests.Checks
open Research.Analysis.Verify
open Research.Core.Models.Diffusion

let private describe (rows: CheckRow seq) =
    rows
    |> Seq.map (fun r -> $"{r.Group} | {r.Check}: analytic {r.Analytic}, numerical {r.Numerical}, tolerance {r.Tolerance}")
    |> String.concat "\n"

let private assertAllPass (rows: CheckRow list) =
    Expect.isNonEmpty rows "rows"
    let failed = rows |> List.filter (fun r -> not r.Passed)
    Expect.isTrue failed.IsEmpty ("failed checks:\n" + describe failed)

let private assertSomeFail (rows: CheckRow list) =
    Expect.isTrue (rows |> List.exists (fun r -> not r.Passed)) ("a wrong analytic value passed every check:\n" + describe rows)

let private rng seed = MersenneTwister(seed, false) :> Random

[<Tests>]
let tests =
    testList "VerifyTests" [
        testCase "relations compare as documented and NaN fails" <| fun () ->
            Expect.isTrue ((CheckRow.equal "g" "c" 1.0 1.05 0.1).Passed) "(CheckRow.equal \"g\" \"c\" 1.0 1.05 0.1).Passed"
            Expect.isFalse ((CheckRow.equal "g" "c" 1.0 1.2 0.1).Passed) "(CheckRow.equal \"g\" \"c\" 1.0 1.2 0.1).Passed"
            Expect.isTrue ((CheckRow.atMost "g" "c" 1.0 1.05 0.1).Passed) "(CheckRow.atMost \"g\" \"c\" 1.0 1.05 0.1).Passed"
            Expect.isFalse ((CheckRow.atMost "g" "c" 1.0 1.2 0.1).Passed) "(CheckRow.atMost \"g\" \"c\" 1.0 1.2 0.1).Passed"
            Expect.isTrue ((CheckRow.atLeast "g" "c" 1.0 0.95 0.1).Passed) "(CheckRow.atLeast \"g\" \"c\" 1.0 0.95 0.1).Passed"
            Expect.isFalse ((CheckRow.atLeast "g" "c" 1.0 0.8 0.1).Passed) "(CheckRow.atLeast \"g\" \"c\" 1.0 0.8 0.1).Passed"
            Expect.isFalse ((CheckRow.equal "g" "c" 1.0 nan 1.0).Passed) "(CheckRow.equal \"g\" \"c\" 1.0 nan 1.0).Passed"
        testCase "KL closed forms agree with quadrature and Monte Carlo" <| fun () ->
            let rows = KlChecks.run KlChecks.formulas (rng 1)
            assertAllPass rows
            // The seeds' examples are there with their known values.
            let analyticOf (label: string) = (rows |> List.find (fun r -> r.Check.StartsWith label)).Analytic
            Expect.floatClose (digits 12) (analyticOf "KL(N(1, 1^2) || N(0,1))") 0.5 "analyticOf \"KL(N(1, 1^2) || N(0,1))\""
            Expect.equal (analyticOf "KL(N(0, 1^2) || N(0,1))") 0.0 "analyticOf \"KL(N(0, 1^2) || N(0,1))\""
        testCase "a wrong KL formula fails its checks" <| fun () ->
            // Forgetting the -log sigma term, and the 1/2 in the diagonal case.
            assertSomeFail (KlChecks.run { KlChecks.formulas with StdNormal = fun mu sigma -> 0.5 * (mu * mu + sigma * sigma - 1.0) } (rng 1))
            assertSomeFail (KlChecks.run { KlChecks.formulas with Diagonal = fun m1 s1 m2 s2 -> 2.0 * Gaussians.klDiagonal m1 s1 m2 s2 } (rng 1))
        testCase "the ELBO gap is the KL to the exact posterior on pPCA" <| fun () ->
            assertAllPass (ElboChecks.runGap Gaussians.klFull (rng 2))
        testCase "IWAE bounds rise with k towards log p(x) on pPCA" <| fun () ->
            assertAllPass (fst (ElboChecks.runIwae (rng 2)))
        testCase "a wrong KL(q || posterior) fails the ELBO gap check" <| fun () ->
            // The reverse KL(p || q) is a classic slip; it differs from KL(q || p) for these Gaussians.
            let reversed m1 s1 m2 s2 = Gaussians.klFull m2 s2 m1 s1
            assertSomeFail (ElboChecks.runGap reversed (rng 2))
        testCase "importance sampling beats prior sampling at latent 20" <| fun () ->
            let rows, _ = EvidenceEstimatorChecks.run (rng 3)
            assertAllPass rows
        testCase "gradient estimators agree with the analytic gradient" <| fun () ->
            let rows, _ = GradientChecks.run GradientChecks.cases (rng 4)
            assertAllPass rows
        testCase "a wrong analytic gradient fails" <| fun () ->
            // d/dmu E[z^2] claimed as mu instead of 2 mu.
            let wrong = GradientChecks.cases |> List.map (fun c -> { c with AnalyticGradient = c.AnalyticGradient * 0.5 })
            let rows, _ = GradientChecks.run wrong (rng 4)
            assertSomeFail rows
        testCase "GAN optimum equals -log 4 + 2 JSD" <| fun () ->
            let rows, _ = GanChecks.run (fun jsd -> -log 4.0 + 2.0 * jsd) (rng 5)
            assertAllPass rows
        testCase "a wrong GAN identity fails" <| fun () ->
            // JSD counted once instead of twice.
            let rows, _ = GanChecks.run (fun jsd -> -log 4.0 + jsd) (rng 5)
            assertSomeFail rows
        testCase "diffusion: the closed forms, the posterior, the decoder and the bound's terms agree with MathNet" <| fun () ->
            assertAllPass (DiffusionChecks.run (Schedule.create Linear 1000) (rng 6))
        testCase "a wrong diffusion formula fails" <| fun () ->
            let s = Schedule.create Linear 1000
            // The posterior variance taken as beta_t (Ho et al.'s other sampling choice, not the posterior's),
            // and alphabar off by one step.
            assertSomeFail (DiffusionChecks.run { s with PosteriorVariance = s.Beta } (rng 6))
            assertSomeFail (DiffusionChecks.run { s with AlphaBar = s.AlphaBarPrevious } (rng 6))
        testCase "verify is deterministic for a seed and passes" <| fun () ->
            let first = Verification.Run 7
            let second = Verification.Run 7
            Expect.isTrue first.AllPassed (describe first.Failures)
            Expect.equal (second.Rows |> Array.map _.Numerical) (first.Rows |> Array.map _.Numerical) "second.Rows |> Array.map _.Numerical"
            Expect.equal first.Figures.Length 4 "first.Figures.Length"
        testCase "the text table aligns columns and marks failures" <| fun () ->
            let rows = [ CheckRow.equal "group a" "passes" 1.0 1.0 1e-9; CheckRow.atMost "b" "fails" 0.5 2.25 0.0 ]
            let lines = (VerifyTable.Text rows).TrimEnd().Split('\n')
            Expect.equal lines.Length 3 "lines.Length"
            Expect.stringStarts (lines[0]) "group    check   analytic / reference" "lines[0]"
            Expect.stringEnds (lines[1]) "pass" "lines[1]"
            Expect.stringEnds (lines[2]) "FAIL" "lines[2]"
            // Numbers are right-aligned: they end where their header ends.
            let header = "analytic / reference"
            let columnEnd = lines[0].IndexOf header + header.Length
            Expect.stringEnds (lines[1].Substring(0, columnEnd)) " 1" "lines[1].Substring(0, columnEnd)"
            Expect.stringEnds (lines[2].Substring(0, columnEnd)) " 0.5" "lines[2].Substring(0, columnEnd)"
    ]
