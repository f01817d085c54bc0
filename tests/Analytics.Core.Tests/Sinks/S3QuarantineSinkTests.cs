using System.Text.Json;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Time.Testing;

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

    /// <summary>
    /// Stopped by its token with nothing stored, after failed uploads: a time-out that says with what. The processor keeps
    /// the inner exception as the invocation's quarantineSinkError; a return of 0 showed only "ran out of time".
    /// </summary>
    [Fact]
    public async Task WriteAsync_StoppedWithNoneStoredAfterAFailedUpload_ThrowsACancellationCarryingTheFailure()
    {
        string bucket = await servers.CreateBucketAsync("quarantine");
        using var s3 = new RefusingS3Client(servers, _ => true);
        var clock = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        AwsRetryOptions retry = AwsRetryOptions.Default with { MaxAttempts = 5, BaseDelay = TimeSpan.FromHours(1), MaxDelay = TimeSpan.FromHours(1), TimeProvider = clock, JitterSeed = 1 };
        var sink = new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = bucket, MaxConcurrency = 1, Retry = retry });
        using var deadline = new CancellationTokenSource();
        Task<int> write = sink.WriteAsync(MakeRecords(2), deadline.Token);
        await WaitUntilAsync(() => s3.Refused == 1);

        // The first upload failed and waits an hour of virtual time for its retry: the deadline comes first.
        await deadline.CancelAsync();
        OperationCanceledException stopped = await Assert.ThrowsAsync<OperationCanceledException>(() => write.WaitAsync(TimeSpan.FromSeconds(10)));

        AmazonS3Exception cause = Assert.IsType<AmazonS3Exception>(stopped.InnerException);
        Assert.Equal(System.Net.HttpStatusCode.InternalServerError, cause.StatusCode);
        Assert.StartsWith("None of 2 quarantine object(s) was stored before the sink was stopped", stopped.Message, StringComparison.Ordinal);
        Assert.Equal(deadline.Token, stopped.CancellationToken);
        Assert.Equal(1, s3.Refused);
        using AmazonS3Client direct = servers.CreateS3Client();
        Assert.Empty(await ReadAllAsync(direct, bucket));
    }

    /// <summary>With some records stored before the deadline, their count is the answer, not the failure after them.</summary>
    [Fact]
    public async Task WriteAsync_StoppedWithSomeStoredAfterAFailedUpload_ReturnsHowManyAreStored()
    {
        string bucket = await servers.CreateBucketAsync("quarantine");
        QuarantinedRecord[] records = MakeRecords(3);
        string refused = records[1].SequenceNumber;
        using var s3 = new RefusingS3Client(servers, key => key.Contains("/" + refused, StringComparison.Ordinal));
        var clock = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        AwsRetryOptions retry = AwsRetryOptions.Default with { MaxAttempts = 5, BaseDelay = TimeSpan.FromHours(1), MaxDelay = TimeSpan.FromHours(1), TimeProvider = clock, JitterSeed = 1 };
        var sink = new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = bucket, MaxConcurrency = 1, Retry = retry });
        using var deadline = new CancellationTokenSource();
        Task<int> write = sink.WriteAsync(records, deadline.Token);
        await WaitUntilAsync(() => s3.Refused == 1);

        await deadline.CancelAsync();
        int stored = await write.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(1, stored);
        using AmazonS3Client direct = servers.CreateS3Client();
        string key = Assert.Single((await ReadAllAsync(direct, bucket)).Keys);
        Assert.EndsWith("/" + records[0].SequenceNumber + ".json", key, StringComparison.Ordinal);
    }

    /// <summary>
    /// A sink lives as long as its Lambda container: an earlier write's failure is not the cause of a later time-out in
    /// which no upload failed.
    /// </summary>
    [Fact]
    public async Task WriteAsync_AfterAWriteThatFailed_ATimeOutWithoutFailedUploadsReturnsZero()
    {
        string bucket = await servers.CreateBucketAsync("quarantine");
        bool refuse = true;
        using var s3 = new RefusingS3Client(servers, _ => Volatile.Read(ref refuse));
        var sink = new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = bucket, Retry = FaultProxy.QuickRetries });
        await Assert.ThrowsAsync<AmazonS3Exception>(() => sink.WriteAsync(MakeRecords(2), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)));
        Volatile.Write(ref refuse, false);

        int stored = await sink.WriteAsync(MakeRecords(3), new CancellationToken(canceled: true));

        Assert.Equal(0, stored);
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

    /// <summary>An S3 client whose uploads of the keys <paramref name="refuse"/> picks fail with a 500 before they are sent.</summary>
    private sealed class RefusingS3Client(LocalServersFixture servers, Func<string, bool> refuse) : AmazonS3Client(LocalServersFixture.S3Credentials, servers.S3Config())
    {
        private int _refused;

        public int Refused => Volatile.Read(ref _refused);

        public override Task<PutObjectResponse> PutObjectAsync(PutObjectRequest request, CancellationToken cancellationToken = default)
        {
            if (refuse(request.Key))
            {
                Interlocked.Increment(ref _refused);
                return Task.FromException<PutObjectResponse>(new AmazonS3Exception("We encountered an internal error. Please try again.", Amazon.Runtime.ErrorType.Receiver, "InternalError", "req-500", System.Net.HttpStatusCode.InternalServerError));
            }

            return base.PutObjectAsync(request, cancellationToken);
        }
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
