namespace Analytics.Core;

/// <summary>How a sink's call of one invocation ended.</summary>
public enum SinkOutcome
{
    /// <summary>The sink was not called: nothing to write.</summary>
    NotCalled,

    /// <summary>The call returned; what it marked (or counted) durable is durable, the rest is reported.</summary>
    Completed,

    /// <summary>
    /// The call threw (the summary has the exception's type and message): nothing it did not mark durable counts.
    /// Transient causes (throttling, a network error) clear on re-delivery; others (a missing table or bucket,
    /// access denied, a full disk) repeat on every re-delivery until an operator acts.
    /// </summary>
    Failed,

    /// <summary>
    /// The call did not finish by the working deadline (the invocation's deadline less the safety margin), or threw
    /// a cancellation once it had passed: what it marked durable by then counts, the rest is reported.
    /// </summary>
    TimedOut,
}

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
