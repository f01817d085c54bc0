using System.Buffers;
using System.Runtime.ExceptionServices;
using Analytics.Core.Tests.Pipeline;

namespace Analytics.Core.Tests.Validation;

/// <summary>
/// A poison record is a result all the way: no exception is thrown or caught (first chance) while the pipeline or the
/// validator handles it, whatever its reason. A hostile producer could otherwise make every record cost microseconds.
/// </summary>
public class NoExceptionOnPoisonTests
{
    private static readonly AsyncLocal<bool> s_watching = new();
    private static int s_thrown;

    static NoExceptionOnPoisonTests() => AppDomain.CurrentDomain.FirstChanceException += OnFirstChance;

    private static void OnFirstChance(object? sender, FirstChanceExceptionEventArgs e)
    {
        // Only exceptions of the flow under test: other tests run in parallel in the same process.
        if (s_watching.Value)
        {
            Interlocked.Increment(ref s_thrown);
        }
    }

    private static byte[] Kpl(params string[] users) =>
        KplTestEncoder.Aggregate([.. users.Select(u => new KplTestUserRecord("k", null, TestEvents.Utf8(u), []))]);

    private static string Good(string metric = "m") => TestEvents.Sample(metric, 1, TestEvents.Arrival - 1000);

    /// <summary>One record per reason: its data (or raw base64), and the reason the pipeline must give it.</summary>
    public static TheoryData<PoisonReason, string> Cases()
    {
        var cases = new TheoryData<PoisonReason, string>();
        foreach (PoisonReason reason in Enum.GetValues<PoisonReason>().Where(r => r != PoisonReason.None))
        {
            cases.Add(reason, reason.ToString());
        }

        return cases;
    }

    private static TestRecord Record(PoisonReason reason)
    {
        long ts = TestEvents.Arrival - 1000;
        string Json(string body) => "{\"metric\":\"m\",\"value\":1,\"timestamp\":" + ts.ToString(System.Globalization.CultureInfo.InvariantCulture) + body + "}";
        byte[] data = reason switch
        {
            PoisonReason.InvalidBase64 => [],
            PoisonReason.EmptyData => TestEvents.Utf8("  \n "),
            PoisonReason.TooLarge => new byte[MetricParserOptions.Default.MaxRecordBytes + 1],
            PoisonReason.InvalidUtf8 => [.. TestEvents.Utf8("{\"metric\":\""), 0xFF, .. TestEvents.Utf8("\"}")],
            PoisonReason.InvalidJson => TestEvents.Utf8("{\"metric\":\"m\",\"value\":tru}"),
            PoisonReason.NestingTooDeep => TestEvents.Utf8(Json(",\"x\":" + string.Concat(Enumerable.Repeat("[", 40)) + string.Concat(Enumerable.Repeat("]", 40)))),
            PoisonReason.MissingField => TestEvents.Utf8("{\"metric\":\"m\",\"value\":1}"),
            PoisonReason.DuplicateField => TestEvents.Utf8(Json(",\"value\":2")),
            PoisonReason.WrongType => TestEvents.Utf8("{\"metric\":\"m\",\"value\":\"1\",\"timestamp\":" + ts.ToString(System.Globalization.CultureInfo.InvariantCulture) + "}"),
            PoisonReason.NonFiniteValue => TestEvents.Utf8("{\"metric\":\"m\",\"value\":1e400,\"timestamp\":" + ts.ToString(System.Globalization.CultureInfo.InvariantCulture) + "}"),
            PoisonReason.InvalidTimestamp => TestEvents.Utf8("{\"metric\":\"m\",\"value\":1,\"timestamp\":\"yesterday\"}"),
            PoisonReason.InvalidMetricName => TestEvents.Utf8("{\"metric\":\" \",\"value\":1,\"timestamp\":" + ts.ToString(System.Globalization.CultureInfo.InvariantCulture) + "}"),
            PoisonReason.DimensionTooLong => TestEvents.Utf8(Json(",\"dimensions\":{\"k\":\"" + new string('v', 1025) + "\"}")),
            PoisonReason.TooManyDimensions => TestEvents.Utf8(Json(",\"dimensions\":{" + string.Join(',', Enumerable.Range(0, 31).Select(i => $"\"k{i}\":\"v\"")) + "}")),
            PoisonReason.TimestampInFuture => TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival + 3_600_000)),
            PoisonReason.TimestampTooOld => TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival - (2 * 86_400_000L))),
            PoisonReason.CardinalityLimit => TestEvents.Utf8(Good("a") + "\n" + Good("b") + "\n" + Good("c")),
            PoisonReason.AggregateChecksumMismatch => Corrupt(Kpl(Good())),
            PoisonReason.AggregateMalformed => [0xF3, 0x89, 0x9A, 0xC2, 1, 2, 3],
            PoisonReason.InvalidDimensionKey => TestEvents.Utf8(Json(",\"dimensions\":{\"\":\"v\"}")),
            _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, "a reason without a case: add one"),
        };
        return new TestRecord(TestEvents.Seq(2), data, TestEvents.Arrival, RawBase64: reason == PoisonReason.InvalidBase64 ? "not*base64!" : null);
    }

    private static byte[] Corrupt(byte[] container)
    {
        container[^1] ^= 0xFF; // the MD5
        return container;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Pipeline_PoisonRecord_IsQuarantinedWithItsReasonWithoutAnyException(PoisonReason reason, string name)
    {
        Assert.Equal(reason.ToString(), name);
        var options = ProcessorOptions.Default with { Aggregator = AggregatorOptions.Default with { MaxPairs = 2 } };
        var quarantine = new RecordingQuarantineSink();
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), quarantine, options);
        // The poison record first: a record over the pair cap that follows others splits the batch instead.
        byte[] evt = TestEvents.Build([Record(reason), new TestRecord(TestEvents.Seq(3), TestEvents.Utf8(Good()), TestEvents.Arrival)]);
        var response = new ArrayBufferWriter<byte>();
        await processor.ProcessAsync(evt, DateTimeOffset.UtcNow.AddSeconds(30), response); // warm-up: type initializers may throw and catch inside the runtime

        var quarantine2 = new RecordingQuarantineSink();
        using var processor2 = new KinesisBatchProcessor(new RecordingAggregateSink(), quarantine2, options);
        int thrown = await CountExceptions(() => processor2.ProcessAsync(evt, DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>()));

        QuarantinedRecord q = Assert.Single(quarantine2.Records);
        Assert.Equal((TestEvents.Seq(2), reason), (q.SequenceNumber, q.Reason));
        Assert.Equal(0, thrown);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Validator_PoisonRecord_GetsItsReasonWithoutAnyException(PoisonReason reason, string name)
    {
        Assert.Equal(reason.ToString(), name);
        if (reason == PoisonReason.CardinalityLimit)
        {
            return; // a verdict of the aggregator's cap, which the validator does not know
        }

        var validator = new RecordValidator();
        byte[] evt = TestEvents.Build([Record(reason)]);
        Assert.Equal(reason, Validate(validator, evt).Reason); // warm-up

        int before = Volatile.Read(ref s_thrown);
        s_watching.Value = true;
        RecordVerdict verdict;
        try
        {
            verdict = Validate(validator, evt);
        }
        finally
        {
            s_watching.Value = false;
        }

        Assert.Equal(reason, verdict.Reason);
        Assert.Equal(0, Volatile.Read(ref s_thrown) - before);
    }

    private static RecordVerdict Validate(RecordValidator validator, byte[] evt)
    {
        var reader = new KinesisEventReader(evt);
        Assert.True(reader.Read());
        KinesisRecord record = reader.Current;
        return validator.Validate(in record);
    }

    [Fact]
    public async Task Counter_SeesAnExceptionThrownAndCaughtInTheFlow()
    {
        // The counter must be able to fail: a flow that throws and catches is counted.
        int thrown = await CountExceptions(() =>
        {
            try
            {
                System.Text.Json.JsonDocument.Parse("{");
            }
            catch (System.Text.Json.JsonException)
            {
            }

            return Task.CompletedTask;
        });
        Assert.True(thrown >= 1, $"{thrown}");
    }

    private static async Task<int> CountExceptions(Func<Task> flow)
    {
        int before = Volatile.Read(ref s_thrown);
        s_watching.Value = true;
        try
        {
            await flow();
        }
        finally
        {
            s_watching.Value = false;
        }

        return Volatile.Read(ref s_thrown) - before;
    }
}
