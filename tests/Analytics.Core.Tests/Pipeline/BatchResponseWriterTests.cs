using System.Buffers;
using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Tests.Failures;

public class BatchResponseWriterTests
{
    private static JsonDocument Write(BatchResponseWriter writer)
    {
        var buffer = new ArrayBufferWriter<byte>();
        writer.WriteResponse(buffer);
        return JsonDocument.Parse(buffer.WrittenMemory);
    }

    [Fact]
    public void WriteResponse_NoFailure_WritesEmptyList()
    {
        using JsonDocument doc = Write(new BatchResponseWriter());
        Assert.Equal(JsonValueKind.Array, doc.RootElement.GetProperty("batchItemFailures").ValueKind);
        Assert.Equal(0, doc.RootElement.GetProperty("batchItemFailures").GetArrayLength());
    }

    [Fact]
    public void ReportFailure_ManyFailures_ReportsOnlyTheLowest()
    {
        Gen<BigInteger[]> seqs = Gen.NonEmptyListOf(Gen.Choose(0, int.MaxValue).Select(i => BigInteger.Parse("49590338271490256608559692538361571095921575989136588898", CultureInfo.InvariantCulture) * i))
            .Select(l => l.ToArray());
        Prop.ForAll(seqs.ToArbitrary(), values =>
        {
            var writer = new BatchResponseWriter();
            foreach (BigInteger v in values)
            {
                writer.ReportFailure(Encoding.ASCII.GetBytes(v.ToString(CultureInfo.InvariantCulture)));
            }

            using JsonDocument doc = Write(writer);
            JsonElement failures = doc.RootElement.GetProperty("batchItemFailures");
            Assert.Equal(1, failures.GetArrayLength());
            Assert.Equal(values.Min().ToString(CultureInfo.InvariantCulture), failures[0].GetProperty("itemIdentifier").GetString());
        }).QuickCheckThrowOnFailure();
    }

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("007")]
    public void ReportFailure_InvalidIdentifier_Throws(string identifier) =>
        Assert.Throws<ArgumentException>(() => new BatchResponseWriter().ReportFailure(Encoding.ASCII.GetBytes(identifier)));

    [Fact]
    public void Reset_ForgetsFailures()
    {
        var writer = new BatchResponseWriter();
        writer.ReportFailure("5"u8);
        writer.Reset();
        writer.ReportFailure("9"u8);
        Assert.Equal("9", Encoding.ASCII.GetString(writer.LowestFailure));
    }

    [Fact]
    public void WriteWindowResponse_CarriesStateAndFailures()
    {
        var writer = new BatchResponseWriter();
        writer.ReportFailure("12"u8);
        var buffer = new ArrayBufferWriter<byte>();
        writer.WriteWindowResponse(buffer, w => w.WriteString("k", "v"));
        using JsonDocument doc = JsonDocument.Parse(buffer.WrittenMemory);
        Assert.Equal("v", doc.RootElement.GetProperty("state").GetProperty("k").GetString());
        Assert.Equal("12", doc.RootElement.GetProperty("batchItemFailures")[0].GetProperty("itemIdentifier").GetString());
    }

    [Fact]
    public void ReportFailure_InvalidSequenceNumber_SaysWhy()
    {
        var writer = new BatchResponseWriter();
        ArgumentException e = Assert.Throws<ArgumentException>(() => writer.ReportFailure(""u8));
        Assert.Equal("sequenceNumber", e.ParamName);
        Assert.Contains("valid sequence number", e.Message, StringComparison.Ordinal);
        Assert.True(writer.LowestFailure.IsEmpty);
    }

    [Fact]
    public void WriteWindowResponse_WithoutAStateWriter_ThrowsBeforeWritingAnything()
    {
        var writer = new BatchResponseWriter();
        var buffer = new ArrayBufferWriter<byte>();
        Assert.Equal("writeStateMembers", Assert.Throws<ArgumentNullException>(() => writer.WriteWindowResponse(buffer, null!)).ParamName);
        Assert.Equal(0, buffer.WrittenCount);
    }
}
