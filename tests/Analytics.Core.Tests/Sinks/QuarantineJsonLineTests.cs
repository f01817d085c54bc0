using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Amazon.S3;
using Amazon.S3.Model;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Tests;

/// <summary>The two quarantine sinks write a record in one JSON shape: the same bytes, every field of the record.</summary>
[Collection(LocalServersCollection.Name)]
public sealed class QuarantineJsonLineTests(LocalServersFixture servers)
{
    private static readonly Gen<string> s_text =
        Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>()).Select(b => Encoding.UTF8.GetString(b));

    /// <summary>Records as the processor makes them: text decoded from any bytes, KPL fields or none, any arrival time.</summary>
    private static readonly Gen<QuarantinedRecord> s_records =
        from shard in Gen.Choose(0, 99_999)
        from sequence in Gen.Choose(0, int.MaxValue)
        from sub in Gen.OneOf(Gen.Constant<int?>(null), Gen.Choose(0, 5000).Select(s => (int?)s))
        from more in Gen.ArrayOf(Gen.Choose(0, 5000))
        from key in s_text
        from keyBytes in Gen.OneOf(Gen.Constant<byte[]?>(null), Gen.NonEmptyListOf(ArbMap.Default.GeneratorFor<byte>()).Select(b => (byte[]?)[.. b]))
        from arrival in Gen.Choose(-62_135_596, 253_402_300).SelectMany(s => Gen.Choose(0, 999).Select(ms => (s * 1000L) + ms))
        from reason in Gen.Elements(Enum.GetValues<PoisonReason>().Where(r => r != PoisonReason.None).ToArray())
        from detail in s_text
        from data in Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>())
        select new QuarantinedRecord
        {
            EventSourceArn = "arn:aws:kinesis:us-east-1:123456789012:stream/metrics-in",
            ShardId = "shardId-" + shard.ToString("D12", CultureInfo.InvariantCulture),
            SequenceNumber = "4959" + sequence.ToString(CultureInfo.InvariantCulture),
            SubSequenceNumber = sub,
            PoisonSubSequenceNumbers = sub is int first ? [first, .. more.Select(m => first + 1 + m).Distinct().Order()] : null,
            PartitionKey = key,
            PartitionKeyBase64 = keyBytes is null ? null : Convert.ToBase64String(keyBytes),
            ApproximateArrival = DateTimeOffset.FromUnixTimeMilliseconds(Math.Clamp(arrival, -62_135_596_800_000, 253_402_300_799_999)),
            Reason = reason,
            Detail = detail,
            Data = Convert.ToBase64String(data),
        };

    [Fact]
    public void FileLineAndS3Body_AnyRecord_SameBytesHoldingEveryField()
    {
        Prop.ForAll(s_records.ToArbitrary(), record =>
        {
            byte[] line = WriteFileLines([record]).Single();
            var body = new ArrayBufferWriter<byte>();
            QuarantineObject.WriteBody(record, body);
            Assert.Equal(line, body.WrittenSpan.ToArray());
            AssertHoldsEveryField(record, line);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public async Task JsonLinesSinkAndS3Sink_SameRecords_FileLineIsTheObjectBody()
    {
        QuarantinedRecord[] records = [.. s_records.Sample(30, 40).DistinctBy(r => (r.SequenceNumber, r.SubSequenceNumber))];
        string bucket = await servers.CreateBucketAsync("quarantine");
        using AmazonS3Client s3 = servers.CreateS3Client();
        var sink = new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = bucket });

        Assert.Equal(records.Length, await sink.WriteAsync(records, CancellationToken.None));
        byte[][] lines = WriteFileLines(records);

        Assert.Equal(records.Length, lines.Length);
        for (int i = 0; i < records.Length; i++)
        {
            using GetObjectResponse got = await s3.GetObjectAsync(bucket, QuarantineObject.Key(S3QuarantineSinkOptions.Default.KeyPrefix, records[i]));
            using var body = new MemoryStream();
            await got.ResponseStream.CopyToAsync(body);
            Assert.Equal(lines[i], body.ToArray());
            AssertHoldsEveryField(records[i], lines[i]);
        }
    }

    /// <summary>Writes the records through the JSON-lines sink and returns its lines (without the newline).</summary>
    private static byte[][] WriteFileLines(QuarantinedRecord[] records)
    {
        string path = Path.Combine(Path.GetTempPath(), "analytics-q-" + Guid.NewGuid().ToString("N") + ".jsonl");
        try
        {
            new JsonLinesQuarantineSink(path).WriteAsync(records, CancellationToken.None).GetAwaiter().GetResult();
            byte[] file = File.ReadAllBytes(path);
            Assert.Equal((byte)'\n', file[^1]);
            return [.. Encoding.UTF8.GetString(file, 0, file.Length - 1).Split('\n').Select(Encoding.UTF8.GetBytes)];
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static void AssertHoldsEveryField(QuarantinedRecord r, byte[] line)
    {
        using var json = JsonDocument.Parse(line);
        JsonElement root = json.RootElement;
        Assert.Equal(r.ShardId, root.GetProperty("shardId").GetString());
        Assert.Equal(r.SequenceNumber, root.GetProperty("sequenceNumber").GetString());
        Assert.Equal(r.SubSequenceNumber, root.TryGetProperty("subSequenceNumber", out JsonElement sub) ? sub.GetInt32() : null);
        int[]? subs = root.TryGetProperty("poisonSubSequenceNumbers", out JsonElement all) ? [.. all.EnumerateArray().Select(e => e.GetInt32())] : null;
        Assert.Equal(r.PoisonSubSequenceNumbers is { Count: > 1 } expected ? expected : null, subs);
        Assert.Equal(r.PartitionKey, root.GetProperty("partitionKey").GetString());
        Assert.Equal(r.PartitionKeyBase64, root.TryGetProperty("partitionKeyBase64", out JsonElement keyBase64) ? keyBase64.GetString() : null);
        string arrival = root.GetProperty("approximateArrival").GetString()!;
        Assert.Equal(r.ApproximateArrival, DateTimeOffset.ParseExact(arrival, "yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal));
        Assert.Equal(r.Reason.ToString(), root.GetProperty("reason").GetString());
        Assert.Equal(r.Detail, root.GetProperty("detail").GetString());
        Assert.Equal(r.Data, root.GetProperty("data").GetString());
    }
}
