using System.Buffers;
using System.Text;
using Analytics.Core.Tests.Pipeline;

namespace Analytics.Core.Tests.Validation;

/// <summary>
/// Inputs a hostile (or careless) producer controls, each pinned to the promise it broke: the record's bytes go
/// through the real pipeline and validator, and the expectation is computed independently of the library.
/// </summary>
public class HostileProducerTests2
{
    /// <summary>10:00:59 (ms 1737367259999), the last millisecond of the 10:00 window.</summary>
    private const long LastMsOfWindow = 1_737_367_259_999;

    /// <summary>
    /// docs/validation.md: an epoch-milliseconds timestamp with a fraction is floored. Read as a double first,
    /// 1737367259999.9999 rounds up to 1737367260000 (doubles near 1.7e12 are 0.000244 apart), so the sample
    /// landed in the next millisecond and, here, in the next window. The floor is taken from the digits.
    /// </summary>
    [Theory]
    [InlineData("1737367259999.9999")]
    [InlineData("1737367259999.99999999999999999999")]
    [InlineData("1737367259999.99990")]
    [InlineData("173736725999999999e-5")]
    [InlineData("1.7373672599999999e12")]
    [InlineData("1737367259999.5")]
    [InlineData("1737367259999")]
    [InlineData("17373672599990E-1")]
    public async Task EpochMillisecondsWithAFraction_AreFlooredToTheMillisecondWritten(string timestamp)
    {
        // Every input is a number from 1737367259999 up to (not including) 1737367260000: its floor is the former.
        const long expected = LastMsOfWindow;
        byte[] data = Encoding.UTF8.GetBytes($"{{\"metric\":\"m\",\"value\":1,\"timestamp\":{timestamp}}}");

        var sink = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        BatchSummary summary = await processor.ProcessAsync(
            TestEvents.Build([new TestRecord(TestEvents.Seq(1), data, LastMsOfWindow + 1000)]), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());

        Assert.Equal(1, summary.ValidRecords);
        SeenAggregate seen = Assert.Single(sink.Seen);
        Assert.Equal(expected - (expected % 60_000), seen.WindowStartMs);
    }

    [Theory]
    [InlineData("1737367259999.9999", 1_737_367_259_999)]
    [InlineData("0.99999999999999999", 0)]
    [InlineData("253402300799999.9999", 253_402_300_799_999)]
    [InlineData("25340230079999999e-2", 253_402_300_799_999)]
    public void Parser_FloorsTheDecimalNumber(string timestamp, long expected)
    {
        byte[] data = Encoding.UTF8.GetBytes($"{{\"metric\":\"m\",\"value\":1,\"timestamp\":{timestamp}}}");
        byte[] scratch = new byte[MetricRecordParser.ScratchSize];
        var schema = new MetricSchema(MetricParserOptions.Default with { MaxAge = TimeSpan.FromDays(3_000_000), MaxFutureSkew = TimeSpan.FromDays(3_000_000) }, "options");
        var parser = new MetricRecordParser(data, scratch, schema, expected);

        Assert.True(parser.TryReadSample(out MetricSample sample), parser.GetDetail());
        Assert.Equal(expected, sample.TimestampMs);
    }
}
