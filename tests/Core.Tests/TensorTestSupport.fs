/// Shared helpers for the core tests: float64 tensors from arrays, central finite differences
/// and reference numbers from PyTorch itself (/usr/bin/python3).
module Research.Core.Tests.TensorTestSupport

open System
open System.Diagnostics
open System.Text.Json
open Expecto
open Research.Tests.Checks
open Research.Core

/// Runs pending finalizers (of tensors other tests leaked to the safety net) so that
/// Tensor.LiveCount is stable.
let settle () =
    GC.Collect()
    GC.WaitForPendingFinalizers()
    GC.Collect()

/// Resident set size in bytes, from /proc/self/statm (second field, in pages).
let rss () =
    let resident = (IO.File.ReadAllText "/proc/self/statm").Split(' ').[1] |> int64
    resident * int64 Environment.SystemPageSize

/// After a long loop: Tensor.LiveCount is back at `start`, and RSS grew by under 20 MiB since
/// `rssAfterWarmUp` (allocator pools and caches are full by then; a leak keeps growing).
let expectFlatMemory (what: string) (start: int64) (rssAfterWarmUp: int64) =
    settle ()
    let growth = rss () - rssAfterWarmUp
    output.WriteLine $"{what}: RSS after warm-up {rssAfterWarmUp / 1048576L} MiB, growth since {growth / 1024L} KiB"
    Expect.equal Tensor.LiveCount start $"{what}: Tensor.LiveCount"
    Expect.isTrue (growth < 20L * 1024L * 1024L) $"{what}: RSS grew by {growth / 1024L} KiB after warm-up"

/// A float64 tensor with the given values and shape.
let f64 (shape: int64 list) (values: float[]) = torch.tensor (values, List.toArray shape)

/// Deterministic float64 values from a seeded generator (normal, shifted and scaled).
let randn64 (seed: int64) (shape: int64 list) =
    use g = new Generator(seed)
    torch.randn (List.toArray shape, Float64, generator = g)

/// Central differences (f(x + h e_i) - f(x - h e_i)) / 2h of a scalar-valued f, one coordinate at a time.
let numericGrad (f: Tensor -> Tensor) (x: Tensor) (h: float) : float[] =
    let x0 = x.toFloat64Array ()
    let shape = x.shape
    Array.init x0.Length (fun i ->
        use scope = new TensorScope()
        let at d =
            let xs = Array.copy x0
            xs.[i] <- xs.[i] + d
            (f (torch.tensor (xs, shape))).item ()
        (at h - at -h) / (2.0 * h))

/// Asserts |actual - expected| <= atol + rtol |expected| element-wise, naming the first mismatch.
let assertClose (what: string) (rtol: float) (atol: float) (expected: float[]) (actual: float[]) =
    Expect.equal actual.Length expected.Length $"{what}: the number of values"
    for i in 0 .. expected.Length - 1 do
        let e, a = expected.[i], actual.[i]
        if not (abs (a - e) <= atol + rtol * abs e) then
            failtest $"{what}: element {i} is {a}, expected {e} (|diff| = {abs (a - e)})"

/// Asserts float32 values within float32's rounding of sums of up to a thousand terms of a float64
/// reference: relative 1e-4, absolute 1e-5 of the reference's largest magnitude.
let closeToScale (what: string) (expected: Tensor) (actual: Tensor) =
    let e = expected.toFloat64Array ()
    let scale = e |> Array.map abs |> Array.max
    assertClose what 1e-4 (1e-5 * scale) e (actual.toFloat64Array ())

/// Whether /usr/bin/python3 can import torch.
let pythonTorchAvailable =
    lazy
        (try
            use p = Process.Start(ProcessStartInfo("/usr/bin/python3", "-c \"import torch\"", RedirectStandardError = true))
            p.WaitForExit()
            p.ExitCode = 0
         with _ -> false)

/// Runs a Python script with torch imported and returns what it printed as JSON.
let runPython (script: string) : JsonElement =
    let psi =
        ProcessStartInfo("/usr/bin/python3", "-", RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true)
    use p = Process.Start psi
    p.StandardInput.Write("import torch, json\ntorch.set_printoptions(profile='default')\n" + script)
    p.StandardInput.Close()
    let out = p.StandardOutput.ReadToEndAsync()
    let err = p.StandardError.ReadToEnd()
    p.WaitForExit()
    if p.ExitCode <> 0 then failwith $"python3 failed ({p.ExitCode}): {err}"
    JsonDocument.Parse(out.Result).RootElement

/// Runs `check` with PyTorch's numbers. scripts/setup.sh installs python3-torch, so a missing one
/// fails the test rather than letting a cross-check pass unchecked.
let withPyTorch (check: unit -> unit) =
    if pythonTorchAvailable.Value then check ()
    else failwith "/usr/bin/python3 cannot import torch: run scripts/setup.sh (it installs python3-torch); the PyTorch cross-check needs it"

/// A JSON array of numbers as float[].
let floats (e: JsonElement) = [| for v in e.EnumerateArray() -> v.GetDouble() |]

/// Values as a Python list literal (round-trip precision).
let pyList (xs: float[]) =
    "[" + (xs |> Array.map (fun v -> v.ToString("R", Globalization.CultureInfo.InvariantCulture)) |> String.concat ", ") + "]"
