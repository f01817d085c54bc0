namespace Analytics.Core;

/// <summary>How a sink's call of one invocation ended.</summary>
public enum SinkOutcome
{
    /// <summary>The sink was not called: nothing to write.</summary>
    NotCalled,

    /// <summary>
    /// The call returned; what it marked (or counted) durable is durable, the rest is reported. Also a call that
    /// returned after the caller's token cancelled the invocation: that is not a time-out. (A spill sink that returns
    /// without having spilled, or a quarantine sink that returns having stored fewer records than it was given, is
    /// <see cref="Failed"/> while time is left, or <see cref="TimedOut"/> once the deadline passed.)
    /// </summary>
    Completed,

    /// <summary>
    /// The call threw (the summary has the exception's type and message), or returned short with time left (above; the
    /// summary says so): nothing it did not mark durable counts.
    /// Transient causes (throttling, a network error) clear on re-delivery; others (a missing table or bucket,
    /// access denied, a full disk) repeat on every re-delivery until an operator acts.
    /// </summary>
    Failed,

    /// <summary>
    /// The call did not finish by the working deadline (the invocation's deadline less the safety margin), or threw
    /// a cancellation once it had passed (or once the aggregate sink's share of it before a spill had): what it marked
    /// durable by then counts, the rest is reported. A cancellation by the caller's token is not a time-out: the call
    /// is <see cref="Completed"/> when it returns and <see cref="Failed"/> when it throws (one still running when the
    /// processor stops waiting for it is a time-out all the same).
    /// </summary>
    TimedOut,
}
