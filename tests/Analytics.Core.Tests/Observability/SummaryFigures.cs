using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Tests;

/// <summary>Arbitrary figures of a <see cref="BatchSummary"/>; a record so FsCheck prints a failing case readably.</summary>
public sealed record SummaryFigures(
    string ShardId,
    int Records,
    int ValidRecords,
    int Samples,
    int AggregatesWritten,
    int Quarantined,
    string? FirstSequenceNumber,
    string? LastSequenceNumber,
    string? ReportedFailure,
    bool DeadlineReached,
    bool IsWindowInvocation,
    bool Flushed,
    long ParseTicks,
    long AggregateTicks,
    long QuarantineSinkTicks,
    long AggregateSinkTicks,
    long RemainingTicks,
    long OldestAgeTicks,
    long NewestAgeTicks,
    int[] PoisonCounts)
{
    public BatchSummary ToSummary()
    {
        var summary = new BatchSummary
        {
            ShardId = ShardId,
            Records = Records,
            RecordsProcessed = Records,
            ValidRecords = ValidRecords,
            Samples = Samples,
            AggregatesWritten = AggregatesWritten,
            Quarantined = Quarantined,
            FirstSequenceNumber = FirstSequenceNumber,
            LastSequenceNumber = LastSequenceNumber,
            ReportedFailure = ReportedFailure,
            DeadlineReached = DeadlineReached,
            IsWindowInvocation = IsWindowInvocation,
            Flushed = Flushed,
            ParseDuration = TimeSpan.FromTicks(ParseTicks),
            AggregateDuration = TimeSpan.FromTicks(AggregateTicks),
            QuarantineSinkDuration = TimeSpan.FromTicks(QuarantineSinkTicks),
            AggregateSinkDuration = TimeSpan.FromTicks(AggregateSinkTicks),
            RemainingTime = TimeSpan.FromTicks(RemainingTicks),
            OldestRecordAge = TimeSpan.FromTicks(OldestAgeTicks),
            NewestRecordAge = TimeSpan.FromTicks(NewestAgeTicks),
        };
        for (int reason = 0; reason < PoisonCounts.Length; reason++)
        {
            for (int i = 0; i < PoisonCounts[reason]; i++)
            {
                summary.CountPoison((PoisonReason)reason);
            }
        }

        return summary;
    }

    public int PoisonTotal => PoisonCounts.Sum();
}

/// <summary>FsCheck generators for <see cref="SummaryFigures"/>.</summary>
public static class SummaryArbitraries
{
    private static readonly int s_reasonCount = Enum.GetValues<PoisonReason>().Length;

    public static Arbitrary<SummaryFigures> Figures()
    {
        Gen<int> count = Gen.Frequency((1, Gen.Constant(0)), (4, Gen.Choose(0, 10_000)), (1, Gen.Choose(0, int.MaxValue)));
        Gen<long> ticks = Gen.Frequency(
            (1, Gen.Constant(0L)),
            (4, Gen.Choose(0, int.MaxValue).Select(t => (long)t)),
            (1, Gen.Two(Gen.Choose(0, int.MaxValue)).Select(t => (long)t.Item1 * t.Item2)),
            (1, Gen.Choose(int.MinValue, 0).Select(t => (long)t)));
        Gen<string> anyString = ArbMap.Default.GeneratorFor<string>().Select(s => s ?? string.Empty);
        Gen<string> shardId = Gen.Frequency(
            (4, Gen.Choose(0, 999).Select(i => $"shardId-{i:D12}")),
            (1, Gen.Constant(string.Empty)),
            (1, anyString));
        Gen<string> sequence = Gen.Choose(1, 9).SelectMany(first => Gen.Choose(0, 9).ArrayOf(56 - 1).Select(rest => first + string.Concat(rest)));
        Gen<string?> maybeSequence = Gen.Frequency((1, Gen.Constant<string?>(null)), (3, sequence.Select(s => (string?)s)));
        Gen<int> poisonCount = Gen.Frequency((6, Gen.Constant(0)), (1, Gen.Choose(1, 40)));
        // PoisonReason.None is never counted: a record with no reason is not poison.
        Gen<int[]> poison = poisonCount.ArrayOf(s_reasonCount).Select(counts =>
        {
            counts[(int)PoisonReason.None] = 0;
            return counts;
        });
        Gen<bool> flag = ArbMap.Default.GeneratorFor<bool>();

        Gen<SummaryFigures> figures =
            from shard in shardId
            from records in count
            from valid in count
            from samples in count
            from written in count
            from quarantined in count
            from first in maybeSequence
            from last in maybeSequence
            from failure in maybeSequence
            from flags in Gen.Three(flag)
            from stages in Gen.Four(ticks)
            from ages in Gen.Three(ticks)
            from poisonCounts in poison
            select new SummaryFigures(
                shard, records, valid, samples, written, quarantined, first, last, failure,
                flags.Item1, flags.Item2, flags.Item3,
                stages.Item1, stages.Item2, stages.Item3, stages.Item4,
                ages.Item1, ages.Item2, ages.Item3,
                poisonCounts);
        return figures.ToArbitrary();
    }
}
