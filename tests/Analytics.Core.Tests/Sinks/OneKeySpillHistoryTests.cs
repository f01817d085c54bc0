using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.S3;
using Analytics.Tools;

namespace Analytics.Core.Tests;

/// <summary>
/// Histories of one key in one window (dynalite and s3rver, the real live sink, spill sink and spill redrive), each spill
/// made after the live sink's puts failed (throttled: decided; HTTP 500: outcome unknown), then a redrive that must
/// leave the table exact with nothing undecided. Written by a review of a change that covered decided pairs with the
/// shard's marker too (to close the killed attempt's held put, docs/failure-modes.md): both failed on it, and it was
/// taken back. They guard what a flapping outage must leave.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class OneKeySpillHistoryTests(LocalServersFixture servers)
{
    private const string Shard = TestEvents.ShardId;
    private const long W0Ms = 1_714_564_800_000; // 2024-05-01T12:00:00Z
    private static readonly AwsRetryOptions s_fastRetry = AwsRetryOptions.Default with { MaxAttempts = 2, BaseDelay = TimeSpan.FromMilliseconds(1), MaxDelay = TimeSpan.FromMilliseconds(2) };

    private enum PutMode
    {
        Pass,
        Throttle,
        ServerError,
    }

    /// <summary>
    /// A write-throttling outage that flaps within one window: four decided spills of k0, each followed by a live write
    /// of k0, then one spill whose put got HTTP 500 (outcome unknown) and a live write. Nothing was held and nothing is
    /// ambiguous but the last put, which never reached the table. The write after the unknown spill keeps the key's only
    /// entry, and the redrive is done. Had the decided spills written the marker, the four live writes after them would
    /// have kept the key's four entries, and the unknown spill's samples could not be decided.
    /// </summary>
    [Fact]
    public async Task FourDecidedSpillsThenAnUnknownOne_InOneWindow_TheRedriveDecidesEverySample()
    {
        await using Rig rig = await Rig.CreateAsync(servers);
        await rig.LiveAsync(1);
        for (int i = 1; i <= 4; i++)
        {
            await rig.SpillAsync(10 * i, PutMode.Throttle);
            await rig.LiveAsync((10 * i) + 5);
        }

        await rig.SpillAsync(50, PutMode.ServerError);
        await rig.LiveAsync(55);

        (RedriveReport report, string text) = await rig.RedriveAsync();

        Assert.True(report is { Undecided: 0, Left: 0 }, text);
        Assert.Equal(rig.Truth, await rig.CountAsync());
    }

    /// <summary>
    /// Two decided spills of k0 with live writes after each; the first live write could not read the marker (S3 refused
    /// the GET: the write is made and keeps nothing, as documented). Nothing was held: every spilled sample is missing
    /// from the table. Had decided spills written the marker, the entry of the second write, past the first spill's
    /// range, would be read as the first write after it, and its "before"
    /// (the first live write's record) says nothing: undecided. Decided pairs that write no marker are applied.
    /// </summary>
    [Fact]
    public async Task TheFirstLiveWriteCouldNotReadTheMarker_ALaterOneKeptAnEntry_TheDecidedSamplesAreStillApplied()
    {
        await using Rig rig = await Rig.CreateAsync(servers);
        await rig.LiveAsync(1);
        await rig.SpillAsync(10, PutMode.Throttle);
        await rig.LiveWithoutMarkerAsync(15);
        await rig.SpillAsync(20, PutMode.Throttle);
        await rig.LiveAsync(25);

        (RedriveReport report, string text) = await rig.RedriveAsync();

        Assert.True(report is { Undecided: 0, Left: 0 }, text);
        Assert.Equal(rig.Truth, await rig.CountAsync());
    }

    /// <summary>One table and bucket; the live sink (its puts scripted), its spill sink, and the redrive.</summary>
    private sealed class Rig : IAsyncDisposable
    {
        private readonly LocalServersFixture _servers;
        private PutMode _mode;

        private Rig(LocalServersFixture servers, string table, string bucket)
        {
            _servers = servers;
            Table = table;
            Bucket = bucket;
            S3 = servers.CreateS3Client();
            DynamoDb = new ScriptedDynamoDbClient(servers.DynamoDbUrl)
            {
                BeforePut = _ => _mode switch
                {
                    PutMode.Throttle => Task.FromException(ScriptedDynamoDbClient.Throttling("ThrottlingException")),
                    PutMode.ServerError => Task.FromException(ScriptedDynamoDbClient.ServerError()),
                    _ => Task.CompletedTask,
                },
            };
            Sink = new DynamoDbAggregateSink(DynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = s_fastRetry });
            Spill = new S3SpillSink(S3, S3SpillSinkOptions.Default with { BucketName = bucket }, Sink);
        }

        public string Table { get; }

        public string Bucket { get; }

        public AmazonS3Client S3 { get; }

        public ScriptedDynamoDbClient DynamoDb { get; }

        public DynamoDbAggregateSink Sink { get; }

        public S3SpillSink Spill { get; }

        /// <summary>Records of the stream so far (one sample each).</summary>
        public long Truth { get; set; }

        public static async Task<Rig> CreateAsync(LocalServersFixture servers) =>
            new(servers, await servers.CreateTableAsync("decided-marker"), await servers.CreateBucketAsync("decided-marker"));

        /// <summary>A live batch of k0's records, written.</summary>
        public async Task LiveAsync(int sequence, bool count = true)
        {
            _mode = PutMode.Pass;
            AggregateBatch batch = ShardStream.Build(Shard, [Record(sequence)]);
            await Sink.WriteAsync(batch, CancellationToken.None);
            Assert.Equal(batch.Count, batch.DurableCount);
            Truth += count ? 1 : 0;
        }

        /// <summary>A live batch written by a sink whose marker read S3 refuses (connection refused): the write is made, no entry kept.</summary>
        public async Task LiveWithoutMarkerAsync(int sequence)
        {
            using AmazonS3Client unreachable = _servers.CreateS3Client(new Uri("http://127.0.0.1:" + LoopbackPorts.Unused()));
            using AmazonDynamoDBClient client = _servers.CreateDynamoDbClient();
            var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = Table });
            _ = new S3SpillSink(unreachable, S3SpillSinkOptions.Default with { BucketName = Bucket }, sink);
            AggregateBatch batch = ShardStream.Build(Shard, [Record(sequence)]);
            await sink.WriteAsync(batch, CancellationToken.None);
            Assert.Equal(batch.Count, batch.DurableCount);
            Truth++;
        }

        /// <summary>A batch of k0's records whose puts fail as <paramref name="mode"/> says, then spilled.</summary>
        public async Task SpillAsync(int sequence, PutMode mode)
        {
            _mode = mode;
            AggregateBatch batch = ShardStream.Build(Shard, [Record(sequence)]);
            await Assert.ThrowsAnyAsync<AmazonDynamoDBException>(() => Sink.WriteAsync(batch, CancellationToken.None));
            var names = new Dictionary<int, (string, string)>();
            Assert.True(await Spill.WriteAsync(new SpillBatch(batch, TestEvents.Seq(sequence), [.. Enumerable.Range(0, batch.Count).Select(i => new SpilledPair(i, batch.GetSamples(i, names)))]), CancellationToken.None));
            _mode = PutMode.Pass;
            Truth++;
        }

        public async Task<(RedriveReport Report, string Text)> RedriveAsync()
        {
            using AmazonDynamoDBClient client = _servers.CreateDynamoDbClient();
            var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = Table });
            var text = new StringWriter();
            RedriveReport report = await SpillRedrive.ApplyAsync(S3, Bucket, "spill", sink, text, TimeSpan.Zero, TimeProvider.System, CancellationToken.None);
            return (report, report + "\n" + text);
        }

        public async Task<long> CountAsync()
        {
            ScanResponse scan = await DynamoDb.ScanAsync(new ScanRequest { TableName = Table, ConsistentRead = true });
            return long.Parse(Assert.Single(scan.Items)["count"].N, CultureInfo.InvariantCulture);
        }

        public ValueTask DisposeAsync()
        {
            S3.Dispose();
            DynamoDb.Dispose();
            return ValueTask.CompletedTask;
        }

        private static ShardRecord Record(int sequence) =>
            new(TestEvents.Seq(sequence), [new TestSample("m", [], W0Ms + 1_000, 1)], "k0");
    }
}
