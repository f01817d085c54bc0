namespace Analytics.Core.Testing;

/// <summary>How an invocation ended.</summary>
public enum InvocationOutcome
{
    /// <summary>Every record succeeded.</summary>
    Success,

    /// <summary>The function reported some records failed (<c>batchItemFailures</c>).</summary>
    Partial,

    /// <summary>The function raised an error or gave a response that counts as a complete failure.</summary>
    Error,

    /// <summary>The function ran past its timeout.</summary>
    Timeout,
}

/// <summary>A record as the stream holds it.</summary>
/// <param name="ShardId">The shard.</param>
/// <param name="SequenceNumber">The sequence number (decimal digits).</param>
/// <param name="PartitionKey">The partition key.</param>
/// <param name="Data">The data.</param>
/// <param name="Arrival">The approximate arrival time (millisecond precision).</param>
public sealed record StreamRecord(string ShardId, string SequenceNumber, string PartitionKey, ReadOnlyMemory<byte> Data, DateTimeOffset Arrival);

/// <summary>A record delivered in an invocation.</summary>
/// <param name="SequenceNumber">The sequence number.</param>
/// <param name="PartitionKey">The partition key.</param>
public readonly record struct DeliveredRecord(string SequenceNumber, string PartitionKey);

/// <summary>One invocation of the function.</summary>
public sealed record InvocationReport
{
    /// <summary>The invocation's number, from 1, in order of start.</summary>
    public required long Invocation { get; init; }

    /// <summary>When the batch was dispatched (before any init), ms after the start.</summary>
    public required long StartMs { get; init; }

    /// <summary>When it ended, ms after the start.</summary>
    public required long EndMs { get; init; }

    /// <summary>The shard.</summary>
    public required string ShardId { get; init; }

    /// <summary>The concurrent batch (lane) of the shard, 0 to ParallelizationFactor - 1.</summary>
    public required int Lane { get; init; }

    /// <summary>The records in the event, in event order.</summary>
    public required IReadOnlyList<DeliveredRecord> Records { get; init; }

    /// <summary>How it ended.</summary>
    public required InvocationOutcome Outcome { get; init; }

    /// <summary>
    /// Lambda's checkpoint after it, as AWS words it: on success the highest sequence number of the batch, on a
    /// partial response the lowest failed one (retried from there), otherwise <see langword="null"/>.
    /// </summary>
    public required string? Checkpoint { get; init; }

    /// <summary>
    /// Whether the invocation succeeded but the mapping lost its checkpoint (<see cref="EmulatorScenario.RedeliveryFraction"/>):
    /// <see cref="Checkpoint"/> is then <see langword="null"/>, and the same records come again in the shard's next batch.
    /// </summary>
    public bool CheckpointLost { get; init; }

    /// <summary>The execution environment, from 1.</summary>
    public required int Environment { get; init; }

    /// <summary>Whether the environment was new (paid its init time).</summary>
    public required bool ColdStart { get; init; }

    /// <summary>IteratorAge as Lambda reports it: the age of the event's last record when the invocation ended, ms.</summary>
    public required long IteratorAgeMs { get; init; }

    /// <summary>For a tumbling-window invocation, whether it was the window's final one.</summary>
    public bool? IsFinalInvokeForWindow { get; init; }

    /// <summary>
    /// For a function error, its type (Lambda's <c>errorType</c>): for an in-process handler the exception's type name (the
    /// handler factory's, for an environment whose init threw, where Lambda's .NET runtime would wrap it); for a process,
    /// the errorType it posted, <c>Runtime.ExitError</c> when it exited, its init error's type; <c>Function.ResponseSizeTooLarge</c>
    /// for a response over 6 MB, <c>Sandbox.Timedout</c> for a timeout; <see langword="null"/> otherwise (a success, a
    /// partial response, a response the mapping cannot read).
    /// </summary>
    public string? ErrorType { get; init; }

    /// <summary>For a function error, its message as Lambda reports it (<c>errorMessage</c>); <see langword="null"/> otherwise.</summary>
    public string? ErrorMessage { get; init; }

    /// <summary>
    /// For a response the mapping counts as a complete failure although the function returned (Lambda reports no error
    /// then: <see cref="ErrorType"/> is null), what it could not accept, in the emulator's words, for example: not JSON, a
    /// <c>batchItemFailures</c> entry without <c>itemIdentifier</c> or with an empty one, an identifier that is no
    /// record of the batch, a tumbling-window response without <c>state</c>. The same failures on AWS give no reason
    /// anywhere; an identifier is never quoted. <see langword="null"/> otherwise.
    /// </summary>
    public string? ResponseProblem { get; init; }
}

/// <summary>A record Lambda sends to the on-failure destination.</summary>
/// <param name="Kind">SQS or S3.</param>
/// <param name="ShardId">The shard.</param>
/// <param name="Condition"><c>RetryAttemptsExhausted</c> or <c>RecordAgeExceeded</c>.</param>
/// <param name="S3Key">For S3, the object key; otherwise <see langword="null"/>.</param>
/// <param name="Json">The invocation record as JSON text, as Lambda writes it (UTF-8 on the wire).</param>
/// <param name="SequenceNumbers">The sequence numbers it covers (the emulator's bookkeeping, not part of the record).</param>
public sealed record DestinationRecord(OnFailureDestination Kind, string ShardId, string Condition, string? S3Key, string Json, IReadOnlyList<string> SequenceNumbers);

/// <summary>Measurements of one shard in one virtual second.</summary>
public sealed record ShardSecond
{
    /// <summary>The second, from 0.</summary>
    public required int Second { get; init; }

    /// <summary>The shard.</summary>
    public required string ShardId { get; init; }

    /// <summary>The highest IteratorAge of invocations that ended in this second (Lambda's metric), ms; -1 when none ended.</summary>
    public required long IteratorAgeMs { get; init; }

    /// <summary>The age of the oldest record not yet processed or discarded, at the end of the second, ms.</summary>
    public required long OldestUnprocessedAgeMs { get; init; }

    /// <summary>Invocations that ended in this second.</summary>
    public required int Invocations { get; init; }

    /// <summary>Of those, the ones that failed (error, timeout or partial).</summary>
    public required int Errors { get; init; }

    /// <summary>Of those, the timeouts.</summary>
    public required int Timeouts { get; init; }

    /// <summary>Invocations refused for lack of concurrency (retried without using the retry quota).</summary>
    public required int Throttles { get; init; }

    /// <summary>The most invocations of the shard running at once during the second.</summary>
    public required int Concurrency { get; init; }

    /// <summary>
    /// The most invocations of the function (all shards) running at once during the second: the same in every shard's
    /// measurements of the second. Each shard's <see cref="Concurrency"/> peaks at its own instant, so their sum can pass
    /// the function's reserved concurrency; this does not.
    /// </summary>
    public int FunctionConcurrency { get; init; }

    /// <summary>Records sent to the on-failure destination.</summary>
    public required int DestinationRecords { get; init; }

    /// <summary>Records put into the shard.</summary>
    public required int RecordsIn { get; init; }

    /// <summary>Puts refused by the shard's write limits.</summary>
    public required int ThrottledPuts { get; init; }

    /// <summary>Records checkpointed as processed.</summary>
    public required int RecordsOut { get; init; }

    /// <summary>Records trimmed by retention before the mapping read them.</summary>
    public required int RecordsExpired { get; init; }
}

/// <summary>Totals of a run.</summary>
public sealed record EmulationSummary
{
    /// <summary>Records put into the stream.</summary>
    public required long RecordsIn { get; init; }

    /// <summary>Puts refused by write limits.</summary>
    public required long ThrottledPuts { get; init; }

    /// <summary>
    /// Records processed (checkpointed). With <see cref="EmulatorScenario.RedeliveryFraction"/> above 0 a record whose
    /// checkpoint was lost is counted when it is checkpointed again, so a function's own count of what it processed may
    /// be higher (a lost batch still waiting or running at the run's end): compare with the distinct records of the
    /// successful invocations (<see cref="InvocationReport"/>) instead.
    /// </summary>
    public required long RecordsOut { get; init; }

    /// <summary>
    /// Records the mapping gave up on (retries exhausted or <see cref="MappingOptions.MaximumRecordAgeInSeconds"/>
    /// passed): sent to the on-failure destination when there is one, counted alike when there is none
    /// (<see cref="OnFailureDestination.None"/>). With <see cref="EmulatorScenario.RedeliveryFraction"/> above 0 a
    /// record may be counted here after it was processed: its checkpoint was lost and it expired before it came again.
    /// </summary>
    public required long RecordsToDestination { get; init; }

    /// <summary>Records trimmed by retention.</summary>
    public required long RecordsExpired { get; init; }

    /// <summary>
    /// Records the mapping skipped by its starting position: with <see cref="StartingPosition.Latest"/> those put before
    /// the run started, with <see cref="StartingPosition.AtTimestamp"/> those put before the timestamp. Never delivered,
    /// neither processed nor pending.
    /// </summary>
    public long RecordsSkipped { get; init; }

    /// <summary>
    /// Records not processed when the run ended: <see cref="RecordsIn"/> less <see cref="RecordsOut"/>,
    /// <see cref="RecordsToDestination"/>, <see cref="RecordsExpired"/> and <see cref="RecordsSkipped"/> (each record is
    /// in exactly one of these five).
    /// </summary>
    public required long RecordsPending { get; init; }

    /// <summary>
    /// Invocations that ended: each is reported to the observer (<see cref="IEmulationObserver.OnInvocation"/>, a line of
    /// <c>invocations.jsonl</c>). The ones still running when the run ended are <see cref="InvocationsInFlight"/>.
    /// </summary>
    public required long Invocations { get; init; }

    /// <summary>
    /// Invocations still running when the run ended (dispatched, their function not done): never reported, counted in
    /// no other invocation figure (<see cref="Invocations"/>, <see cref="Errors"/>, <see cref="ColdStarts"/>), and their
    /// records are pending. <see cref="Invocations"/> plus these are every invocation started.
    /// </summary>
    public long InvocationsInFlight { get; init; }

    /// <summary>Failed invocations (error, timeout, partial).</summary>
    public required long Errors { get; init; }

    /// <summary>Timeouts.</summary>
    public required long Timeouts { get; init; }

    /// <summary>Throttled invocations.</summary>
    public required long Throttles { get; init; }

    /// <summary>
    /// Successful invocations whose response listed <c>batchItemFailures</c> while the mapping does not have
    /// ReportBatchItemFailures: Lambda ignores such a list and checkpoints the whole batch, so the records the function
    /// reported are lost to it (a misconfiguration worth a warning; the records count as processed).
    /// </summary>
    public long IgnoredFailureReports { get; init; }

    /// <summary>
    /// Tumbling windows given up: the window's final invocation (<c>isFinalInvokeForWindow</c>, no records) failed until
    /// <see cref="MappingOptions.MaximumRetryAttempts"/> ran out, and the mapping moved on without it. Its records were
    /// handled by earlier invocations of the window (and counted there), so no record figure and no destination record shows the loss (AWS
    /// documents nothing here); whatever the handler meant to write at the window's end was not written: this count is
    /// where the run shows it.
    /// </summary>
    public long WindowsDiscarded { get; init; }

    /// <summary>
    /// Successful invocations whose checkpoint the mapping lost (<see cref="EmulatorScenario.RedeliveryFraction"/>): their
    /// records were delivered again as a new batch, and count as processed once, at the success that moved the checkpoint.
    /// </summary>
    public long Redeliveries { get; init; }

    /// <summary>Cold starts of the invocations that ended (one still in flight at the end is not counted, cold or not).</summary>
    public required long ColdStarts { get; init; }

    /// <summary>The highest IteratorAge, ms.</summary>
    public required long MaxIteratorAgeMs { get; init; }

    /// <summary>The most invocations running at once.</summary>
    public required int MaxConcurrency { get; init; }

    /// <summary>
    /// Invocations whose handler was caught waiting off the virtual clock: its task was incomplete while no timer of
    /// <see cref="StreamEmulator.Clock"/> but the emulator's own was pending, so nothing in virtual time could complete
    /// it. It hopped to the thread pool (<c>Task.Yield</c>, <c>Task.Run</c>) or waited on real time or I/O, against
    /// the virtual-time contract (<c>docs/emulator.md</c>), and the run's outputs depend on real timing: above 0, the run
    /// is not <see cref="Reproducible"/>. With <see cref="EmulatorScenario.RealTimeSettle"/> set, the emulator waits for
    /// such handlers; then only those still unfinished when the settle ran out (with no timer of the clock pending) count.
    /// </summary>
    public long OffClockWaits { get; init; }

    /// <summary>
    /// Whether the emulator can vouch that the run reproduces byte for byte: not when compute time is measured, nor with
    /// <see cref="EmulatorScenario.RealTimeSettle"/> (the run waits on real time, and a handler's real I/O raced its
    /// clock deadline: five runs of one seed with the JSON-lines sinks once sent 0 to 70 records to the destination, each
    /// called reproducible), nor when a handler was caught off the virtual clock
    /// (<see cref="OffClockWaits"/>).
    /// </summary>
    /// <remarks>
    /// True is the absence of what the emulator can catch, not a proof. A handler that races real work against a clock
    /// timer (<c>Task.WhenAny(io, Task.Delay(t, clock))</c>) is caught only in the runs where the real work wins: when the
    /// timer wins, the handler never waited on anything but the clock, and the real work it left behind is not seen.
    /// Run such a scenario twice and compare the outputs, or keep real I/O out of the handler.
    /// </remarks>
    public required bool Reproducible { get; init; }
}

/// <summary>Receives a run's outputs as they happen (records in arrival order per second, invocations as they end).</summary>
public interface IEmulationObserver
{
    /// <summary>A record entered the stream.</summary>
    /// <param name="record">The record.</param>
    void OnRecord(StreamRecord record);

    /// <summary>An invocation ended.</summary>
    /// <param name="invocation">The invocation.</param>
    void OnInvocation(InvocationReport invocation);

    /// <summary>A record was sent to the on-failure destination.</summary>
    /// <param name="record">The destination record.</param>
    void OnDestination(DestinationRecord record);

    /// <summary>A shard's second ended.</summary>
    /// <param name="metrics">Its measurements.</param>
    void OnSecond(ShardSecond metrics);

    /// <summary>
    /// The run ended: called once, last, before <see cref="StreamEmulator.Run"/> returns (an observer that writes
    /// files completes them here). Does nothing unless implemented.
    /// </summary>
    /// <param name="summary">The run's totals, as <see cref="StreamEmulator.Run"/> returns them.</param>
    void OnEnd(EmulationSummary summary)
    {
    }
}

/// <summary>An observer that keeps everything in memory (for tests of small scenarios).</summary>
public sealed class EmulationRecording : IEmulationObserver
{
    private readonly List<StreamRecord> _records = [];
    private readonly List<InvocationReport> _invocations = [];
    private readonly List<DestinationRecord> _destination = [];
    private readonly List<ShardSecond> _seconds = [];

    /// <summary>Every record put, in put order.</summary>
    public IReadOnlyList<StreamRecord> Records => _records;

    /// <summary>Every invocation, in order of end.</summary>
    public IReadOnlyList<InvocationReport> Invocations => _invocations;

    /// <summary>Every destination record, in order of sending.</summary>
    public IReadOnlyList<DestinationRecord> Destination => _destination;

    /// <summary>Every shard-second.</summary>
    public IReadOnlyList<ShardSecond> Seconds => _seconds;

    /// <inheritdoc />
    public void OnRecord(StreamRecord record) => _records.Add(record);

    /// <inheritdoc />
    public void OnInvocation(InvocationReport invocation) => _invocations.Add(invocation);

    /// <inheritdoc />
    public void OnDestination(DestinationRecord record) => _destination.Add(record);

    /// <inheritdoc />
    public void OnSecond(ShardSecond metrics) => _seconds.Add(metrics);
}
