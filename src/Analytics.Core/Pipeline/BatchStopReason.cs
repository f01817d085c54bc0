namespace Analytics.Core;

/// <summary>Why an invocation stopped before the end of its batch.</summary>
public enum BatchStopReason
{
    /// <summary>Every record was processed.</summary>
    None,

    /// <summary>
    /// Out of time: the reading share of the budget was used up, or the sinks' measured cost for what was read would
    /// have filled the time left. The rest is reported for re-delivery.
    /// </summary>
    TimeBudget,

    /// <summary>
    /// The next record would have created a (series, window) pair past <see cref="AggregatorOptions.MaxPairs"/>:
    /// the batch is split there, and the records from it on are reported for re-delivery.
    /// </summary>
    PairCap,
}
