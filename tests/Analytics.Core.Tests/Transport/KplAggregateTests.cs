using System.Text;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Analytics.Core.Tests;

public class KplAggregateTests
{
    private const string Seed = "(20250607,1013904223)";

    // ---- vectors from the official Node aggregator -------------------------------------------------------

    public static TheoryData<string> VectorNames()
    {
        var names = new TheoryData<string>();
        foreach (JsonElement v in LoadVectors())
        {
            names.Add(v.GetProperty("name").GetString()!);
        }

        return names;
    }

    [Fact]
    public void Vectors_FileHoldsEveryScenario_FromPinnedGenerator()
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(VectorsPath));
        Assert.Equal("aws-kinesis-agg 4.2.8", doc.RootElement.GetProperty("generator").GetString());
        Assert.True(doc.RootElement.GetProperty("vectors").GetArrayLength() >= 6);
    }

    [Theory]
    [MemberData(nameof(VectorNames))]
    public void TryRead_NodeAggregatorVector_YieldsExactlyTheUserRecordsThatWentIn(string name)
    {
        JsonElement vector = LoadVectors().Single(v => v.GetProperty("name").GetString() == name);
        byte[] blob = Convert.FromBase64String(vector.GetProperty("aggregated").GetString()!);
        List<KplDecoded> expected = [.. vector.GetProperty("records").EnumerateArray().Select(r => new KplDecoded(
            Encoding.UTF8.GetBytes(r.GetProperty("partitionKey").GetString()!),
            r.GetProperty("explicitHashKey").ValueKind == JsonValueKind.Null ? [] : Encoding.UTF8.GetBytes(r.GetProperty("explicitHashKey").GetString()!),
            Convert.FromBase64String(r.GetProperty("data").GetString()!)))];

        Assert.True(KplAggregate.IsAggregated(blob));
        bool ok = KplAggregate.TryRead(blob, out KplRecordReader reader, out PoisonReason reason, out string? detail);

        Assert.True(ok, detail);
        Assert.Equal(PoisonReason.None, reason);
        Assert.Equal(string.Empty, detail); // as RecordVerdict.Detail of a valid record: empty, not null
        Assert.Equal(expected.Count, reader.Count);
        AssertRecords(expected, ReadAll(ref reader));
    }

    // ---- properties over the test encoder ----------------------------------------------------------------

    [Property(Arbitrary = [typeof(KplArbitraries)], MaxTest = 200, Replay = Seed)]
    public bool TryRead_EncodedUserRecords_RoundTrip(KplTestCase input)
    {
        byte[] blob = KplTestEncoder.Aggregate(input.Records, input.Layout, input.UnknownFieldSeed);

        bool ok = KplAggregate.TryRead(blob, out KplRecordReader reader, out PoisonReason reason, out string? detail);

        Assert.True(ok, detail);
        Assert.Equal(PoisonReason.None, reason);
        Assert.Equal(input.Records.Length, reader.Count);
        AssertRecords([.. input.Records.Select(Expected)], ReadAll(ref reader));
        return true;
    }

    [Property(Arbitrary = [typeof(KplArbitraries)], MaxTest = 300, Replay = Seed)]
    public bool TryRead_CorruptedBlob_IsPoisonAndNeverThrows(KplTestCase input, KplCorruption corruption)
    {
        byte[] blob = KplTestEncoder.Aggregate(input.Records, input.Layout, input.UnknownFieldSeed);
        byte[] corrupted = corruption.Apply(blob);

        bool ok = KplAggregate.TryRead(corrupted, out KplRecordReader reader, out PoisonReason reason, out string? detail);

        Assert.False(ok);
        Assert.Contains(reason, new[] { PoisonReason.AggregateChecksumMismatch, PoisonReason.AggregateMalformed });
        Assert.False(string.IsNullOrEmpty(detail));
        Assert.Equal(0, reader.Count);
        Assert.False(reader.MoveNext());
        return true;
    }

    [Property(Arbitrary = [typeof(KplArbitraries)], MaxTest = 500, Replay = Seed)]
    public bool TryRead_CorruptedProtobufWithValidMd5_AgreesWithReferenceDecoderAndStaysInBounds(KplTestCase input, KplCorruption corruption)
    {
        byte[] protobuf = corruption.Apply(KplTestEncoder.EncodeMessage(input.Records, input.Layout, input.UnknownFieldSeed));
        byte[] blob = KplTestEncoder.Wrap(protobuf);
        List<KplDecoded>? reference = KplReferenceDecoder.TryDecode(protobuf);

        bool ok = KplAggregate.TryRead(blob, out KplRecordReader reader, out PoisonReason reason, out string? detail);

        if (reference is null)
        {
            Assert.False(ok);
            Assert.Equal(PoisonReason.AggregateMalformed, reason);
            Assert.Matches(@"at byte \d+", detail);
            return true;
        }

        Assert.True(ok, detail);
        Assert.Equal(reference.Count, reader.Count);
        int index = 0;
        foreach (KplUserRecord record in reader)
        {
            AssertInside(blob, record.PartitionKey);
            AssertInside(blob, record.ExplicitHashKey);
            AssertInside(blob, record.Data);
            Assert.Equal(index, record.SubSequenceNumber);
            Assert.Equal(reference[index].PartitionKey, record.PartitionKey.ToArray());
            Assert.Equal(reference[index].ExplicitHashKey, record.ExplicitHashKey.ToArray());
            Assert.Equal(reference[index].Data, record.Data.ToArray());
            index++;
        }

        Assert.Equal(reference.Count, index);
        return true;
    }

    // ---- one test per malformation -----------------------------------------------------------------------

    [Fact]
    public void TryRead_TruncatedVarint_IsMalformedAtItsOffset()
    {
        var m = new List<byte>();
        KplTestEncoder.WriteBytesField(m, 1, "a"u8);
        int recordAt = m.Count;
        KplTestEncoder.WriteBytesField(m, 3, [0x08, 0x80]); // partition_key_index whose varint never ends
        int varintAt = recordAt + 3;

        AssertMalformed(m, "truncated varint", 4 + varintAt);
    }

    [Fact]
    public void TryRead_VarintLongerThanTenBytes_IsMalformed()
    {
        var m = new List<byte>();
        KplTestEncoder.WriteBytesField(m, 1, "a"u8);
        KplTestEncoder.WriteTag(m, 9, 0);
        int varintAt = m.Count;
        m.AddRange(Enumerable.Repeat((byte)0xFF, 10));
        m.Add(0x01);

        AssertMalformed(m, "longer than 10 bytes", 4 + varintAt);
    }

    [Fact]
    public void TryRead_TenByteVarintAbove64Bits_IsMalformed()
    {
        var m = new List<byte>();
        KplTestEncoder.WriteBytesField(m, 1, "a"u8);
        KplTestEncoder.WriteTag(m, 9, 0);
        int varintAt = m.Count;
        m.AddRange(Enumerable.Repeat((byte)0xFF, 9));
        m.Add(0x02); // bit 64

        AssertMalformed(m, "above 64 bits", 4 + varintAt);
    }

    [Fact]
    public void TryRead_TenByteVarintOfMaxValue_IsValid()
    {
        var body = new List<byte>();
        KplTestEncoder.WriteVarintField(body, 1, 0);
        KplTestEncoder.WriteVarintField(body, 9, ulong.MaxValue); // unknown field, 10-byte varint
        KplTestEncoder.WriteBytesField(body, 3, "x"u8);
        var m = new List<byte>();
        KplTestEncoder.WriteBytesField(m, 1, "pk"u8);
        KplTestEncoder.WriteBytesField(m, 3, body.ToArray());

        Assert.True(KplAggregate.TryRead(KplTestEncoder.Wrap(m.ToArray()), out KplRecordReader reader, out _, out string? detail), detail);
        Assert.Equal(1, reader.Count);
    }

    [Fact]
    public void TryRead_LengthPastTheEnd_IsMalformedAtTheLength()
    {
        var m = new List<byte>();
        KplTestEncoder.WriteTag(m, 1, 2);
        int lengthAt = m.Count;
        KplTestEncoder.WriteVarint(m, 5);
        m.Add((byte)'a');

        AssertMalformed(m, "runs past the end", 4 + lengthAt);
    }

    [Fact]
    public void TryRead_DataLengthPastItsRecord_IsMalformed()
    {
        // The data length fits the whole message but not its enclosing Record.
        var body = new List<byte> { 0x08, 0x00, 0x1A, 0x04, 0x61 };
        var m = new List<byte>();
        KplTestEncoder.WriteBytesField(m, 3, body.ToArray());
        KplTestEncoder.WriteBytesField(m, 1, "abcdef"u8);

        AssertMalformed(m, "runs past the end", 4 + 2 + 3);
    }

    [Fact]
    public void TryRead_PartitionKeyIndexOutsideTable_IsMalformed()
    {
        var m = new List<byte>();
        KplTestEncoder.WriteBytesField(m, 1, "only"u8);
        KplTestEncoder.WriteBytesField(m, 3, Record(pk: 0, data: "ok"u8.ToArray()));
        int badAt = m.Count;
        KplTestEncoder.WriteBytesField(m, 3, Record(pk: 1, data: "bad"u8.ToArray()));

        AssertMalformed(m, "the partition_key_index of user record 1", 4 + badAt, "outside the partition_key_table of 1 entries");
    }

    [Fact]
    public void TryRead_ExplicitHashKeyIndexOutsideTable_IsMalformed()
    {
        var m = new List<byte>();
        KplTestEncoder.WriteBytesField(m, 1, "pk"u8);
        KplTestEncoder.WriteBytesField(m, 2, "42"u8);
        int badAt = m.Count;
        KplTestEncoder.WriteBytesField(m, 3, Record(pk: 0, ehk: 3, data: "x"u8.ToArray()));

        AssertMalformed(m, "the explicit_hash_key_index of user record 0", 4 + badAt, "explicit_hash_key_table of 1 entries");
    }

    [Fact]
    public void TryRead_MissingData_IsMalformed()
    {
        var m = new List<byte>();
        KplTestEncoder.WriteBytesField(m, 1, "pk"u8);
        int recordAt = m.Count;
        KplTestEncoder.WriteBytesField(m, 3, Record(pk: 0, data: null));

        AssertMalformed(m, "lacks the required data", 4 + recordAt);
    }

    [Fact]
    public void TryRead_MissingPartitionKeyIndex_IsMalformed()
    {
        var m = new List<byte>();
        KplTestEncoder.WriteBytesField(m, 1, "pk"u8);
        int recordAt = m.Count;
        KplTestEncoder.WriteBytesField(m, 3, Record(pk: null, data: "x"u8.ToArray()));

        AssertMalformed(m, "lacks the required partition_key_index", 4 + recordAt);
    }

    [Fact]
    public void TryRead_TagWithoutKey_IsMalformed()
    {
        var body = new List<byte>();
        KplTestEncoder.WriteVarintField(body, 1, 0);
        KplTestEncoder.WriteBytesField(body, 3, "x"u8);
        int tagAt = body.Count;
        KplTestEncoder.WriteBytesField(body, 4, [0x12, 0x01, 0x76]); // value only
        var m = new List<byte>();
        KplTestEncoder.WriteBytesField(m, 1, "pk"u8);
        int bodyAt = m.Count + 2;
        KplTestEncoder.WriteBytesField(m, 3, body.ToArray());

        AssertMalformed(m, "lacks the required key", 4 + bodyAt + tagAt);
    }

    [Theory]
    [InlineData(3, 0)] // records as a varint
    [InlineData(1, 5)] // partition_key_table as fixed32
    [InlineData(2, 1)] // explicit_hash_key_table as fixed64
    public void TryRead_WrongWireTypeForKnownField_IsMalformed(int field, int wireType)
    {
        var m = new List<byte>();
        KplTestEncoder.WriteBytesField(m, 1, "pk"u8);
        int fieldAt = m.Count;
        KplTestEncoder.WriteTag(m, field, wireType);
        m.AddRange(new byte[8]);

        AssertMalformed(m, $"wrong wire type {wireType}", 4 + fieldAt, $"(field {field})");
    }

    [Fact]
    public void TryRead_DataAsVarint_IsMalformed()
    {
        var m = new List<byte>();
        KplTestEncoder.WriteBytesField(m, 1, "pk"u8);
        KplTestEncoder.WriteBytesField(m, 3, [0x08, 0x00, 0x18, 0x05]);

        AssertMalformed(m, "wrong wire type 0 for data of user record 0 (field 3)", 4 + 4 + 2 + 2);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    public void TryRead_GroupWireType_IsMalformed(int wireType)
    {
        var m = new List<byte>();
        KplTestEncoder.WriteBytesField(m, 1, "pk"u8);
        KplTestEncoder.WriteBytesField(m, 3, Record(pk: 0, data: "x"u8.ToArray()));
        int groupAt = m.Count;
        KplTestEncoder.WriteTag(m, 7, wireType);
        KplTestEncoder.WriteTag(m, 7, 4);

        AssertMalformed(m, "group wire type", 4 + groupAt);
    }

    [Fact]
    public void TryRead_ChecksumMismatch_IsReportedAsSuch()
    {
        byte[] blob = KplTestEncoder.Aggregate([new KplTestUserRecord("pk", null, [1, 2, 3], [])]);
        blob[^1] ^= 0x01;

        bool ok = KplAggregate.TryRead(blob, out KplRecordReader reader, out PoisonReason reason, out string? detail);

        Assert.False(ok);
        Assert.Equal(PoisonReason.AggregateChecksumMismatch, reason);
        Assert.Contains($"protobuf bytes 4..{blob.Length - 17} does not match the checksum at byte {blob.Length - 16}", detail);
        Assert.False(reader.MoveNext());
    }

    // The magic bytes and a checksum with nothing between them: the detail said "bytes 4..3".
    [Fact]
    public void TryRead_ChecksumMismatchOfAnEmptyProtobuf_SaysItIsEmpty()
    {
        byte[] data = new byte[20];
        KplTestEncoder.Magic.CopyTo(data, 0);

        bool ok = KplAggregate.TryRead(data, out _, out PoisonReason reason, out string? detail);

        Assert.False(ok);
        Assert.Equal(PoisonReason.AggregateChecksumMismatch, reason);
        Assert.Equal("the MD5 of the empty protobuf (no byte between the magic bytes and the checksum) does not match the checksum at byte 4", detail);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    [InlineData(19)]
    public void TryRead_TooShortForMagicAndMd5_IsMalformedAndAggregatedOnceItHasTheMagic(int length)
    {
        byte[] data = new byte[length];
        KplTestEncoder.Magic.AsSpan(0, Math.Min(4, length)).CopyTo(data);

        bool ok = KplAggregate.TryRead(data, out _, out PoisonReason reason, out string? detail);

        Assert.Equal(length >= 4, KplAggregate.IsAggregated(data));
        Assert.False(ok);
        Assert.Equal(PoisonReason.AggregateMalformed, reason);
        Assert.Contains("too short", detail);
    }

    // ---- edges and magic ---------------------------------------------------------------------------------

    [Fact]
    public void IsAggregated_PlainJsonRecord_IsFalse()
    {
        byte[] json = """{"metric":"latency_ms","value":12.5,"timestamp":1737367200000}"""u8.ToArray();

        Assert.False(KplAggregate.IsAggregated(json));
        Assert.False(KplAggregate.TryRead(json, out _, out PoisonReason reason, out string? detail));
        Assert.Equal(PoisonReason.AggregateMalformed, reason);
        Assert.Contains("magic", detail);
    }

    [Fact]
    public void IsAggregated_MagicPlusEmptyMessagePlusMd5_IsTrueWithNoUserRecords()
    {
        byte[] blob = KplTestEncoder.Wrap([]);

        Assert.True(KplAggregate.IsAggregated(blob));
        Assert.True(KplAggregate.TryRead(blob, out KplRecordReader reader, out _, out _));
        Assert.Equal(0, reader.Count);
        Assert.False(reader.MoveNext());
    }

    [Fact]
    public void MoveNext_DefaultReader_ReturnsFalse()
    {
        KplRecordReader reader = default;

        Assert.Equal(0, reader.Count);
        Assert.False(reader.MoveNext());
        Assert.True(reader.Current.Data.IsEmpty);
    }

    [Fact]
    public void MoveNext_AnotherContainerOpenedOnSameThread_StillYieldsOwnRecords()
    {
        KplTestUserRecord[] first = [.. Enumerable.Range(0, 20).Select(i => new KplTestUserRecord($"first-{i % 5}", i % 2 == 0 ? $"{i}" : null, [(byte)i], []))];
        KplTestUserRecord[] second = [.. Enumerable.Range(0, 3).Select(i => new KplTestUserRecord($"second-{i}", "7", [(byte)(100 + i)], []))];
        byte[] a = KplTestEncoder.Aggregate(first, KplTestLayout.Interleaved);
        byte[] b = KplTestEncoder.Aggregate(second);

        Assert.True(KplAggregate.TryRead(a, out KplRecordReader readerA, out _, out _));
        Assert.True(readerA.MoveNext());
        KplUserRecord firstOfA = readerA.Current;
        Assert.Equal("first-0"u8.ToArray(), firstOfA.PartitionKey.ToArray());
        Assert.True(KplAggregate.TryRead(b, out KplRecordReader readerB, out _, out _));
        Assert.False(KplAggregate.TryRead(KplTestEncoder.Wrap([0x0A, 0x09]), out _, out _, out _));

        List<KplDecoded> restOfA = ReadAll(ref readerA, firstIndex: 1);
        List<KplDecoded> allOfB = ReadAll(ref readerB);

        AssertRecords([.. first.Skip(1).Select(Expected)], restOfA);
        AssertRecords([.. second.Select(Expected)], allOfB);
    }

    [Fact]
    public void TryRead_DuplicateScalarFields_LastOneWins()
    {
        var body = new List<byte>();
        KplTestEncoder.WriteVarintField(body, 1, 5);
        KplTestEncoder.WriteBytesField(body, 3, "old"u8);
        KplTestEncoder.WriteVarintField(body, 1, 1);
        KplTestEncoder.WriteBytesField(body, 3, "new"u8);
        var m = new List<byte>();
        KplTestEncoder.WriteBytesField(m, 1, "zero"u8);
        KplTestEncoder.WriteBytesField(m, 1, "one"u8);
        KplTestEncoder.WriteBytesField(m, 3, body.ToArray());

        Assert.True(KplAggregate.TryRead(KplTestEncoder.Wrap(m.ToArray()), out KplRecordReader reader, out _, out string? detail), detail);
        Assert.True(reader.MoveNext());
        KplUserRecord record = reader.Current;
        Assert.Equal("one"u8.ToArray(), record.PartitionKey.ToArray());
        Assert.Equal("new"u8.ToArray(), record.Data.ToArray());
    }

    // ---- allocation --------------------------------------------------------------------------------------

    [Fact]
    public void TryRead_HundredUserRecordsAfterWarmUp_AllocatesNothing()
    {
        KplTestUserRecord[] records = [.. Enumerable.Range(0, 100).Select(i => new KplTestUserRecord(
            $"device-{i % 37}",
            i % 3 == 0 ? $"{i * 1_000_003}" : null,
            Encoding.UTF8.GetBytes($$"""{"metric":"latency_ms","value":{{i}},"timestamp":1737367200000}"""),
            i % 10 == 0 ? [new KplTestTag("k", "v")] : []))];
        byte[] blob = KplTestEncoder.Aggregate(records, KplTestLayout.Interleaved, unknownFieldSeed: 7);
        long expectedBytes = records.Sum(r => (long)r.Data.Length + Encoding.UTF8.GetByteCount(r.PartitionKey));
        Assert.Equal(expectedBytes, ReadAndSum(blob)); // warm-up, and proof the loop does the work

        long total = 0;
        long allocated = AllocationMeasure.Least(() =>
        {
            for (int i = 0; i < 10; i++)
            {
                total += ReadAndSum(blob);
            }
        });

        Assert.Equal(3 * 10 * expectedBytes, total);
        Assert.Equal(0, allocated);
    }

    private static long ReadAndSum(byte[] blob)
    {
        if (!KplAggregate.IsAggregated(blob) || !KplAggregate.TryRead(blob, out KplRecordReader reader, out _, out _))
        {
            return -1;
        }

        long sum = 0;
        foreach (KplUserRecord record in reader)
        {
            sum += record.Data.Length + record.PartitionKey.Length;
        }

        return sum;
    }

    // ---- helpers -----------------------------------------------------------------------------------------

    private static string VectorsPath => Path.Combine(RepoPaths.Root, "tests", "kpl-vectors", "kpl-vectors.json");

    private static List<JsonElement> LoadVectors()
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(VectorsPath));
        return [.. doc.RootElement.GetProperty("vectors").EnumerateArray().Select(v => v.Clone())];
    }

    private static KplDecoded Expected(KplTestUserRecord r) => new(
        Encoding.UTF8.GetBytes(r.PartitionKey),
        r.ExplicitHashKey is null ? [] : Encoding.UTF8.GetBytes(r.ExplicitHashKey),
        r.Data);

    private static List<KplDecoded> ReadAll(ref KplRecordReader reader, int firstIndex = 0)
    {
        var result = new List<KplDecoded>();
        int expectedIndex = firstIndex;
        foreach (KplUserRecord record in reader)
        {
            Assert.Equal(expectedIndex++, record.SubSequenceNumber);
            result.Add(new KplDecoded(record.PartitionKey.ToArray(), record.ExplicitHashKey.ToArray(), record.Data.ToArray()));
        }

        Assert.Equal(reader.Count, expectedIndex);
        return result;
    }

    private static void AssertRecords(List<KplDecoded> expected, List<KplDecoded> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].PartitionKey, actual[i].PartitionKey);
            Assert.Equal(expected[i].ExplicitHashKey, actual[i].ExplicitHashKey);
            Assert.Equal(expected[i].Data, actual[i].Data);
        }
    }

    private static void AssertInside(byte[] blob, ReadOnlySpan<byte> span)
    {
        if (span.IsEmpty)
        {
            return;
        }

        Assert.True(blob.AsSpan().Overlaps(span, out int offset), "span outside the blob");
        Assert.InRange(offset, 4, blob.Length - 16 - span.Length);
    }

    private static byte[] Record(ulong? pk = null, ulong? ehk = null, byte[]? data = null)
    {
        var body = new List<byte>();
        if (pk is ulong p)
        {
            KplTestEncoder.WriteVarintField(body, 1, p);
        }

        if (ehk is ulong e)
        {
            KplTestEncoder.WriteVarintField(body, 2, e);
        }

        if (data is not null)
        {
            KplTestEncoder.WriteBytesField(body, 3, data);
        }

        return [.. body];
    }

    private static void AssertMalformed(List<byte> protobuf, string what, int offset, string? alsoContains = null)
    {
        byte[] blob = KplTestEncoder.Wrap(protobuf.ToArray());
        Assert.Null(KplReferenceDecoder.TryDecode(protobuf.ToArray())); // the input really is malformed

        bool ok = KplAggregate.TryRead(blob, out KplRecordReader reader, out PoisonReason reason, out string? detail);

        Assert.False(ok);
        Assert.Equal(PoisonReason.AggregateMalformed, reason);
        Assert.Contains(what, detail);
        Assert.Contains($"at byte {offset}", detail);
        if (alsoContains is not null)
        {
            Assert.Contains(alsoContains, detail);
        }

        Assert.False(reader.MoveNext());
    }
}
