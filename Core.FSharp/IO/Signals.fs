/// Which threads receive Ctrl-C (SIGINT) and SIGTERM. A signal's handler runs on the stack of the
/// thread it interrupts; one that interrupted oneDNN's sgemm corrupted the native heap (about one
/// Ctrl-C in 20 during a VAE's training, the process then aborting instead of stopping). The thread
/// that runs a command, and the threads it starts (libtorch's among them), keep both signals off;
/// the runtime's own threads, started before, receive them and run the handlers.
module Research.Core.IO.Signals

open System
open System.Diagnostics

// sigset_t is 1024 bits; signal n is bit n - 1.
let private stopSignals () =
    let set = Array.zeroCreate<uint64> 16
    set[0] <- (1UL <<< (2 - 1)) ||| (1UL <<< (15 - 1)) // SIGINT, SIGTERM
    set

// pthread_sigmask's `how`: SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK. Linux only; elsewhere nothing changes.
let private sigmask (how: int) (set: uint64[]) (old: uint64[]) =
    if OperatingSystem.IsLinux() then Research.Core.Native.pthread_sigmask (how, set, old) |> ignore

/// Keeps SIGINT and SIGTERM off the calling thread and the threads it starts from now on.
let keepOffThisThread () = sigmask 0 (stopSignals ()) null

// The processes `start` started: a stop ends those still running (stopChildren).
let private children = Collections.Concurrent.ConcurrentDictionary<Process, unit>()

/// Starts a process as Process.Start does, without passing it this thread's blocked SIGINT and
/// SIGTERM (a child inherits the mask of the thread that starts it); the thread's mask is then
/// as it was. stopChildren ends it if this process is stopped first.
let start (info: ProcessStartInfo) =
    let before = Array.zeroCreate<uint64> 16
    sigmask 1 (stopSignals ()) before
    let child =
        try Process.Start info
        finally sigmask 2 before null
    children[child] <- ()
    child

/// Kills every process `start` started that still runs, with its own children (torchrun's ranks):
/// when a stop signal ends this process, no benchmark side it started computes on unseen.
let stopChildren () =
    for child in children.Keys do
        // One already disposed or ended is passed over.
        try
            if not child.HasExited then child.Kill true
        with :? InvalidOperationException | :? ComponentModel.Win32Exception -> ()
