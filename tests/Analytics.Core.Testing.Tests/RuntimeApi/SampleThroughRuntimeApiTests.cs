using System.Globalization;
using System.Text;
using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.S3;
using Amazon.S3.Model;
using Analytics.Core.Tests;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The sample function's <c>bootstrap</c>, unchanged, driven through the Runtime API host against the local DynamoDB
/// and S3 servers. It runs the Native AOT executable named by <c>TESTS_SAMPLE_BOOTSTRAP</c> (CI sets it after the
/// AOT publish), else the JIT build (<c>dotnet bootstrap.dll</c>) of the same code.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class SampleThroughRuntimeApiTests(LocalServersFixture servers)
{
    public const string BootstrapVariable = "TESTS_SAMPLE_BOOTSTRAP";

    [Fact]
    public async Task Sample_OverTheRuntimeApi_WritesAggregatesOnceAndQuarantinesPoison_EvenWhenRedelivered()
    {
        string table = await servers.CreateTableAsync("sample");
        string bucket = await servers.CreateBucketAsync("sample");
        RuntimeApiHostOptions options = SampleOptions(new Dictionary<string, string?>
        {
            ["ANALYTICS_AGGREGATE_TABLE"] = table,
            ["ANALYTICS_QUARANTINE_BUCKET"] = bucket,
            ["ANALYTICS_OUTPUT_DIR"] = Directory.CreateTempSubdirectory("sample-out-").FullName,
            // The SDK's service-specific endpoint variables point the sample's default clients at the local servers.
            ["AWS_ENDPOINT_URL_DYNAMODB"] = servers.DynamoDbUrl.ToString(),
            ["AWS_ENDPOINT_URL_S3"] = servers.S3Url.ToString(),
            ["AWS_ACCESS_KEY_ID"] = "S3RVER",
            ["AWS_SECRET_ACCESS_KEY"] = "S3RVER",
            ["AWS_SESSION_TOKEN"] = null,
            ["AWS_PROFILE"] = null,
            ["AWS_REGION"] = "us-east-1",
            ["AWS_EC2_METADATA_DISABLED"] = "true",
            ["AWS_REQUEST_CHECKSUM_CALCULATION"] = "when_required",
            ["AWS_RESPONSE_CHECKSUM_VALIDATION"] = "when_required",
        });

        TestRecord[] records = KinesisEventBuilder.Generate(seed: 8, count: 60);
        byte[] eventBytes = KinesisEventBuilder.Event(records);
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await using (RuntimeApiHost host = await RuntimeApiHost.StartAsync(options, cts.Token))
        {
            for (int delivery = 0; delivery < 2; delivery++)
            {
                byte[] response = await host.InvokeAsync(eventBytes, DateTimeOffset.UtcNow.AddSeconds(30), cts.Token);
                using var answer = JsonDocument.Parse(response);
                Assert.Equal(0, answer.RootElement.GetProperty("batchItemFailures").GetArrayLength());
            }

            Assert.Equal(1, host.ProcessesStarted);
        }

        // Expected, from the records alone: one item per (metric, service, 60-second window), counting its samples.
        var expected = records.Where(r => !r.Poison)
            .Select(r => JsonDocument.Parse(r.Data).RootElement)
            .GroupBy(m => (
                Metric: m.GetProperty("metric").GetString()!,
                Service: m.GetProperty("dimensions").GetProperty("service").GetString()!,
                Window: m.GetProperty("timestamp").GetInt64() / 60_000 * 60_000))
            .ToDictionary(g => g.Key, g => g.Count());

        using AmazonDynamoDBClient dynamo = servers.CreateDynamoDbClient();
        ScanResponse scan = await dynamo.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true });
        var actual = scan.Items.ToDictionary(
            i => (
                Metric: i["metric"].S,
                Service: i["dimensions"].M["service"].S,
                Window: DateTimeOffset.Parse(i["windowStart"].S, CultureInfo.InvariantCulture).ToUnixTimeMilliseconds()),
            i => int.Parse(i["count"].N, CultureInfo.InvariantCulture));
        Assert.Equal(expected.OrderBy(kv => kv.Key), actual.OrderBy(kv => kv.Key));

        using AmazonS3Client s3 = servers.CreateS3Client();
        ListObjectsV2Response objects = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket });
        Assert.Equal(
            records.Where(r => r.Poison).Select(r => $"quarantine/metrics/{KinesisEventBuilder.ShardId}/{r.SequenceNumber}.json").Order(StringComparer.Ordinal),
            (objects.S3Objects ?? []).Select(o => o.Key).Order(StringComparer.Ordinal));
    }

    /// <summary>
    /// A proxy set for the function's own calls (HTTP_PROXY, as out of a VPC without NAT) must not take the calls to the
    /// sandbox's loopback Runtime API: the sample sent them to the proxy, exited, and never got an event (found by
    /// review). The proxy here is a closed loopback port.
    /// </summary>
    [Fact]
    public async Task Sample_WithAProxySet_StillTalksToTheRuntimeApiDirectly()
    {
        string output = Directory.CreateTempSubdirectory("sample-proxy-").FullName;
        RuntimeApiHostOptions options = SampleOptions(new Dictionary<string, string?>
        {
            ["ANALYTICS_OUTPUT_DIR"] = output,
            ["HTTP_PROXY"] = "http://127.0.0.1:9",
            ["http_proxy"] = "http://127.0.0.1:9",
            ["ALL_PROXY"] = "http://127.0.0.1:9",
        });

        byte[] eventBytes = KinesisEventBuilder.Event(KinesisEventBuilder.Generate(seed: 9, count: 5));
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await using RuntimeApiHost host = await RuntimeApiHost.StartAsync(options, cts.Token);
            byte[] response = await host.InvokeAsync(eventBytes, DateTimeOffset.UtcNow.AddSeconds(30), cts.Token);
            using var answer = JsonDocument.Parse(response);
            Assert.Equal(0, answer.RootElement.GetProperty("batchItemFailures").GetArrayLength());
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    /// <summary>The AOT executable when CI names it, else <c>dotnet</c> with the sample's JIT build of this configuration.</summary>
    /// <summary>The sample's bootstrap under the host, with the function's own variables.</summary>
    private static RuntimeApiHostOptions SampleOptions(Dictionary<string, string?> environment)
    {
        (string fileName, string[] arguments) = Bootstrap();
        return new RuntimeApiHostOptions
        {
            FileName = fileName,
            Arguments = arguments,
            FunctionName = "analytics-sample",
            InitTimeout = TimeSpan.FromSeconds(60),
            Environment = environment,
        };
    }

    private static (string FileName, string[] Arguments) Bootstrap()
    {
        if (Environment.GetEnvironmentVariable(BootstrapVariable) is { Length: > 0 } aot)
        {
            Assert.True(File.Exists(aot), $"{BootstrapVariable} names {aot}, which does not exist.");
            return (aot, []);
        }

        string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";
        string dll = Path.Combine(RepoPaths.Root, "samples", "Analytics.SampleLambda", "bin", configuration, "net10.0", "bootstrap.dll");
        Assert.True(File.Exists(dll), $"The sample's build {dll} is missing; build the test project (it builds the sample first).");
        return ("dotnet", [dll]);
    }
}
