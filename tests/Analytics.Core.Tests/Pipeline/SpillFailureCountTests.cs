namespace Analytics.Core.Tests.Pipeline;

/// <summary>
/// <see cref="ProcessorOptions.SpillAfterFailedInvocations"/>: a young batch is spilled once this many invocations of
/// its shard in a row, in this processor, could not make their aggregates durable. An invocation that made them
/// durable, or spilled them, ends the row; other shards' invocations do not; at most 1024 shards are remembered.
/// </summary>
public class SpillFailureCountTests
{
    // A minute after arrival: younger than SpillAfterAge (5 min), so only the failure count can make a spill.
    private static readonly DateTimeOffset s_start = DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival + 60_000);

    private readonly ManualTimeProvider _time = new(s_start);
    private readonly ShareSink _sink;
    private readonly TestSpillSink _spill = new();

    public SpillFailureCountTests() => _sink = new ShareSink(_time);

    private KinesisBatchProcessor Create(int failedInvocations) =>
        new(_sink, new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = _time, SpillSink = _spill, SpillAfterFailedInvocations = failedInvocations });

    /// <summary>One invocation of <paramref name="shardId"/>, its sink making every pair durable or none; returns whether it spilled.</summary>
    private bool Run(KinesisBatchProcessor processor, bool durable, string shardId = TestEvents.ShardId)
    {
        _sink.Durable = durable;
        int spills = _spill.Writes.Count;
        BatchSummary summary = SpillEvents.RunAtOnce(processor, _time, SpillEvents.Build(SpillEvents.Records(1, 2), shardId));
        bool spilled = _spill.Writes.Count > spills;
        // Independently of how it decided: not durable and not spilled is a checkpoint at the first record, else success.
        Assert.Equal(durable || spilled ? null : TestEvents.Seq(1), summary.ReportedFailure);
        return spilled;
    }

    [Fact]
    public void ADurableInvocation_EndsTheRow()
    {
        using var noContext = new NoSynchronizationContext();
        using KinesisBatchProcessor processor = Create(2);
        bool[] spilled =
        [
            Run(processor, durable: false),
            Run(processor, durable: true), // the row of failures ends here
            Run(processor, durable: false), // 1 in a row
            Run(processor, durable: false), // 2 in a row: not yet a candidate when it began
            Run(processor, durable: false), // began after 2 in a row: spilled
        ];

        Assert.Equal([false, false, false, false, true], spilled);
    }

    [Fact]
    public void ASpilledInvocation_EndsTheRow()
    {
        using var noContext = new NoSynchronizationContext();
        using KinesisBatchProcessor processor = Create(2);
        bool[] spilled = [.. Enumerable.Range(0, 6).Select(_ => Run(processor, durable: false))];

        // Two failures, a spill; two failures again (the spill moved the checkpoint on), a spill.
        Assert.Equal([false, false, true, false, false, true], spilled);
    }

    [Fact]
    public void AnotherShardsFailures_DoNotEndTheRow()
    {
        using var noContext = new NoSynchronizationContext();
        using KinesisBatchProcessor processor = Create(2);
        bool[] spilled =
        [
            Run(processor, durable: false, SpillEvents.Shard(1)),
            Run(processor, durable: false, SpillEvents.Shard(2)),
            Run(processor, durable: false, SpillEvents.Shard(1)),
            Run(processor, durable: false, SpillEvents.Shard(1)),
        ];

        Assert.Equal([false, false, false, true], spilled);
    }

    /// <summary>The 1025th failing shard forgets the counts of the others; its own count and the next ones go on.</summary>
    [Fact]
    public void FailureCounts_AreForgotten_WhenThe1025thShardFails()
    {
        using var noContext = new NoSynchronizationContext();
        using KinesisBatchProcessor processor = Create(1);
        for (int shard = 1; shard <= 1025; shard++)
        {
            Assert.False(Run(processor, durable: false, SpillEvents.Shard(shard)));
        }

        Assert.True(Run(processor, durable: false, SpillEvents.Shard(1025)));
        Assert.False(Run(processor, durable: false, SpillEvents.Shard(1)));
    }

    /// <summary>Up to 1024 shards, every count is kept: the first shard's failure still counts after 1023 others.</summary>
    [Fact]
    public void FailureCounts_OfUpTo1024Shards_AreKept()
    {
        using var noContext = new NoSynchronizationContext();
        using KinesisBatchProcessor processor = Create(1);
        for (int shard = 1; shard <= 1024; shard++)
        {
            Assert.False(Run(processor, durable: false, SpillEvents.Shard(shard)));
        }

        Assert.True(Run(processor, durable: false, SpillEvents.Shard(1)));
        Assert.True(Run(processor, durable: false, SpillEvents.Shard(1024)));
    }
}
