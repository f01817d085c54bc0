using System.Net;
using System.Security.Cryptography;
using System.Text;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Time.Testing;

namespace Analytics.Core.Testing.Tests;

public sealed class S3ModelTests
{
    private static readonly DateTimeOffset s_start = new(2024, 5, 1, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task PutObject_PlainOrAwsChunkedBody_StoresExactlyTheBytes(bool chunked)
    {
        using var model = new S3Model(new FakeTimeProvider(s_start), S3ModelOptions.Default);
        using AmazonS3Client client = model.CreateClient();
        await client.PutBucketAsync("bkt");
        byte[] body = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("{\"reason\":\"x\"}\n", 5000)));
        using (var stream = new MemoryStream(body))
        {
            await client.PutObjectAsync(new PutObjectRequest { BucketName = "bkt", Key = "q/shard/1.json", InputStream = stream, ContentType = "application/json", UseChunkEncoding = chunked });
        }

        S3ModelObject stored = Assert.Single(model.GetObjects("bkt"));
        Assert.Equal(body, stored.Body.ToArray());
        Assert.Equal("\"" + Convert.ToHexString(MD5.HashData(body)).ToLowerInvariant() + "\"", stored.ETag);

        using GetObjectResponse got = await client.GetObjectAsync("bkt", "q/shard/1.json");
        using var read = new MemoryStream();
        await got.ResponseStream.CopyToAsync(read);
        Assert.Equal(body, read.ToArray());
        Assert.Equal("application/json", got.Headers.ContentType);
        GetObjectMetadataResponse head = await client.GetObjectMetadataAsync("bkt", "q/shard/1.json");
        Assert.Equal(body.Length, head.ContentLength);
    }

    [Fact]
    public void DecodeAwsChunked_FramedBody_YieldsThePayload_AndTruncatedBodyIsRejected()
    {
        byte[] framed = Encoding.ASCII.GetBytes("5;chunk-signature=abc\r\nhello\r\n6;chunk-signature=def\r\n world\r\n0;chunk-signature=000\r\nx-amz-checksum-crc32:AAAA\r\n\r\n");
        Assert.Equal("hello world", Encoding.ASCII.GetString(S3Model.DecodeAwsChunked(framed)!));
        Assert.Null(S3Model.DecodeAwsChunked(framed.AsSpan(0, 20)));
        Assert.Null(S3Model.DecodeAwsChunked("zz\r\n"u8));
    }

    [Fact]
    public async Task MissingKeyAndBucket_AreS3sErrors()
    {
        using var model = new S3Model(new FakeTimeProvider(s_start), S3ModelOptions.Default);
        using AmazonS3Client client = model.CreateClient();
        await client.PutBucketAsync("bkt");
        var key = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => client.GetObjectAsync("bkt", "nope"));
        Assert.Equal(("NoSuchKey", HttpStatusCode.NotFound), (key.ErrorCode, key.StatusCode));
        var bucket = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => client.GetObjectAsync("other", "nope"));
        Assert.Equal(("NoSuchBucket", HttpStatusCode.NotFound), (bucket.ErrorCode, bucket.StatusCode));
        var head = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => client.GetObjectMetadataAsync("bkt", "nope"));
        Assert.Equal(HttpStatusCode.NotFound, head.StatusCode);
    }

    [Fact]
    public async Task ListObjectsV2_PagesThroughEveryKeyWithThePrefix_InKeyOrder()
    {
        using var model = new S3Model(new FakeTimeProvider(s_start), S3ModelOptions.Default);
        using AmazonS3Client client = model.CreateClient();
        model.CreateBucket("bkt");
        var expected = new List<string>();
        for (int i = 0; i < 23; i++)
        {
            string key = $"quarantine/stream/shard/{i:D3}.json";
            expected.Add(key);
            await client.PutObjectAsync(new PutObjectRequest { BucketName = "bkt", Key = key, ContentBody = "{}", UseChunkEncoding = false });
        }

        await client.PutObjectAsync(new PutObjectRequest { BucketName = "bkt", Key = "other/x.json", ContentBody = "{}", UseChunkEncoding = false });
        var listed = new List<string>();
        string? token = null;
        int pages = 0;
        do
        {
            ListObjectsV2Response page = await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = "bkt", Prefix = "quarantine/", MaxKeys = 5, ContinuationToken = token });
            listed.AddRange(page.S3Objects.Select(o => o.Key));
            token = page.IsTruncated == true ? page.NextContinuationToken : null;
            pages++;
        }
        while (token is not null && pages < 50);
        Assert.Equal(expected, listed);
        Assert.Equal(5, pages);
    }

    [Fact]
    public async Task ThrottlingAndOutages_AreSlowDownAndInternalError_OnTheModelsClock()
    {
        var time = new FakeTimeProvider(s_start);
        using var model = new S3Model(time, S3ModelOptions.Default with { ThrottleFraction = 1, Outages = [new OutageWindow(s_start.AddMinutes(1), s_start.AddMinutes(2))] });
        using AmazonS3Client client = model.CreateClient();
        await client.PutBucketAsync("bkt"); // bucket calls are not throttled
        var slow = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => client.PutObjectAsync(new PutObjectRequest { BucketName = "bkt", Key = "k", ContentBody = "x", UseChunkEncoding = false }));
        Assert.Equal(("SlowDown", HttpStatusCode.ServiceUnavailable), (slow.ErrorCode, slow.StatusCode));
        time.Advance(TimeSpan.FromMinutes(1));
        var down = await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => client.GetObjectAsync("bkt", "k"));
        Assert.Equal(("InternalError", HttpStatusCode.InternalServerError), (down.ErrorCode, down.StatusCode));
        Assert.Equal(new S3ModelCounters(Requests: 3, Puts: 0, Throttles: 1, OutageErrors: 1, BytesStored: 0), model.Counters);
    }

    [Fact]
    public async Task QuarantineSink_ThroughTheModel_RetriesSlowDownAndStoresEveryRecord()
    {
        using var model = new S3Model(new FakeTimeProvider(s_start), S3ModelOptions.Default with { ThrottleFraction = 0.3, Seed = 5 });
        using AmazonS3Client client = model.CreateClient();
        model.CreateBucket("poison");
        var sink = new S3QuarantineSink(client, S3QuarantineSinkOptions.Default with { BucketName = "poison", Retry = AwsRetryOptions.Default with { MaxAttempts = 30, BaseDelay = TimeSpan.FromMilliseconds(1), MaxDelay = TimeSpan.FromMilliseconds(2) } });
        var processor = new KinesisBatchProcessor(new NullAggregateSink(), sink, ProcessorOptions.Default);
        TestRecord[] records = KinesisEventBuilder.Generate(seed: 3, count: 120);
        var response = new System.Buffers.ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(KinesisEventBuilder.Event(records), DateTimeOffset.UtcNow.AddMinutes(1), response, CancellationToken.None);

        string[] expectedKeys = records.Where(r => r.Poison).Select(r => $"quarantine/metrics/{KinesisEventBuilder.ShardId}/{r.SequenceNumber}.json").Order(StringComparer.Ordinal).ToArray();
        Assert.NotEmpty(expectedKeys);
        Assert.Equal(expectedKeys, model.GetObjects("poison").Select(o => o.Key).ToArray());
        Assert.True(model.Counters.Throttles > 0);
        using (var answer = System.Text.Json.JsonDocument.Parse(response.WrittenMemory))
        {
            Assert.Equal(0, answer.RootElement.GetProperty("batchItemFailures").GetArrayLength());
        }

        Assert.Equal(expectedKeys.Length, summary.Quarantined);
    }

    /// <summary>Marks every pair durable and stores nothing.</summary>
    private sealed class NullAggregateSink : IAggregateSink
    {
        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            for (int i = 0; i < batch.Count; i++)
            {
                batch.MarkDurable(i);
            }

            return Task.CompletedTask;
        }
    }
}
