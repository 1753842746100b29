module Research.Analysis.Tests.VerifyTests

open System
open MathNet.Numerics.Random
open Xunit
open Research.Analysis.Verify

let private describe (rows: CheckRow seq) =
    rows
    |> Seq.map (fun r -> $"{r.Group} | {r.Check}: analytic {r.Analytic}, numerical {r.Numerical}, tolerance {r.Tolerance}")
    |> String.concat "\n"

let private assertAllPass (rows: CheckRow list) =
    Assert.NotEmpty rows
    let failed = rows |> List.filter (fun r -> not r.Passed)
    Assert.True(failed.IsEmpty, "failed checks:\n" + describe failed)

let private assertSomeFail (rows: CheckRow list) =
    Assert.True(rows |> List.exists (fun r -> not r.Passed), "a wrong analytic value passed every check:\n" + describe rows)

let private rng seed = MersenneTwister(seed, false) :> Random

[<Fact>]
let ``relations compare as documented and NaN fails`` () =
    Assert.True((CheckRow.equal "g" "c" 1.0 1.05 0.1).Passed)
    Assert.False((CheckRow.equal "g" "c" 1.0 1.2 0.1).Passed)
    Assert.True((CheckRow.atMost "g" "c" 1.0 1.05 0.1).Passed)
    Assert.False((CheckRow.atMost "g" "c" 1.0 1.2 0.1).Passed)
    Assert.True((CheckRow.atLeast "g" "c" 1.0 0.95 0.1).Passed)
    Assert.False((CheckRow.atLeast "g" "c" 1.0 0.8 0.1).Passed)
    Assert.False((CheckRow.equal "g" "c" 1.0 nan 1.0).Passed)

[<Fact>]
let ``KL closed forms agree with quadrature and Monte Carlo`` () =
    let rows = KlChecks.run KlChecks.formulas (rng 1)
    assertAllPass rows
    // The seeds' examples are there with their known values.
    let analyticOf (label: string) = (rows |> List.find (fun r -> r.Check.StartsWith label)).Analytic
    Assert.Equal(0.5, analyticOf "KL(N(1, 1^2) || N(0,1))", 12)
    Assert.Equal(0.0, analyticOf "KL(N(0, 1^2) || N(0,1))")

[<Fact>]
let ``a wrong KL formula fails its checks`` () =
    // Forgetting the -log sigma term, and the 1/2 in the diagonal case.
    assertSomeFail (KlChecks.run { KlChecks.formulas with StdNormal = fun mu sigma -> 0.5 * (mu * mu + sigma * sigma - 1.0) } (rng 1))
    assertSomeFail (KlChecks.run { KlChecks.formulas with Diagonal = fun m1 s1 m2 s2 -> 2.0 * Gaussians.klDiagonal m1 s1 m2 s2 } (rng 1))

[<Fact>]
let ``the ELBO gap is the KL to the exact posterior on pPCA`` () =
    assertAllPass (ElboChecks.runGap Gaussians.klFull (rng 2))

[<Fact>]
let ``IWAE bounds rise with k towards log p(x) on pPCA`` () =
    assertAllPass (fst (ElboChecks.runIwae (rng 2)))

[<Fact>]
let ``a wrong KL(q || posterior) fails the ELBO gap check`` () =
    // The reverse KL(p || q) is a classic slip; it differs from KL(q || p) for these Gaussians.
    let reversed m1 s1 m2 s2 = Gaussians.klFull m2 s2 m1 s1
    assertSomeFail (ElboChecks.runGap reversed (rng 2))

[<Fact>]
let ``importance sampling beats prior sampling at latent 20`` () =
    let rows, _ = EvidenceEstimatorChecks.run (rng 3)
    assertAllPass rows

[<Fact>]
let ``gradient estimators agree with the analytic gradient`` () =
    let rows, _ = GradientChecks.run GradientChecks.cases (rng 4)
    assertAllPass rows

[<Fact>]
let ``a wrong analytic gradient fails`` () =
    // d/dmu E[z^2] claimed as mu instead of 2 mu.
    let wrong = GradientChecks.cases |> List.map (fun c -> { c with AnalyticGradient = c.AnalyticGradient * 0.5 })
    let rows, _ = GradientChecks.run wrong (rng 4)
    assertSomeFail rows

[<Fact>]
let ``GAN optimum equals -log 4 + 2 JSD`` () =
    let rows, _ = GanChecks.run (fun jsd -> -log 4.0 + 2.0 * jsd) (rng 5)
    assertAllPass rows

[<Fact>]
let ``a wrong GAN identity fails`` () =
    // JSD counted once instead of twice.
    let rows, _ = GanChecks.run (fun jsd -> -log 4.0 + jsd) (rng 5)
    assertSomeFail rows

[<Fact>]
let ``verify is deterministic for a seed and passes`` () =
    let first = Verification.Run 7
    let second = Verification.Run 7
    Assert.True(first.AllPassed, describe first.Failures)
    Assert.Equal<float[]>(first.Rows |> Array.map _.Numerical, second.Rows |> Array.map _.Numerical)
    Assert.Equal(4, first.Figures.Length)

[<Fact>]
let ``the text table aligns columns and marks failures`` () =
    let rows = [ CheckRow.equal "group a" "passes" 1.0 1.0 1e-9; CheckRow.atMost "b" "fails" 0.5 2.25 0.0 ]
    let lines = (VerifyTable.Text rows).TrimEnd().Split('\n')
    Assert.Equal(3, lines.Length)
    Assert.StartsWith("group    check   analytic / reference", lines[0])
    Assert.EndsWith("pass", lines[1])
    Assert.EndsWith("FAIL", lines[2])
    // Numbers are right-aligned: they end where their header ends.
    let header = "analytic / reference"
    let columnEnd = lines[0].IndexOf header + header.Length
    Assert.EndsWith(" 1", lines[1].Substring(0, columnEnd))
    Assert.EndsWith(" 0.5", lines[2].Substring(0, columnEnd))
