using Analytics.SampleLambda;

namespace Analytics.Core.Tests.Sample;

public class InvokeArgumentsTests
{
    [Fact]
    public void TryParse_OnlyEvent_UsesDefaults()
    {
        Assert.True(InvokeArguments.TryParse(["--event", "e.json"], out InvokeArguments? args, out string? error));
        Assert.Null(error);
        Assert.Equal(new InvokeArguments("e.json", "out", TimeSpan.FromMilliseconds(120_000)), args);
    }

    [Fact]
    public void TryParse_AllOptionsInAnyOrder_ReadsEach()
    {
        Assert.True(InvokeArguments.TryParse(["--timeout-ms", "2500", "--out", "/tmp/x", "--event", "e.json"], out InvokeArguments? args, out _));
        Assert.Equal(new InvokeArguments("e.json", "/tmp/x", TimeSpan.FromMilliseconds(2500)), args);
    }

    [Theory]
    [InlineData(new string[0], "--event is required")]
    [InlineData(new[] { "--event" }, "--event needs a value")]
    [InlineData(new[] { "--event", "" }, "--event needs a value")]
    [InlineData(new[] { "--evnt", "e.json" }, "unknown argument '--evnt'")]
    [InlineData(new[] { "e.json" }, "unknown argument 'e.json'")]
    [InlineData(new[] { "--event", "a", "--event", "b" }, "--event is given twice")]
    [InlineData(new[] { "--event", "a", "--timeout-ms", "0" }, "--timeout-ms must be a positive whole number of milliseconds, not '0'")]
    [InlineData(new[] { "--event", "a", "--timeout-ms", "-5" }, "--timeout-ms must be a positive whole number of milliseconds, not '-5'")]
    [InlineData(new[] { "--event", "a", "--timeout-ms", "1.5" }, "--timeout-ms must be a positive whole number of milliseconds, not '1.5'")]
    public void TryParse_BadArguments_SaysWhat(string[] argv, string expected)
    {
        Assert.False(InvokeArguments.TryParse(argv, out InvokeArguments? args, out string? error));
        Assert.Null(args);
        Assert.Equal(expected, error);
    }

    [Fact]
    public void TryParse_Help_FailsWithoutError()
    {
        Assert.False(InvokeArguments.TryParse(["--event", "e.json", "--help"], out _, out string? error));
        Assert.Null(error);
    }
}
