namespace Analytics.Core;

/// <summary>Options of a <see cref="KinesisBatchProcessor"/>.</summary>
/// <remarks>Set only what differs: <c>ProcessorOptions.Default with { MinSafetyMargin = TimeSpan.FromSeconds(2) }</c>.</remarks>
public readonly record struct ProcessorOptions
{
    /// <summary>Creates the default options.</summary>
    public ProcessorOptions()
    {
    }

    /// <summary>The default options.</summary>
    public static ProcessorOptions Default => new();

    /// <summary>How records are parsed and validated.</summary>
    public MetricParserOptions Parser { get; init; } = MetricParserOptions.Default;

    /// <summary>How samples are aggregated.</summary>
    public AggregatorOptions Aggregator { get; init; } = AggregatorOptions.Default;

    /// <summary>Share of the invocation's time budget kept free before the deadline. From 0 up to 1 (exclusive); default 0.10.</summary>
    public double SafetyMarginFraction { get; init; } = 0.10;

    /// <summary>Least safety margin before the deadline. Not negative; default 1 s. The margin never takes more than half the budget.</summary>
    public TimeSpan MinSafetyMargin { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Share of the working time (the budget less the safety margin) kept for the sinks: reading stops at the latest
    /// when the rest of the working time is this share, and earlier when the sinks' cost per pair and per poison
    /// record, measured in earlier invocations, says they need more for what was read. The cost per pair does not count
    /// for a batch that may be spilled, whose aggregate sink gets a bounded share: with a <see cref="SpillSink"/>, not a
    /// tumbling-window batch, and at its first record either that record <see cref="SpillAfterAge"/> old (or that old
    /// within two thirds of the working time left) or its shard at <see cref="SpillAfterFailedInvocations"/> failures in
    /// a row. Between 0 and 1 exclusive. Default 0.25.
    /// </summary>
    public double SinkTimeFraction { get; init; } = 0.25;

    /// <summary>The clock (tests pass a fake one). Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>The key under which the aggregator's state travels in a tumbling-window response's <c>state</c>. Default <c>analytics.core.v1</c>.</summary>
    public string StateKey { get; init; } = "analytics.core.v1";

    /// <summary>
    /// Called for every quarantine entry as it is found (up to <see cref="MaxPoisonCallbacks"/> per invocation), before it is quarantined (for logging: see
    /// <see cref="JsonLog.WritePoison"/>, which never writes the payload). An exception it throws does not stop the
    /// record's quarantine nor fail the invocation: it is counted in <see cref="BatchSummary.PoisonCallbackErrors"/>, with
    /// the first one's type in <see cref="BatchSummary.PoisonCallbackError"/>. Default none.
    /// </summary>
    public Action<QuarantinedRecord>? OnPoison { get; init; }

    /// <summary>
    /// Most <see cref="OnPoison"/> calls per invocation, so a flood of poison costs a bounded number of log lines; the
    /// quarantine entries past it are still quarantined and counted in <see cref="BatchSummary.PoisonCallbacksSkipped"/>
    /// (<c>poisonLinesOmitted</c> in the invocation log line). 0 or more. Default 100.
    /// </summary>
    public int MaxPoisonCallbacks { get; init; } = 100;

    /// <summary>
    /// Where the aggregates that the aggregate sink could not make durable go when the batch is too old to wait for it
    /// (see <see cref="SpillAfterAge"/> and <see cref="SpillAfterFailedInvocations"/>); the batch is then reported as
    /// done, so the checkpoint moves on and iterator age stays bounded during a long outage. A spill is applied later,
    /// exactly once, by the repository's redrive tool (samples/Analytics.Tools; docs/failure-modes.md). Default none: the checkpoint is reported, as without it.
    /// Not used for tumbling-window invocations.
    /// </summary>
    public ISpillSink? SpillSink { get; init; }

    /// <summary>
    /// Spill when the batch's oldest record (by approximate arrival) is at least this old and the aggregate sink could
    /// not make every pair durable. A batch that becomes this old within two thirds of the working time left when its
    /// sinks start is spilled in the same invocation: the aggregate sink gets that share (or, while this processor's
    /// last call of the shard's sink took nothing, until the batch is this old), and what it leaves is spilled; so an
    /// outage holds a shard for about this long, not a whole invocation more. Positive. Default 5 minutes.
    /// </summary>
    public TimeSpan SpillAfterAge { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Spill also when this many invocations of the shard in a row, in this processor, could not make their aggregates
    /// durable; 0 for never. Default 0. Only a hint: Lambda may run the next attempt in another execution environment,
    /// whose processor starts counting at 0; <see cref="SpillAfterAge"/> holds whatever environment runs it. Above 0,
    /// every invocation with a <see cref="SpillSink"/> first removes the unconfirmed spill an attempt in another
    /// environment may have left (one S3 delete), and writes nothing to the table when that fails.
    /// </summary>
    public int SpillAfterFailedInvocations { get; init; }

    /// <summary>
    /// Largest window state before the pipeline flushes early: the whole <c>state</c> object as the response carries it
    /// (our entry in base64 under <see cref="StateKey"/>, the entries of others passed through, names, quotes, separators
    /// and braces): 1 to 1,000,000. Lambda caps a window's state at 1 MB and ends the window early past it;
    /// what it does with the state that passed it is not documented, so the processor never counts on it. Default
    /// 900,000 bytes.
    /// </summary>
    public int MaxStateBytes { get; init; } = 900_000;

    /// <summary>Lambda's cap on a tumbling window's state, taken as 1,000,000 bytes (the smaller reading of "1 MB").</summary>
    internal const int LambdaStateCap = 1_000_000;
}
