using System.Runtime.InteropServices;
using Research.Core.Training;

namespace Research.Experiments;

/// What a training run says when Ctrl-C (SIGINT) or SIGTERM stops it. The process still ends at
/// once, as a kill ends it: an epoch is committed by one atomic rename, so the last commit stands
/// and `--resume` redoes the epoch that was cut short, bit for bit. Before it ends, one line on
/// standard error says what the run folder holds.
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
        return new Registrations([PosixSignalRegistration.Create(PosixSignal.SIGINT, Say), PosixSignalRegistration.Create(PosixSignal.SIGTERM, Say)]);
    }

    sealed class Registrations(PosixSignalRegistration[] registrations) : IDisposable
    {
        public void Dispose()
        {
            foreach (var r in registrations) r.Dispose();
        }
    }
}
