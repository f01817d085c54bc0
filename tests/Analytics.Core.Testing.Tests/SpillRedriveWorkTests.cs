using Analytics.Tools;
using static Analytics.Core.Testing.Tests.RedriveObjects;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// How a spill redrive works through what it found: one write per (item, shard) in key order, then the deletes in key
/// order, the lease renewed before each; a renewal that fails, a cancellation, a write the table rejects or a delete S3
/// refuses leave the run's work consistent for the next run, which counts what was applied before as already applied.
/// Against the S3 and DynamoDB models in virtual time.
/// </summary>
public class SpillRedriveWorkTests
{
    // Four objects, four units of work: in work order (pk, sk, shard) they are a@0/shard 0, a@0/shard 1, a@1/shard 0,
    // b@0/shard 2; in key order (the delete order) shard 0's two objects come first.
    private static readonly string s_a0Shard0 = SpillKey(0);
    private static readonly string s_a1Shard0 = SpillKey(0, firstRecord: 5);
    private static readonly string s_a0Shard1 = SpillKey(1);
    private static readonly string s_b0Shard2 = SpillKey(2);
    private static readonly string[] s_inKeyOrder = [s_a0Shard0, s_a1Shard0, s_a0Shard1, s_b0Shard2];

    // The three items (count, sum) holding every sample once: a@0 (shards 0 and 1), a@1, b@0.
    private static readonly (long, double)[] s_everySampleOnce = [(2, 11), (1, 100), (1, 1000)];

    /// <summary>
    /// The table is written in key order (pk, then sk, then shard) and the objects are deleted in key order, with a
    /// renewal of the lease before every write and every delete: what the table and the bucket hold at each renewal
    /// shows the order.
    /// </summary>
    [Fact]
    public void WritesAndDeletes_GoInKeyOrder_EachAfterARenewal()
    {
        using var models = FourObjects();
        var seen = new List<(double Sum, int Objects)>();
        (RedriveReport report, string[] lines) = models.Run(heartbeat: _ =>
        {
            seen.Add((models.Items().Sum(i => i.Sum), models.Keys().Count));
            return Task.CompletedTask;
        });

        Assert.Equal([(0, 4), (1, 4), (11, 4), (111, 4), (1111, 4), (1111, 3), (1111, 2), (1111, 1)], seen);
        Assert.Equal(["spills: 4 spill objects, 4 samples applied, 0 already in the table, 0 undecided, 4 objects deleted, 0 left"], lines);
        Assert.True(report.Done);
    }

    /// <summary>
    /// A renewal that fails (the lease is lost) stops the run there, in either phase: what was written stays, nothing
    /// not yet written is deleted (and deletes go in key order), and the next run applies the rest, counting what the
    /// first one wrote as already in the table: every sample once.
    /// </summary>
    [Theory]
    [InlineData(3, 11.0, "spills: 4 spill objects, 2 samples applied, 2 already in the table, 0 undecided, 4 objects deleted, 0 left")]
    [InlineData(6, 1111.0, "spills: 3 spill objects, 0 samples applied, 3 already in the table, 0 undecided, 3 objects deleted, 0 left")]
    public void ALostLease_StopsTheRun_AndTheNextRunFinishesIt(int failingRenewal, double sumAfterTheFirstRun, string secondSummary)
    {
        using var models = FourObjects();
        Assert.Throws<TimeoutException>(() => models.Run(heartbeat: FailingOnCall(failingRenewal)));
        Assert.Equal(sumAfterTheFirstRun, models.Items().Sum(i => i.Sum));
        Assert.Equal(s_inKeyOrder.Skip(Math.Max(0, failingRenewal - 5)), models.Keys());

        Assert.Equal([secondSummary], models.Run().Lines);
        Assert.Equal(s_everySampleOnce, models.Items().Select(i => (i.Count, i.Sum)));
        Assert.Empty(models.Keys());
    }

    /// <summary>
    /// Cancelled between two steps (the operator's Ctrl+C arriving while the run reports an object it leaves), in
    /// either phase: the run stops before its next lease renewal, so nothing more is written or deleted, and the next
    /// run finishes the work.
    /// </summary>
    [Theory]
    [InlineData(true, 1, 0.0, 4)]
    [InlineData(false, 5, 1111.0, 4)]
    public void CancelledWhileReportingALeftObject_TheRunStopsBeforeItsNextRenewal(bool tableRejectsWrites, int renewalsExpected, double sumAfterTheRun, int objectsAfterTheRun)
    {
        using var models = FourObjects();
        models.Faults.FailSpillDeletes = !tableRejectsWrites;
        using var cancel = new CancellationTokenSource();
        var renewals = new List<bool>();
        Assert.ThrowsAny<OperationCanceledException>(() => models.Run(
            table: tableRejectsWrites ? "missing" : SpillRedriveModels.Table,
            cancellationToken: cancel.Token,
            output: new CancellingOnFirstLine(cancel),
            heartbeat: t =>
            {
                renewals.Add(t.IsCancellationRequested);
                return Task.CompletedTask;
            }));

        Assert.Equal(Enumerable.Repeat(false, renewalsExpected), renewals);
        Assert.Equal(sumAfterTheRun, models.Items().Sum(i => i.Sum));
        Assert.Equal(objectsAfterTheRun, models.Keys().Count);

        models.Faults.FailSpillDeletes = false;
        Assert.True(models.Run().Report.Done);
        Assert.Equal(s_everySampleOnce, models.Items().Select(i => (i.Count, i.Sum)));
        Assert.Empty(models.Keys());
    }

    /// <summary>
    /// S3 refuses the delete of an applied object: it is left, with why, and the next run finds its samples in the
    /// table and deletes it.
    /// </summary>
    [Fact]
    public void AnObjectThatCannotBeDeleted_IsLeft_AndTheNextRunFindsItApplied()
    {
        using var models = new SpillRedriveModels();
        string key = SpillKey(0);
        models.Put(key, SpillBody(0, "m", "a", [2, 3]));
        models.Faults.FailSpillDeletes = true;

        Assert.Equal(
            [
                $"left {key}: applied, but could not be deleted (AmazonS3Exception); the next run finds it applied",
                "spills: 1 spill objects, 2 samples applied, 0 already in the table, 0 undecided, 0 objects deleted, 1 left",
            ],
            models.Run().Lines);
        Assert.Equal([key], models.Keys());

        models.Faults.FailSpillDeletes = false;
        Assert.Equal(["spills: 1 spill objects, 0 samples applied, 2 already in the table, 0 undecided, 1 objects deleted, 0 left"], models.Run().Lines);
        Assert.Empty(models.Keys());
        Assert.Equal([(Series("m"), "2025-01-01T00:00:00.000Z", 2L, 5.0)], models.Items());
    }

    /// <summary>
    /// The table rejects the write (no such table): the object is left, the line names the error, and its samples
    /// count as undecided.
    /// </summary>
    [Fact]
    public void AWriteTheTableRejects_LeavesTheObject_NamingTheError()
    {
        using var models = new SpillRedriveModels();
        string key = SpillKey(0);
        models.Put(key, SpillBody(0, "m", "a", [2, 3]));

        string[] lines = models.Run(table: "missing").Lines;
        Assert.Equal(2, lines.Length);
        Assert.StartsWith($"left {key}: item sk=2025-01-01T00:00:00.000Z of shard {ShardId(0)} (pk of {Series("m").Length} characters): ResourceNotFoundException: ", lines[0], StringComparison.Ordinal);
        Assert.Equal("spills: 1 spill objects, 0 samples applied, 0 already in the table, 0 undecided, 2 not applied (refused or failed: lines above), 0 objects deleted, 1 left", lines[1]);
        Assert.Equal([key], models.Keys());
    }

    private static SpillRedriveModels FourObjects()
    {
        var models = new SpillRedriveModels();
        models.Put(s_a0Shard0, SpillBody(0, "a", "p", [1]));
        models.Put(s_a0Shard1, SpillBody(1, "a", "p", [10]));
        models.Put(s_a1Shard0, SpillBody(0, "a", "p", [100], minute: 1, firstRecord: 5));
        models.Put(s_b0Shard2, SpillBody(2, "b", "p", [1000]));
        return models;
    }

    /// <summary>A lease renewal that fails on its <paramref name="call"/>th call (1-based), as a lost lease does.</summary>
    private static Func<CancellationToken, Task> FailingOnCall(int call)
    {
        int calls = 0;
        return _ => ++calls == call ? throw new TimeoutException("the lease was lost") : Task.CompletedTask;
    }

    /// <summary>Output that cancels the run as its first line is written.</summary>
    private sealed class CancellingOnFirstLine(CancellationTokenSource cancel) : StringWriter(System.Globalization.CultureInfo.InvariantCulture)
    {
        public override Task WriteLineAsync(string? value)
        {
            Task written = base.WriteLineAsync(value);
            cancel.Cancel();
            return written;
        }
    }
}
