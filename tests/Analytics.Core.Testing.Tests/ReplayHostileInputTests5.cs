using System.Text;
using Analytics.Replay;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Found by a review (2026-12-07, s66) of replay's input files as a careless operator and a hostile author would give
/// them: a template path the file APIs cannot take, a template path that is a directory, and a pipe the process
/// writes itself.
/// </summary>
public class ReplayHostileInputTests5
{
    /// <summary>A NUL in the scenario's template path: an ArgumentException from the file APIs, a stack trace with exit 1.</summary>
    [Fact]
    public void ATemplatePathWithANul_Exits2_NamingTheTemplate()
    {
        string json = """{"template":"t\u0000.yaml","handler":{"kind":"sample"}}""";

        ScenarioException error = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(Encoding.UTF8.GetBytes(json), Path.GetTempPath()));

        Assert.Equal("$.template", error.Field);
        Assert.Contains("NUL", error.Reason, StringComparison.Ordinal);
    }

    /// <summary>A template path that is a directory ("" or "."): reported as "Access to the path is denied".</summary>
    [Theory]
    [InlineData("")]
    [InlineData(".")]
    public void ATemplatePathThatIsADirectory_IsNamedADirectory(string template)
    {
        string json = "{\"template\":\"" + template + "\",\"handler\":{\"kind\":\"sample\"}}";

        ScenarioException error = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(Encoding.UTF8.GetBytes(json), Path.GetTempPath()));

        Assert.Equal("$.template", error.Field);
        Assert.Contains("is a directory; give the SAM template's YAML file", error.Reason, StringComparison.Ordinal);
    }

    /// <summary>
    /// A pipe whose write end this process holds (<c>--scenario /dev/fd/3</c>, one of the runtime's own pipes, or
    /// <c>/dev/stdout</c> piped on) never ends: the read waited for ever. The writer here is never closed by the read.
    /// </summary>
    [Theory]
    [InlineData("/proc/self/fd/")]
    [InlineData("/dev/fd/")]
    public void APipeThisProcessWrites_IsRefused_NotWaitedOn(string directory)
    {
        if (!Directory.Exists("/proc/self/fdinfo"))
        {
            return;
        }

        using var server = new System.IO.Pipes.AnonymousPipeServerStream(System.IO.Pipes.PipeDirection.Out, HandleInheritability.None);
        using Microsoft.Win32.SafeHandles.SafePipeHandle reader = server.ClientSafePipeHandle;
        string path = directory + reader.DangerousGetHandle().ToInt64().ToString(System.Globalization.CultureInfo.InvariantCulture);

        Task<LoadedScenario> load = Task.Run(() => ScenarioLoader.Load(path));
        bool ended = ((IAsyncResult)load).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(60));
        server.Dispose(); // lets a read that waits see the end, so that a failing test ends too

        Assert.True(ended, "the read waited on a pipe this process writes");
        ScenarioException error = Assert.Throws<ScenarioException>(() => load.GetAwaiter().GetResult());
        Assert.Equal("--scenario", error.Field);
        Assert.Contains("is a pipe this process itself writes", error.Reason, StringComparison.Ordinal);
    }
}
