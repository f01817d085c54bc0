using System.Text.Json;
using Amazon.S3;
using Amazon.S3.Model;

namespace Analytics.Core.Tests;

[Collection(LocalServersCollection.Name)]
public sealed class S3QuarantineSinkTests(LocalServersFixture servers)
{
    private const string StreamArn = "arn:aws:kinesis:us-east-1:123456789012:stream/metrics-in";

    [Fact]
    public async Task WriteAsync_PoisonRecords_StoresOneObjectPerRecordUnderDeterministicKeys()
    {
        string bucket = await servers.CreateBucketAsync("quarantine");
        using AmazonS3Client s3 = servers.CreateS3Client();
        var sink = new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = bucket });
        QuarantinedRecord[] records = MakeRecords(12);

        int stored = await sink.WriteAsync(records, CancellationToken.None);

        Assert.Equal(records.Length, stored);
        Dictionary<string, string> objects = await ReadAllAsync(s3, bucket);
        Assert.Equal(records.Length, objects.Count);
        foreach (QuarantinedRecord r in records)
        {
            string stream = r.EventSourceArn is null ? "unknown" : "metrics-in";
            string key = $"quarantine/{stream}/{r.ShardId}/{r.SequenceNumber}{(r.SubSequenceNumber is int s ? "-" + s : "")}.json";
            Assert.True(objects.TryGetValue(key, out string? body), "missing " + key);
            using var json = JsonDocument.Parse(body);
            JsonElement root = json.RootElement;
            Assert.Equal(r.ShardId, root.GetProperty("shardId").GetString());
            Assert.Equal(r.SequenceNumber, root.GetProperty("sequenceNumber").GetString());
            Assert.Equal(r.SubSequenceNumber.HasValue, root.TryGetProperty("subSequenceNumber", out JsonElement sub));
            if (r.SubSequenceNumber is int expectedSub)
            {
                Assert.Equal(expectedSub, sub.GetInt32());
            }

            Assert.Equal(r.PartitionKey, root.GetProperty("partitionKey").GetString());
            Assert.Equal(r.ApproximateArrival, DateTimeOffset.Parse(root.GetProperty("approximateArrival").GetString()!));
            Assert.EndsWith("Z", root.GetProperty("approximateArrival").GetString());
            Assert.Equal(r.Reason.ToString(), root.GetProperty("reason").GetString());
            Assert.Equal(r.Detail, root.GetProperty("detail").GetString());
            Assert.Equal(r.Data, root.GetProperty("data").GetString());
        }
    }

    [Fact]
    public async Task WriteAsync_SameRecordsTwice_OverwritesInsteadOfDuplicating()
    {
        string bucket = await servers.CreateBucketAsync("quarantine");
        using AmazonS3Client s3 = servers.CreateS3Client();
        var sink = new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = bucket, KeyPrefix = "poison/" });
        QuarantinedRecord[] records = MakeRecords(7);

        Assert.Equal(7, await sink.WriteAsync(records, CancellationToken.None));
        Dictionary<string, string> first = await ReadAllAsync(s3, bucket);
        Assert.Equal(7, await sink.WriteAsync(records[2..], CancellationToken.None) + 2);
        Dictionary<string, string> second = await ReadAllAsync(s3, bucket);

        Assert.Equal(7, first.Count);
        Assert.All(first.Keys, k => Assert.StartsWith("poison/", k));
        Assert.Equal(first, second);
    }

    [Fact]
    public async Task WriteAsync_DownstreamHangsAfterThreeUploads_ReturnsExactlyThreeWhenCancelled()
    {
        string bucket = await servers.CreateBucketAsync("quarantine");
        await using var proxy = new FaultProxy(servers.S3Url, FaultProfile.None, seed: 1);
        proxy.DieAfter(3);
        using AmazonS3Client s3 = servers.CreateS3Client(proxy.Url, timeout: TimeSpan.FromSeconds(30));
        var sink = new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = bucket, MaxConcurrency = 1 });
        QuarantinedRecord[] records = MakeRecords(10);
        using var cts = new CancellationTokenSource();
        Task<int> write = sink.WriteAsync(records, cts.Token);
        await WaitUntilAsync(() => proxy.Held > 0);

        await cts.CancelAsync();
        int stored = await write.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(3, stored);
        using AmazonS3Client direct = servers.CreateS3Client();
        Dictionary<string, string> objects = await ReadAllAsync(direct, bucket);
        Assert.Equal(3, objects.Count);
        Assert.All(records[..3], r => Assert.Contains(objects.Keys, k => k.EndsWith("/" + r.SequenceNumber + (r.SubSequenceNumber is int s ? "-" + s : "") + ".json")));
    }

    [Fact]
    public async Task WriteAsync_ParallelUploadsCancelled_CountsOnlyStoredLeadingRecords()
    {
        string bucket = await servers.CreateBucketAsync("quarantine");
        await using var proxy = new FaultProxy(servers.S3Url, FaultProfile.None, seed: 2);
        proxy.DieAfter(9);
        using AmazonS3Client s3 = servers.CreateS3Client(proxy.Url, timeout: TimeSpan.FromSeconds(30));
        var sink = new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = bucket, MaxConcurrency = 4 });
        QuarantinedRecord[] records = MakeRecords(30);
        using var cts = new CancellationTokenSource();
        Task<int> write = sink.WriteAsync(records, cts.Token);
        await WaitUntilAsync(() => proxy.Held >= 4);

        await cts.CancelAsync();
        int stored = await write.WaitAsync(TimeSpan.FromSeconds(10));

        using AmazonS3Client direct = servers.CreateS3Client();
        Dictionary<string, string> objects = await ReadAllAsync(direct, bucket);
        Assert.Equal(9, objects.Count);
        Assert.InRange(stored, 0, 9);
        foreach (QuarantinedRecord r in records[..stored])
        {
            Assert.Contains(objects.Keys, k => k.EndsWith("/" + r.SequenceNumber + (r.SubSequenceNumber is int s ? "-" + s : "") + ".json"));
        }

        // The first record not counted is indeed missing: the count is the longest stored prefix.
        QuarantinedRecord firstMissing = records[stored];
        Assert.DoesNotContain(objects.Keys, k => k.EndsWith("/" + firstMissing.SequenceNumber + (firstMissing.SubSequenceNumber is int s ? "-" + s : "") + ".json"));
    }

    [Fact]
    public async Task WriteAsync_DownstreamDown_GivesUpAfterItsAttempts_AndThrowsTheLastError_NotAQuietReturn()
    {
        // S3 refusing connections with time left: the sink throws the error it gave up on instead of returning 0, so
        // the invocation's log line says the quarantine sink failed, and why.
        string bucket = await servers.CreateBucketAsync("quarantine");
        await using var proxy = new FaultProxy(servers.S3Url, FaultProfile.None, seed: 3) { Mode = FaultMode.Down };
        using AmazonS3Client s3 = servers.CreateS3Client(proxy.Url, timeout: TimeSpan.FromSeconds(1));
        var sink = new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with
        {
            BucketName = bucket,
            Retry = FaultProxy.QuickRetries,
        });
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        Exception thrown = await Assert.ThrowsAnyAsync<Exception>(() => sink.WriteAsync(MakeRecords(4), deadline.Token).WaitAsync(TimeSpan.FromSeconds(60)));

        Assert.False(deadline.IsCancellationRequested);
        FaultProxy.AssertConnectionFailure(thrown);
        Assert.True(sink.Retries > 0);
    }

    [Fact]
    public async Task WriteAsync_AlreadyCancelledToken_ReturnsZero()
    {
        string bucket = await servers.CreateBucketAsync("quarantine");
        using AmazonS3Client s3 = servers.CreateS3Client();
        var sink = new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = bucket });

        int stored = await sink.WriteAsync(MakeRecords(3), new CancellationToken(canceled: true));

        Assert.Equal(0, stored);
    }

    [Fact]
    public async Task WriteAsync_MissingBucket_Throws()
    {
        using AmazonS3Client s3 = servers.CreateS3Client();
        var sink = new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = "no-such-bucket-here" });

        await Assert.ThrowsAsync<AmazonS3Exception>(() => sink.WriteAsync(MakeRecords(2), CancellationToken.None));
    }

    [Theory]
    [InlineData("arn:aws:kinesis:us-east-1:123456789012:stream/metrics-in", "metrics-in")]
    [InlineData("arn:aws:kinesis:eu-west-1:123456789012:stream/a.b_c-d/consumer/fanout:1700000000", "a.b_c-d")]
    [InlineData("arn:aws-cn:kinesis:cn-north-1:123456789012:stream/x", "x")]
    [InlineData("arn:aws:kinesis:us-east-1:123456789012:stream/", "unknown")]
    [InlineData("not an arn", "unknown")]
    [InlineData("", "unknown")]
    [InlineData(null, "unknown")]
    public void StreamName_EventSourceArn_NameOrUnknown(string? arn, string expected) =>
        Assert.Equal(expected, QuarantineObject.StreamName(arn));

    internal static QuarantinedRecord[] MakeRecords(int count)
    {
        var random = new Random(count);
        var records = new QuarantinedRecord[count];
        for (int i = 0; i < count; i++)
        {
            byte[] data = new byte[random.Next(1, 64)];
            random.NextBytes(data);
            records[i] = new QuarantinedRecord
            {
                EventSourceArn = i % 5 == 4 ? null : StreamArn,
                ShardId = "shardId-00000000000" + (i % 2),
                SequenceNumber = "4954" + (1_000_000_000_000L + (i * 7919L)).ToString() + "12345678901234567890123456789012345678",
                SubSequenceNumber = i % 3 == 2 ? i : null,
                PartitionKey = "device-" + i + " é|\"",
                ApproximateArrival = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123 + (i * 1001L)),
                Reason = (PoisonReason)(1 + (i % (Enum.GetValues<PoisonReason>().Length - 1))),
                Detail = "byte " + i + ": \"bad\" <value>",
                Data = Convert.ToBase64String(data),
            };
        }

        return records;
    }

    private static async Task<Dictionary<string, string>> ReadAllAsync(AmazonS3Client s3, string bucket)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        ListObjectsV2Response list = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket });
        foreach (S3Object o in list.S3Objects ?? [])
        {
            using GetObjectResponse got = await s3.GetObjectAsync(bucket, o.Key);
            using var reader = new StreamReader(got.ResponseStream);
            result[o.Key] = await reader.ReadToEndAsync();
        }

        return result;
    }

    internal static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (int i = 0; i < 400 && !condition(); i++)
        {
            await Task.Delay(25);
        }

        Assert.True(condition(), "condition not reached within 10 s");
    }
}
