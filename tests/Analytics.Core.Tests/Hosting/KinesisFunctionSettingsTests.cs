using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Analytics.Core.Tests.Hosting;

public class KinesisFunctionSettingsTests
{
    private static KinesisFunctionSettings Read(params (string Name, string Value)[] variables)
    {
        var map = variables.ToDictionary(v => v.Name, v => v.Value);
        return KinesisFunctionSettings.FromEnvironment(name => map.GetValueOrDefault(name));
    }

    /// <summary>
    /// Found by a hostile-operator review (2026-12-07): the library's reading of the environment, which the package
    /// READMEs' examples use, took a misspelled name (ANALYTICS_WINDOW_SIZE=300, analytics_max_pairs=50) without a word
    /// and ran on the defaults; only the sample checked names.
    /// </summary>
    [Theory]
    [InlineData("ANALYTICS_WINDOW_SIZE")]
    [InlineData("analytics_max_pairs")]
    [InlineData("Analytics_Window_Seconds")]
    [InlineData("ANALYTICS_")]
    [InlineData("ANALYTICS_SPILL_BUCKET")]
    public void AnAnalyticsVariableThatIsNoSetting_IsRefused_ByName(string name)
    {
        var map = new Dictionary<string, string> { ["PATH"] = "/usr/bin", [KinesisFunctionSettings.WindowSecondsVariable] = "300", [name] = "50" };

        InvalidOperationException e = Assert.Throws<InvalidOperationException>(() => KinesisFunctionSettings.FromEnvironment(map.Keys, n => map.GetValueOrDefault(n)));

        Assert.StartsWith(name + " is not a setting of Analytics.Core, which reads ANALYTICS_WINDOW_SECONDS, ", e.Message, StringComparison.Ordinal);
        Assert.Contains("FromEnvironment(Environment.GetEnvironmentVariable)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EverySettingAndOtherPrefixes_AreTaken_AndTheFunctionOverloadChecksNoNames()
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["ANALYTICS_WINDOW_SECONDS"] = "300",
            ["ANALYTICS_MAX_PAIRS"] = "500",
            ["ANALYTICS_LOG_LEVEL"] = "Warn",
            ["ANALYTICS_METRICS_NAMESPACE"] = "Orders",
            ["ANALYTICS_AGGREGATE_TABLE"] = "t",
            ["ANALYTICS_QUARANTINE_BUCKET"] = "b",
            ["ANALYTICS_OUTPUT_DIR"] = "/tmp/x",
            ["MY_ANALYTICS_WINDOW"] = "1",
            ["XANALYTICS_Y"] = "2",
        };

        KinesisFunctionSettings settings = KinesisFunctionSettings.FromEnvironment(map.Keys, n => map.GetValueOrDefault(n));
        Assert.Equal((TimeSpan.FromSeconds(300), 500, "t"), (settings.WindowSize, settings.MaxPairs, settings.AggregateTable));

        // A function with variables of its own under the prefix reads through the overload that checks no names.
        map["ANALYTICS_SPILL_BUCKET"] = "s";
        Assert.Equal(TimeSpan.FromSeconds(300), KinesisFunctionSettings.FromEnvironment(n => map.GetValueOrDefault(n)).WindowSize);
    }

    [Fact]
    public void NothingSet_GivesTheLibraryDefaults()
    {
        KinesisFunctionSettings settings = Read();
        Assert.Equal(AggregatorOptions.Default, settings.ToProcessorOptions().Aggregator);
        Assert.Equal(ProcessorOptions.Default.SafetyMarginFraction, settings.ToProcessorOptions().SafetyMarginFraction);
        KinesisFunctionOptions options = settings.ToFunctionOptions();
        Assert.Equal(JsonLogLevel.Info, options.Log.MinimumLevel);
        Assert.Equal("Analytics.Core", options.Metrics.Namespace);
        Assert.Null(settings.AggregateTable);
        Assert.Null(settings.QuarantineBucket);
        Assert.Equal("/tmp/analytics", settings.OutputDirectory);
    }

    [Fact]
    public void EverythingSet_ReachesTheOptions()
    {
        KinesisFunctionSettings settings = Read(
            ("ANALYTICS_WINDOW_SECONDS", "300"),
            ("ANALYTICS_MAX_PAIRS", "500"),
            ("ANALYTICS_LOG_LEVEL", "warn"),
            ("ANALYTICS_METRICS_NAMESPACE", "Orders"),
            ("ANALYTICS_AGGREGATE_TABLE", " metrics "),
            ("ANALYTICS_QUARANTINE_BUCKET", "poison-bucket"),
            ("ANALYTICS_OUTPUT_DIR", "/tmp/x"));
        KinesisFunctionOptions options = settings.ToFunctionOptions();
        Assert.Equal(TimeSpan.FromMinutes(5), options.Processor.Aggregator.WindowSize);
        Assert.Equal(500, options.Processor.Aggregator.MaxPairs);
        Assert.Equal(JsonLogLevel.Warn, options.Log.MinimumLevel);
        Assert.Equal("Orders", options.Metrics.Namespace);
        Assert.Equal("metrics", settings.AggregateTable);
        Assert.Equal("poison-bucket", settings.QuarantineBucket);
        Assert.Equal("/tmp/x", settings.OutputDirectory);
    }

    [Property(MaxTest = 200)]
    public void WindowSeconds_AcceptsExactly1To3600(int seconds)
    {
        Func<KinesisFunctionSettings> read = () => Read(("ANALYTICS_WINDOW_SECONDS", seconds.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        if (seconds is >= 1 and <= 3600)
        {
            Assert.Equal(TimeSpan.FromSeconds(seconds), read().WindowSize);
        }
        else
        {
            InvalidOperationException e = Assert.Throws<InvalidOperationException>(read);
            Assert.Contains("ANALYTICS_WINDOW_SECONDS", e.Message, StringComparison.Ordinal);
        }
    }

    [Property(MaxTest = 200)]
    public Property AnyText_EitherAValidLogLevelOrAnErrorNamingTheVariable(NonNull<string> text)
    {
        string value = text.Get;
        string[] names = ["debug", "info", "warn", "error", "none"];
        bool valid = names.Contains(value.Trim().ToLowerInvariant());
        try
        {
            KinesisFunctionSettings settings = Read(("ANALYTICS_LOG_LEVEL", value));
            return (valid && settings.LogLevel.ToString().Equals(value.Trim(), StringComparison.OrdinalIgnoreCase)).ToProperty();
        }
        catch (InvalidOperationException e)
        {
            return (!valid && e.Message.Contains("ANALYTICS_LOG_LEVEL", StringComparison.Ordinal)).ToProperty();
        }
    }

    [Theory]
    [InlineData("ANALYTICS_WINDOW_SECONDS", "60s")]
    [InlineData("ANALYTICS_WINDOW_SECONDS", "-5")]
    [InlineData("ANALYTICS_MAX_PAIRS", "0")]
    [InlineData("ANALYTICS_MAX_PAIRS", "1e4")]
    [InlineData("ANALYTICS_LOG_LEVEL", "2")]
    [InlineData("ANALYTICS_LOG_LEVEL", "Verbose")]
    public void BadValue_ThrowsNamingTheVariableAndTheValue(string name, string value)
    {
        InvalidOperationException e = Assert.Throws<InvalidOperationException>(() => Read((name, value)));
        Assert.Contains(name, e.Message, StringComparison.Ordinal);
        Assert.Contains(value, e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A variable set to nothing but white space is refused, naming it (found by review: read as unset, a blank table left
    /// the aggregates to files a Lambda sandbox loses, while every invocation succeeded). Unset variables take defaults.
    /// </summary>
    [Theory]
    [InlineData("ANALYTICS_WINDOW_SECONDS", "  ")]
    [InlineData("ANALYTICS_AGGREGATE_TABLE", "")]
    [InlineData("ANALYTICS_QUARANTINE_BUCKET", "\t")]
    [InlineData("ANALYTICS_OUTPUT_DIR", " ")]
    [InlineData("ANALYTICS_LOG_LEVEL", "")]
    public void ABlankVariable_IsRefusedNamingIt(string name, string value)
    {
        InvalidOperationException e = Assert.Throws<InvalidOperationException>(() => Read((name, value)));
        Assert.StartsWith(name + " is set but empty", e.Message, StringComparison.Ordinal);
        KinesisFunctionSettings unset = Read();
        Assert.Equal(TimeSpan.FromSeconds(60), unset.WindowSize);
        Assert.Null(unset.AggregateTable);
    }
}
