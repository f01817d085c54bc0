using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.S3;
using Amazon.S3.Model;
using Analytics.Core.Tests;
using Xunit.Abstractions;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// A redeploy that changes the sketch's accuracy or bin bound, combined with the spill and its redrive, on the local
/// DynamoDB and S3 servers: a spill written under one version's aggregator options is redriven into a table whose item
/// of the window was written under the other's (docs/dynamodb.md, "Changing the sketch's accuracy or bin bound"), and
/// into a window the table holds no item of. Every spilled sample is applied exactly once (count, minimum and maximum
/// exact, the sum up to the order of additions), the stored window keeps its first options, the new window gets the
/// spill's, a repeated redrive of the same objects applies nothing, and the live function of either version then writes
/// both windows without a failure (the shard is never blocked) and without counting a re-delivered record twice.
/// </summary>
[Collection(LocalServersCollection.Second)]
public sealed partial class SpillRedriveAccuracyChangeTests(LocalServersFixture servers, ITestOutputHelper output)
{
    private const int Shard = 0;

    private static readonly Dictionary<string, AggregatorOptions> s_options = new(StringComparer.Ordinal)
    {
        ["default"] = AggregatorOptions.Default,
        ["coarse"] = AggregatorOptions.Default with { RelativeAccuracy = 0.05, MaxBins = 4096 },
        ["fewBins"] = AggregatorOptions.Default with { MaxBins = 16 },
        ["fine"] = AggregatorOptions.Default with { RelativeAccuracy = 0.0001, MaxBins = 65_536 },
    };

    public static TheoryData<string, string> Redeploys => new()
    {
        { "default", "coarse" },
        { "coarse", "default" },
        { "default", "fewBins" },
        { "fewBins", "default" },
        { "fine", "fewBins" },
        { "fewBins", "fine" },
    };

    [Theory]
    [MemberData(nameof(Redeploys))]
    public async Task ASpillOfOneVersion_RedrivenIntoItemsOfTheOther_IsAppliedOnce_AndTheShardGoesOn(string tableVersion, string spillVersion)
    {
        AggregatorOptions tableOptions = s_options[tableVersion];
        AggregatorOptions spillOptions = s_options[spillVersion];
        string table = await servers.CreateTableAsync("acc-spill");
        string spill = await servers.CreateBucketAsync("spill");
        string quarantine = await servers.CreateBucketAsync("quarantine");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        using AmazonS3Client s3 = servers.CreateS3Client();
        string minute0 = RedriveObjects.Window.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        string minute1 = RedriveObjects.Window.AddMinutes(1).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        var expected = new Dictionary<string, List<double>>(StringComparer.Ordinal) { [minute0] = [], [minute1] = [] };

        // The old version wrote window 0 live (records 1-4, keys a and b), values far apart so that 16 bins collapse.
        (int Record, string Key, double Value)[] live = [(1, "a", 0.001), (2, "b", 1), (3, "a", 1000), (4, "b", 1_000_000)];
        await AssertNoFailureAsync(ApplyLiveAsync(dynamoDb, s3, table, quarantine, tableOptions, live));
        expected[minute0].AddRange(live.Select(s => s.Value));

        // The other version spilled two batches: records 10-15 in window 0 (keys a and c), records 20-23 in window 1, which the table holds no item of.
        (int Record, string Key, double Value)[] spilledInto0 = [(10, "a", 0.5), (11, "c", 2), (12, "a", 3), (13, "c", 40_000), (14, "a", 0.0005), (15, "c", 7)];
        (int Record, string Key, double Value)[] spilledInto1 = [(20, "a", 5), (21, "a", 6), (22, "d", 1e-3), (23, "d", 2e6)];
        string spill0 = SpillKey(10);
        string spill1 = SpillKey(20);
        string body0 = RedriveObjects.SpillObject(Shard, 10, [("m", spilledInto0)], minute: 0, aggregator: spillOptions);
        string body1 = RedriveObjects.SpillObject(Shard, 20, [("m", spilledInto1)], minute: 1, aggregator: spillOptions);
        await PutAsync(s3, spill, spill0, body0);
        await PutAsync(s3, spill, spill1, body1);
        expected[minute0].AddRange(spilledInto0.Select(s => s.Value));
        expected[minute1].AddRange(spilledInto1.Select(s => s.Value));

        (int exit, string report) = await RedriveTool.RunRedriveAsync(servers, table, spill, null, errorsToo: true);
        output.WriteLine(report);
        Assert.Equal(0, exit);
        Assert.Equal((2, spilledInto0.Length + spilledInto1.Length, 0, 0, 2), Summary(report));
        Dictionary<string, Dictionary<string, AttributeValue>> items = await ItemsAsync(dynamoDb, table);
        AssertItem(items[minute0], expected[minute0], tableOptions, spillOptions);
        AssertItem(items[minute1], expected[minute1], spillOptions, spillOptions);
        string[] versions = [items[minute0]["ver"].N, items[minute1]["ver"].N];

        // A repeated redrive of the same objects (a run that applied them and stopped before deleting): nothing twice.
        await PutAsync(s3, spill, spill0, body0);
        await PutAsync(s3, spill, spill1, body1);
        (exit, report) = await RedriveTool.RunRedriveAsync(servers, table, spill, null, errorsToo: true);
        output.WriteLine(report);
        Assert.Equal(0, exit);
        Assert.Equal((2, 0, spilledInto0.Length + spilledInto1.Length, 0, 2), Summary(report));
        items = await ItemsAsync(dynamoDb, table);
        Assert.Equal((versions[0], versions[1]), (items[minute0]["ver"].N, items[minute1]["ver"].N));
        AssertItem(items[minute0], expected[minute0], tableOptions, spillOptions);
        AssertItem(items[minute1], expected[minute1], spillOptions, spillOptions);

        // And a run with nothing left to redrive.
        (exit, report) = await RedriveTool.RunRedriveAsync(servers, table, spill, null, errorsToo: true);
        Assert.Equal(0, exit);
        Assert.Empty((await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = spill, Prefix = "spill/" })).S3Objects ?? []);

        // Live again, both versions: a re-delivery of the first batch (nothing twice), and new records in both windows.
        foreach (AggregatorOptions version in new[] { spillOptions, tableOptions })
        {
            await AssertNoFailureAsync(ApplyLiveAsync(dynamoDb, s3, table, quarantine, version, live));
        }

        (int Record, string Key, double Value)[] later0 = [(40, "a", 9), (41, "c", 90)];
        (int Record, string Key, double Value)[] later1 = [(61, "a", 11), (62, "d", 0.25)];
        await AssertNoFailureAsync(ApplyLiveAsync(dynamoDb, s3, table, quarantine, spillOptions, later0));
        await AssertNoFailureAsync(ApplyLiveAsync(dynamoDb, s3, table, quarantine, tableOptions, later1));
        await AssertNoFailureAsync(ApplyLiveAsync(dynamoDb, s3, table, quarantine, tableOptions, [.. later0, .. later1])); // re-delivered by the other version
        expected[minute0].AddRange(later0.Select(s => s.Value));
        expected[minute1].AddRange(later1.Select(s => s.Value));
        items = await ItemsAsync(dynamoDb, table);
        Assert.Equal(2, items.Count);
        AssertItem(items[minute0], expected[minute0], tableOptions, spillOptions);
        AssertItem(items[minute1], expected[minute1], spillOptions, tableOptions);
    }

    /// <summary>
    /// Two spill objects of one shard and window, one written before the redeploy and one after (each with its own
    /// options), redriven together into an item of a third write's options: each sample applied once.
    /// </summary>
    [Fact]
    public async Task TwoSpillsOfTheSameWindow_UnderDifferentOptions_AreEachAppliedOnce()
    {
        AggregatorOptions first = s_options["default"];
        AggregatorOptions second = s_options["coarse"];
        AggregatorOptions stored = s_options["fewBins"];
        string table = await servers.CreateTableAsync("acc-spill2");
        string spill = await servers.CreateBucketAsync("spill");
        string quarantine = await servers.CreateBucketAsync("quarantine");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        using AmazonS3Client s3 = servers.CreateS3Client();
        string minute0 = RedriveObjects.Window.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

        (int Record, string Key, double Value)[] live = [(1, "a", 3), (2, "b", 300_000)];
        await AssertNoFailureAsync(ApplyLiveAsync(dynamoDb, s3, table, quarantine, stored, live));
        (int Record, string Key, double Value)[] spilledA = [(10, "a", 0.01), (11, "b", 12)];
        (int Record, string Key, double Value)[] spilledB = [(20, "a", 7e7), (21, "b", 0.2), (22, "a", 5)];
        await PutAsync(s3, spill, SpillKey(10), RedriveObjects.SpillObject(Shard, 10, [("m", spilledA)], aggregator: first));
        await PutAsync(s3, spill, SpillKey(20), RedriveObjects.SpillObject(Shard, 20, [("m", spilledB)], aggregator: second));

        for (int run = 0; run < 2; run++)
        {
            (int exit, string report) = await RedriveTool.RunRedriveAsync(servers, table, spill, null, errorsToo: true);
            output.WriteLine(report);
            Assert.Equal(0, exit);
            Assert.Equal(run == 0 ? (2, 5, 0, 0, 2) : (0, 0, 0, 0, 0), Summary(report));
        }

        Dictionary<string, Dictionary<string, AttributeValue>> items = await ItemsAsync(dynamoDb, table);
        AssertItem(Assert.Single(items).Value, [.. live.Select(s => s.Value), .. spilledA.Select(s => s.Value), .. spilledB.Select(s => s.Value)], stored, second, first);
        Assert.Equal(minute0, Assert.Single(items).Key);
    }

    private static string SpillKey(int firstRecord) => $"spill/s/{RedriveObjects.ShardId(Shard)}/{RedriveObjects.Sequence(firstRecord)}.json";

    private static async Task<BatchSummary> ApplyLiveAsync(AmazonDynamoDBClient dynamoDb, AmazonS3Client s3, string table, string quarantine, AggregatorOptions options, (int Record, string Key, double Value)[] samples)
    {
        using var processor = new KinesisBatchProcessor(
            new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table }),
            new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = quarantine }),
            ProcessorOptions.Default with { Aggregator = options });
        string[] records = [.. samples.Select(s => RedriveObjects.Record(Shard, s.Record, s.Key, "m", s.Value))];
        var response = new System.Buffers.ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(Encoding.UTF8.GetBytes("{\"Records\":[" + string.Join(",", records) + "]}"), DateTimeOffset.UtcNow.AddMinutes(1), response);
        Assert.Equal("{\"batchItemFailures\":[]}", Encoding.UTF8.GetString(response.WrittenSpan));
        return summary;
    }

    private static async Task AssertNoFailureAsync(Task<BatchSummary> run)
    {
        BatchSummary summary = await run;
        Assert.Null(summary.ReportedFailure);
        Assert.Null(summary.AggregateSinkError);
        Assert.Null(summary.AggregateSinkIssue);
        Assert.Equal(0, summary.PoisonRecords);
    }

    private static async Task PutAsync(AmazonS3Client s3, string bucket, string key, string body) =>
        await s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = key, ContentBody = body, ContentType = "application/json", UseChunkEncoding = false });

    private static async Task<Dictionary<string, Dictionary<string, AttributeValue>>> ItemsAsync(AmazonDynamoDBClient dynamoDb, string table) =>
        (await dynamoDb.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true })).Items
            .Where(i => i["sk"].S != "lease")
            .ToDictionary(i => i["sk"].S, StringComparer.Ordinal);

    /// <summary>The item holds exactly <paramref name="values"/> (count, sum, min, max; in the readable attributes and the sketch), in <paramref name="own"/>'s options, quantiles within the two-option bound.</summary>
    private static void AssertItem(Dictionary<string, AttributeValue> item, List<double> values, AggregatorOptions own, params AggregatorOptions[] others)
    {
        double[] sorted = [.. values.Order()];
        Assert.True(MetricAggregate.TryRead(((MemoryStream)item["sketch"].B).ToArray(), out MetricAggregate? sketch, out _));
        Assert.Equal((own.RelativeAccuracy, own.MaxBins), (sketch.Sketch.RelativeAccuracy, sketch.Sketch.MaxBins));
        Assert.Equal((sorted.Length, sorted[0], sorted[^1]), (sketch.Count, sketch.Min, sketch.Max));
        Assert.Equal(
            (sorted.Length, sorted[0], sorted[^1]),
            (long.Parse(item["count"].N, CultureInfo.InvariantCulture), double.Parse(item["min"].N, CultureInfo.InvariantCulture), double.Parse(item["max"].N, CultureInfo.InvariantCulture)));
        // The sum as in any merge: exact up to the order of the additions.
        Assert.Equal(sorted.Sum(), sketch.Sum, 1e-9 * sorted.Sum());
        Assert.Equal(sorted.Sum(), double.Parse(item["sum"].N, CultureInfo.InvariantCulture), 1e-9 * sorted.Sum());
        if (own.MaxBins >= 2048 && others.All(o => o.MaxBins >= 2048))
        {
            // Bins not collapsed: every quantile within (1 + α)(1 + α′) − 1 of the exact one (the rank rule of docs/aggregation.md).
            double bound = others.Aggregate(1 + own.RelativeAccuracy, (b, o) => b * (1 + o.RelativeAccuracy)) - 1;
            foreach (double q in new[] { 0, 0.25, 0.5, 0.75, 0.9, 1 })
            {
                double exact = sorted[(int)Math.Floor(q * (sorted.Length - 1))];
                Assert.InRange(sketch.GetQuantile(q), exact * (1 - bound), exact * (1 + bound));
            }
        }
    }

    private static (int Objects, int Applied, int Already, int Undecided, int Deleted) Summary(string report)
    {
        Match m = SpillSummary().Match(report);
        if (!m.Success)
        {
            return (0, 0, 0, 0, 0);
        }

        int G(string name) => int.Parse(m.Groups[name].Value, CultureInfo.InvariantCulture);
        return (G("objects"), G("applied"), G("already"), G("undecided"), G("deleted"));
    }

    [GeneratedRegex(@"^spills: (?<objects>\d+) spill objects, (?<applied>\d+) samples applied, (?<already>\d+) already in the table, (?<undecided>\d+) undecided, (?<deleted>\d+) objects deleted", RegexOptions.Multiline)]
    private static partial Regex SpillSummary();
}
