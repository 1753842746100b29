/// `research bench diffusion`: the default U-Net's training epoch (the simple loss), beside
/// bench/diffusion_pytorch.py.
module Research.Core.Models.Diffusion.DiffusionBenchmark

open Research.Core.Benchmarks

let private config = DiffusionConfig.defaults

let benchmark =
    FamilyBenchmark(DiffusionRun.family, config,
                    $"diffusion U-Net (base {config.Channels} channels, attention {config.Attention}, T = {config.Steps})",
                    [ "--channels"; string config.Channels ])
