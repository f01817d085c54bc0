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

    /// <summary>Records whose samples were all valid and aggregated, each valid user record of a KPL container counted.</summary>
    public int ValidRecords { get; internal set; }

    /// <summary>Poison records (quarantined or not yet), each poison user record of a KPL container counted.</summary>
    public int PoisonRecords { get; internal set; }

    /// <summary>Samples aggregated.</summary>
    public int Samples { get; internal set; }

    /// <summary>(series, window) aggregates the aggregate sink made durable.</summary>
    public int AggregatesWritten { get; internal set; }

    /// <summary>
    /// <see cref="ProcessorOptions.OnPoison"/> calls left out because <see cref="ProcessorOptions.MaxPoisonCallbacks"/>
    /// was reached (their records are quarantined all the same).
    /// </summary>
    public int PoisonCallbacksSkipped { get; internal set; }

    /// <summary>
    /// <see cref="ProcessorOptions.OnPoison"/> calls that threw. Their records are quarantined all the same: a callback
    /// is for logging, and one that throws on a record would otherwise fail every retry of the batch and block the shard.
    /// </summary>
    public int PoisonCallbackErrors { get; internal set; }

    /// <summary>
    /// The type of the first exception an <see cref="ProcessorOptions.OnPoison"/> call threw in this invocation
    /// (<c>System.FormatException</c>), or null. Only the type: the callback is given the record's data, so its message may
    /// quote it.
    /// </summary>
    public string? PoisonCallbackError { get; internal set; }

    /// <summary>Quarantine entries made durable (a KPL container's poison user records make one entry).</summary>
    public int Quarantined { get; internal set; }

    /// <summary>Sequence number of the first record of the batch, if any.</summary>
    public string? FirstSequenceNumber { get; internal set; }

    /// <summary>Sequence number of the last record of the batch, if any.</summary>
    public string? LastSequenceNumber { get; internal set; }

    /// <summary>The item identifier reported as failed (the checkpoint), or null when the whole batch succeeded.</summary>
    public string? ReportedFailure { get; internal set; }

    /// <summary>
    /// The invocation failed as a whole (a tumbling-window invocation whose effects were not all durable: a
    /// <see cref="BatchFailedException"/>); its log line and metrics count a reported failure even when the batch had no
    /// record (the final invocation of a window).
    /// </summary>
    internal bool FailedWhole { get; set; }

    /// <summary>1 when the invocation reported a failure or failed whole, else 0 (<c>FailuresReported</c>).</summary>
    internal int FailuresReported => ReportedFailure is not null || FailedWhole ? 1 : 0;

    /// <summary>
    /// Whether the pipeline stopped reading early for lack of time: its reading share of the budget was used up, or
    /// the sinks' measured cost for what it had read would have filled the rest (<see cref="StopReason"/> is
    /// <see cref="BatchStopReason.TimeBudget"/>).
    /// </summary>
    public bool DeadlineReached
    {
        get => StopReason == BatchStopReason.TimeBudget;
        internal set => StopReason = value ? BatchStopReason.TimeBudget : BatchStopReason.None;
    }

    /// <summary>Why the pipeline stopped before the end of the batch, if it did; <see cref="ReportedFailure"/> is then at most the first record left out.</summary>
    public BatchStopReason StopReason { get; internal set; }

    /// <summary>The time kept for the sinks: <see cref="ProcessorOptions.SinkTimeFraction"/> of the working time (budget less safety margin).</summary>
    public TimeSpan PlannedSinkTime { get; internal set; }

    /// <summary>How the aggregate sink's call ended (<see cref="SinkOutcome.NotCalled"/> when there was nothing to write).</summary>
    public SinkOutcome AggregateSinkOutcome { get; private set; }

    /// <summary>
    /// When the aggregate sink threw, or ran out of time after failed attempts and said with what (a cancellation whose
    /// inner exception is the last attempt's error, as the AWS sinks give): the exception's type and message
    /// (<c>System.IO.IOException: No space left on device</c>), one line, at most <see cref="MaxErrorLength"/> characters; otherwise null. The library's sinks never
    /// put record data in their messages, and what an AWS service's validation error quotes of the request (<c>Value
    /// '...'</c>, which can be an item's key) is left out; a custom sink's message is otherwise kept as it is
    /// (<see cref="IAggregateSink"/>).
    /// </summary>
    public string? AggregateSinkError { get; private set; }

    /// <summary>How the quarantine sink's call ended (<see cref="SinkOutcome.NotCalled"/> when there was no poison record).</summary>
    public SinkOutcome QuarantineSinkOutcome { get; private set; }

    /// <summary>
    /// When the quarantine sink threw: the exception's type and message, as for <see cref="AggregateSinkError"/>; when it
    /// returned having stored fewer records than it was given, before the deadline (<see cref="SinkOutcome.Failed"/>), a
    /// sentence that says so; otherwise null.
    /// </summary>
    public string? QuarantineSinkError { get; private set; }

    /// <summary>The most characters of <see cref="AggregateSinkError"/>, <see cref="QuarantineSinkError"/> and <see cref="SpillError"/>: 300.</summary>
    /// <remarks>A property, not a constant, so a later version can change it without recompiling callers.</remarks>
    public static int MaxErrorLength => 300;

    /// <summary>
    /// Why the aggregate sink left pairs not durable (it threw, ran past the deadline, or returned without marking
    /// them), or null when it marked every pair or was not called. Written into the invocation log line as
    /// <c>aggregateSinkIssue</c>; it names the exception's type only (the message is in <see cref="AggregateSinkError"/>
    /// when the call failed: a sink cancelled when its time ran out is a time-out, not an error, and leaves it null), and
    /// what became of the pairs left: reported as the checkpoint, or spilled.
    /// </summary>
    public string? AggregateSinkIssue { get; internal set; }

    /// <summary>
    /// How the spill sink's call ended (<see cref="SinkOutcome.NotCalled"/> when nothing was spilled: no spill sink, the
    /// batch was durable, young enough to wait, or had a poison record not yet quarantined).
    /// </summary>
    public SinkOutcome SpillOutcome { get; internal set; }

    /// <summary>
    /// When the spill sink threw: the exception's type and message, as for <see cref="AggregateSinkError"/> (a bucket that
    /// does not exist, access denied); when it returned <see langword="false"/> before the deadline, a sentence that says
    /// so (and whether the caller had cancelled the invocation); otherwise null.
    /// </summary>
    public string? SpillError { get; private set; }

    /// <summary>(series, window) aggregates written to the spill sink instead of the aggregate sink (0 unless the spill was durable).</summary>
    public int SpilledAggregates { get; internal set; }

    /// <summary>Records whose samples went to the spill sink (0 unless the spill was durable).</summary>
    public int SpilledRecords { get; internal set; }

    /// <summary>Whether this was a tumbling-window invocation.</summary>
    public bool IsWindowInvocation { get; internal set; }

    /// <summary>Whether aggregates were flushed to the aggregate sink in this invocation.</summary>
    public bool Flushed { get; internal set; }

    /// <summary>
    /// A window invocation's sequence range: of the state it flushed or answered (the window's records so far, with this
    /// batch's), or of an old state it flushed first when that failed; null without state. The window's records are in
    /// no other place until its flush lands (its last invocation carries none).
    /// </summary>
    internal string? WindowFirstSequenceNumber { get; set; }

    /// <summary>The end of <see cref="WindowFirstSequenceNumber"/>'s range.</summary>
    internal string? WindowLastSequenceNumber { get; set; }

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

    internal void SetAggregateSinkResult(SinkOutcome outcome, Exception? error)
    {
        AggregateSinkOutcome = outcome;
        AggregateSinkError = error is null ? null : DescribeError(error);
    }

    internal void SetSpillError(Exception error) => SpillError = DescribeError(error);

    internal void SetSpillError(string text) => SpillError = text;

    internal void SetQuarantineSinkResult(SinkOutcome outcome, Exception? error)
    {
        QuarantineSinkOutcome = outcome;
        QuarantineSinkError = error is null ? null : DescribeError(error);
    }

    /// <summary>
    /// How many of the three sinks failed (threw, ran out of time after failed attempts, or returned short with time
    /// left where that is a failure): what makes the invocation line an <c>Error</c> and the EMF line's <c>SinkErrors</c>.
    /// </summary>
    internal int FailedSinks =>
        (AggregateSinkOutcome == SinkOutcome.Failed || AggregateSinkError is not null ? 1 : 0)
        + (QuarantineSinkOutcome == SinkOutcome.Failed || QuarantineSinkError is not null ? 1 : 0)
        + (SpillOutcome == SinkOutcome.Failed || SpillError is not null ? 1 : 0);

    internal void SetQuarantineSinkFailure(string error)
    {
        QuarantineSinkOutcome = SinkOutcome.Failed;
        QuarantineSinkError = error;
    }

    /// <summary>
    /// <c>Type: message</c> of the exception (of its single inner exception for an <see cref="AggregateException"/>),
    /// on one line and cut to <see cref="MaxErrorLength"/> characters: our own words plus the sink's message, which
    /// the pipeline cannot vouch for beyond its length and shape, less any request values an AWS service's message
    /// quotes (<see cref="QuotedRequestValues"/>).
    /// </summary>
    internal static string DescribeError(Exception error)
    {
        while (error is AggregateException { InnerExceptions.Count: 1 } aggregate)
        {
            error = aggregate.InnerExceptions[0];
        }

        string text = error.GetType().FullName + ": " + QuotedRequestValues.LeaveOut(error.Message);
        Span<char> buffer = stackalloc char[Math.Min(text.Length, MaxErrorLength)];
        for (int i = 0; i < buffer.Length; i++)
        {
            char c = text[i];
            buffer[i] = char.IsControl(c) || char.IsSurrogate(c) ? ' ' : c;
        }

        if (text.Length > MaxErrorLength)
        {
            buffer[^1] = '…';
        }

        return new string(buffer);
    }

    internal void CountPoison(PoisonReason reason)
    {
        _poisonByReason[(int)reason]++;
        PoisonRecords++;
    }
}
