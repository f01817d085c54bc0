using System.Buffers;
using System.Text;
using System.Text.Json;
using FsCheck.Xunit;

namespace Analytics.Core.Tests;

public class EmfMetricsTests
{
    private static readonly DateTimeOffset s_now = new(2025, 1, 20, 10, 0, 0, 123, TimeSpan.Zero);

    private static readonly string[] s_countMetrics = ["RecordsIn", "ValidRecords", "PoisonRecords", "SamplesAggregated", "AggregatesWritten", "FailuresReported", "SpilledRecords", "SpilledAggregates"];
    private static readonly string[] s_millisecondMetrics = ["ParseMs", "AggregateMs", "QuarantineSinkMs", "AggregateSinkMs", "RemainingTimeMs", "OldestRecordAgeMs", "NewestRecordAgeMs"];

    private static string WriteLine(BatchSummary summary, EmfOptions options)
    {
        var buffer = new ArrayBufferWriter<byte>();
        EmfMetrics.Write(summary, options, buffer);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static EmfOptions Options => EmfOptions.Default with { FunctionName = "orders-aggregator", Timestamp = s_now };

    [Property(Arbitrary = [typeof(SummaryArbitraries)], MaxTest = 300, Replay = "(20250120,1234567891)")]
    public void Write_ArbitrarySummary_WritesOneValidEmfLineWithTheSummaryFigures(SummaryFigures figures)
    {
        BatchSummary summary = figures.ToSummary();
        string output = WriteLine(summary, Options);

        Assert.EndsWith("\n", output);
        Assert.Equal(1, output.Count(c => c == '\n'));
        Assert.Empty(EmfValidator.Validate(output));

        using var document = JsonDocument.Parse(output);
        JsonElement root = document.RootElement;
        Assert.Equal(figures.Records, root.GetProperty("RecordsIn").GetInt32());
        Assert.Equal(figures.ValidRecords, root.GetProperty("ValidRecords").GetInt32());
        Assert.Equal(figures.PoisonTotal, root.GetProperty("PoisonRecords").GetInt32());
        Assert.Equal(figures.Samples, root.GetProperty("SamplesAggregated").GetInt32());
        Assert.Equal(figures.AggregatesWritten, root.GetProperty("AggregatesWritten").GetInt32());
        Assert.Equal(figures.ReportedFailure is null ? 0 : 1, root.GetProperty("FailuresReported").GetInt32());
        AssertMilliseconds(figures.ParseTicks, root.GetProperty("ParseMs"));
        AssertMilliseconds(figures.AggregateTicks, root.GetProperty("AggregateMs"));
        AssertMilliseconds(figures.QuarantineSinkTicks, root.GetProperty("QuarantineSinkMs"));
        AssertMilliseconds(figures.AggregateSinkTicks, root.GetProperty("AggregateSinkMs"));
        AssertMilliseconds(figures.RemainingTicks, root.GetProperty("RemainingTimeMs"));
        AssertMilliseconds(figures.OldestAgeTicks, root.GetProperty("OldestRecordAgeMs"));
        AssertMilliseconds(figures.NewestAgeTicks, root.GetProperty("NewestRecordAgeMs"));
        // CloudWatch's dimension values: printable ASCII, not blank, at most 1,024 characters ('?' for any other character).
        string expectedShard = string.IsNullOrWhiteSpace(figures.ShardId) ? "none"
            : new string([.. figures.ShardId.Take(1024).Select(c => c is >= ' ' and <= '~' ? c : '?')]);
        Assert.Equal(expectedShard, root.GetProperty("ShardId").GetString());

        // Poison counts: a plain property for exactly the reasons with a count, and none of them a metric.
        var expectedPoison = new Dictionary<string, int>();
        for (int reason = 0; reason < figures.PoisonCounts.Length; reason++)
        {
            if (figures.PoisonCounts[reason] > 0)
            {
                expectedPoison["poison." + Enum.GetName((PoisonReason)reason)] = figures.PoisonCounts[reason];
            }
        }

        var actualPoison = root.EnumerateObject().Where(p => p.Name.StartsWith("poison.", StringComparison.Ordinal)).ToDictionary(p => p.Name, p => p.Value.GetInt32());
        Assert.Equal(expectedPoison.OrderBy(p => p.Key), actualPoison.OrderBy(p => p.Key));
        Assert.DoesNotContain(MetricNames(root), name => name.StartsWith("poison.", StringComparison.Ordinal));
    }

    [Fact]
    public void Write_AnySummary_DeclaresTheDocumentedMetricsUnitsAndDimensions()
    {
        using var document = JsonDocument.Parse(WriteLine(new BatchSummary { ShardId = "shardId-000000000001" }, Options));
        JsonElement directive = document.RootElement.GetProperty("_aws").GetProperty("CloudWatchMetrics").EnumerateArray().Single();

        Assert.Equal("Analytics.Core", directive.GetProperty("Namespace").GetString());
        string[][] dimensions = directive.GetProperty("Dimensions").EnumerateArray().Select(set => set.EnumerateArray().Select(d => d.GetString()!).ToArray()).ToArray();
        Assert.Equal([["FunctionName", "ShardId"]], dimensions);
        var units = directive.GetProperty("Metrics").EnumerateArray().ToDictionary(m => m.GetProperty("Name").GetString()!, m => m.GetProperty("Unit").GetString());
        Assert.Equal(s_countMetrics.Length + s_millisecondMetrics.Length, units.Count);
        Assert.All(s_countMetrics, name => Assert.Equal("Count", units[name]));
        Assert.All(s_millisecondMetrics, name => Assert.Equal("Milliseconds", units[name]));
        Assert.Equal("orders-aggregator", document.RootElement.GetProperty("FunctionName").GetString());
        Assert.Equal("shardId-000000000001", document.RootElement.GetProperty("ShardId").GetString());
    }

    [Fact]
    public void Write_ExplicitTimestamp_IsTheAwsTimestampAndWinsOverTheClock()
    {
        var options = Options with { TimeProvider = new TestClock(s_now.AddDays(3)) };

        using var document = JsonDocument.Parse(WriteLine(new BatchSummary(), options));

        Assert.Equal(s_now.ToUnixTimeMilliseconds(), document.RootElement.GetProperty("_aws").GetProperty("Timestamp").GetInt64());
    }

    [Fact]
    public void Write_NoExplicitTimestamp_TakesTheClock()
    {
        DateTimeOffset clock = s_now.AddMinutes(17).AddMilliseconds(9);
        var options = Options with { Timestamp = null, TimeProvider = new TestClock(clock) };

        using var document = JsonDocument.Parse(WriteLine(new BatchSummary(), options));

        Assert.Equal(clock.ToUnixTimeMilliseconds(), document.RootElement.GetProperty("_aws").GetProperty("Timestamp").GetInt64());
    }

    [Fact]
    public void Write_CustomNamespace_IsTheDirectiveNamespace()
    {
        using var document = JsonDocument.Parse(WriteLine(new BatchSummary(), Options with { Namespace = "Orders/Analytics" }));

        Assert.Equal("Orders/Analytics", document.RootElement.GetProperty("_aws").GetProperty("CloudWatchMetrics")[0].GetProperty("Namespace").GetString());
    }

    [Fact]
    public void Write_DefaultStructOptions_WritesValidEmfWithDefaults()
    {
        string line = WriteLine(new BatchSummary(), default);

        Assert.Empty(EmfValidator.Validate(line));
        using var document = JsonDocument.Parse(line);
        Assert.Equal("Analytics.Core", document.RootElement.GetProperty("_aws").GetProperty("CloudWatchMetrics")[0].GetProperty("Namespace").GetString());
        Assert.False(string.IsNullOrEmpty(document.RootElement.GetProperty("FunctionName").GetString()));
    }

    [Theory]
    [InlineData("")]
    [InlineData("x")]
    public void Write_NamespaceOutOfRange_Throws(string prefix)
    {
        string ns = prefix.Length == 0 ? string.Empty : new string('n', 256);

        Assert.Throws<ArgumentException>(() => WriteLine(new BatchSummary(), Options with { Namespace = ns }));
    }

    [Fact]
    public void Write_AppendsToWhatTheDestinationHolds()
    {
        var buffer = new ArrayBufferWriter<byte>();
        EmfMetrics.Write(new BatchSummary { Records = 1 }, Options, buffer);
        EmfMetrics.Write(new BatchSummary { Records = 2 }, Options, buffer);

        string[] lines = Encoding.UTF8.GetString(buffer.WrittenSpan).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.All(lines, line => Assert.Empty(EmfValidator.Validate(line)));
        Assert.Equal([1, 2], lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("RecordsIn").GetInt32()));
    }

    [Fact]
    public void Write_ShardIdWithNewlineQuoteAndLoneSurrogate_StaysOneValidLine()
    {
        string line = WriteLine(new BatchSummary { ShardId = "a\uD800b\"\n<" }, Options);

        Assert.Equal(1, line.Count(c => c == '\n'));
        Assert.Empty(EmfValidator.Validate(line));
        using var document = JsonDocument.Parse(line);
        Assert.Equal("a?b\"?<", document.RootElement.GetProperty("ShardId").GetString());
    }

    [Fact]
    public void Write_AfterWarmUp_AllocatesNothing()
    {
        var summary = new BatchSummary { ShardId = "shardId-000000000001", Records = 500, ReportedFailure = "7" };
        summary.CountPoison(PoisonReason.InvalidJson);
        var buffer = new ArrayBufferWriter<byte>(1 << 16);
        EmfOptions options = Options;
        for (int i = 0; i < 10; i++)
        {
            EmfMetrics.Write(summary, options, buffer);
            buffer.ResetWrittenCount();
        }

        long allocated = AllocationMeasure.Least(() =>
        {
            buffer.ResetWrittenCount();
            EmfMetrics.Write(summary, options, buffer);
        });

        Assert.Equal(0, allocated);
        Assert.Empty(EmfValidator.Validate(Encoding.UTF8.GetString(buffer.WrittenSpan)));
    }

    // The validator must be able to fail, or the property above proves nothing.
    [Theory]
    [InlineData("\"ShardId\":\"shardId-000000000001\"", "\"ShardId\":7", "not a top-level string")]
    [InlineData("\"ShardId\":\"shardId-000000000001\",", "", "not a top-level string")]
    [InlineData("\"RecordsIn\":5", "\"RecordsIn\":\"5\"", "not a number")]
    [InlineData("\"RecordsIn\":5,", "", "no top-level member")]
    [InlineData("\"Unit\":\"Milliseconds\"", "\"Unit\":\"Millis\"", "unit")]
    [InlineData("\"Namespace\":\"Analytics.Core\"", "\"Namespace\":\"\"", "Namespace")]
    [InlineData("\"Timestamp\":", "\"Timestamp\":\"x\",\"T\":", "Timestamp")]
    public void Validator_BrokenLine_IsRejected(string find, string replace, string expectedError)
    {
        string valid = WriteLine(new BatchSummary { ShardId = "shardId-000000000001", Records = 5 }, Options);
        Assert.Empty(EmfValidator.Validate(valid));
        Assert.Contains(find, valid, StringComparison.Ordinal);

        List<string> errors = EmfValidator.Validate(valid.Replace(find, replace, StringComparison.Ordinal));

        Assert.Contains(errors, e => e.Contains(expectedError, StringComparison.Ordinal));
    }

    [Fact]
    public void Validator_TooManyMetricsOrDimensions_IsRejected()
    {
        var metrics = Enumerable.Range(0, 101).Select(i => new Dictionary<string, string> { ["Name"] = "m" + i }).ToArray();
        string[] dimensions = Enumerable.Range(0, 31).Select(i => "d" + i).ToArray();
        var builder = new StringBuilder("{\"_aws\":{\"Timestamp\":1,\"CloudWatchMetrics\":[{\"Namespace\":\"n\",\"Dimensions\":[[");
        builder.AppendJoin(',', dimensions.Select(d => $"\"{d}\"")).Append("]],\"Metrics\":[");
        builder.AppendJoin(',', metrics.Select(m => $"{{\"Name\":\"{m["Name"]}\"}}")).Append("]}]}");
        foreach (string d in dimensions)
        {
            builder.Append($",\"{d}\":\"v\"");
        }

        foreach (var m in metrics)
        {
            builder.Append($",\"{m["Name"]}\":1");
        }

        List<string> errors = EmfValidator.Validate(builder.Append('}').ToString());

        Assert.Contains("more than 100 metrics in a directive", errors);
        Assert.Contains("dimension set has more than 30 names", errors);
    }

    private static IEnumerable<string> MetricNames(JsonElement root) =>
        root.GetProperty("_aws").GetProperty("CloudWatchMetrics").EnumerateArray()
            .SelectMany(d => d.GetProperty("Metrics").EnumerateArray())
            .Select(m => m.GetProperty("Name").GetString()!);

    private static void AssertMilliseconds(long ticks, JsonElement value)
    {
        // Independent of the writer's rounding: within half a microsecond of the exact figure.
        decimal exact = ticks / 10_000m;
        decimal written = value.GetDecimal();
        // Plus a double's relative precision, which matters only for durations of centuries.
        Assert.True(Math.Abs(exact - written) <= 0.0005m + (Math.Abs(exact) * 1e-15m), $"{written} ms written for {exact} ms");
    }
}
