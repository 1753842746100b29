/// The diffusion model in the registry: its commands (`diffusion train`, `sample`, `eval`, `sweep`),
/// its report panels, its bound and its samples for `score`.
module Research.Core.Models.Diffusion.DiffusionEntry

open Research.Core.Families
open Research.Core.Training

/// `diffusion sample`: DDIM over some steps, or ancestral sampling over all T.
let sample =
    RunCommand.sample "Draw images from a trained diffusion model"
        "seed of the draws" "-<steps<steps>-eta<eta> | ancestral>"
        [ CommandOption.int "steps" "DDIM sampling steps, 1 to T" 50
          CommandOption.switch "ancestral" "ancestral sampling over all T steps instead of DDIM (T network passes per image)" false
          CommandOption.number "eta" "DDIM's noise scale (0 = deterministic; 1 with all T steps = ancestral)" 0.0 ]
        (fun o ->
            if o.Switch "ancestral" then "-ancestral"
            else $"""-steps{o.Int "steps"}-eta{o.Text "eta"}""")
        (fun a _ save ->
            let o = a.Options
            DiffusionRun.writeSamples (a.Folder, a.Checkpoint, o.Int "steps", o.Switch "ancestral", o.Number "eta", a.Seed, a.Threads) save)

/// `diffusion eval`: the variational bound on the test images.
let eval =
    RunCommand.onData "eval" "The variational bound of a trained diffusion model on the test images, in bits per dimension; writes eval/<checkpoint>-<settings>.json."
        "seed of the steps and the noise"
        [ CommandOption.int "limit" "evaluate the first N test images only (0 = all 10000)" 0
          CommandOption.switch "all-steps" "sum the bound over all T steps (T network passes per image) instead of one random step per image" false ]
        (fun a out ->
            let allSteps = a.Options.Switch "all-steps"
            let evaluation, path = DiffusionRun.evaluateRun (a.Folder, a.Checkpoint, a.Options.Int "limit", allSteps, a.Seed, a.Threads, a.Data) out.Report
            let over = if allSteps then "every step" else "one random step per image"
            out.Print $"images:  {evaluation.Images}"
            out.Print $"bound:   {evaluation.Estimate:F4} ± {evaluation.StdErr:F4} bits per dimension ({over}; ± the standard error over the images)"
            out.Print $"written: {path}")

/// `diffusion sweep`: FID against the sampling steps, for the run's report.
let sweep =
    RunCommand.onData "sweep" "FID against the number of sampling steps (DDIM and ancestral), for the run's report; writes fid-by-steps.json."
        "seed of the draws"
        [ CommandOption.int "n" "samples per sampler (FID against the 10,000 test images)" 1000
          CommandOption.ints "steps" "DDIM step counts, comma-separated" [ 10; 20; 50; 100 ]
          CommandOption.switch "ancestral" "also ancestral sampling over all T steps, T network passes per image (default: on; --ancestral false leaves it out)" true ]
        (fun a out ->
            let o = a.Options
            DiffusionFigures.sweep (a.Folder, a.Checkpoint, o.Int "n", o.Ints "steps", o.Switch "ancestral", a.Seed, a.Threads, a.Data, out)
            |> ignore
            out.Print $"written: {DiffusionFigures.sweepPath a.Folder}")

/// The sample set `score` draws: DDIM (eta 0) over the requested steps.
let private scoreSamples (r: SampleRequest) (_: DiffusionConfig) (diffusion: DiffusionRun.Diffusion) =
    [ $"DDIM, {r.Steps} steps", DiffusionRun.sample diffusion (Some r.Steps) 0.0 r.Seed ]

let entry =
    { FamilyEntry.plain DiffusionRun.family
          "Denoising diffusion on MNIST (DDPM, Ho et al. 2020; DDIM sampling, Song et al. 2021): a variational bound in bits per dimension."
          "Train a diffusion model on MNIST; writes config.json, metrics.csv (the simple loss), checkpoints (with the averaged weights) and DDIM samples."
          "a bound: the variational bound in bits per dimension (run `diffusion eval`)" with
        Commands = [ sample; eval; sweep ]
        Bench = Some DiffusionBenchmark.benchmark
        Panels = DiffusionFigures.panels
        Samples = FamilyEntry.checkedSamplesOf (fun r config -> DiffusionRun.checkSteps config r.Steps) DiffusionRun.family DiffusionRun.load _.Parameters scoreSamples
        Recipe = Some(22, "the diffusion recipe") }
