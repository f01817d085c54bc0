namespace Analytics.Core.Testing;

internal sealed class SimRecord
{
    public required ShardState Shard { get; init; }

    /// <summary>Digits of a sequence number made by the emulator: a fixed prefix, shard (12), arrival (20), counter (20).</summary>
    public const int SequenceNumberLength = 56;

    private string? _sequenceNumber;

    /// <summary>
    /// The record's number in its shard (the last part of its sequence number). The sequence number's string is made
    /// from it when first asked for, so the records a blocked shard holds back keep no string each.
    /// </summary>
    public long Counter { get; init; }

    /// <summary>The sequence number; tests may set one of their own instead of <see cref="Counter"/>.</summary>
    public string SequenceNumber
    {
        get => _sequenceNumber ??= FormatSequenceNumber();
        init => _sequenceNumber = value;
    }

    /// <summary>The sequence number's length in characters (digits: one UTF-8 byte each), without making it.</summary>
    public int SequenceNumberChars => _sequenceNumber?.Length ?? SequenceNumberLength;

    public required string PartitionKey { get; init; }

    /// <summary>The key's UTF-8 bytes as they appear in the event (escaped), shared by the key's records.</summary>
    public required byte[] EscapedKey { get; init; }

    public required byte[] Data { get; init; }

    /// <summary>Arrival, Unix ms.</summary>
    public required long ArrivalMs { get; init; }

    /// <summary>The size of the record's object in the event's <c>Records</c> array.</summary>
    public int JsonLength { get; set; }

    public bool Done { get; set; }

    public int Lane { get; set; } = -1;

    public int InvokeCount { get; set; }

    /// <summary>A new string of the sequence number, not kept (for a record reported once, on its arrival).</summary>
    public string FormatSequenceNumber()
    {
        if (_sequenceNumber is { } text)
        {
            return text;
        }

        Span<byte> digits = stackalloc byte[SequenceNumberLength];
        WriteSequenceNumber(digits);
        return System.Text.Encoding.ASCII.GetString(digits);
    }

    /// <summary>Writes the sequence number's digits as UTF-8; returns their count.</summary>
    /// <remarks>
    /// "4960", the shard index in 12 digits, the arrival (never below 0) in 20, the counter in 20: numbers increase
    /// within a shard and compare correctly as big integers (equal length).
    /// </remarks>
    public int WriteSequenceNumber(Span<byte> destination)
    {
        if (_sequenceNumber is { } text)
        {
            return System.Text.Encoding.ASCII.GetBytes(text, destination);
        }

        "4960"u8.CopyTo(destination);
        System.Buffers.Text.Utf8Formatter.TryFormat(Shard.Index, destination[4..], out _, new System.Buffers.StandardFormat('D', 12));
        System.Buffers.Text.Utf8Formatter.TryFormat(Math.Max(0, ArrivalMs), destination[16..], out _, new System.Buffers.StandardFormat('D', 20));
        System.Buffers.Text.Utf8Formatter.TryFormat(Counter, destination[36..], out _, new System.Buffers.StandardFormat('D', 20));
        return SequenceNumberLength;
    }
}

internal sealed class Batch
{
    public required List<SimRecord> Records { get; set; }

    /// <summary>Failures counted against MaximumRetryAttempts.</summary>
    public int Attempts { get; set; }

    public bool IsWindowFinal { get; init; }

    public bool TerminatedEarly { get; init; }

    /// <summary>The event of the last invocation of this batch (for the S3 destination's payload).</summary>
    public ReadOnlyMemory<byte>? LastEvent { get; set; }

    public bool LastFailureWasError { get; set; }

    /// <summary>
    /// The last failure was the function's own (an exception, a timeout, a response over 6 MB): the destination record's
    /// <c>functionError</c> is "Unhandled". After a partial or invalid response it is null.
    /// </summary>
    public bool LastFailureUnhandled { get; set; }

    /// <summary>The event built for <see cref="BuiltFor"/> (no tumbling window), sent again on a retry of the same records.</summary>
    public ReadOnlyMemory<byte>? BuiltEvent { get; set; }

    public List<SimRecord>? BuiltFor { get; set; }

    /// <summary>
    /// With <see cref="EmulatorScenario.ConsolidateBisectedFailures"/>: the bisection this batch is part of (its halves, a
    /// partial response's rest, a lost checkpoint's batch, a cut tail carry it on); null otherwise.
    /// </summary>
    public BisectionGroup? Group { get; set; }
}

/// <summary>
/// The batches a bisected batch became, while any is left on its lane: what of them was given up is sent to the
/// destination once none is, one record per run of records given up one after another in the original batch.
/// </summary>
internal sealed class BisectionGroup
{
    /// <summary>The original batch's records, in their order.</summary>
    public required List<SimRecord> Records { get; init; }

    /// <summary>The original batch's last event (the S3 destination's payload).</summary>
    public required ReadOnlyMemory<byte>? Event { get; init; }

    /// <summary>Records given up so far, with whether their batch's last failure was the function's own.</summary>
    public List<(SimRecord Record, bool Unhandled)> GivenUp { get; } = [];
}

/// <summary>What the emulator keeps per partition key: its shard, UTF-8 size and escaped bytes, computed once.</summary>
internal sealed class KeyInfo
{
    public required int Shard { get; init; }

    public required int Utf8Bytes { get; init; }

    public required byte[] Escaped { get; init; }
}

internal sealed class WindowState
{
    public required long StartMs { get; init; }

    public required long EndMs { get; init; }

    private string _state = "{}";

    public string State
    {
        get => _state;
        set
        {
            _state = value;
            StateBytes = System.Text.Encoding.UTF8.GetByteCount(value);
        }
    }

    /// <summary>The UTF-8 size of <see cref="State"/>, as the event carries it (its length in chars undercounts any non-ASCII text).</summary>
    public int StateBytes { get; private set; } = 2;

    public bool TerminateEarly { get; set; }
}

internal sealed class Lane
{
    public required ShardState Shard { get; init; }

    public required int Index { get; init; }

    public Queue<SimRecord> Queue { get; } = new();

    public Batch? Current { get; set; }

    public Stack<Batch> Deferred { get; } = new();

    /// <summary>Bisections of this lane with records given up and not yet sent (<see cref="BisectionGroup"/>).</summary>
    public List<BisectionGroup> Unsent { get; } = [];

    public Invocation? Running { get; set; }

    public ITimer? PollTimer { get; set; }

    public WindowState? Window { get; set; }

    /// <summary>When the lane's last invocation completed (its batching window then begins), or none yet.</summary>
    public long? CompletedMs { get; set; }

    /// <summary>Before this virtual time (ms), the lane's failed batch is not invoked again (<see cref="EmulatorScenario.RetryDelay"/>); 0: none.</summary>
    public long RetryNotBeforeMs { get; set; }
}

internal sealed class ShardState
{
    public required int Index { get; init; }

    public required string Id { get; init; }

    public long Counter { get; set; }

    public Queue<SimRecord> Pending { get; } = new();

    public Queue<SimRecord> Undone { get; } = new();

    public Lane[] Lanes { get; set; } = [];

    public Dictionary<string, (int Lane, int Pending)> KeyLanes { get; } = new(StringComparer.Ordinal);

    public int Running { get; set; }

    public int MaxRunningThisSecond { get; set; }

    /// <summary>The instant (Unix ms) of the last change of <see cref="Running"/>, or of the last second's start: the count held since then is not yet in <see cref="MaxRunningThisSecond"/>.</summary>
    public long RunningSinceMs { get; set; }

    public int WriteSecond { get; set; } = int.MinValue;

    public int WriteCount { get; set; }

    public long WriteBytes { get; set; }

    /// <summary>The shard's reads of the last 5 seconds (Unix ms, bytes), oldest first (see <c>StreamEmulator.Distribute</c>).</summary>
    public Queue<(long AtMs, long Bytes)> Reads { get; } = new();

    /// <summary>The bytes of <see cref="Reads"/>.</summary>
    public long ReadBytes { get; set; }

    public required SecondCounters[] Seconds { get; init; }
}

internal struct SecondCounters
{
    public long IteratorAgeMs;
    public int Invocations;
    public int Errors;
    public int Timeouts;
    public int Throttles;
    public int Destination;
    public int RecordsIn;
    public int ThrottledPuts;
    public int RecordsOut;
    public int Expired;
}

internal sealed class ExecutionEnvironment
{
    public required int Id { get; init; }

    public required ILambdaHandler Handler { get; init; }

    public bool Busy { get; set; }

    public bool Dead { get; set; }
}

internal sealed class Invocation : IClockGuest
{
    public required long Number { get; init; }

    /// <summary>The run the invocation belongs to.</summary>
    public required StreamEmulator Run { get; init; }

    public required Lane Lane { get; init; }

    public required Batch Batch { get; init; }

    public required ExecutionEnvironment Environment { get; init; }

    public required bool ColdStart { get; init; }

    public required long DispatchTicks { get; init; }

    public required ReadOnlyMemory<byte> Event { get; init; }

    public DateTimeOffset Deadline { get; set; }

    /// <summary>When the handler was called (after any init), virtual ticks.</summary>
    public long HandlerStartTicks { get; set; }

    public Task<ReadOnlyMemory<byte>>? Task { get; set; }

    public bool Observed { get; set; }

    public bool Ended { get; set; }

    private int _offClock;

    /// <summary>Marks the handler as caught off the virtual clock (from any thread); true the first time only, so it is counted once.</summary>
    public bool MarkOffClock() => Interlocked.Exchange(ref _offClock, 1) == 0;

    void IClockGuest.NoteDownstreamCall(TimeProvider modelClock) => Run.NoteDownstreamCall(this, modelClock);

    public bool Alive { get; set; } = true;

    public long MeasuredTicks { get; set; }

    public ITimer? DeadlineTimer { get; set; }

    /// <summary>For a function error, Lambda's errorType and errorMessage (<see cref="InvocationReport.ErrorType"/>).</summary>
    public (string Type, string Message)? Error { get; set; }
}
