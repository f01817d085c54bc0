namespace Analytics.Core;

/// <summary>What one invocation did: counts, the checkpoint it reported, and how long each stage took.</summary>
/// <remarks>One instance per invocation; the figures feed metrics and logs. It never holds record payloads.</remarks>
public sealed class BatchSummary
{
    private static readonly int s_reasonCount = Enum.GetValues<PoisonReason>().Length;
    private readonly int[] _poisonByReason = new int[s_reasonCount];

    /// <summary>Only the pipeline creates summaries.</summary>
    internal BatchSummary()
    {
    }

    /// <summary>The shard the batch came from (empty for an empty batch).</summary>
    public string ShardId { get; internal set; } = string.Empty;

    /// <summary>The stream ARN, when the event carried it.</summary>
    public string? EventSourceArn { get; internal set; }

    /// <summary>Records in the event (KPL containers count once).</summary>
    public int Records { get; internal set; }

    /// <summary>Records processed before the pipeline stopped (equal to <see cref="Records"/> unless the deadline came first).</summary>
    public int RecordsProcessed { get; internal set; }

    /// <summary>Records whose samples were all valid and aggregated.</summary>
    public int ValidRecords { get; internal set; }

    /// <summary>Poison records (quarantined or not yet).</summary>
    public int PoisonRecords { get; internal set; }

    /// <summary>Samples aggregated.</summary>
    public int Samples { get; internal set; }

    /// <summary>(series, window) aggregates the aggregate sink made durable.</summary>
    public int AggregatesWritten { get; internal set; }

    /// <summary>Poison records quarantined durably.</summary>
    public int Quarantined { get; internal set; }

    /// <summary>Sequence number of the first record of the batch, if any.</summary>
    public string? FirstSequenceNumber { get; internal set; }

    /// <summary>Sequence number of the last record of the batch, if any.</summary>
    public string? LastSequenceNumber { get; internal set; }

    /// <summary>The item identifier reported as failed (the checkpoint), or null when the whole batch succeeded.</summary>
    public string? ReportedFailure { get; internal set; }

    /// <summary>
    /// Why the aggregate sink left pairs not durable (it threw, ran past the deadline, or returned without marking
    /// them), or null when it marked every pair or was not called. Written into the invocation log line as
    /// <c>aggregateSinkIssue</c>; it names the exception's type only, never its message.
    /// </summary>
    public string? AggregateSinkIssue { get; internal set; }

    /// <summary>Whether the pipeline stopped early because the deadline (less the safety margin) came.</summary>
    public bool DeadlineReached { get; internal set; }

    /// <summary>Whether this was a tumbling-window invocation.</summary>
    public bool IsWindowInvocation { get; internal set; }

    /// <summary>Whether aggregates were flushed to the aggregate sink in this invocation.</summary>
    public bool Flushed { get; internal set; }

    /// <summary>Time spent reading the event, parsing and validating the records.</summary>
    public TimeSpan ParseDuration { get; internal set; }

    /// <summary>Time spent aggregating valid samples.</summary>
    public TimeSpan AggregateDuration { get; internal set; }

    /// <summary>Time spent in the quarantine sink.</summary>
    public TimeSpan QuarantineSinkDuration { get; internal set; }

    /// <summary>Time spent in the aggregate sink.</summary>
    public TimeSpan AggregateSinkDuration { get; internal set; }

    /// <summary>Time left before the invocation's deadline when the pipeline finished.</summary>
    public TimeSpan RemainingTime { get; internal set; }

    /// <summary>Age of the oldest record (by approximate arrival) when the batch was processed; the function's view of iterator age.</summary>
    public TimeSpan OldestRecordAge { get; internal set; }

    /// <summary>Age of the newest record (by approximate arrival) when the batch was processed.</summary>
    public TimeSpan NewestRecordAge { get; internal set; }

    /// <summary>Poison records with the given reason.</summary>
    /// <param name="reason">The reason.</param>
    /// <returns>The count.</returns>
    public int GetPoisonCount(PoisonReason reason) => (uint)reason < (uint)_poisonByReason.Length ? _poisonByReason[(int)reason] : 0;

    internal void CountPoison(PoisonReason reason)
    {
        _poisonByReason[(int)reason]++;
        PoisonRecords++;
    }
}
