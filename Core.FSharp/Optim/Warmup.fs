/// Linear learning-rate warm-up from 0 (Goyal et al. 2017, sec. 2.2): the factor of the base rate
/// at optimisation step `step` (from 1) of a `warmup`-step warm-up (0: none).
module Research.Core.Optim.Warmup

let factor (warmup: int) (step: int64) = if warmup = 0 then 1.0 else min 1.0 (float step / float warmup)
