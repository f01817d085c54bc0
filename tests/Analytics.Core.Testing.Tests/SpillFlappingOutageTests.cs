using static Analytics.Core.Testing.Tests.SpillOutageTests;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// A write-throttling outage that flaps (the table's write capacity exhausted, freed, exhausted again) with short
/// spells in which DynamoDB answers HTTP 500, all within one or two windows: many spills of the same windows and keys
/// with live writes between them. The redrive must leave the table exact with nothing undecided, as it does for one
/// write-throttling outage and for two full outages close together. Written by a review of a change that covered
/// decided pairs with the shard's marker too (to close the killed attempt's held put, docs/failure-modes.md): seeds 7
/// and 8 and the dense case below were left with 84 to 187 samples undecided on it, and it was taken back.
/// </summary>
public class SpillFlappingOutageTests
{
    [Theory]
    [InlineData(5, 1, 3, 4, 4, 8, 3)]
    [InlineData(6, 1, 2, 3, 3, 10, 2)]
    [InlineData(7, 4, 3, 4, 4, 8, 3)]
    [InlineData(8, 10, 3, 4, 4, 8, 3)]
    [InlineData(9, 10, 3, 4, 4, 8, 100)]
    [InlineData(10, 4, 3, 4, 4, 8, 100)]
    public void AFlappingWriteThrottlingOutage_WithShortServerErrorSpells_LeavesNothingUndecided(int seed, int factor, int spillAfter, int on, int off, int flaps, int downEvery)
    {
        Outage[] outages = Flapping(on, off, flaps, downEvery, OutageKind.Down);

        Result r = Run(new SpillCase(seed, 1, 40, 300, 600, spillAfter, false, outages, [], Factor: factor));

        Assert.True(r.Problems.Count == 0 && r.Exact && r.Final.Spill.Undecided == 0 && r.Final.Spill.Left == 0, r.Describe());
    }

    /// <summary>
    /// The flapping outages above at ParallelizationFactor 1 with spells in which DynamoDB answers nothing (hung), with
    /// either layout: with one watermark per shard every write of an item moves the floor, so each later write of a window
    /// the marker lists keeps one of the floor's four entries; docs/failure-modes.md says such outages leave nothing
    /// undecided with either layout.
    /// </summary>
    [Theory]
    [InlineData(5, 3, 4, 4, 8, 3, false)]
    [InlineData(5, 3, 4, 4, 8, 3, true)]
    [InlineData(6, 2, 3, 3, 10, 2, false)]
    [InlineData(6, 2, 3, 3, 10, 2, true)]
    [InlineData(11, 2, 3, 3, 12, 1, false)]
    [InlineData(11, 2, 3, 3, 12, 1, true)]
    [InlineData(12, 3, 4, 5, 14, 1, false)]
    [InlineData(12, 3, 4, 5, 14, 1, true)]
    public void AFlappingOutageWithHungSpells_AtFactor1_LeavesNothingUndecided_WithEitherLayout(int seed, int spillAfter, int on, int off, int flaps, int hungEvery, bool perShardWatermarkOnly)
    {
        Outage[] outages = Flapping(on, off, flaps, hungEvery, OutageKind.Hung);

        Result r = Run(new SpillCase(seed, 1, 40, 300, 600, spillAfter, false, outages, [], PerShardWatermarkOnly: perShardWatermarkOnly));

        Assert.True(r.SpilledRecords > 0, r.Describe());
        Assert.True(r.Problems.Count == 0 && r.Exact && r.Final.Spill.Undecided == 0 && r.Final.Spill.Left == 0, r.Describe());
    }

    /// <summary>
    /// A random draw of the same kind (seed 744769, ParallelizationFactor 6, bisection, a twentieth of the puts answered
    /// late or not at all): exact with nothing left (84 samples undecided with decided pairs covered by the marker).
    /// </summary>
    [Fact]
    public void ADenseMixedOutageAtFactor6_LeavesNothingUndecided()
    {
        Outage[] outages =
        [
            new(117, 121, OutageKind.ReadThrottling), new(168, 171, OutageKind.Hung), new(149, 156, OutageKind.Hung), new(156, 160, OutageKind.WriteThrottling),
            new(86, 89, OutageKind.Down), new(168, 170, OutageKind.Down), new(123, 126, OutageKind.WriteThrottling), new(138, 143, OutageKind.WriteThrottling),
            new(161, 164, OutageKind.Down), new(95, 100, OutageKind.Down), new(158, 162, OutageKind.ReadThrottling),
        ];

        Result r = Run(new SpillCase(744769, 1, 40, 300, 600, 5, false, outages, [], false, [], 6, true, false, 5, true));

        Assert.True(r.Problems.Count == 0 && r.Exact && r.Final.Spill.Undecided == 0 && r.Final.Spill.Left == 0, r.Describe());
    }

    /// <summary>
    /// <paramref name="flaps"/> spells of <paramref name="on"/> seconds from second 61, <paramref name="off"/> seconds
    /// apart: every <paramref name="every"/>-th of <paramref name="kind"/>, the others write throttling.
    /// </summary>
    private static Outage[] Flapping(int on, int off, int flaps, int every, OutageKind kind) =>
        [.. Spells(61, Enumerable.Range(0, flaps).Select(i => (on, off, i % every == every - 1 ? kind : OutageKind.WriteThrottling)))];
}
