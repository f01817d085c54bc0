using Analytics.Core.Tests.Sample;

namespace Analytics.Core.Tests;

/// <summary>Tests that set process environment variables: run alone, after the others, so no other test sees them.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessEnvironmentCollection
{
    public const string Name = "process environment";
}

/// <summary>
/// invoke reads no ANALYTICS_* variable; with one set it says so (review: an operator who tried the template's settings
/// locally got other windows and no spilling, without a word).
/// </summary>
[Collection(ProcessEnvironmentCollection.Name)]
public sealed class InvokeEnvironmentTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("analytics-invoke-env-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task AnAnalyticsVariableSet_IsNamedAsIgnored_AndTheRunIsUnchanged()
    {
        string[] args = ["--event", SampleEventsTests.EventPath("kinesis-basic.json"), "--out", Path.Combine(_dir, "out")];
        var plainOut = new StringWriter();
        var plainErr = new StringWriter();
        Assert.Equal(0, await Analytics.SampleLambda.InvokeCommand.RunAsync(args, plainOut, plainErr));
        Assert.DoesNotContain("note: invoke reads no", plainErr.ToString(), StringComparison.Ordinal);

        Environment.SetEnvironmentVariable("ANALYTICS_WINDOW_SECONDS", "300");
        try
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            Assert.Equal(0, await Analytics.SampleLambda.InvokeCommand.RunAsync(args, stdout, stderr));
            Assert.Contains("note: invoke reads no ANALYTICS_* variable; ignored here: ANALYTICS_WINDOW_SECONDS", stderr.ToString(), StringComparison.Ordinal);
            Assert.Equal(plainOut.ToString(), stdout.ToString());
        }
        finally
        {
            Environment.SetEnvironmentVariable("ANALYTICS_WINDOW_SECONDS", null);
        }
    }
}
