using System.Globalization;
using System.Text.RegularExpressions;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.S3;
using Amazon.S3.Model;
using Analytics.Core.Tests;
using Analytics.Tools;
using Xunit.Abstractions;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Two <c>redrive</c> commands at once against the same table and buckets (dynalite, s3rver): the table must hold every
/// sample once, and the two reports together may claim each applied sample and each object once only.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed partial class RedriveConcurrencyTests(LocalServersFixture servers, ITestOutputHelper output)
{
    private const int BothShard = 0;
    private static readonly int[] s_destinationShards = [1, 2, 3, 4, 5, 6];
    private static readonly int[] s_spillShards = [7, 8, 9];

    [Fact]
    public async Task TwoRedrivesAtOnce_TheTableHoldsEverySampleOnce_AndTheReportsClaimEachOnce()
    {
        string table = await servers.CreateTableAsync("twice");
        string spill = await servers.CreateBucketAsync("spill");
        string failures = await servers.CreateBucketAsync("failures");
        using AmazonS3Client s3 = servers.CreateS3Client();
        var expected = new Dictionary<string, List<double>>(StringComparer.Ordinal);

        // Shard 0: a batch both spilled and given up. Shards 1-6: given up only. Shards 7-9: spilled only.
        double[] both = [1, 2, 4, 8];
        await PutAsync(s3, spill, RedriveObjects.SpillKey(BothShard), RedriveObjects.SpillBody(BothShard, "both", "a", both));
        await PutAsync(s3, failures, RedriveObjects.DestinationKey(BothShard, "both"), RedriveObjects.InvocationRecord(BothShard, [.. both.Select((v, i) => RedriveObjects.Record(BothShard, i + 1, "a", "both", v))]));
        expected[RedriveObjects.Series("both")] = [.. both];
        foreach (int shard in s_destinationShards)
        {
            double[] values = [.. Enumerable.Range(1, 5).Select(i => (double)((shard * 10) + i))];
            string metric = "given" + shard.ToString(CultureInfo.InvariantCulture);
            await PutAsync(s3, failures, RedriveObjects.DestinationKey(shard, metric), RedriveObjects.InvocationRecord(shard, [.. values.Select((v, i) => RedriveObjects.Record(shard, i + 1, "b", metric, v))]));
            expected[RedriveObjects.Series(metric)] = [.. values];
        }

        foreach (int shard in s_spillShards)
        {
            double[] values = [shard, shard * 2, shard * 3];
            string metric = "spilled" + shard.ToString(CultureInfo.InvariantCulture);
            await PutAsync(s3, spill, RedriveObjects.SpillKey(shard), RedriveObjects.SpillBody(shard, metric, "c", values));
            expected[RedriveObjects.Series(metric)] = [.. values];
        }

        string[] args =
        [
            "redrive", "--table", table, "--spill-bucket", spill, "--failure-bucket", failures, "--min-age-minutes", "0",
            "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--s3-endpoint", servers.S3Url.ToString(),
        ];
        var first = new StringWriter();
        var second = new StringWriter();
        int[] exits = await Task.WhenAll(
            Task.Run(() => ToolsCommand.RunAsync(args, first, first)),
            Task.Run(() => ToolsCommand.RunAsync(args, second, second)));
        output.WriteLine($"exit {exits[0]}:\n{first}\nexit {exits[1]}:\n{second}");

        // The table: every series exactly its samples, and nothing else (no item left behind by either run).
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        List<Dictionary<string, AttributeValue>> items = (await dynamoDb.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true })).Items;
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), items.Select(i => i["pk"].S).Order(StringComparer.Ordinal));
        foreach (Dictionary<string, AttributeValue> item in items)
        {
            List<double> values = expected[item["pk"].S];
            Assert.Equal(((long)values.Count, values.Sum()), (long.Parse(item["count"].N, CultureInfo.InvariantCulture), double.Parse(item["sum"].N, CultureInfo.InvariantCulture)));
        }

        // The reports: each sample and each object claimed once over both. A run that did nothing says why.
        string[] reports = [first.ToString(), second.ToString()];
        Assert.Contains(0, exits);
        Assert.Equal(both.Length + (s_spillShards.Length * 3), reports.Sum(SpillSamplesApplied));
        Assert.Equal(s_spillShards.Length + 1, reports.Sum(SpillObjectsDeleted));
        Assert.Equal(s_destinationShards.Length * 5, reports.Sum(r => DestinationLines(r).Where(l => !l.FromMarker).Sum(l => l.Applied)));
        string[] claimed = [.. reports.SelectMany(r => DestinationLines(r).Where(l => !l.FromMarker && l.Applied + l.AlreadyApplied > 0).Select(l => l.Key))];
        Assert.Equal(claimed.Distinct().Count(), claimed.Length);
        for (int i = 0; i < 2; i++)
        {
            if (exits[i] != 0)
            {
                Assert.Contains("another redrive holds the table's lease", reports[i], StringComparison.Ordinal);
            }
        }

        // Afterwards a run finds everything done.
        var third = new StringWriter();
        Assert.Equal(0, await ToolsCommand.RunAsync(args, third, third));
        Assert.Equal(0, SpillSamplesApplied(third.ToString()));
        Assert.All(DestinationLines(third.ToString()), l => Assert.True(l.FromMarker, third.ToString()));
    }

    /// <summary>
    /// The lease on its own: a run that finds it held (another run, still within its expiry) applies nothing, names the
    /// holder and exits 1, and <c>query</c> meanwhile lists the aggregates without it; once it has expired, a run takes
    /// it over, applies, and deletes it.
    /// </summary>
    [Fact]
    public async Task AHeldLease_StopsARun_QueryIgnoresIt_AndAnExpiredOneIsTakenOver()
    {
        string table = await servers.CreateTableAsync("lease");
        string spill = await servers.CreateBucketAsync("spill");
        using AmazonS3Client s3 = servers.CreateS3Client();
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        string[] args =
        [
            "redrive", "--table", table, "--spill-bucket", spill, "--min-age-minutes", "0",
            "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--s3-endpoint", servers.S3Url.ToString(),
        ];
        await PutAsync(s3, spill, RedriveObjects.SpillKey(1), RedriveObjects.SpillBody(1, "first", "a", [1, 2]));
        Assert.Equal(0, await ToolsCommand.RunAsync(args, TextWriter.Null, TextWriter.Null));
        await PutAsync(s3, spill, RedriveObjects.SpillKey(2), RedriveObjects.SpillBody(2, "second", "a", [5]));

        // Another run's lease, expiring in five minutes.
        await PutLeaseAsync(dynamoDb, table, "other-host/4242/abc", DateTimeOffset.UtcNow.AddMinutes(5));
        var held = new StringWriter();
        Assert.Equal(1, await ToolsCommand.RunAsync(args, held, held));
        Assert.Contains("another redrive holds the table's lease (other-host/4242/abc since", held.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(Analytics.Tools.RedriveCommand.LeaseNotReleased, held.ToString(), StringComparison.Ordinal); // another's lease is not this run's to release
        Assert.DoesNotContain("spills:", held.ToString(), StringComparison.Ordinal);
        Assert.Single((await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = spill, Prefix = "spill/" })).S3Objects);

        var query = new StringWriter();
        Assert.Equal(0, await ToolsCommand.RunAsync(["query", "--table", table, "--dynamodb-endpoint", servers.DynamoDbUrl.ToString()], query, TextWriter.Null));
        Assert.Single(query.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));

        // Expired: taken over, the spill applied, the lease gone.
        await PutLeaseAsync(dynamoDb, table, "other-host/4242/abc", DateTimeOffset.UtcNow.AddMinutes(-1));
        var taken = new StringWriter();
        Assert.Equal(0, await ToolsCommand.RunAsync(args, taken, taken));
        Assert.Contains("spills: 1 spill objects, 1 samples applied", taken.ToString(), StringComparison.Ordinal);
        List<Dictionary<string, AttributeValue>> items = (await dynamoDb.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true })).Items;
        Assert.Equal([RedriveObjects.Series("first"), RedriveObjects.Series("second")], items.Select(i => i["pk"].S).Order(StringComparer.Ordinal));
    }

    private static async Task PutLeaseAsync(AmazonDynamoDBClient dynamoDb, string table, string owner, DateTimeOffset expires) =>
        await dynamoDb.PutItemAsync(new PutItemRequest
        {
            TableName = table,
            Item = new()
            {
                ["pk"] = new AttributeValue { S = "#redrive" },
                ["sk"] = new AttributeValue { S = "lease" },
                ["owner"] = new AttributeValue { S = owner },
                ["since"] = new AttributeValue { S = "2026-01-01T00:00:00.0000000+00:00" },
                ["expires"] = new AttributeValue { N = expires.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture) },
            },
        });

    private static int SpillSamplesApplied(string report) =>
        SpillSummary().Match(report) is { Success: true } m ? int.Parse(m.Groups["applied"].Value, CultureInfo.InvariantCulture) : 0;

    private static int SpillObjectsDeleted(string report) =>
        SpillSummary().Match(report) is { Success: true } m ? int.Parse(m.Groups["deleted"].Value, CultureInfo.InvariantCulture) : 0;

    private static List<(string Key, int Applied, int AlreadyApplied, bool FromMarker)> DestinationLines(string report) =>
        [.. ObjectLine().Matches(report).Select(m => (
            m.Groups["key"].Value,
            int.Parse(m.Groups["applied"].Value, CultureInfo.InvariantCulture),
            int.Parse(m.Groups["already"].Value, CultureInfo.InvariantCulture),
            m.Value.Contains("(done by an earlier run)", StringComparison.Ordinal)))];

    private static async Task PutAsync(AmazonS3Client s3, string bucket, string key, string body) =>
        await s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = key, ContentBody = body, ContentType = "application/json", UseChunkEncoding = false });

    [GeneratedRegex(@"^spills: \d+ spill objects, (?<applied>\d+) samples applied, \d+ already in the table, \d+ undecided, (?<deleted>\d+) objects deleted", RegexOptions.Multiline)]
    private static partial Regex SpillSummary();

    [GeneratedRegex(@"^object (?<key>\S+) shard=\S+ records=\d+ applied=(?<applied>\d+) alreadyApplied=(?<already>\d+)[^\n]*", RegexOptions.Multiline)]
    private static partial Regex ObjectLine();
}
