using System.CommandLine;
using Research.Core;

namespace Research.Experiments;

/// Runs a parsed command line: a failure prints one clear message (libtorch's own text for a
/// TorchException) and a non-zero exit code, never a stack trace for an expected error.
public static class CommandLine
{
    public static int Run(RootCommand root, string[] args)
    {
        var parsed = root.Parse(args);
        try
        {
            return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (IsUserFacing(e))
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }

    // Programming errors (a disposed tensor, a null) keep their stack trace.
    static bool IsUserFacing(Exception e) =>
        e is not ObjectDisposedException and not ArgumentNullException && e is TorchException or IOException or ArgumentException or InvalidDataException
            or InvalidOperationException or UnauthorizedAccessException or FormatException;
}
