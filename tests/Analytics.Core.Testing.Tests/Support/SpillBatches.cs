using System.Buffers;
using System.Text;
using Analytics.Core.Tests;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Spill batches as the processor hands them to its spill sink: one invocation over a Kinesis event whose aggregate
/// sink never makes a pair durable, records old enough to spill, and a spill sink that passes the batch to the test
/// while it is valid (during <see cref="ISpillSink.WriteAsync"/>). The batch's constructor is the library's own, so a
/// test gets its shard, stream, spill id and aggregator options the way a real spill sink does.
/// </summary>
internal static class SpillBatches
{
    /// <summary>
    /// Runs one invocation over records <paramref name="records"/> (as <see cref="TestEvents.Build"/> writes them,
    /// shard <see cref="TestEvents.ShardId"/>, without the stream ARN when <paramref name="withArn"/> is false) and
    /// returns what <paramref name="read"/> made of the spill.
    /// </summary>
    public static T During<T>(IEnumerable<Analytics.Core.Tests.TestRecord> records, AggregatorOptions options, Func<SpillBatch, T> read, bool withArn = true)
    {
        byte[] utf8Event = TestEvents.Build(records);
        if (!withArn)
        {
            utf8Event = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(utf8Event).Replace(",\"eventSourceARN\":\"" + TestEvents.StreamArn + "\"", string.Empty, StringComparison.Ordinal));
        }

        var clock = new VirtualClock(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival) + TimeSpan.FromMinutes(10));
        var spill = new Capture<T>(read);
        using var processor = new KinesisBatchProcessor(new NeverDurable(), new NoQuarantine(), ProcessorOptions.Default with
        {
            TimeProvider = clock,
            Aggregator = options,
            SpillSink = spill,
            SpillAfterAge = TimeSpan.FromSeconds(30),
        });
        Task<BatchSummary> run = processor.ProcessAsync(utf8Event, clock.GetUtcNow() + TimeSpan.FromSeconds(30), new ArrayBufferWriter<byte>());
        BatchSummary summary = clock.Pump(run);
        Assert.Equal(SinkOutcome.Completed, summary.SpillOutcome);
        return spill.Result!;
    }

    /// <summary>One record of <see cref="TestEvents"/>: sequence <paramref name="n"/>, a sample of <paramref name="metric"/> a second before arrival.</summary>
    public static Analytics.Core.Tests.TestRecord Record(long n, string metric, double value, string partitionKey, params (string Key, string Value)[] dimensions) =>
        new(TestEvents.Seq(n), TestEvents.Utf8(TestEvents.Sample(metric, value, TestEvents.Arrival - 1000, dimensions)), TestEvents.Arrival, partitionKey);

    /// <summary>Writes a spill object of <paramref name="pairs"/> for the batch, as the S3 spill sink does.</summary>
    public static byte[] Body(SpillBatch spill, IReadOnlyList<(PairKey Key, bool OutcomeUnknown, IReadOnlyList<SpilledSample> Samples)> pairs, string? table = null, bool shardFloor = false)
    {
        var buffer = new ArrayBufferWriter<byte>();
        SpillObject.WriteBody(spill, pairs, buffer, table, shardFloor: shardFloor);
        return buffer.WrittenSpan.ToArray();
    }

    private sealed class Capture<T>(Func<SpillBatch, T> read) : ISpillSink
    {
        public T? Result { get; private set; }

        public Task<bool> WriteAsync(SpillBatch spill, CancellationToken cancellationToken)
        {
            Result = read(spill);
            return Task.FromResult(true);
        }

        public Task<bool> RemoveUnconfirmedAsync(string shardId, string? eventSourceArn, string spillId, CancellationToken cancellationToken) => Task.FromResult(true);
    }

    /// <summary>An aggregate store in an outage: every write returns with no pair durable.</summary>
    private sealed class NeverDurable : IAggregateSink
    {
        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class NoQuarantine : IQuarantineSink
    {
        public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken) => Task.FromResult(records.Count);
    }
}
