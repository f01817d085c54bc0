using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.S3;
using Amazon.S3.Model;
using Analytics.SampleLambda;
using Analytics.Tools;

namespace Analytics.Core.Tests.Sample;

public class AwsTargetArgumentsTests
{
    [Theory]
    [InlineData(new[] { "--event", "e", "--table", "t" }, "--dynamodb-endpoint and --table go together")]
    [InlineData(new[] { "--event", "e", "--dynamodb-endpoint", "http://x" }, "--dynamodb-endpoint and --table go together")]
    [InlineData(new[] { "--event", "e", "--dynamodb-endpoint", "localhost:8000", "--table", "t" }, "--dynamodb-endpoint must be an http(s) URL, not 'localhost:8000'")]
    [InlineData(new[] { "--event", "e", "--quarantine-bucket", "b" }, "--s3-endpoint and --quarantine-bucket go together")]
    [InlineData(new[] { "--event", "e", "--s3-endpoint", "ftp://x", "--quarantine-bucket", "b" }, "--s3-endpoint must be an http(s) URL, not 'ftp://x'")]
    [InlineData(new[] { "--event", "e", "--table", "a", "--table", "b", "--dynamodb-endpoint", "http://x" }, "Option '--table' expects a single argument but 2 were provided.")]
    [InlineData(new[] { "--event", "e", "--create-table" }, "Unrecognized command or argument '--create-table'.")]
    public async Task Invoke_BadAwsOptions_ExitsTwoSayingWhatBeforeTouchingAnything(string[] argv, string expected)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        int code = await InvokeCommand.RunAsync(argv, stdout, stderr);

        Assert.Equal(2, code);
        Assert.Empty(stdout.ToString());
        Assert.Equal(["error: " + expected, "see 'bootstrap invoke --help'"], stderr.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
    }
}

/// <summary><c>invoke</c> with the DynamoDB and S3 sinks against local servers, and the tools' <c>create-table</c> and <c>query</c>.</summary>
[Collection(LocalServersCollection.Name)]
public sealed class InvokeWithAwsSinksTests(LocalServersFixture servers) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("analytics-invoke-aws-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>
    /// <c>create-table</c> on an existing table whose key is not the sink's (id N, hash only; or pk S with sk N): one error
    /// line naming both keys, exit 1. Found by review: it said the table was ACTIVE, exit 0, and every write then failed.
    /// The sink's own table, existing already, is accepted.
    /// </summary>
    [Theory]
    [InlineData("id", "N", null, null, "id (N, HASH)")]
    [InlineData("pk", "S", "sk", "N", "pk (S, HASH) and sk (N, RANGE)")]
    public async Task CreateTable_OnAnExistingTableOfAnotherKey_IsAnError_TheSinksOwnIsAccepted(string hash, string hashType, string? range, string? rangeType, string shown)
    {
        string name = "shape-" + Guid.NewGuid().ToString("N")[..8];
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var request = new CreateTableRequest
        {
            TableName = name,
            BillingMode = BillingMode.PAY_PER_REQUEST,
            AttributeDefinitions = [new(hash, hashType)],
            KeySchema = [new(hash, KeyType.HASH)],
        };
        if (range is not null)
        {
            request.AttributeDefinitions.Add(new(range, rangeType));
            request.KeySchema.Add(new(range, KeyType.RANGE));
        }

        await client.CreateTableAsync(request);

        (int code, string stdout, string stderr) = await RunAsync(ToolsCommand.RunAsync, "create-table", "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--table", name);

        Assert.Equal(1, code);
        Assert.Empty(stdout);
        Assert.Equal($"error: the table '{name}' is not an aggregate table: its key is {shown}, and the sink's is pk (S, HASH) and sk (S, RANGE): check --table; nothing done", stderr.Trim());

        string own = "shape-" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(0, (await RunAsync(ToolsCommand.RunAsync, "create-table", "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--table", own)).ExitCode);
        (int again, _, string said) = await RunAsync(ToolsCommand.RunAsync, "create-table", "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--table", own);
        Assert.Equal(0, again);
        Assert.Contains($"table {own} at ", said, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invoke_PoisonEventWithAwsSinks_QueryPrintsTheSameLinesAsTheFileSinksAndOneObjectPerPill()
    {
        string table = "invoke-" + Guid.NewGuid().ToString("N");
        string bucket = await servers.CreateBucketAsync("invoke");
        Assert.Equal(0, (await RunAsync(ToolsCommand.RunAsync, "create-table", "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--table", table)).ExitCode);
        string eventPath = SampleEventsTests.EventPath("kinesis-poison.json");
        string fileOut = Path.Combine(_dir, "files");

        (int fileCode, string fileResponse, _) = await RunAsync((a, o, e) => InvokeCommand.RunAsync(a, o, e), "--event", eventPath, "--out", fileOut);
        string[] awsArgs =
        [
            "--event", eventPath, "--out", Path.Combine(_dir, "aws"),
            "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--table", table,
            "--s3-endpoint", servers.S3Url.ToString(), "--quarantine-bucket", bucket,
        ];
        (int awsCode, string awsResponse, string awsLog) = await RunAsync((a, o, e) => InvokeCommand.RunAsync(a, o, e), awsArgs);
        (int queryCode, string queried, string queryErrors) = await RunAsync(ToolsCommand.RunAsync, "query", "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--table", table);

        Assert.Equal((0, 0, 0), (fileCode, awsCode, queryCode));
        Assert.Empty(queryErrors);
        Assert.Equal(fileResponse, awsResponse);
        Assert.Contains("table " + table, awsLog);
        string[] fileLines = File.ReadAllLines(Path.Combine(fileOut, "aggregates.jsonl"));
        Assert.NotEmpty(fileLines);
        Assert.Equal(fileLines.Order(StringComparer.Ordinal), Lines(queried).Order(StringComparer.Ordinal));

        string[] quarantineLines = File.ReadAllLines(Path.Combine(fileOut, "quarantine.jsonl"));
        using AmazonS3Client s3 = servers.CreateS3Client();
        ListObjectsV2Response objects = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket });
        Assert.Equal(quarantineLines.Length, objects.S3Objects.Count);
        foreach (string line in quarantineLines)
        {
            using JsonDocument expected = JsonDocument.Parse(line);
            string sequence = expected.RootElement.GetProperty("sequenceNumber").GetString()!;
            S3Object o = Assert.Single(objects.S3Objects, o => o.Key.EndsWith("/" + sequence + ".json", StringComparison.Ordinal));
            using GetObjectResponse got = await s3.GetObjectAsync(bucket, o.Key);
            using JsonDocument stored = await JsonDocument.ParseAsync(got.ResponseStream);
            Assert.Equal(expected.RootElement.GetProperty("data").GetString(), stored.RootElement.GetProperty("data").GetString());
            Assert.Equal(expected.RootElement.GetProperty("reason").GetString(), stored.RootElement.GetProperty("reason").GetString());
        }
    }

    [Fact]
    public async Task Invoke_SameEventTwiceIntoDynamoDb_QueryUnchanged()
    {
        string table = "invoke-" + Guid.NewGuid().ToString("N");
        string[] args =
        [
            "--event", SampleEventsTests.EventPath("kinesis-basic.json"), "--out", _dir,
            "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--table", table,
        ];
        string[] query = ["query", "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--table", table];
        Assert.Equal(0, (await RunAsync(ToolsCommand.RunAsync, "create-table", "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--table", table)).ExitCode);

        (int first, _, _) = await RunAsync((a, o, e) => InvokeCommand.RunAsync(a, o, e), args);
        (_, string once, _) = await RunAsync(ToolsCommand.RunAsync, query);
        (int second, _, _) = await RunAsync((a, o, e) => InvokeCommand.RunAsync(a, o, e), args);
        (_, string twice, _) = await RunAsync(ToolsCommand.RunAsync, query);

        Assert.Equal((0, 0), (first, second));
        Assert.NotEmpty(Lines(once));
        Assert.Equal(once, twice);
    }

    [Theory]
    [InlineData(new[] { "query" }, "Option '--dynamodb-endpoint' is required.")]
    [InlineData(new[] { "query", "--table", "t" }, "Option '--dynamodb-endpoint' is required.")]
    [InlineData(new[] { "query", "--table", "t", "--dynamodb-endpoint", "nope" }, "--dynamodb-endpoint must be an http(s) URL, not 'nope'")]
    [InlineData(new[] { "create-table", "--dynamodb-endpoint", "http://x" }, "Option '--table' is required.")]
    [InlineData(new[] { "query", "--tabel", "t", "--table", "t", "--dynamodb-endpoint", "http://x" }, "Unrecognized command or argument '--tabel'.")]
    [InlineData(new[] { "drop-table" }, "Unrecognized command or argument 'drop-table'.")]
    public async Task Tools_BadArguments_ExitsTwoSayingWhat(string[] args, string expected)
    {
        (int code, string stdout, string stderr) = await RunAsync(ToolsCommand.RunAsync, args);

        Assert.Equal(2, code);
        Assert.Empty(stdout);
        string[] lines = stderr.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("error: " + expected, lines);
        Assert.Equal(lines.Length, lines.Distinct().Count());
        Assert.EndsWith(" --help'", lines[^1]);
    }

    [Fact]
    public async Task Tools_UnreachableEndpoint_ExitsOneWithOneLineAndNoTrace()
    {
        // A port nothing listens on: the request fails fast.
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        (int code, string stdout, string stderr) = await RunAsync(ToolsCommand.RunAsync, "query", "--dynamodb-endpoint", $"http://127.0.0.1:{port}", "--table", "metrics");

        Assert.Equal(1, code);
        Assert.Empty(stdout);
        string line = Assert.Single(Lines(stderr));
        Assert.StartsWith($"error: could not read table 'metrics' at http://127.0.0.1:{port}/: ", line);
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(Func<string[], TextWriter, TextWriter, Task<int>> command, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = await command(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
