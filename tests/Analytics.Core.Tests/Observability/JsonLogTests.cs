using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using FsCheck.Xunit;

namespace Analytics.Core.Tests;

public class JsonLogTests
{
    private const string Marker = "PII-MARKER-7f3c9a";
    private static readonly DateTimeOffset s_now = new(2025, 1, 20, 10, 0, 0, 456, TimeSpan.Zero);
    private static readonly string[] s_stages = ["parse", "aggregate", "quarantineSink", "aggregateSink"];

    private static JsonLogOptions Options(JsonLogLevel minimum = JsonLogLevel.Info) =>
        JsonLogOptions.Default with { MinimumLevel = minimum, TimeProvider = new TestClock(s_now) };

    private static List<JsonElement> Lines(ArrayBufferWriter<byte> buffer)
    {
        string text = Encoding.UTF8.GetString(buffer.WrittenSpan);
        Assert.True(text.Length == 0 || text.EndsWith('\n'), "output ends with a newline");
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonDocument.Parse(line).RootElement).ToList();
    }

    private static List<JsonElement> WriteInvocation(BatchSummary summary, JsonLogOptions options, out int returned)
    {
        var buffer = new ArrayBufferWriter<byte>();
        returned = JsonLog.WriteInvocation(summary, options, buffer);
        return Lines(buffer);
    }

    private static QuarantinedRecord Poison(string data, string partitionKey, int? subSequenceNumber = null) => new()
    {
        EventSourceArn = "arn:aws:kinesis:eu-west-1:123456789012:stream/orders",
        ShardId = "shardId-000000000003",
        SequenceNumber = "49590338271490256608559692538361571095921575989136588898",
        SubSequenceNumber = subSequenceNumber,
        PartitionKey = partitionKey,
        ApproximateArrival = s_now.AddSeconds(-30),
        Reason = PoisonReason.InvalidJson,
        Detail = "unexpected character at byte 17",
        Data = data,
    };

    private static void AssertCommonFields(JsonElement line)
    {
        Assert.Equal(JsonValueKind.Object, line.ValueKind);
        Assert.Contains(line.GetProperty("level").GetString(), new[] { "Debug", "Info", "Warn", "Error" });
        Assert.False(string.IsNullOrEmpty(line.GetProperty("message").GetString()));
        string timestamp = line.GetProperty("timestamp").GetString()!;
        Assert.True(
            DateTimeOffset.TryParseExact(timestamp, "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK", CultureInfo.InvariantCulture, DateTimeStyles.None, out DateTimeOffset parsed),
            $"'{timestamp}' is ISO-8601");
        Assert.Equal(s_now, parsed);
    }

    [Property(Arbitrary = [typeof(SummaryArbitraries)], MaxTest = 300, Replay = "(20250120,1234567893)")]
    public void WriteInvocation_ArbitrarySummary_WritesAnInvocationLineAndFourStageLinesWithItsFigures(SummaryFigures figures)
    {
        BatchSummary summary = figures.ToSummary();

        List<JsonElement> lines = WriteInvocation(summary, Options(JsonLogLevel.Debug), out int returned);

        Assert.Equal(5, returned);
        Assert.Equal(5, lines.Count);
        Assert.All(lines, AssertCommonFields);
        JsonElement invocation = Assert.Single(lines, l => l.GetProperty("message").GetString() == "invocation");
        bool warn = figures.ReportedFailure is not null || figures.DeadlineReached;
        Assert.Equal(warn ? "Warn" : "Info", invocation.GetProperty("level").GetString());
        Assert.Equal(figures.ShardId, invocation.GetProperty("shardId").GetString());
        Assert.Equal(figures.FirstSequenceNumber, invocation.GetProperty("firstSequenceNumber").GetString());
        Assert.Equal(figures.LastSequenceNumber, invocation.GetProperty("lastSequenceNumber").GetString());
        Assert.Equal(figures.ReportedFailure, invocation.GetProperty("reportedFailure").GetString());
        Assert.Equal(figures.ReportedFailure is null ? 0 : 1, invocation.GetProperty("failuresReported").GetInt32());
        Assert.Equal(figures.DeadlineReached, invocation.GetProperty("deadlineReached").GetBoolean());
        Assert.Equal(figures.Records, invocation.GetProperty("recordsIn").GetInt32());
        Assert.Equal(figures.ValidRecords, invocation.GetProperty("validRecords").GetInt32());
        Assert.Equal(figures.PoisonTotal, invocation.GetProperty("poisonRecords").GetInt32());
        Assert.Equal(figures.Quarantined, invocation.GetProperty("quarantined").GetInt32());
        Assert.Equal(figures.Samples, invocation.GetProperty("samplesAggregated").GetInt32());
        Assert.Equal(figures.AggregatesWritten, invocation.GetProperty("aggregatesWritten").GetInt32());
        AssertMilliseconds(figures.ParseTicks, invocation.GetProperty("parseMs"));
        AssertMilliseconds(figures.AggregateTicks, invocation.GetProperty("aggregateMs"));
        AssertMilliseconds(figures.QuarantineSinkTicks, invocation.GetProperty("quarantineSinkMs"));
        AssertMilliseconds(figures.AggregateSinkTicks, invocation.GetProperty("aggregateSinkMs"));
        AssertMilliseconds(figures.RemainingTicks, invocation.GetProperty("remainingTimeMs"));
        AssertMilliseconds(figures.OldestAgeTicks, invocation.GetProperty("oldestRecordAgeMs"));
        AssertMilliseconds(figures.NewestAgeTicks, invocation.GetProperty("newestRecordAgeMs"));
        var poison = invocation.GetProperty("poisonByReason").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        var expectedPoison = Enumerable.Range(0, figures.PoisonCounts.Length).Where(r => figures.PoisonCounts[r] > 0).ToDictionary(r => Enum.GetName((PoisonReason)r)!, r => figures.PoisonCounts[r]);
        Assert.Equal(expectedPoison.OrderBy(p => p.Key), poison.OrderBy(p => p.Key));

        var stages = lines.Where(l => l.GetProperty("message").GetString() == "stage").ToDictionary(l => l.GetProperty("stage").GetString()!);
        Assert.Equal(s_stages.Order(), stages.Keys.Order());
        Assert.All(stages.Values, s => Assert.Equal("Info", s.GetProperty("level").GetString()));
        Assert.All(stages.Values, s => Assert.Equal(figures.ShardId, s.GetProperty("shardId").GetString()));
        AssertMilliseconds(figures.ParseTicks, stages["parse"].GetProperty("durationMs"));
        AssertMilliseconds(figures.AggregateTicks, stages["aggregate"].GetProperty("durationMs"));
        AssertMilliseconds(figures.QuarantineSinkTicks, stages["quarantineSink"].GetProperty("durationMs"));
        AssertMilliseconds(figures.AggregateSinkTicks, stages["aggregateSink"].GetProperty("durationMs"));
    }

    [Theory]
    [InlineData(JsonLogLevel.Debug, false, 5)]
    [InlineData(JsonLogLevel.Info, false, 5)]
    [InlineData(JsonLogLevel.Warn, false, 0)]
    [InlineData(JsonLogLevel.Warn, true, 1)]
    [InlineData(JsonLogLevel.Error, true, 0)]
    [InlineData(JsonLogLevel.None, true, 0)]
    [InlineData(JsonLogLevel.None, false, 0)]
    public void WriteInvocation_MinimumLevel_FiltersLines(JsonLogLevel minimum, bool failed, int expectedLines)
    {
        var summary = new BatchSummary { ShardId = "shardId-000000000001", Records = 3, ReportedFailure = failed ? "42" : null };

        List<JsonElement> lines = WriteInvocation(summary, Options(minimum), out int returned);

        Assert.Equal(expectedLines, returned);
        Assert.Equal(expectedLines, lines.Count);
        Assert.All(lines, l => Assert.True(Enum.Parse<JsonLogLevel>(l.GetProperty("level").GetString()!) >= minimum));
    }

    [Theory]
    [InlineData(JsonLogLevel.Debug, true)]
    [InlineData(JsonLogLevel.Info, true)]
    [InlineData(JsonLogLevel.Warn, true)]
    [InlineData(JsonLogLevel.Error, false)]
    [InlineData(JsonLogLevel.None, false)]
    public void WritePoison_MinimumLevel_FiltersTheWarnLine(JsonLogLevel minimum, bool expectedWritten)
    {
        var buffer = new ArrayBufferWriter<byte>();

        bool written = JsonLog.WritePoison(Poison("eyJ4Ijox", "pk"), Options(minimum), buffer);

        Assert.Equal(expectedWritten, written);
        Assert.Equal(expectedWritten ? 1 : 0, Lines(buffer).Count);
    }

    [Theory]
    [InlineData(null)]
    [InlineData(4)]
    public void WritePoison_Record_WritesReasonDetailPositionAndKeyLengthOnly(int? subSequenceNumber)
    {
        var buffer = new ArrayBufferWriter<byte>();
        QuarantinedRecord record = Poison("eyJ4Ijox", "customer-0042", subSequenceNumber);

        JsonLog.WritePoison(record, Options(), buffer);

        JsonElement line = Assert.Single(Lines(buffer));
        AssertCommonFields(line);
        Assert.Equal("Warn", line.GetProperty("level").GetString());
        Assert.Equal("poison", line.GetProperty("message").GetString());
        Assert.Equal("InvalidJson", line.GetProperty("reason").GetString());
        Assert.Equal(record.Detail, line.GetProperty("detail").GetString());
        Assert.Equal(record.ShardId, line.GetProperty("shardId").GetString());
        Assert.Equal(record.SequenceNumber, line.GetProperty("sequenceNumber").GetString());
        Assert.Equal("customer-0042".Length, line.GetProperty("partitionKeyLength").GetInt32());
        Assert.Equal(subSequenceNumber.HasValue, line.TryGetProperty("subSequenceNumber", out JsonElement sub));
        if (subSequenceNumber.HasValue)
        {
            Assert.Equal(subSequenceNumber.Value, sub.GetInt32());
        }

        Assert.False(line.TryGetProperty("data", out _));
        Assert.False(line.TryGetProperty("partitionKey", out _));
    }

    [Fact]
    public void WritePoison_LongDetail_IsCut()
    {
        var buffer = new ArrayBufferWriter<byte>();
        QuarantinedRecord record = Poison("eyJ4Ijox", "pk");
        record = new QuarantinedRecord
        {
            ShardId = record.ShardId,
            SequenceNumber = record.SequenceNumber,
            PartitionKey = record.PartitionKey,
            Reason = PoisonReason.TooLarge,
            Detail = new string('d', 5000),
            Data = record.Data,
        };

        JsonLog.WritePoison(record, Options(), buffer);

        string detail = Assert.Single(Lines(buffer)).GetProperty("detail").GetString()!;
        Assert.InRange(System.Text.Encoding.UTF8.GetByteCount(detail), 200, 256);
        Assert.EndsWith("...", detail, StringComparison.Ordinal);
        Assert.StartsWith(detail[..^3], record.Detail, StringComparison.Ordinal);
    }

    /// <summary>A host's own record with a megabyte of sequence number (found by review: a 1,000,172-byte line, past the 256 KB a log event holds).</summary>
    [Fact]
    public void WritePoison_HugeSequenceNumber_IsCutAt1024Characters()
    {
        var buffer = new ArrayBufferWriter<byte>();
        QuarantinedRecord poison = Poison("eyJ4Ijox", "pk");
        var record = new QuarantinedRecord
        {
            ShardId = poison.ShardId,
            SequenceNumber = new string('7', 1_000_000),
            PartitionKey = poison.PartitionKey,
            Reason = poison.Reason,
            Detail = poison.Detail,
            Data = poison.Data,
        };

        JsonLog.WritePoison(record, Options(), buffer);

        Assert.Equal(new string('7', 1024), Assert.Single(Lines(buffer)).GetProperty("sequenceNumber").GetString());
        Assert.InRange(buffer.WrittenCount, 1, 4096);
    }

    [Fact]
    public void WritePoison_DetailWithNewlineAndLoneSurrogate_StaysOneValidLine()
    {
        var buffer = new ArrayBufferWriter<byte>();
        QuarantinedRecord record = Poison("eyJ4Ijox", "pk");
        record = new QuarantinedRecord
        {
            ShardId = "shard\n\"x",
            SequenceNumber = record.SequenceNumber,
            PartitionKey = record.PartitionKey,
            Reason = PoisonReason.InvalidUtf8,
            Detail = "bad\nline \uDC00 end",
            Data = record.Data,
        };

        JsonLog.WritePoison(record, Options(), buffer);

        JsonElement line = Assert.Single(Lines(buffer));
        Assert.Equal("bad\nline \uFFFD end", line.GetProperty("detail").GetString());
        Assert.Equal("shard\n\"x", line.GetProperty("shardId").GetString());
    }

    [Fact]
    public void AllWriters_RecordsHoldingAMarker_NeverWriteTheMarker()
    {
        // The payload as it arrives (base64), the payload decoded, and the partition key all carry the marker.
        string payload = $"{{\"metric\":\"{Marker}\",\"email\":\"{Marker}@example.com\"";
        string base64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(payload));
        QuarantinedRecord[] records =
        [
            Poison(Marker, Marker),
            Poison(base64, "user-" + Marker),
            Poison(payload, Marker + Marker, subSequenceNumber: 2),
        ];
        var summary = new BatchSummary { ShardId = "shardId-000000000003", Records = 3, ReportedFailure = records[0].SequenceNumber };
        foreach (QuarantinedRecord record in records)
        {
            summary.CountPoison(record.Reason);
        }

        var buffer = new ArrayBufferWriter<byte>();
        foreach (QuarantinedRecord record in records)
        {
            Assert.True(JsonLog.WritePoison(record, Options(JsonLogLevel.Debug), buffer));
        }

        JsonLog.WriteInvocation(summary, Options(JsonLogLevel.Debug), buffer);
        EmfMetrics.Write(summary, EmfOptions.Default with { FunctionName = "f", Timestamp = s_now }, buffer);

        string output = Encoding.UTF8.GetString(buffer.WrittenSpan);
        Assert.Equal(3 + 5 + 1, output.Count(c => c == '\n'));
        Assert.DoesNotContain(Marker, output, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(base64, output, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(Encoding.UTF8.GetBytes(Marker)), output, StringComparison.Ordinal);
        Assert.DoesNotContain("example.com", output, StringComparison.Ordinal);
    }

    [Fact]
    public void WriteInvocation_NullSequenceNumbersAndEmptyShard_WritesValidLines()
    {
        List<JsonElement> lines = WriteInvocation(new BatchSummary(), Options(), out int returned);

        Assert.Equal(5, returned);
        Assert.All(lines, AssertCommonFields);
        JsonElement invocation = lines.Single(l => l.GetProperty("message").GetString() == "invocation");
        Assert.Equal(JsonValueKind.Null, invocation.GetProperty("firstSequenceNumber").ValueKind);
        Assert.Equal(JsonValueKind.Null, invocation.GetProperty("reportedFailure").ValueKind);
        Assert.Empty(invocation.GetProperty("poisonByReason").EnumerateObject());
    }

    [Fact]
    public void WriteInvocationAndWritePoison_AfterWarmUp_AllocateNothing()
    {
        var summary = new BatchSummary { ShardId = "shardId-000000000001", Records = 500, FirstSequenceNumber = "1", LastSequenceNumber = "9" };
        summary.CountPoison(PoisonReason.InvalidJson);
        QuarantinedRecord record = Poison("eyJ4Ijox", "pk", subSequenceNumber: 1);
        var buffer = new ArrayBufferWriter<byte>(1 << 16);
        JsonLogOptions options = Options(JsonLogLevel.Debug);
        for (int i = 0; i < 10; i++)
        {
            JsonLog.WriteInvocation(summary, options, buffer);
            JsonLog.WritePoison(record, options, buffer);
            buffer.ResetWrittenCount();
        }

        long allocated = AllocationMeasure.Least(() =>
        {
            buffer.ResetWrittenCount();
            JsonLog.WriteInvocation(summary, options, buffer);
            JsonLog.WritePoison(record, options, buffer);
        });

        Assert.Equal(0, allocated);
        Assert.Equal(6, Lines(buffer).Count);
    }

    [Fact]
    public void GetInvocationLevel_DeadlineReached_IsWarn()
    {
        Assert.Equal(JsonLogLevel.Warn, JsonLog.GetInvocationLevel(new BatchSummary { DeadlineReached = true }));
        Assert.Equal(JsonLogLevel.Info, JsonLog.GetInvocationLevel(new BatchSummary()));
    }

    private static void AssertMilliseconds(long ticks, JsonElement value)
    {
        decimal exact = ticks / 10_000m;
        decimal written = value.GetDecimal();
        // Plus a double's relative precision, which matters only for durations of centuries.
        Assert.True(Math.Abs(exact - written) <= 0.0005m + (Math.Abs(exact) * 1e-15m), $"{written} ms written for {exact} ms");
    }
}
