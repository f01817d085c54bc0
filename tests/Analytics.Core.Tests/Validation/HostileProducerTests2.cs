using System.Buffers;
using System.Globalization;
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

    /// <summary>The digit floor against big-integer arithmetic on random JSON numbers (integer, fraction, exponent).</summary>
    [Fact]
    public void FloorFromDigits_AgreesWithBigIntegerArithmetic()
    {
        var random = new Random(20261201);
        for (int n = 0; n < 200_000; n++)
        {
            string integer = random.Next(4) == 0 ? "0" : random.Next(1, 10) + Digits(random, random.Next(0, 20));
            string fraction = random.Next(2) == 0 ? string.Empty : "." + Digits(random, random.Next(1, 25));
            string exponent = random.Next(2) == 0 ? string.Empty : (random.Next(2) == 0 ? "e" : "E") + (random.Next(3) switch { 0 => "-", 1 => "+", _ => string.Empty }) + random.Next(0, 40);
            string token = integer + fraction + exponent;

            System.Numerics.BigInteger? expected = BigFloor(token);
            bool ok = MetricRecordParser.TryFloorNonNegative(Encoding.ASCII.GetBytes(token), out long floor);
            if (expected is { } e && e <= long.MaxValue)
            {
                Assert.True(ok, token);
                Assert.Equal((long)e, floor);
            }
            else
            {
                Assert.False(ok, token);
            }
        }

        Assert.False(MetricRecordParser.TryFloorNonNegative("-0.5"u8, out _));
        Assert.True(MetricRecordParser.TryFloorNonNegative("0e1000000000000"u8, out long zero) && zero == 0);
        Assert.False(MetricRecordParser.TryFloorNonNegative("1e1000000000000"u8, out _));
        Assert.True(MetricRecordParser.TryFloorNonNegative("9e-1000000000000"u8, out long small) && small == 0);
    }

    private static string Digits(Random random, int count) =>
        new(Enumerable.Range(0, count).Select(_ => (char)('0' + random.Next(10))).ToArray());

    /// <summary>The floor of a non-negative decimal number written as digits, a fraction and an exponent; null when above 10^60.</summary>
    private static System.Numerics.BigInteger? BigFloor(string token)
    {
        int e = token.IndexOfAny(['e', 'E']);
        string mantissa = e < 0 ? token : token[..e];
        int exponent = e < 0 ? 0 : int.Parse(token[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        int dot = mantissa.IndexOf('.');
        string digits = dot < 0 ? mantissa : mantissa.Remove(dot, 1);
        int scale = exponent - (dot < 0 ? 0 : mantissa.Length - dot - 1);
        var value = System.Numerics.BigInteger.Parse(digits, CultureInfo.InvariantCulture);
        System.Numerics.BigInteger floor = scale >= 0 ? value * System.Numerics.BigInteger.Pow(10, scale) : value / System.Numerics.BigInteger.Pow(10, -scale);
        return floor > System.Numerics.BigInteger.Pow(10, 60) ? null : floor;
    }
}
