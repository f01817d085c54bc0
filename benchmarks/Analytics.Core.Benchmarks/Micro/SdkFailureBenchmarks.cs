using System.Net;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;
using Amazon.Runtime.Internal;
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

    private sealed class Answering(HttpStatusCode status, string body) : HttpClientFactory
    {
        public override HttpClient CreateHttpClient(IClientConfig clientConfig) => new(new Handler(status, Encoding.UTF8.GetBytes(body)));

        public override string? GetConfigUniqueString(IClientConfig clientConfig) => null;
    }

    private sealed class Handler(HttpStatusCode status, byte[] body) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = new HttpResponseMessage(status) { Content = new ByteArrayContent(body), RequestMessage = request };
            response.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-amz-json-1.0");
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
