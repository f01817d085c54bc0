using System.Text.Json;
using Amazon.S3;
using Amazon.S3.Model;
using Analytics.SampleLambda;

namespace Analytics.Core.Tests.Sample;

public class AwsTargetArgumentsTests
{
    [Fact]
    public void TryParse_AllAwsOptions_ReadsTargets()
    {
        Assert.True(InvokeArguments.TryParse(
            ["--event", "e.json", "--table", "t", "--dynamodb-endpoint", "http://127.0.0.1:8000", "--create-table", "--s3-endpoint", "http://127.0.0.1:9000/", "--quarantine-bucket", "b"],
            out InvokeArguments? args,
            out string? error));

        Assert.Null(error);
        Assert.Equal(new DynamoDbTarget(new Uri("http://127.0.0.1:8000"), "t", CreateTable: true), args.DynamoDb);
        Assert.Equal(new S3Target(new Uri("http://127.0.0.1:9000/"), "b"), args.S3);
    }

    [Fact]
    public void TryParse_NoAwsOptions_NoTargets()
    {
        Assert.True(InvokeArguments.TryParse(["--event", "e.json"], out InvokeArguments? args, out _));

        Assert.Null(args.DynamoDb);
        Assert.Null(args.S3);
    }

    [Theory]
    [InlineData(new[] { "--event", "e", "--table", "t" }, "--dynamodb-endpoint and --table go together")]
    [InlineData(new[] { "--event", "e", "--dynamodb-endpoint", "http://x" }, "--dynamodb-endpoint and --table go together")]
    [InlineData(new[] { "--event", "e", "--create-table" }, "--create-table needs --dynamodb-endpoint and --table")]
    [InlineData(new[] { "--event", "e", "--create-table", "--create-table" }, "--create-table is given twice")]
    [InlineData(new[] { "--event", "e", "--dynamodb-endpoint", "localhost:8000", "--table", "t" }, "--dynamodb-endpoint must be an http(s) URL, not 'localhost:8000'")]
    [InlineData(new[] { "--event", "e", "--quarantine-bucket", "b" }, "--s3-endpoint and --quarantine-bucket go together")]
    [InlineData(new[] { "--event", "e", "--s3-endpoint", "ftp://x", "--quarantine-bucket", "b" }, "--s3-endpoint must be an http(s) URL, not 'ftp://x'")]
    [InlineData(new[] { "--event", "e", "--table", "a", "--table", "b" }, "--table is given twice")]
    public void TryParse_BadAwsOptions_SaysWhat(string[] argv, string expected)
    {
        Assert.False(InvokeArguments.TryParse(argv, out _, out string? error));
        Assert.Equal(expected, error);
    }
}

/// <summary><c>invoke</c> with the DynamoDB and S3 sinks against local servers, and <c>query</c> to read the table back.</summary>
[Collection(LocalServersCollection.Name)]
public sealed class InvokeWithAwsSinksTests(LocalServersFixture servers) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("analytics-invoke-aws-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Invoke_PoisonEventWithAwsSinks_QueryPrintsTheSameLinesAsTheFileSinksAndOneObjectPerPill()
    {
        string table = "invoke-" + Guid.NewGuid().ToString("N");
        string bucket = await servers.CreateBucketAsync("invoke");
        string eventPath = SampleEventsTests.EventPath("kinesis-poison.json");
        string fileOut = Path.Combine(_dir, "files");

        (int fileCode, string fileResponse, _) = await RunAsync((a, o, e) => InvokeCommand.RunAsync(a, o, e), "--event", eventPath, "--out", fileOut);
        string[] awsArgs =
        [
            "--event", eventPath, "--out", Path.Combine(_dir, "aws"),
            "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--table", table, "--create-table",
            "--s3-endpoint", servers.S3Url.ToString(), "--quarantine-bucket", bucket,
        ];
        (int awsCode, string awsResponse, string awsLog) = await RunAsync((a, o, e) => InvokeCommand.RunAsync(a, o, e), awsArgs);
        (int queryCode, string queried, string queryErrors) = await RunAsync(QueryCommand.RunAsync, "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--table", table);

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
            "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--table", table, "--create-table",
        ];
        string[] query = ["--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--table", table];

        (int first, _, _) = await RunAsync((a, o, e) => InvokeCommand.RunAsync(a, o, e), args);
        (_, string once, _) = await RunAsync(QueryCommand.RunAsync, query);
        (int second, _, _) = await RunAsync((a, o, e) => InvokeCommand.RunAsync(a, o, e), args);
        (_, string twice, _) = await RunAsync(QueryCommand.RunAsync, query);

        Assert.Equal((0, 0), (first, second));
        Assert.NotEmpty(Lines(once));
        Assert.Equal(once, twice);
    }

    [Theory]
    [InlineData(new string[0], "--dynamodb-endpoint and --table are required")]
    [InlineData(new[] { "--table", "t" }, "--dynamodb-endpoint and --table are required")]
    [InlineData(new[] { "--table", "t", "--dynamodb-endpoint", "nope" }, "--dynamodb-endpoint must be an http(s) URL, not 'nope'")]
    [InlineData(new[] { "--tabel", "t" }, "unknown argument '--tabel'")]
    public async Task Query_BadArguments_ExitsTwoWithUsage(string[] args, string expected)
    {
        (int code, string stdout, string stderr) = await RunAsync(QueryCommand.RunAsync, args);

        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.StartsWith("error: " + expected, stderr);
        Assert.Contains("usage: bootstrap query", stderr);
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
