using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Analytics.Core.Tests.Fuzzing;

/// <summary>
/// One test per finding of the coverage-guided fuzzing targets (tests/fuzz, docs/fuzzing.md): each input is the
/// smallest form of what afl-fuzz found, and each assertion is the promise that input broke.
/// </summary>
public class FuzzFindingsTests
{
    private const long Arrival = 1_737_367_500_000;
    private const long Timestamp = 1_737_367_200_000;

    /// <summary>
    /// A JSON escape of a lone surrogate in a field name made Utf8JsonReader.ValueTextEquals throw
    /// InvalidOperationException out of the validator, which promises a verdict for any data (and so out of the
    /// processor, failing the whole batch on every retry). Such a name equals none of the schema's fields: it is an
    /// unknown field, skipped like any other, as JsonDocument reads it.
    /// </summary>
    [Theory]
    [InlineData("""{"\udc00":1,"metric":"m","value":1,"timestamp":1737367200000}""", PoisonReason.None)]
    [InlineData("""{"metric\ud800":"m","value":1,"timestamp":1737367200000}""", PoisonReason.MissingField)]
    [InlineData("""{"metric":"m","value":1,"timestamp":1737367200000,"dimensions":{"k":"v"},"x\udfff":{"\ud83d":[]}}""", PoisonReason.None)]
    public void Validator_FieldNameWithLoneSurrogateEscape_GetsAVerdict(string data, PoisonReason expected)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(data);
        using (JsonDocument.Parse(bytes))
        {
            // The independent reference: System.Text.Json reads it as JSON.
        }

        RecordVerdict verdict = new RecordValidator().ValidateData(bytes, Arrival);

        Assert.Equal(expected, verdict.Reason);
        Assert.Equal(expected == PoisonReason.None ? 1 : 0, verdict.SampleCount);
    }

    /// <summary>The same throw from the string value compared with "NaN": a value that is a string is WrongType.</summary>
    [Fact]
    public void Validator_StringValueWithLoneSurrogateEscape_IsWrongType()
    {
        byte[] bytes = Encoding.UTF8.GetBytes("""{"metric":"m","value":"\udc00","timestamp":1737367200000}""");

        RecordVerdict verdict = new RecordValidator().ValidateData(bytes, Arrival);

        Assert.Equal(PoisonReason.WrongType, verdict.Reason);
    }

    /// <summary>
    /// The event reader threw InvalidOperationException (not the documented KinesisEventFormatException) on a field
    /// name with a lone surrogate escape, at the top level or in a record: such a field is unknown and skipped.
    /// </summary>
    [Fact]
    public void EventReader_FieldNameWithLoneSurrogateEscape_IsAnUnknownFieldSkipped()
    {
        string sample = Convert.ToBase64String(Encoding.UTF8.GetBytes($$"""{"metric":"m","value":1,"timestamp":{{Timestamp}}}"""));
        string seq = TestEvents.Seq(1);
        byte[] json = Encoding.UTF8.GetBytes($$"""
            {"\udc00":1,"Records":[{"kinesis":{"\ud800x":true,"partitionKey":"pk","sequenceNumber":"{{seq}}","data":"{{sample}}","approximateArrivalTimestamp":1737367500.0},"eventID":"{{TestEvents.ShardId}}:{{seq}}","\udfff":"y"}]}
            """);

        var reader = new KinesisEventReader(json);
        Assert.True(reader.Read());
        Assert.Equal(seq, reader.Current.GetSequenceNumberString());
        Assert.Equal(sample, reader.Current.GetBase64DataString());
        Assert.False(reader.Read());
        Assert.Equal(1, reader.RecordCount);
    }
    /// <summary>
    /// The long run found the same throw in Utf8JsonReader.TryGetDateTimeOffset: a window start or end whose escapes
    /// encode a lone surrogate is no date, so the event is refused with KinesisEventFormatException.
    /// </summary>
    [Theory]
    [InlineData("""{"start":"\udc00","end":"2025-01-20T10:15:00Z"}""")]
    [InlineData("""{"start":"2025-01-20T10:00:00Z","end":"2025-01-20T10:15:00\ud800"}""")]
    public void EventReader_WindowDateWithLoneSurrogateEscape_IsAKinesisEventFormatException(string window)
    {
        byte[] json = Encoding.UTF8.GetBytes($$"""{"Records":[],"window":{{window}},"state":{},"shardId":"{{TestEvents.ShardId}}"}""");

        var e = Assert.Throws<KinesisEventFormatException>(() =>
        {
            var reader = new KinesisEventReader(json);
            while (reader.Read())
            {
            }
        });
        Assert.Contains("window.start and window.end", e.Message, StringComparison.Ordinal);
    }

    /// <summary>Our state entry's value with a lone surrogate escape is not base64: WindowStateFormatException.</summary>
    [Fact]
    public async Task WindowState_OurValueWithLoneSurrogateEscape_IsAWindowStateFormatException()
    {
        var sink = new Pipeline.RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new Pipeline.RecordingQuarantineSink(), ProcessorOptions.Default);
        byte[] evt = TestEvents.BuildWindow([Good(1)], $$"""{"{{ProcessorOptions.Default.StateKey}}":"AQ\udc00"}""", final: true);

        await Assert.ThrowsAsync<WindowStateFormatException>(() => processor.ProcessAsync(evt, DateTimeOffset.UtcNow.AddSeconds(30), new System.Buffers.ArrayBufferWriter<byte>()));
        Assert.Empty(sink.Seen);
    }

    /// <summary>
    /// The window state's entries of others pass through by name; a name with a lone surrogate escape cannot be
    /// written again, and the processor threw InvalidOperationException (not documented) after the sinks had run. It
    /// is now refused before anything is written, with the documented WindowStateFormatException, wherever the entry
    /// stands (also after ours).
    /// </summary>
    [Theory]
    [InlineData("""{"\udc00":1}""")]
    [InlineData("""{"a":{"b":2},"x\ud800":"y"}""")]
    public async Task WindowState_ForeignNameWithLoneSurrogateEscape_IsAWindowStateFormatException(string state)
    {
        var sink = new Pipeline.RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new Pipeline.RecordingQuarantineSink(), ProcessorOptions.Default);
        byte[] evt = TestEvents.BuildWindow([Good(1)], state, final: true);

        await Assert.ThrowsAsync<WindowStateFormatException>(() => processor.ProcessAsync(evt, DateTimeOffset.UtcNow.AddSeconds(30), new System.Buffers.ArrayBufferWriter<byte>()));
        Assert.Empty(sink.Seen);
    }

    /// <summary>
    /// The resumed run found a foreign state name that is invalid UTF-8 without any escape: the pass-through's
    /// GetString threw InvalidOperationException after the sinks ran. It is refused up front like a lone surrogate.
    /// </summary>
    [Fact]
    public async Task WindowState_ForeignNameOfInvalidUtf8_IsAWindowStateFormatException()
    {
        var sink = new Pipeline.RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new Pipeline.RecordingQuarantineSink(), ProcessorOptions.Default);
        byte[] evt = TestEvents.BuildWindow([Good(1)], """{"QQ":1}""", final: true);
        int at = evt.AsSpan().IndexOf("\"QQ\""u8) + 1;
        evt[at] = 0xC3;
        evt[at + 1] = 0x28; // 0xC3 must be followed by a continuation byte: invalid UTF-8.

        await Assert.ThrowsAsync<WindowStateFormatException>(() => processor.ProcessAsync(evt, DateTimeOffset.UtcNow.AddSeconds(30), new System.Buffers.ArrayBufferWriter<byte>()));
        Assert.Empty(sink.Seen);
    }

    /// <summary>
    /// Once every name is looked at, our entry named twice must not be merged twice (nor once, silently): it is
    /// refused; and a bad foreign name after our entry is refused too.
    /// </summary>
    [Fact]
    public async Task WindowState_OurEntryTwiceOrABadNameAfterOurs_IsRefused()
    {
        var sink = new Pipeline.RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new Pipeline.RecordingQuarantineSink(), ProcessorOptions.Default);
        var response = new System.Buffers.ArrayBufferWriter<byte>();
        await processor.ProcessAsync(TestEvents.BuildWindow([Good(1)], "{}"), DateTimeOffset.UtcNow.AddSeconds(30), response);
        string key = ProcessorOptions.Default.StateKey;
        string ours = JsonDocument.Parse(response.WrittenMemory).RootElement.GetProperty("state").GetProperty(key).GetString()!;

        byte[] twice = TestEvents.BuildWindow([Good(2)], $$"""{"{{key}}":"{{ours}}","{{key}}":"{{ours}}"}""", final: true);
        byte[] badAfterOurs = TestEvents.BuildWindow([Good(2)], $$"""{"{{key}}":"{{ours}}","\udc00":0}""", final: true);

        await Assert.ThrowsAsync<WindowStateFormatException>(() => processor.ProcessAsync(twice, DateTimeOffset.UtcNow.AddSeconds(30), new System.Buffers.ArrayBufferWriter<byte>()));
        await Assert.ThrowsAsync<WindowStateFormatException>(() => processor.ProcessAsync(badAfterOurs, DateTimeOffset.UtcNow.AddSeconds(30), new System.Buffers.ArrayBufferWriter<byte>()));
        Assert.Empty(sink.Seen);
    }

    private static TestRecord Good(int n) =>
        new(TestEvents.Seq(n), Encoding.UTF8.GetBytes($$"""{"metric":"m","value":{{n}},"timestamp":{{Timestamp}}}"""), Arrival);

    /// <summary>
    /// The non-throwing comparison agrees with Utf8JsonReader.ValueTextEquals wherever that one does not throw, and is
    /// false where it throws, for names built of plain characters, simple escapes, escaped characters, surrogate pairs
    /// and lone surrogates, compared with the field names and with the name's own text; and JsonText.IsText says
    /// exactly when GetString does not throw.
    /// </summary>
    [Property(MaxTest = 500)]
    public Property JsonTextValueTextEquals_IsValueTextEqualsThatNeverThrows(int[] pieces)
    {
        var name = new StringBuilder();
        foreach (int piece in pieces ?? [])
        {
            int p = Math.Abs(piece % 1000);
            name.Append((p % 6) switch
            {
                0 => "metric"[p % 6].ToString(),
                1 => @"\n",
                2 => string.Create(CultureInfo.InvariantCulture, $@"\u{(int)"metric"[p % 6]:x4}"),
                3 => @"\ud83d\ude00",
                4 => string.Create(CultureInfo.InvariantCulture, $@"\u{0xD800 + (p * 7 % 0x800):x4}"),
                _ => "é",
            });
        }

        byte[] json = Encoding.UTF8.GetBytes("{\"" + name + "\":1}");
        var reader = new Utf8JsonReader(json);
        reader.Read();
        reader.Read();
        string? decoded;
        try
        {
            decoded = reader.GetString();
        }
        catch (InvalidOperationException)
        {
            decoded = null;
        }

        if (JsonText.IsText(ref reader) != decoded is not null)
        {
            return false.Label($"IsText says {!(decoded is not null)} of {name}");
        }

        string[] candidates = ["metric", "value", "", "\n", decoded ?? "m"];
        foreach (string candidate in candidates)
        {
            byte[] text = Encoding.UTF8.GetBytes(candidate);
            bool expected;
            try
            {
                expected = reader.ValueTextEquals(text);
            }
            catch (InvalidOperationException)
            {
                expected = false;
            }

            if (JsonText.ValueTextEquals(ref reader, text) != expected)
            {
                return false.Label($"{name} vs {candidate}");
            }
        }

        return true.ToProperty();
    }

    /// <summary>
    /// Past 2^53 samples (a count that merges, or a stored aggregate, can reach) the rank of the last sample,
    /// <c>q × (count − 1)</c> in doubles, rounded below <c>count − 1</c>: the 1 quantile was then a bin's value, not the
    /// maximum (afl-fuzz's input had 4.5e18 samples and answered 0 for a maximum of 3.3e-290). The ends are exact at any
    /// count: quantile 0 is the minimum and 1 the maximum, the property every other test checks below 2^53.
    /// </summary>
    [Property(MaxTest = 200)]
    public Property Quantile_AtTheEnds_IsMinAndMax_PastTwoToThe53Samples(NormalFloat[] values, byte doublings)
    {
        double[] finite = values.Select(v => v.Get).Where(double.IsFinite).ToArray();
        if (finite.Length == 0)
        {
            return true.ToProperty();
        }

        var aggregate = new MetricAggregate(AggregatorOptions.Default);
        foreach (double value in finite)
        {
            aggregate.Add(value);
        }

        // Doubling by merging with itself reaches 2^54..2^58 samples; two more samples make count − 1 one past a
        // multiple of a large power of two, which a double cannot hold.
        int times = 54 + (doublings % 5) - (int)Math.Ceiling(Math.Log2(finite.Length));
        for (int i = 0; i < times; i++)
        {
            aggregate.Merge(aggregate);
        }

        var two = new MetricAggregate(AggregatorOptions.Default);
        two.Add(finite[0]);
        two.Add(finite[^1]);
        aggregate.Merge(two);

        return (aggregate.Count > (1L << 53)
                && aggregate.GetQuantile(0).Equals(aggregate.Min)
                && aggregate.GetQuantile(1).Equals(aggregate.Max)
                && aggregate.GetQuantile(0.5) <= aggregate.GetQuantile(1))
            .Label($"count {aggregate.Count}: q0 {aggregate.GetQuantile(0):R} min {aggregate.Min:R}, q1 {aggregate.GetQuantile(1):R} max {aggregate.Max:R}");
    }

    /// <summary>
    /// A window state written under other aggregator options held a pair whose aggregate had no samples; the reader
    /// took it, and the flush under those options handed the sink an empty aggregate. The library never writes such a
    /// pair (a record that fails after adding pairs rolls them back): the reader refuses it, so the state is refused
    /// (WindowStateFormatException) as any other bytes that are not a state of ours.
    /// </summary>
    [Fact]
    public void AggregatorState_APairWithoutSamples_IsRefused_AndChangesNothing()
    {
        var written = new MetricAggregator(AggregatorOptions.Default);
        Assert.True(written.TryAdd(Aggregation.MetricAggregatorTests.SeriesKey(Aggregation.MetricAggregatorTests.SeriesKey_Encode("m")), 1_737_367_200_000, 5));
        var buffer = new ArrayBufferWriter<byte>();
        written.WriteTo(buffer);
        byte[] bytes = buffer.WrittenSpan.ToArray();

        // One sample's body is its count (1) and its value (8 bytes): a body of count 0 is a pair without samples.
        Assert.Equal(1, bytes[^9]);
        byte[] empty = [.. bytes[..^9], 0];
        var target = new MetricAggregator(AggregatorOptions.Default);
        Assert.True(target.TryMergeFrom(bytes));
        Assert.False(target.TryMergeFrom(empty));
        Assert.Equal(1, target.PairCount);
        Assert.Equal(1, target.GetAggregate(0).Count);
    }
}
