using Analytics.Replay;

namespace Analytics.Core.Testing.Tests;

/// <summary>Runs the replay command in process, as the replay test classes do.</summary>
internal static class ReplayHarness
{
    /// <summary>A fresh path under the temporary directory (not created).</summary>
    public static string Temp() => Path.Combine(Path.GetTempPath(), "replay-" + Guid.NewGuid().ToString("N"));

    /// <summary>Runs replay with <paramref name="args"/>; its exit code, standard output and standard error.</summary>
    public static (int Exit, string Out, string Error) Replay(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = ReplayCommand.Run(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }
}
