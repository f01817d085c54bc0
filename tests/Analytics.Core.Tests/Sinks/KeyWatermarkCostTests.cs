using System.Globalization;
using System.Numerics;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Xunit.Abstractions;

namespace Analytics.Core.Tests;

/// <summary>
/// What the per-(shard, partition key) watermark costs, measured against the local DynamoDB server: one shard writes one
/// window of one series (every key reaches the item, the worst case) in batches of 100 records; after each batch the
/// item is read back and its size taken as DynamoDB counts it. Write capacity units (WCU) per put are the size rounded
/// up to 1 KB, read capacity units per consistent read the size rounded up to 4 KB. The table in docs/dynamodb.md
/// comes from this test's output (run it with <c>--logger "console;verbosity=detailed"</c>).
/// </summary>
[Collection(LocalServersCollection.Second)]
public sealed class KeyWatermarkCostTests(LocalServersFixture servers, ITestOutputHelper output)
{
    private const string Shard = "shardId-000000000000";
    private const long WindowMs = 1_714_564_800_000;
    private const int RecordsPerWindow = 6_000; // 100 records/s on the shard for a 60 s window
    private const int BatchSize = 100;

    private static readonly BigInteger s_base = BigInteger.Parse("49590338271490256608559692538361571095921575989136588898", CultureInfo.InvariantCulture);

    [Fact]
    public async Task Costs_At10_1000_100000KeysAndRandomKeysPerRecord()
    {
        output.WriteLine("| Distinct keys per shard | Keys in the item | Item size at the end | WCU of the last put | Puts | WCU of all puts | RCU of all reads | Bound reached |");
        output.WriteLine("|---|---|---|---|---|---|---|---|");
        Measurement one = await MeasureAsync("1 (per-shard baseline)", i => "k0");
        Measurement ten = await MeasureAsync("10", i => "k" + (i % 10));
        Measurement thousand = await MeasureAsync("1,000", i => "k" + (i % 1_000));
        Measurement many = await MeasureAsync("100,000", i => "k" + ((i * 7_919L) % 100_000));
        Measurement random = await MeasureAsync("random per record (UUID)", i => new Guid(Hash(i)).ToString());

        // Every key of the window is a watermark of the item, until the bound stops the writes (never past 350 KB).
        Assert.Equal((1, 10, 1_000), (one.Keys, ten.Keys, thousand.Keys));
        Assert.False(thousand.BoundReached);
        Assert.True(many.BoundReached);
        Assert.True(random.BoundReached);
        Assert.All((Measurement[])[one, ten, thousand, many, random], m => Assert.InRange(m.Bytes, 1, DynamoDbItem.MaxItemBytes));

        // Per key the cost is its name plus a 56-digit sequence number: about 60 bytes more per key than the baseline.
        double perKey = (thousand.Bytes - one.Bytes) / 999.0;
        output.WriteLine($"bytes per additional key (1,000 keys of 2-4 characters): {perKey:F1}");
        Assert.InRange(perKey, 58, 64);
    }

    private async Task<Measurement> MeasureAsync(string label, Func<int, string> key)
    {
        string table = await servers.CreateTableAsync("cost");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        long wcu = 0;
        long rcu = 0;
        int size = 0;
        int lastWcu = 0;
        bool bound = false;
        int puts = 0;
        for (int start = 0; start < RecordsPerWindow && !bound; start += BatchSize)
        {
            ShardRecord[] records = Enumerable.Range(start, BatchSize)
                .Select(i => new ShardRecord((s_base + i).ToString(CultureInfo.InvariantCulture), [new TestSample("latency", [new("region", "eu-west-1")], WindowMs + (i * 10), i % 500)], key(i)))
                .ToArray();
            rcu += Math.Max(1, (size + 4095) / 4096);
            try
            {
                await sink.WriteAsync(ShardStream.Build(Shard, records), CancellationToken.None);
            }
            catch (InvalidOperationException)
            {
                bound = true;
                break;
            }

            Dictionary<string, AttributeValue> item = Assert.Single((await client.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true })).Items);
            size = DynamoDbItem.Size(item);
            lastWcu = (size + 1023) / 1024;
            wcu += lastWcu;
            puts++;
        }

        Dictionary<string, AttributeValue> final = Assert.Single((await client.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true })).Items);
        int keys = DynamoDbItem.CountKeyWatermarks(final);
        output.WriteLine($"| {label} | {keys:N0} | {size / 1024.0:F1} KB | {lastWcu} | {puts} | {wcu:N0} | {rcu:N0} | {(bound ? "yes" : "no")} |");
        return new Measurement(keys, size, bound);
    }

    private static byte[] Hash(int i) => System.Security.Cryptography.SHA256.HashData(Encoding.ASCII.GetBytes(i.ToString(CultureInfo.InvariantCulture)))[..16];

    private sealed record Measurement(int Keys, int Bytes, bool BoundReached);
}
