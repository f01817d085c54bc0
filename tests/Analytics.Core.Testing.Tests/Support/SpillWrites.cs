using System.Buffers;
using Amazon.DynamoDBv2.Model;
using Analytics.Core.Tests;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The spill path on the models of <see cref="SpillRedriveModels"/>: a processor over the real DynamoDB sink of table
/// <c>t</c> whose spill sink is <see cref="Spill"/> (a real <see cref="S3SpillSink"/>, replaceable), seen through a probe
/// that records what each <see cref="S3SpillSink.WriteAsync"/> returned or threw. A batch of old records whose puts are
/// throttled is spilled (<see cref="Invoke"/>); <see cref="BeforeSpill"/> runs just before the spill sink is called (the
/// table may change between the live sink's read and the spill's), and <see cref="SetMarksAsync"/> sets an item's watermarks.
/// Every record of shard <see cref="TestEvents.ShardId"/> is one sample at the same second, so one window.
/// </summary>
internal sealed class SpillWrites : IDisposable
{
    private readonly KinesisBatchProcessor _processor;

    public SpillWrites()
    {
        Models = new SpillRedriveModels();
        // Backoffs long enough that the live sink's share of the invocation ends during one of them (then the spill).
        Table = new DynamoDbAggregateSink(Models.DynamoDbClient, DynamoDbAggregateSinkOptions.Default with
        {
            TableName = SpillRedriveModels.Table,
            Retry = DynamoDbAggregateSinkOptions.Default.Retry with { TimeProvider = Models.Clock, JitterSeed = 1, BaseDelay = TimeSpan.FromMilliseconds(500) },
        });
        Spill = CreateSpill();
        _processor = new KinesisBatchProcessor(Table, new NoQuarantine(), ProcessorOptions.Default with
        {
            TimeProvider = Models.Clock,
            SpillSink = new Probe(this),
            SpillAfterAge = TimeSpan.FromSeconds(30),
        });
    }

    public SpillRedriveModels Models { get; }

    /// <summary>The processor's DynamoDB sink (the table the spill sink reads by default).</summary>
    public DynamoDbAggregateSink Table { get; }

    /// <summary>The spill sink the processor's spills go to.</summary>
    public S3SpillSink Spill { get; set; }

    /// <summary>Runs just before each call of the spill sink.</summary>
    public Func<Task>? BeforeSpill { get; set; }

    /// <summary>What each call of the spill sink returned, in order.</summary>
    public List<bool> Results { get; } = [];

    /// <summary>What calls of the spill sink threw, in order.</summary>
    public List<Exception> Errors { get; } = [];

    /// <summary>The sample time of every record: ten minutes before the models' clock starts, so old enough to spill.</summary>
    public static DateTimeOffset SampleTime => Emulate.Start - TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(5);

    /// <summary>The key the spill of a batch starting at record <paramref name="first"/> is written to (prefix <c>spill</c>).</summary>
    public static string Key(int first, string prefix = "spill/") => $"{prefix}metrics/{TestEvents.ShardId}/{TestEvents.Seq(first)}.json";

    /// <summary>
    /// A spill sink on the models' S3 bucket (retries on the models' clock; <paramref name="backoff"/> sets their base and
    /// cap) reading <paramref name="table"/>, or no table.
    /// </summary>
    public S3SpillSink CreateSpill(string? keyPrefix = "spill", int maxAttempts = 4, string bucket = SpillRedriveModels.Bucket, DynamoDbAggregateSink? table = null, bool readTable = true, TimeSpan? backoff = null) =>
        new(Models.S3Client, S3SpillSinkOptions.Default with
        {
            BucketName = bucket,
            KeyPrefix = keyPrefix!,
            Retry = S3SpillSinkOptions.Default.Retry with
            {
                TimeProvider = Models.Clock,
                JitterSeed = 1,
                MaxAttempts = maxAttempts,
                BaseDelay = backoff ?? S3SpillSinkOptions.Default.Retry.BaseDelay,
                MaxDelay = backoff ?? S3SpillSinkOptions.Default.Retry.MaxDelay,
            },
        }, readTable ? table ?? Table : null);

    /// <summary>One invocation with records (number, partition key, metric, value); with <paramref name="throttleWrites"/>, every PutItem is throttled.</summary>
    public BatchSummary Invoke(bool throttleWrites, params (int N, string Key, string Metric, double Value)[] records)
    {
        Models.Faults.ThrottleWrites = throttleWrites;
        long at = SampleTime.ToUnixTimeMilliseconds();
        byte[] utf8Event = TestEvents.Build(records.Select(r => new Analytics.Core.Tests.TestRecord(TestEvents.Seq(r.N), TestEvents.Utf8(TestEvents.Sample(r.Metric, r.Value, at)), at, r.Key)));
        // As on the emulator's thread: no synchronization context, so every continuation runs within the clock's steps.
        SynchronizationContext? saved = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        BatchSummary summary;
        try
        {
            summary = Models.Pump(_processor.ProcessAsync(utf8Event, Models.Clock.GetUtcNow() + TimeSpan.FromSeconds(4), new ArrayBufferWriter<byte>()));
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(saved);
        }

        Models.Faults.ThrottleWrites = false;
        return summary;
    }

    /// <summary>
    /// Sets the watermarks of shard <see cref="TestEvents.ShardId"/> in the item of <paramref name="metric"/>: the shard's
    /// (<c>wm</c>, none for null) and the partition keys' (<c>wk</c>), as a put of an earlier attempt would have left them.
    /// </summary>
    public async Task SetMarksAsync(string metric, string? floor, params (string Key, string Sequence)[] marks)
    {
        var item = new Dictionary<string, AttributeValue>(Models.DynamoDb.GetItems(SpillRedriveModels.Table).Single(i => i[DynamoDbItem.Metric].S == metric), StringComparer.Ordinal);
        item.Remove(DynamoDbItem.Watermarks);
        item.Remove(DynamoDbItem.KeyWatermarks);
        if (floor is not null)
        {
            item[DynamoDbItem.Watermarks] = new AttributeValue { M = new() { [TestEvents.ShardId] = new AttributeValue { S = floor } } };
        }

        if (marks.Length > 0)
        {
            item[DynamoDbItem.KeyWatermarks] = new AttributeValue
            {
                M = new() { [TestEvents.ShardId] = new AttributeValue { M = marks.ToDictionary(m => m.Key, m => new AttributeValue { S = m.Sequence }) } },
            };
        }

        // The earlier attempt's put: not subject to this invocation's write faults.
        (bool throttle, string? ambiguous) = (Models.Faults.ThrottleWrites, Models.Faults.AmbiguousWritesOf);
        (Models.Faults.ThrottleWrites, Models.Faults.AmbiguousWritesOf) = (false, null);
        await Models.DynamoDbClient.PutItemAsync(new PutItemRequest { TableName = SpillRedriveModels.Table, Item = item });
        (Models.Faults.ThrottleWrites, Models.Faults.AmbiguousWritesOf) = (throttle, ambiguous);
    }

    /// <summary>The spill objects in the bucket, in key order.</summary>
    public IReadOnlyList<S3ModelObject> Objects() => Models.S3.GetObjects(SpillRedriveModels.Bucket);

    /// <summary>The spill objects only (not the shard's marker).</summary>
    public IReadOnlyList<S3ModelObject> SpillObjects() => [.. Objects().Where(o => o.Key.EndsWith(".json", StringComparison.Ordinal))];

    /// <summary>The shard's spill marker, parsed; null when there is none.</summary>
    public SpillMarker? Marker() =>
        Objects().SingleOrDefault(o => o.Key.EndsWith("/unresolved.marker", StringComparison.Ordinal)) is { } marker ? SpillMarker.Read(marker.Body.Span) : null;

    /// <summary>A stored spill object, parsed.</summary>
    public static SpillObjectContent Read(S3ModelObject stored)
    {
        Assert.True(SpillObject.TryRead(stored.Body, out SpillObjectContent? content, out string? error), error);
        return content!;
    }

    public void Dispose()
    {
        _processor.Dispose();
        Models.Dispose();
    }

    private sealed class Probe(SpillWrites owner) : ISpillSink
    {
        public async Task<bool> WriteAsync(SpillBatch spill, CancellationToken cancellationToken)
        {
            if (owner.BeforeSpill is { } before)
            {
                await before();
            }

            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, owner.Models.Faults.Token);
            try
            {
                bool written = await owner.Spill.WriteAsync(spill, linked.Token);
                owner.Results.Add(written);
                return written;
            }
            catch (Exception e)
            {
                owner.Errors.Add(e);
                throw;
            }
        }

        public Task<bool> RemoveUnconfirmedAsync(string shardId, string? eventSourceArn, string spillId, CancellationToken cancellationToken) =>
            owner.Spill.RemoveUnconfirmedAsync(shardId, eventSourceArn, spillId, cancellationToken);
    }

    internal sealed class NoQuarantine : IQuarantineSink
    {
        public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken) => Task.FromResult(records.Count);
    }
}
