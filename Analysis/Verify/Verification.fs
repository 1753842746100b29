namespace Research.Analysis.Verify

open System
open System.Diagnostics
open MathNet.Numerics.Random
open Plotly.NET
open Research.Core.Models.Diffusion

type VerifyResult =
    { Rows: CheckRow[]
      Figures: GenericChart[]
      Seed: int
      Seconds: float }

    member r.Failures = r.Rows |> Array.filter (fun row -> not row.Passed)
    member r.AllPassed = r.Rows |> Array.forall _.Passed

/// Every numerical check of the derivations, seeded and deterministic.
[<AbstractClass; Sealed>]
type Verification =
    /// Runs the check groups in parallel, each with its own generator derived from `seed`, so the
    /// result does not depend on scheduling.
    static member Run(seed: int) =
        let clock = Stopwatch.StartNew()
        let groups: (Random -> CheckRow list * GenericChart list)[] =
            [| fun rng -> KlChecks.run KlChecks.formulas rng, []
               fun rng -> ElboChecks.runGap Gaussians.klFull rng, []
               fun rng -> let rows, fig = ElboChecks.runIwae rng in rows, [ fig ]
               fun rng -> let rows, fig = EvidenceEstimatorChecks.run rng in rows, [ fig ]
               fun rng -> let rows, fig = GradientChecks.run GradientChecks.cases rng in rows, [ fig ]
               fun rng -> let rows, fig = GanChecks.run (fun jsd -> -log 4.0 + 2.0 * jsd) rng in rows, [ fig ]
               fun rng -> DiffusionChecks.run (Schedule.create Linear 1000) rng, [] |]
        let results = groups |> Array.Parallel.mapi (fun i run -> run (MersenneTwister(seed * 101 + i, false)))
        { Rows = results |> Array.collect (fst >> Array.ofList)
          Figures = results |> Array.collect (snd >> Array.ofList)
          Seed = seed
          Seconds = clock.Elapsed.TotalSeconds }

    /// Numbers as the table shows them: enough digits to see a 1e-9 agreement.
    static member Format(value: float) =
        if Double.IsNaN value then "NaN"
        elif value = 0.0 then "0"
        elif abs value >= 1e-3 && abs value < 1e6 then value.ToString("0.##########")
        else value.ToString("0.######e+0")
