using System.Runtime.InteropServices;
using Research.Core.Training;

namespace Research.Experiments;

/// What a command does when Ctrl-C (SIGINT) or SIGTERM stops it: every command removes the
/// temporary files of its unfinished atomic writes and ends the processes it started (a
/// benchmark's sides), and a training run says, in one line on
/// standard error, what its folder holds. The process still ends at once, as a kill ends it: an
/// epoch is committed by one atomic rename, so the last commit stands and `--resume` redoes the
/// epoch that was cut short, bit for bit.
static class Interruption
{
    public static IDisposable Explain(string folder)
    {
        void Say(PosixSignalContext context)
        {
            // No epoch commits after this line, so the one read below stays the last.
            Checkpoint.stopCommits();
            var run = new RunFolder(folder);
            string holds;
            try
            {
                holds = run.HoldsRun
                    ? $"{folder} holds {Checkpoint.epoch(run.ResumePath)} committed epoch(s); --resume continues from the last"
                    : $"no epoch of {folder} was committed; a rerun starts afresh";
            }
            catch (Exception e) when (e is IOException or InvalidDataException)
            {
                holds = $"{folder}'s last commit stands";
            }
            Console.Out.Flush();
            // On a terminal the progress line is still open.
            Console.Error.WriteLine((Console.IsErrorRedirected ? "" : "\n") + $"stopped by {context.Signal}: {holds}");
        }
        return OnStop(Say);
    }

    /// For every command: the temporary files of writes under way are removed, and the processes
    /// it started ended, before the process ends.
    public static IDisposable LeaveNothingBehind() => OnStop(_ =>
    {
        Research.Core.IO.AtomicFile.abandon();
        Research.Core.IO.Signals.stopChildren();
    });

    /// Runs `act` when SIGINT or SIGTERM arrives, until disposed; the process then ends as before.
    static Registrations OnStop(Action<PosixSignalContext> act) =>
        new([PosixSignalRegistration.Create(PosixSignal.SIGINT, act), PosixSignalRegistration.Create(PosixSignal.SIGTERM, act)]);

    sealed class Registrations(PosixSignalRegistration[] registrations) : IDisposable
    {
        public void Dispose()
        {
            foreach (var r in registrations) r.Dispose();
        }
    }
}
