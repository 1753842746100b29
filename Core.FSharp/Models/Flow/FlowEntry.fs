/// The flow in the registry: its commands (`flow train`, `sample`, `eval`), its report panels, its
/// exact likelihood and its samples for `score`.
module Research.Core.Models.Flow.FlowEntry

open Research.Core.Families
open Research.Core.Training

/// `flow sample`: draws from the prior at a temperature, decoded.
let sample =
    RunCommand.sample "Draw images from a trained flow"
        "seed of the draws" "-t<temperature>"
        [ CommandOption.number "temperature" "scale of the prior's draws (1 = the model; lower gives smoother, likelier images)" 1.0 ]
        (fun o -> $"""-t{o.Text "temperature"}""")
        (fun a _ save -> FlowRun.writeSamples (a.Folder, a.Checkpoint, a.Options.Number "temperature", a.Seed, a.Threads) save)

/// `flow eval`: test bits per dimension, with one dequantization sample and importance-weighted.
let eval =
    RunCommand.onData "eval" "Test bits per dimension of a trained flow (one dequantization sample, and importance-weighted over several)."
        "seed of the dequantization noise"
        [ CommandOption.int "samples" "dequantization samples per image for the importance-weighted estimate" 8
          CommandOption.int "limit" "evaluate the first N test images only (0 = all 10000)" 0 ]
        (fun a out ->
            let evaluation, path =
                FlowRun.evaluateRun (a.Folder, a.Checkpoint, a.Options.Int "samples", a.Options.Int "limit", a.Seed, a.Threads, a.Data) out.Report
            out.Print $"images:       {evaluation.Images}"
            out.Print $"test bpd:     {snd evaluation.Bound.Value:F4} (one dequantization sample)"
            out.Print $"test bpd:     {evaluation.Estimate:F4} ± {evaluation.StdErr:F4} (importance-weighted over {evaluation.Samples} samples)"
            out.Print $"written: {path}")

/// The sample sets `score` draws: at temperature 1 and at the requested one.
let private scoreSamples (r: SampleRequest) (_: FlowConfig) (flow: Flow) =
    [ for t in List.distinct [ 1.0; r.Temperature ] -> $"T={t:G3}", FlowRun.sample flow t r.Seed ]

let entry =
    { FamilyEntry.plain FlowRun.family "Normalizing flows on MNIST (RealNVP, Dinh et al. 2017): exact log-likelihood in bits per dimension."
          "Train a flow on MNIST; writes config.json, metrics.csv (train and validation bits per dimension), checkpoints and samples."
          "exact (up to dequantization): bits per dimension (run `flow eval`)" with
        Commands = [ sample; eval ]
        Bench = Some FlowBenchmark.benchmark
        Panels = FlowFigures.panels
        Samples = FamilyEntry.samplesOf FlowRun.family FlowRun.load _.Parameters scoreSamples
        Recipe = Some(16, "the flow recipe") }
