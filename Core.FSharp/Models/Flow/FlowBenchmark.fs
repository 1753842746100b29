/// `research bench flow`: the default multi-scale flow's training epoch, beside bench/flow_pytorch.py.
module Research.Core.Models.Flow.FlowBenchmark

open Research.Core.Benchmarks

let benchmark = FamilyBenchmark(FlowRun.family, FlowConfig.multiScale, "multi-scale flow (couplings 4,2,4, hidden 32,48,64)", [])
