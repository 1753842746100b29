/// `research bench flow`: the default multi-scale flow's training epoch, beside bench/flow_pytorch.py.
module Research.Core.Models.Flow.FlowBenchmark

open Research.Core.Benchmarks

let benchmark =
    FamilyBenchmark.ofModel FlowRun.family "Train the multi-scale flow (batch 128, Adam 1e-3) here and in PyTorch; compare seconds per step."
        (FamilyBenchmark.model FlowRun.family FlowConfig.multiScale FlowRun.family.Name "multi-scale flow (couplings 4,2,4, hidden 32,48,64)" [])
