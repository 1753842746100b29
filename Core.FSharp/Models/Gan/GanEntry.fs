/// The GAN in the registry: its commands (`gan train`, `gan sample`), the optimum lines and panels
/// of its report, no likelihood, and G(z) for `score`.
module Research.Core.Models.Gan.GanEntry

open Research.Core.Families
open Research.Core.Training

/// `gan sample`: images from G.
let sample =
    RunCommand.sample "Generate images with a trained GAN"
        "seed of the noise" "" [] (fun _ -> "")
        (fun a _ save -> GanRun.writeSamples (a.Folder, a.Checkpoint, a.Seed, a.Threads) save)

let entry =
    { FamilyEntry.plain GanRun.family "Generative adversarial networks on MNIST (Goodfellow et al. 2014; DCGAN, Radford et al. 2016)."
          "Train a GAN; writes config.json, metrics.csv (D and G losses, D(x), D(G(z))), checkpoints of both networks and sample grids."
          "none: a GAN defines no density" with
        Commands = [ sample ]
        KeepsBest = false
        Bench = Some GanBenchmark.benchmark
        References = fun folder -> GanFigures.references (fst (Family.readConfig GanRun.family (RunFolder folder)))
        Panels = fun folder _ -> GanFigures.panels folder
        Samples = FamilyEntry.samplesOf GanRun.family GanRun.load _.Parameters (fun r _ gan -> [ "samples", GanRun.sample gan r.Seed ])
        Recipe = Some(10, "the DCGAN recipe") }
