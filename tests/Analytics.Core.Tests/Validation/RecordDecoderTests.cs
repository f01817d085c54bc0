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
    /// The buffer fits the first record (not the 8 MiB that caps its doubling), is kept (the same record again allocates
    /// nothing), and grows by doubling: records of 300 to 600 bytes in turn make one buffer of 400 base64 characters and
    /// one of 800, about 1.3 KB with the decoder; growing to each record's size, or again at a record that fills the
    /// buffer exactly, would allocate more. Measured as the least of three runs (<see cref="AllocationMeasure"/>), so a
    /// method reaching its next JIT tier mid-run does not count.
    /// </summary>
    [Fact]
    public void TheBuffer_FitsTheFirstRecord_IsReused_AndGrowsByDoubling()
    {
        byte[][] events = [.. Enumerable.Range(300, 301).Select(n => EventWithRawData(Convert.ToBase64String(Bytes(n))))];

        long first = AllocationMeasure.Least(() => Assert.True(DecodeEvent(new RecordDecoder(), events[0])));
        Assert.InRange(first, 400, 1024);

        var decoder = new RecordDecoder();
        Assert.True(DecodeEvent(decoder, events[0]));
        Assert.Equal(0, AllocationMeasure.Least(() => Assert.True(DecodeEvent(decoder, events[0]))));

        long growing = AllocationMeasure.Least(() =>
        {
            var fresh = new RecordDecoder();
            foreach (byte[] e in events)
            {
                Assert.True(DecodeEvent(fresh, e));
            }
        });
        Assert.InRange(growing, 1200, 2048);
    }

    private static bool DecodeEvent(RecordDecoder decoder, byte[] json)
    {
        var reader = new KinesisEventReader(json);
        return reader.Read() && decoder.TryDecode(reader.Current, Limit, out _, out _, out _);
    }
}
