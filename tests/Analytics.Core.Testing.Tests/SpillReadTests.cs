using Analytics.Core.Tests;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Whether a spill reads the items before writing its object (docs/failure-modes.md, "The decision"): it reads them,
/// to keep only what the table does not hold, unless the live write just before it got no answer at all from the table
/// (a full outage). Then every pair is spilled whole with its outcome unknown, as when the read fails, without the
/// read's second. A throttling error is an answer: the table is up.
/// </summary>
public class SpillReadTests
{
    /// <summary>Spills records 1 and 2 of key a; returns the DynamoDB requests sent from the spill sink's call on.</summary>
    private static (int RequestsDuringSpill, SpillWrites World) Spill(Action<ModelFaults> faults, bool throttleWrites = false)
    {
        var world = new SpillWrites();
        faults(world.Models.Faults);
        int atSpill = -1;
        world.BeforeSpill = () =>
        {
            atSpill = world.Models.Faults.DynamoDbRequests;
            return Task.CompletedTask;
        };
        world.Invoke(throttleWrites, (1, "a", "alpha", 1), (2, "a", "alpha", 2));
        Assert.Single(world.Results);
        Assert.True(atSpill > 0, "the live write sent no request before the spill");
        return (world.Models.Faults.DynamoDbRequests - atSpill, world);
    }

    [Fact]
    public void FullOutage_TheSpillDoesNotReadTheTable_AndSpillsThePairsWithTheirOutcomeUnknown()
    {
        (int requests, SpillWrites world) = Spill(f => f.DynamoDbDown = true);
        using (world)
        {
            Assert.Equal([true], world.Results);
            Assert.Equal(0, requests);
            string body = System.Text.Encoding.UTF8.GetString(world.SpillObjects().Single().Body.Span);
            Assert.Contains("\"outcomeUnknown\":true", body, StringComparison.Ordinal);
            Assert.DoesNotContain("\"outcomeUnknown\":false", body, StringComparison.Ordinal);
            Assert.NotNull(world.Marker());
        }
    }

    [Fact]
    public void WritesThrottled_TheSpillReadsTheTable_AndDecidesThePairs()
    {
        (int requests, SpillWrites world) = Spill(_ => { }, throttleWrites: true);
        using (world)
        {
            Assert.Equal([true], world.Results);
            Assert.True(requests > 0, "the spill did not read the table");
            string body = System.Text.Encoding.UTF8.GetString(world.SpillObjects().Single().Body.Span);
            Assert.Contains("\"outcomeUnknown\":false", body, StringComparison.Ordinal);
            Assert.Null(world.Marker());
        }
    }

    [Fact]
    public void EveryRequestThrottled_IsAnAnswer_TheSpillStillReadsTheTable()
    {
        (int requests, SpillWrites world) = Spill(f => f.ThrottleEverything = true);
        using (world)
        {
            // The read is tried (and throttled too); whether the spill then fits in this test's 4 s budget is not the point.
            Assert.True(requests > 0, "the spill did not read the table");
        }
    }

    /// <summary>
    /// The last write before the spill was another shard's, and the table answered none of its requests: that says
    /// nothing of this shard's items, so the spill still reads them.
    /// </summary>
    [Fact]
    public void AnotherShardsWriteGotNoAnswer_TheSpillStillReads()
    {
        using var world = new SpillWrites();
        using var other = new KinesisBatchProcessor(world.Table, new SpillWrites.NoQuarantine(), ProcessorOptions.Default with { TimeProvider = world.Models.Clock });
        byte[] otherEvent = OtherShardsEvent();
        int atSpill = -1;
        world.BeforeSpill = async () =>
        {
            // Between this shard's live write and its spill: a write of another shard that gets no answer (its read
            // fails at once, not as a transient error, so the clock does not move).
            world.Models.Faults.ReadFailure = new InvalidOperationException("no answer");
            BatchSummary otherSummary = await other.ProcessAsync(otherEvent, world.Models.Clock.GetUtcNow() + TimeSpan.FromSeconds(30), new System.Buffers.ArrayBufferWriter<byte>());
            world.Models.Faults.ReadFailure = null;
            Assert.Contains("InvalidOperationException", otherSummary.AggregateSinkIssue, StringComparison.Ordinal);
            atSpill = world.Models.Faults.DynamoDbRequests;
        };

        world.Invoke(true, (1, "a", "alpha", 1), (2, "a", "alpha", 2));

        Assert.Equal([true], world.Results);
        Assert.True(world.Models.Faults.DynamoDbRequests > atSpill, "the spill did not read the table");
        Assert.Null(world.Marker());
    }

    /// <summary>
    /// This shard's live write got no answer; then the same sink wrote another shard's batch, which the table answered
    /// (a processor serving two shards alternates between them). The spill of this shard still skips the read: what the
    /// table said to this shard's items is what decides, not the last write of any shard. Before, each such spill waited
    /// out its read's second on a table that did not answer (half the invocations of a ten-minute outage).
    /// </summary>
    [Fact]
    public void ThisShardsWriteGotNoAnswer_AnotherShardsWasAnswered_TheSpillStillSkipsTheRead()
    {
        using var world = new SpillWrites();
        world.Models.Faults.DynamoDbDown = true;
        using var other = new KinesisBatchProcessor(world.Table, new SpillWrites.NoQuarantine(), ProcessorOptions.Default with { TimeProvider = world.Models.Clock });
        byte[] otherEvent = OtherShardsEvent();
        int atSpill = -1;
        world.BeforeSpill = async () =>
        {
            world.Models.Faults.DynamoDbDown = false;
            BatchSummary otherSummary = await other.ProcessAsync(otherEvent, world.Models.Clock.GetUtcNow() + TimeSpan.FromSeconds(30), new System.Buffers.ArrayBufferWriter<byte>());
            Assert.Equal(1, otherSummary.AggregatesWritten);
            world.Models.Faults.DynamoDbDown = true;
            atSpill = world.Models.Faults.DynamoDbRequests;
        };

        world.Invoke(false, (1, "a", "alpha", 1), (2, "a", "alpha", 2));

        Assert.Equal([true], world.Results);
        Assert.Equal(atSpill, world.Models.Faults.DynamoDbRequests);
        string body = System.Text.Encoding.UTF8.GetString(world.SpillObjects().Single().Body.Span);
        Assert.Contains("\"outcomeUnknown\":true", body, StringComparison.Ordinal);
    }

    /// <summary>
    /// What the sink keeps of a shard whose write got no answer is dropped once a later write of that shard is answered,
    /// even when another shard's write comes between that write and its spill: this shard's write got no answer, another
    /// shard's came after it (so the sink kept this shard as unanswered), then this shard's next write was answered
    /// (throttled is an answer; the shard's probe, 5 s after its spill) and another shard's came again before the spill.
    /// The spill reads the table: kept, the old "no answer" would have made it skip a table that answers.
    /// </summary>
    [Fact]
    public void ThisShardsWriteGotNoAnswer_ThenAnAnsweredOne_AnotherShardsBetween_TheSpillReads()
    {
        using var world = new SpillWrites();
        using var other = new KinesisBatchProcessor(world.Table, new SpillWrites.NoQuarantine(), ProcessorOptions.Default with { TimeProvider = world.Models.Clock });
        byte[] otherEvent = OtherShardsEvent();
        Task<BatchSummary> Other() => other.ProcessAsync(otherEvent, world.Models.Clock.GetUtcNow() + TimeSpan.FromSeconds(30), new System.Buffers.ArrayBufferWriter<byte>());
        world.Models.Faults.DynamoDbDown = true;
        world.Invoke(false, (1, "a", "alpha", 1));
        world.Models.Faults.DynamoDbDown = false;
        Assert.Equal(1, world.Models.Pump(Other()).AggregatesWritten);
        // This shard spilled, so its next batch calls the sink only when the probe is due, 5 s after.
        world.Models.Clock.Advance(TimeSpan.FromSeconds(5));

        int atSpill = -1;
        world.BeforeSpill = async () =>
        {
            Assert.Equal(1, (await Other()).AggregatesWritten);
            atSpill = world.Models.Faults.DynamoDbRequests;
        };
        world.Invoke(true, (2, "a", "alpha", 2));

        Assert.Equal([true, true], world.Results);
        Assert.True(world.Models.Faults.DynamoDbRequests > atSpill, "the spill did not read the table");
    }

    /// <summary>
    /// This shard's write before was answered; its next one got no answer (the table went down between them). What
    /// decides is the last write's answer, not any earlier one: the spill skips the read.
    /// </summary>
    [Fact]
    public void AnAnsweredWrite_ThenOneWithNoAnswer_TheSpillSkipsTheRead()
    {
        using var world = new SpillWrites();
        int atSpill = -1;
        world.BeforeSpill = () =>
        {
            atSpill = world.Models.Faults.DynamoDbRequests;
            return Task.CompletedTask;
        };

        BatchSummary first = world.Invoke(false, (1, "a", "alpha", 1));
        Assert.Equal(1, first.AggregatesWritten);
        Assert.Empty(world.Results);

        world.Models.Faults.DynamoDbDown = true;
        world.Invoke(false, (2, "a", "alpha", 2), (3, "a", "alpha", 3));

        Assert.Equal([true], world.Results);
        Assert.Equal(atSpill, world.Models.Faults.DynamoDbRequests);
        string body = System.Text.Encoding.UTF8.GetString(world.SpillObjects().Single().Body.Span);
        Assert.Contains("\"outcomeUnknown\":true", body, StringComparison.Ordinal);
    }

    /// <summary>An event of another shard of the stream: one record of key b, series beta.</summary>
    private static byte[] OtherShardsEvent()
    {
        long at = SpillWrites.SampleTime.ToUnixTimeMilliseconds();
        return System.Text.Encoding.UTF8.GetBytes(System.Text.Encoding.UTF8.GetString(
            TestEvents.Build([new Analytics.Core.Tests.TestRecord(TestEvents.Seq(1), TestEvents.Utf8(TestEvents.Sample("beta", 1, at)), at, "b")]))
            .Replace(TestEvents.ShardId, "shardId-000000000008", StringComparison.Ordinal));
    }
}
