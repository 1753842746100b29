/// `research bench diffusion`: the default U-Net's training epoch (the simple loss), beside
/// bench/diffusion_pytorch.py.
module Research.Core.Models.Diffusion.DiffusionBenchmark

open Research.Core.Benchmarks

let private config = DiffusionConfig.defaults

let benchmark =
    FamilyBenchmark.ofModel DiffusionRun.family
        "Train the diffusion model's U-Net (batch 128, Adam 1e-3, the simple loss) here and in PyTorch; compare seconds per step."
        (FamilyBenchmark.model DiffusionRun.family config DiffusionRun.family.Name
            $"diffusion U-Net (base {config.Channels} channels, attention {config.Attention}, T = {config.Steps})" [ "--channels"; string config.Channels ])
