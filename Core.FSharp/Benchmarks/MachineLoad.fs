/// How busy other processes keep the machine, measured rather than read from the load average,
/// which on virtual machines also counts tasks waiting on I/O and the hypervisor and lags by a
/// minute: a benchmark says when its timings are contended.
module Research.Core.Benchmarks.MachineLoad

open System
open System.Diagnostics
open System.IO
open System.Threading

/// The first line of /proc/stat as (busy, all) clock ticks of every core since boot; time the
/// hypervisor gave to other machines (steal) counts as busy.
let private ticks () =
    let fields = File.ReadLines("/proc/stat") |> Seq.head |> fun l -> l.Split(' ', StringSplitOptions.RemoveEmptyEntries)
    let values = fields[1..] |> Array.map int64
    let idle = values[3] + values[4] // idle and iowait
    let all = Array.sum values[..7]  // user .. steal; guest time is already inside user
    all - idle, all

/// The cores that other processes kept busy over `seconds` (this process's own CPU time left out),
/// or None where /proc/stat cannot be read.
let otherBusyCores (seconds: float) =
    try
        use self = Process.GetCurrentProcess()
        let busy0, all0 = ticks ()
        let own0 = self.TotalProcessorTime
        Thread.Sleep(TimeSpan.FromSeconds seconds)
        let busy1, all1 = ticks ()
        self.Refresh()
        let own = (self.TotalProcessorTime - own0).TotalSeconds
        let cores = float Environment.ProcessorCount
        // /proc/stat counts in ticks of all cores together: their share of all ticks, times the cores.
        let busy = if all1 = all0 then 0.0 else float (busy1 - busy0) / float (all1 - all0) * cores
        Some(max 0.0 (busy - own / seconds))
    with :? IOException | :? UnauthorizedAccessException | :? FormatException -> None
