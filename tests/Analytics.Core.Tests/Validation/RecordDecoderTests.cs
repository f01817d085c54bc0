using System.Text;

namespace Analytics.Core.Tests.Validation;

/// <summary>
/// The decoder at its limit, plain and with every base64 character escaped (the bound it checks before decoding must
/// never refuse data that decodes within the limit, and a byte over it is refused), its answers for a bad escape and for
/// base64 broken at the first character, and its buffer's reuse and growth (found untested by a mutation run of
/// RecordDecoder.cs: 28 of 60 mutants lived).
/// </summary>
public class RecordDecoderTests
{
    private const int Limit = 1000;

    private static byte[] Bytes(int length) => [.. Enumerable.Range(0, length).Select(i => (byte)(i * 7))];

    /// <summary>Every character as a JSON <c>\u00XX</c> escape: six characters for one, the longest a producer can make it.</summary>
    private static string EscapeAll(string base64) => string.Concat(base64.Select(c => $"\\u00{(int)c:X2}"));

    /// <summary>An event of one record whose <c>data</c> is <paramref name="rawBase64"/> as it stands (the test writer would escape it again).</summary>
    private static byte[] EventWithRawData(string rawBase64) =>
        Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(TestEvents.Single([], TestEvents.Arrival, "PLACEHOLDER")).Replace("PLACEHOLDER", rawBase64, StringComparison.Ordinal));

    private static (bool Ok, byte[] Data, PoisonReason Reason, string Detail) Decode(RecordDecoder decoder, string rawBase64, int limit = Limit)
    {
        byte[] json = EventWithRawData(rawBase64);
        var reader = new KinesisEventReader(json);
        Assert.True(reader.Read());
        bool ok = decoder.TryDecode(reader.Current, limit, out ReadOnlySpan<byte> data, out PoisonReason reason, out string detail);
        return (ok, data.ToArray(), reason, detail);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void DataOfExactlyTheLimit_IsDecoded_PlainOrWithEveryCharacterEscaped(bool escaped)
    {
        byte[] bytes = Bytes(Limit); // 1,000 = 3 × 333 + 1: the base64 ends in "=="
        string base64 = Convert.ToBase64String(bytes);
        var (ok, data, reason, detail) = Decode(new RecordDecoder(), escaped ? EscapeAll(base64) : base64);
        Assert.Equal((true, PoisonReason.None, string.Empty), (ok, reason, detail));
        Assert.Equal(bytes, data);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void OneByteOverTheLimit_IsTooLarge_OnceDecoded(bool escaped)
    {
        string base64 = Convert.ToBase64String(Bytes(Limit + 1));
        var (ok, _, reason, detail) = Decode(new RecordDecoder(), escaped ? EscapeAll(base64) : base64);
        Assert.Equal((false, PoisonReason.TooLarge), (ok, reason));
        Assert.Equal("the record holds 1001 bytes, more than the limit of 1000", detail);
    }

    /// <summary>
    /// Far over the limit: refused before decoding (no buffer of its size). Escaped, the bound is six characters per base64
    /// character: 8,040 characters escape 1,340 base64 characters (1,005 bytes), the shortest escaped text it refuses.
    /// </summary>
    [Theory]
    [InlineData(2 * Limit, false)]
    [InlineData(1005, true)]
    public void DataThatMustDecodePastTheLimit_IsRefusedUndecoded(int length, bool escaped)
    {
        string base64 = Convert.ToBase64String(Bytes(length));
        string raw = escaped ? EscapeAll(base64) : base64;
        Assert.Equal(escaped ? 8040 : 2668, raw.Length);
        var (ok, _, reason, detail) = Decode(new RecordDecoder(), raw);
        Assert.Equal((false, PoisonReason.TooLarge), (ok, reason));
        Assert.Equal("the record's base64 decodes to more than 1000 bytes, the limit", detail);
    }

    [Theory]
    [InlineData("\\ud800QUFB", "the record's data holds an invalid JSON escape")] // a lone surrogate: valid JSON, no UTF-8
    [InlineData("!QUF", "the record's data is not valid base64 from character 0 on")]
    public void BrokenData_IsInvalidBase64_SayingWhy(string rawBase64, string expected)
    {
        var (ok, _, reason, detail) = Decode(new RecordDecoder(), rawBase64);
        Assert.Equal((false, PoisonReason.InvalidBase64, expected), (ok, reason, detail));
    }

    /// <summary>Past the larger of the limit and a KPL container's (6 MiB), a record is refused before decoding and said to hold more.</summary>
    [Fact]
    public void ARecordPastTheContainerLimit_IsSaidToHoldMoreThanIt()
    {
        byte[] json = EventWithRawData(new string('A', 8_388_620));
        var reader = new KinesisEventReader(json);
        Assert.True(reader.Read());
        RecordVerdict verdict = new RecordValidator().Validate(reader.Current);
        Assert.Equal(PoisonReason.TooLarge, verdict.Reason);
        Assert.StartsWith("the record holds more than 6291456 bytes, more than the limit of ", verdict.Detail, StringComparison.Ordinal);
    }

    /// <summary>
    /// The buffer is kept: the same record again allocates nothing, and after one growth (to twice the buffer) records up
    /// to twice the size decode without allocating.
    /// </summary>
    [Fact]
    public void TheBuffer_IsReused_AndGrowsByDoubling()
    {
        var decoder = new RecordDecoder();
        byte[][] events = [.. Enumerable.Range(300, 301).Select(n => EventWithRawData(Convert.ToBase64String(Bytes(n))))];
        Assert.True(DecodeEvent(decoder, events[0]));
        Assert.True(DecodeEvent(decoder, events[0]));
        long before = GC.GetAllocatedBytesForCurrentThread();
        bool again = DecodeEvent(decoder, events[0]);
        long sameSize = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.True(DecodeEvent(decoder, events[1])); // 301 bytes: 404 base64 characters, past the 400 of the first
        before = GC.GetAllocatedBytesForCurrentThread();
        bool all = true;
        for (int i = 2; i < events.Length; i++)
        {
            all &= DecodeEvent(decoder, events[i]); // up to 600 bytes: 800 characters, twice the first buffer
        }

        long growing = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal((true, 0L, true, 0L), (again, sameSize, all, growing));
    }

    private static bool DecodeEvent(RecordDecoder decoder, byte[] json)
    {
        var reader = new KinesisEventReader(json);
        return reader.Read() && decoder.TryDecode(reader.Current, Limit, out _, out _, out _);
    }
}
