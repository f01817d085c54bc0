using System.Diagnostics;
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

    /// <summary>The replay command's assembly, to run it as a process of its own (<c>dotnet ReplayDll ...</c>).</summary>
    public static string ReplayDll => Path.Combine(AppContext.BaseDirectory, "Analytics.Replay.dll");

    /// <summary>Runs <c>sh -c script</c> in <paramref name="directory"/>; the exit code, stdout and stderr.</summary>
    public static (int Exit, string Out, string Err) Shell(string script, string directory, TimeSpan timeout)
    {
        var start = new ProcessStartInfo("sh") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = directory };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(script);
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException(script);
        }

        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}
