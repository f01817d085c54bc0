using System.Net;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;
using Amazon.Runtime.Internal;
using Amazon.S3;
using Amazon.S3.Model;
using BenchmarkDotNet.Attributes;

namespace Analytics.Core.Benchmarks.Micro;

/// <summary>
/// What one failed DynamoDB call costs the function in the AWS SDK (AWSSDK.Core 4.1), against a successful one: a
/// PutItem answered in process (no network) with 200, or with 400 ProvisionedThroughputExceededException, as a
/// throttled table answers (the DynamoDB sink makes such calls by the thousand in the incident's throttling). The SDK's
/// MetricsHandler captures every failure's exception for a tracing span, which formats its stack trace whether or not
/// anything listens; the last case is the same client without that handler.
/// </summary>
[MemoryDiagnoser]
public class SdkFailureBenchmarks
{
    private static readonly PutItemRequest s_put = new()
    {
        TableName = "aggregates",
        Item = new Dictionary<string, AttributeValue>
        {
            ["pk"] = new() { S = "device-1#latency" },
            ["sk"] = new() { S = "2025-01-20T10:00:00Z" },
            ["count"] = new() { N = "42" },
        },
    };

    private AmazonDynamoDBClient _ok = null!;
    private AmazonDynamoDBClient _throttled = null!;
    private AmazonDynamoDBClient _throttledWithoutMetrics = null!;

    [GlobalSetup]
    public void Setup()
    {
        _ok = new AmazonDynamoDBClient(new BasicAWSCredentials("a", "b"), Config(HttpStatusCode.OK, "{}"));
        const string Throttled = """{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}""";
        _throttled = new AmazonDynamoDBClient(new BasicAWSCredentials("a", "b"), Config(HttpStatusCode.BadRequest, Throttled));
        _throttledWithoutMetrics = new WithoutMetricsClient(new BasicAWSCredentials("a", "b"), Config(HttpStatusCode.BadRequest, Throttled));
        if (Throws(_ok) || !Throws(_throttled) || !Throws(_throttledWithoutMetrics))
        {
            throw new InvalidOperationException("The answers are not what the cases say.");
        }

        static bool Throws(AmazonDynamoDBClient client)
        {
            try
            {
                client.PutItemAsync(s_put).GetAwaiter().GetResult();
                return false;
            }
            catch (ProvisionedThroughputExceededException)
            {
                return true;
            }
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _ok.Dispose();
        _throttled.Dispose();
        _throttledWithoutMetrics.Dispose();
    }

    [Benchmark(Baseline = true)]
    public async Task<int> Succeeds() => (int)(await _ok.PutItemAsync(s_put)).HttpStatusCode;

    [Benchmark]
    public Task<int> Throttled() => FailAsync(_throttled);

    [Benchmark]
    public Task<int> ThrottledWithoutMetricsHandler() => FailAsync(_throttledWithoutMetrics);

    private static async Task<int> FailAsync(AmazonDynamoDBClient client)
    {
        try
        {
            await client.PutItemAsync(s_put);
            return 0;
        }
        catch (ProvisionedThroughputExceededException e)
        {
            return (int)e.StatusCode;
        }
    }

    private static AmazonDynamoDBConfig Config(HttpStatusCode status, string body) => new()
    {
        ServiceURL = "http://dynamodb.benchmark.invalid",
        AuthenticationRegion = "us-east-1",
        MaxErrorRetry = 0,
        RetryMode = RequestRetryMode.Standard,
        ThrottleRetries = false,
        HttpClientFactory = new Answering(status, body),
    };

    /// <summary>Clients whose every request gets one fixed answer, in process.</summary>
    internal sealed class Answering(HttpStatusCode status, string body, string contentType = "application/x-amz-json-1.0") : HttpClientFactory
    {
        public override HttpClient CreateHttpClient(IClientConfig clientConfig) => new(new Handler(status, Encoding.UTF8.GetBytes(body), contentType));

        public override string? GetConfigUniqueString(IClientConfig clientConfig) => null;
    }

    private sealed class Handler(HttpStatusCode status, byte[] body, string contentType) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = new HttpResponseMessage(status) { Content = new ByteArrayContent(body), RequestMessage = request };
            response.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
            response.Headers.Add("x-amzn-RequestId", "benchmark");
            return Task.FromResult(response);
        }
    }

    private sealed class WithoutMetricsClient(AWSCredentials credentials, AmazonDynamoDBConfig config) : AmazonDynamoDBClient(credentials, config)
    {
        protected override void CustomizeRuntimePipeline(RuntimePipeline pipeline)
        {
            base.CustomizeRuntimePipeline(pipeline);
            pipeline.RemoveHandler<MetricsHandler>();
        }
    }
}

/// <summary>
/// The same for the spill sink's read of a shard's marker (<c>S3SpillSink</c>): a GetObject that finds the object, and
/// one answered 404 NoSuchKey, which is every batch's read on a shard that has not spilled.
/// </summary>
[MemoryDiagnoser]
public class SdkMissingObjectBenchmarks
{
    private AmazonS3Client _found = null!;
    private AmazonS3Client _missing = null!;

    [GlobalSetup]
    public void Setup()
    {
        _found = new AmazonS3Client(new BasicAWSCredentials("a", "b"), Config(HttpStatusCode.OK, "application/json", """{"marker":1}"""));
        _missing = new AmazonS3Client(new BasicAWSCredentials("a", "b"), Config(
            HttpStatusCode.NotFound,
            "application/xml",
            """<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>spill/marker</Key><RequestId>benchmark</RequestId></Error>"""));
        if (Found().GetAwaiter().GetResult() != 12 || Missing().GetAwaiter().GetResult() != 404)
        {
            throw new InvalidOperationException("The answers are not what the cases say.");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _found.Dispose();
        _missing.Dispose();
    }

    [Benchmark(Baseline = true)]
    public async Task<int> Found()
    {
        using GetObjectResponse got = await _found.GetObjectAsync(new GetObjectRequest { BucketName = "spill", Key = "spill/marker" });
        using var body = new MemoryStream();
        await got.ResponseStream.CopyToAsync(body);
        return (int)body.Length;
    }

    [Benchmark]
    public async Task<int> Missing()
    {
        try
        {
            using GetObjectResponse got = await _missing.GetObjectAsync(new GetObjectRequest { BucketName = "spill", Key = "spill/marker" });
            return 0;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return 404;
        }
    }

    private static AmazonS3Config Config(HttpStatusCode status, string contentType, string body) => new()
    {
        ServiceURL = "http://s3.benchmark.invalid",
        AuthenticationRegion = "us-east-1",
        ForcePathStyle = true,
        MaxErrorRetry = 0,
        RetryMode = RequestRetryMode.Standard,
        ThrottleRetries = false,
        RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
        ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        HttpClientFactory = new SdkFailureBenchmarks.Answering(status, body, contentType),
    };
}
