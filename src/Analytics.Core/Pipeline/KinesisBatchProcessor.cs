using System.Buffers;
using System.Globalization;
using System.Text;

namespace Analytics.Core;

/// <summary>
/// The pipeline of a Kinesis consumer function: reads a Lambda Kinesis event, validates every record, quarantines
/// poison records, aggregates the valid ones, writes the aggregates and returns the partial-batch response, always
/// before the invocation's deadline.
/// </summary>
/// <remarks>
/// <para>Per batch: read → parse → validate → quarantine poison records → aggregate valid ones → flush aggregates →
/// report. Data flows one way; each stage is its own type (<see cref="KinesisEventReader"/>,
/// <see cref="RecordValidator"/>'s checks, <see cref="MetricAggregator"/>, <see cref="IQuarantineSink"/>,
/// <see cref="IAggregateSink"/>, <see cref="BatchResponseWriter"/>).</para>
/// <para>Failure semantics, in short (the whole of them, with the reasons, is the repository README's
/// <a href="https://github.com/analytics-core/analytics-core/blob/main/README.md#failure-semantics">Failure semantics</a>):
/// a poison record never fails the batch once it is durably quarantined; the response names only the lowest sequence
/// number whose effects are not durable (a sink threw or ran out of time, the deadline came, or the batch reached
/// <see cref="AggregatorOptions.MaxPairs"/>), within the working time (<see cref="ProcessorOptions.SafetyMarginFraction"/>,
/// <see cref="ProcessorOptions.SinkTimeFraction"/>), and the first record is always processed; sink exceptions are
/// kept in the <see cref="BatchSummary"/>; an event that is not a Kinesis event throws
/// <see cref="KinesisEventFormatException"/>.</para>
/// <para>Tumbling-window events carry the aggregator's state in the response <c>state</c>, flushed to the aggregate
/// sink when the window ends or the state would pass <see cref="ProcessorOptions.MaxStateBytes"/>; there any failure
/// throws <see cref="BatchFailedException"/> instead of a partial response.</para>
/// <para>Reuse one processor across invocations; it keeps its buffers. It is not thread-safe.</para>
/// </remarks>
public sealed partial class KinesisBatchProcessor : IDisposable
{
    private readonly IAggregateSink _aggregateSink;

    /// <summary>
    /// The aggregate sink is one of the library's (<c>Analytics.Core</c>, <c>Analytics.Core.Aws</c>), which settle every
    /// write before their task completes or faults: a failed call of theirs leaves nothing running, and its batch is kept
    /// (<see cref="GiveUpAfterInvocation"/>), so a throttled invocation does not rebuild a batch of megabytes.
    /// </summary>
    private readonly bool _aggregateSinkSettlesWrites;
    private readonly IQuarantineSink _quarantineSink;
    private readonly ProcessorOptions _options;
    private readonly MetricSchema _schema;
    private readonly TimeProvider _time;
    private readonly RecordDecoder _decoder = new();
    private readonly byte[] _scratch = new byte[MetricRecordParser.ScratchSize];
    private byte[] _keyScratch = new byte[256];
    private readonly BatchResponseWriter _response = new();
    private readonly KinesisEventBuffer _eventBuffer = new();

    /// <summary>1 while an event is processed (<see cref="Enter"/>).</summary>
    private int _busy;

    private bool _disposed;
    private (int Pair, int Record, double Value)[] _pending = new (int, int, double)[512];
    private int _pendingCount;
    private AggregateBatch _batch;
    private List<QuarantinedRecord> _quarantine = [];
    private long _pairCostTicks;
    private long _poisonCostTicks;

    // Whether each learnt cost is a time-out's lesson (its whole time over what it made durable, at least one): a bound
    // over a store that did not answer, not a cost, which the first call that finishes replaces (LearnSinkCosts).
    private bool _pairCostFromTimeOut;
    private bool _poisonCostFromTimeOut;

    // Per invocation, set while reading the records.
    private string? _eventSourceArn;
    // False once a tumbling-window invocation passed the cap: it aggregates past it, and each record is judged alone.
    private bool _enforceCap;

    /// <summary>The aggregator <see cref="JudgeAloneAtCap"/> counts a record's own pairs in; made on first use.</summary>
    private MetricAggregator? _capProbe;
    private readonly List<PoisonReason> _containerPoisonReasons = [];
    private int _poisonCallbacks;

    // Tumbling windows: the window's state, and the batch a window flush writes from.
    private WindowState _window;
    private AggregateBatch _flushBatch;

    /// <summary>Batches whose sink call threw or left pairs unmarked, given up when the invocation ends (<see cref="GiveUpBatch"/>).</summary>
    private bool _giveUpBatch, _giveUpFlushBatch;

    /// <summary>
    /// What the aggregate sink did with this invocation's batch when it left pairs not durable (<see cref="DescribeSinkIssue"/>),
    /// until the step that decides what becomes of them ends the sentence (<see cref="EndSinkIssue"/>): reported, spilled,
    /// or the window invocation failed whole.
    /// </summary>
    private string? _sinkIssue;

    /// <summary>How long a sink that ignores cancellation is still waited for once the working time is up.</summary>
    private static readonly TimeSpan s_graceAfterCancel = TimeSpan.FromMilliseconds(200);

    /// <summary>Creates a processor; reuse it across invocations.</summary>
    /// <param name="aggregateSink">Where aggregates go.</param>
    /// <param name="quarantineSink">Where poison records go.</param>
    /// <param name="options">Options; <see cref="ProcessorOptions.Default"/> for the documented defaults.</param>
    /// <exception cref="ArgumentNullException">A sink is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range (the message names the first, its range and its value).</exception>
    /// <exception cref="ArgumentException">A field name of <see cref="ProcessorOptions.Parser"/> is empty, or two are the same; or <see cref="ProcessorOptions.StateKey"/> is null.</exception>
    public KinesisBatchProcessor(IAggregateSink aggregateSink, IQuarantineSink quarantineSink, ProcessorOptions options)
    {
        ArgumentNullException.ThrowIfNull(aggregateSink);
        ArgumentNullException.ThrowIfNull(quarantineSink);
        if (OutOfRange(options) is { } wrong)
        {
            // The hint only for options that began as default(ProcessorOptions), whose StateKey is null: given to a caller
            // who started from Default, it sent them looking for a default(...) they did not write (found by a consumer's review).
            ThrowHelper.ThrowArgumentOutOfRange(nameof(options), "ProcessorOptions." + wrong + (options.StateKey is null
                ? " Start from ProcessorOptions.Default (or KinesisFunctionOptions.Default): in default(ProcessorOptions) every field is zero."
                : string.Empty));
        }

        if (options.StateKey is null)
        {
            ThrowHelper.ThrowArgument(nameof(options), "ProcessorOptions.StateKey is null: it names the processor's entry in a tumbling window's state (default \"analytics.core.v1\").");
        }

        _aggregateSink = aggregateSink;
        _aggregateSinkSettlesWrites = aggregateSink.GetType().Assembly.GetName().Name is "Analytics.Core" or "Analytics.Core.Aws";
        _quarantineSink = quarantineSink;
        _options = options;
        _schema = new MetricSchema(options.Parser, nameof(options));
        _time = options.TimeProvider ?? TimeProvider.System;
        _batch = new AggregateBatch(options.Aggregator);
        _window = new WindowState(options.Aggregator, options.StateKey);
        _flushBatch = new AggregateBatch(options.Aggregator);
    }

    /// <summary>Processes one event and writes the response JSON.</summary>
    /// <param name="utf8Event">The raw event, UTF-8 JSON, as the Runtime API delivers it.</param>
    /// <param name="deadline">When Lambda ends the invocation (the <c>Lambda-Runtime-Deadline-Ms</c> header).</param>
    /// <param name="response">
    /// Receives the response JSON, appended after what the writer already holds: reset a reused writer first (e.g.
    /// <see cref="ArrayBufferWriter{T}.ResetWrittenCount"/>), or it holds two responses.
    /// </param>
    /// <param name="cancellationToken">Cancels the invocation.</param>
    /// <returns>What the invocation did.</returns>
    /// <exception cref="KinesisEventFormatException">The payload is not a Kinesis event, or not a consistent one (window state or a window's end flag without a window; a window event with neither records nor a shard id).</exception>
    /// <exception cref="WindowStateFormatException">The window state holds an entry of ours that cannot be decoded (under this processor's aggregator options or the ones it was written with) or is named twice, a name that cannot be passed through, or a range that starts after the batch's first record.</exception>
    /// <exception cref="BatchFailedException">A tumbling-window invocation could not make its effects durable, or the time budget stopped it before every record was read.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="deadline"/> is further before the processor's clock than Lambda's longest timeout (15 minutes): it comes from another clock or unit.</exception>
    /// <exception cref="InvalidOperationException">This processor is processing another event: it handles one at a time.</exception>
    /// <exception cref="ObjectDisposedException">The processor is disposed.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="response"/> is null.</exception>
    public Task<BatchSummary> ProcessAsync(ReadOnlyMemory<byte> utf8Event, DateTimeOffset deadline, IBufferWriter<byte> response, CancellationToken cancellationToken = default)
    {
        try
        {
            ArgumentNullException.ThrowIfNull(response);
            CheckDeadline(deadline);
            Enter();
        }
        catch (Exception e)
        {
            // In the returned task, as before: the caller sees these where it awaits, not where it calls.
            return Task.FromException<BatchSummary>(e);
        }

        return ProcessCoreAsync(utf8Event, deadline, response, cancellationToken);
    }

    /// <summary>A sink's <c>WriteAsync</c> that returned null instead of a task: a failure of that sink, named (found by review: a bare NullReferenceException).</summary>
    private static InvalidOperationException NullTask(string sink) =>
        new($"The {sink}'s WriteAsync returned null instead of a Task: return a task (Task.CompletedTask when there is nothing to wait for).");

    /// <summary>
    /// Refuses a deadline no invocation can have: further before the processor's clock than Lambda's longest timeout. It
    /// comes from a unit or clock mistake in the host, not from a slow invocation, and taken as "no time left" it made
    /// every invocation report its first record, so the shard never moved, while the log line blamed the sinks' time
    /// (found by a new-consumer review). A deadline far after the clock is let be: hosts and tests give generous ones.
    /// </summary>
    private void CheckDeadline(DateTimeOffset deadline)
    {
        DateTimeOffset now = _time.GetUtcNow();
        if (now - deadline > TimeSpan.FromMinutes(LongestLambdaTimeoutMinutes)) // no DateTimeOffset arithmetic: a clock near MinValue
        {
            ThrowHelper.ThrowArgumentOutOfRange(
                nameof(deadline),
                string.Format(
                    CultureInfo.InvariantCulture,
                    "The deadline {0:O} is {1:0} minutes before the processor's clock ({2:O}), more than Lambda's longest timeout of {3} minutes: it comes from another clock or unit. " +
                    "The Runtime API's Lambda-Runtime-Deadline-Ms is epoch milliseconds (DateTimeOffset.FromUnixTimeMilliseconds), and ProcessorOptions.TimeProvider must be " +
                    "the clock the deadline is read on (an emulator's virtual clock, say).",
                    deadline,
                    (now - deadline).TotalMinutes,
                    now,
                    LongestLambdaTimeoutMinutes));
        }
    }

    /// <summary>Lambda's longest function timeout, in minutes.</summary>
    internal const int LongestLambdaTimeoutMinutes = 15;

    internal async Task<BatchSummary> ProcessCoreAsync(ReadOnlyMemory<byte> utf8Event, DateTimeOffset deadline, IBufferWriter<byte> response, CancellationToken cancellationToken)
    {
        try
        {
            var summary = new BatchSummary();
            _sinkIssue = null;
            long start = _time.GetTimestamp();
            TimeSpan budget = deadline - _time.GetUtcNow();
            TimeSpan working = GetWorkingTime(budget, _options);
            TimeSpan sinkShare = working * _options.SinkTimeFraction;
            long frequency = _time.TimestampFrequency;
            var plan = new ReadPlan
            {
                ReadEnd = start + (long)((working - sinkShare).TotalSeconds * frequency),
                WorkEnd = start + (long)(working.TotalSeconds * frequency),
                PairCost = _pairCostTicks,
                PoisonCost = _poisonCostTicks,
            };
            summary.PlannedSinkTime = sinkShare;
            using var timeout = new CancellationTokenSource(working, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);

            _response.Reset();
            _quarantine.Clear();
            WindowEnvelope window = ReadRecords(utf8Event.Span, plan, summary);
            summary.ParseDuration = _time.GetElapsedTime(start) - summary.AggregateDuration;

            // A sink that ignores cancellation may keep these after we stop waiting; the fields then get fresh ones.
            List<QuarantinedRecord> poison = _quarantine;
            AggregateBatch batch = _batch;
            // Timed from before the calls: a sink may do all its work before its task is returned.
            long sinksStart = _time.GetTimestamp();
            Task<int> quarantine = poison.Count == 0 ? Task.FromResult(0) : TimedAsync(WriteQuarantineAsync(summary, timeout.Token, linked.Token), sinksStart, d => summary.QuarantineSinkDuration = d);
            try
            {
                if (summary.IsWindowInvocation)
                {
                    await ProcessWindowAsync(window, summary, response, quarantine, timeout.Token, linked.Token).ConfigureAwait(false);
                }
                else
                {
                    bool spillCandidate = IsSpillCandidate(summary, batch);
                    TimeSpan left = TimeSpan.FromSeconds(Math.Max(0, plan.WorkEnd - sinksStart) / (double)frequency);
                    // A batch that reaches the spill age within the sink's share is spilled at its end (UntilSpillAgeWithinShare).
                    using CancellationTokenSource? untilSpillAge = spillCandidate ? null : StartShareUntilSpillAge(summary, batch, left);
                    Task aggregates = batch.Count == 0 ? Task.CompletedTask : TimedAsync(
                        spillCandidate ? WriteAggregatesBeforeSpillAsync(batch, summary, left, timeout.Token, linked.Token)
                            : untilSpillAge is not null ? WriteAggregatesUntilSpillAgeAsync(batch, summary, untilSpillAge.Token, timeout.Token, linked.Token)
                            : MaySpilledElsewhere ? WriteAggregatesAfterRemovingSpillAsync(batch, summary, timeout.Token, linked.Token)
                            : WriteAggregatesAsync(batch, summary, timeout.Token, linked.Token),
                        sinksStart,
                        d => summary.AggregateSinkDuration = d);
                    int durable = await quarantine.ConfigureAwait(false);
                    await aggregates.ConfigureAwait(false);
                    spillCandidate |= untilSpillAge is not null && (untilSpillAge.IsCancellationRequested || summary.OldestRecordAge + _time.GetElapsedTime(sinksStart) >= _options.SpillAfterAge);
                    ReportQuarantineFailures(poison, durable, summary);
                    await ReportOrSpillAsync(batch, spillCandidate, durable == poison.Count, summary, timeout.Token, linked.Token).ConfigureAwait(false);
                    summary.AggregatesWritten = batch.DurableCount;
                    summary.Flushed = batch.Count > 0;
                    summary.ReportedFailure = _response.HasFailure ? Encoding.ASCII.GetString(_response.LowestFailure) : null;
                    _response.WriteResponse(response);
                    if (!cancellationToken.IsCancellationRequested)
                    {
                        // A call the caller cut short says nothing of the sinks' cost: counted as one that finished (its time
                        // over all its pairs), it taught a cost far too low, and the next invocation read more than fits.
                        LearnSinkCosts(summary, batch.Count, summary.AggregatesWritten, poison.Count, durable);
                    }
                }
            }
            finally
            {
                // Also when a window invocation fails (BatchFailedException): its summary is written before it fails, with the
                // time it had left, not 0, which read as a function out of time (the RemainingTimeMs alarm).
                summary.RemainingTime = deadline - _time.GetUtcNow();
                if (_giveUpBatch)
                {
                    _giveUpBatch = false;
                    GiveUpBatch(_batch);
                }

                if (_giveUpFlushBatch)
                {
                    _giveUpFlushBatch = false;
                    GiveUpBatch(_flushBatch);
                }
            }

            return summary;
        }
        finally
        {
            // Enter's claim, released when this event is done, whichever way (here, not in a wrapper: one async
            // method per event, so an event whose sinks finish at once allocates one task, not two).
            Volatile.Write(ref _busy, 0);
        }
    }

    /// <summary>The first option out of its range, its range and its value; null when all are in range.</summary>
    private static string? OutOfRange(in ProcessorOptions o) =>
        o.SafetyMarginFraction is not (>= 0 and < 1) ? string.Create(CultureInfo.InvariantCulture, $"SafetyMarginFraction must be in [0, 1); it is {o.SafetyMarginFraction}.")
        : o.MinSafetyMargin < TimeSpan.Zero ? string.Create(CultureInfo.InvariantCulture, $"MinSafetyMargin must not be negative; it is {o.MinSafetyMargin}.")
        : !(o.SinkTimeFraction is > 0 and < 1) ? string.Create(CultureInfo.InvariantCulture, $"SinkTimeFraction must be in (0, 1); it is {o.SinkTimeFraction}.")
        : o.MaxStateBytes is <= 0 or > ProcessorOptions.LambdaStateCap ? string.Create(CultureInfo.InvariantCulture, $"MaxStateBytes must be 1 to 1,000,000 (Lambda's 1 MB cap on a window's state); it is {o.MaxStateBytes}.")
        : o.MaxPoisonCallbacks < 0 ? string.Create(CultureInfo.InvariantCulture, $"MaxPoisonCallbacks must not be negative; it is {o.MaxPoisonCallbacks}.")
        : o.SpillAfterAge <= TimeSpan.Zero ? string.Create(CultureInfo.InvariantCulture, $"SpillAfterAge must be positive; it is {o.SpillAfterAge}.")
        : o.SpillAfterFailedInvocations < 0 ? string.Create(CultureInfo.InvariantCulture, $"SpillAfterFailedInvocations must not be negative; it is {o.SpillAfterFailedInvocations}.")
        : null;

    /// <summary>
    /// The time the pipeline works with: the budget less the safety margin (<see cref="ProcessorOptions.SafetyMarginFraction"/>
    /// of it, at least <see cref="ProcessorOptions.MinSafetyMargin"/>, but never more than half the budget, so even a
    /// 1-second function keeps half its time to work).
    /// </summary>
    internal static TimeSpan GetWorkingTime(TimeSpan budget, in ProcessorOptions options)
    {
        if (budget <= TimeSpan.Zero)
        {
            return TimeSpan.Zero;
        }

        long margin = Math.Max(options.MinSafetyMargin.Ticks, (long)(budget.Ticks * options.SafetyMarginFraction));
        margin = Math.Min(margin, budget.Ticks / 2);

        // At most the longest timer .NET keeps (2^32 - 2 ms, about 49.7 days): a deadline further out (the Runtime API's
        // header allows epoch milliseconds up to year 9999) failed the invocation with ArgumentOutOfRangeException
        // (found by review). Lambda's longest timeout is 15 minutes.
        return TimeSpan.FromTicks(Math.Min(budget.Ticks - margin, MaxTimerTicks));
    }

    /// <summary>The longest delay a <see cref="CancellationTokenSource"/> takes, in ticks.</summary>
    internal const long MaxTimerTicks = (uint.MaxValue - 1L) * TimeSpan.TicksPerMillisecond;

    /// <summary>Processes one event read from a stream and writes the response JSON.</summary>
    /// <param name="utf8Event">The raw event, UTF-8 JSON.</param>
    /// <param name="deadline">When Lambda ends the invocation.</param>
    /// <param name="response">
    /// Receives the response JSON, appended after what the writer already holds: reset a reused writer first (e.g.
    /// <see cref="ArrayBufferWriter{T}.ResetWrittenCount"/>), or it holds two responses.
    /// </param>
    /// <param name="cancellationToken">Cancels the invocation.</param>
    /// <returns>What the invocation did.</returns>
    /// <exception cref="KinesisEventFormatException">The payload is not a Kinesis event, or not a consistent one (window state or a window's end flag without a window; a window event with neither records nor a shard id).</exception>
    /// <exception cref="WindowStateFormatException">The window state holds an entry of ours that cannot be decoded (under this processor's aggregator options or the ones it was written with) or is named twice, a name that cannot be passed through, or a range that starts after the batch's first record.</exception>
    /// <exception cref="BatchFailedException">A tumbling-window invocation could not make its effects durable, or the time budget stopped it before every record was read.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="deadline"/> is further before the processor's clock than Lambda's longest timeout (15 minutes): it comes from another clock or unit.</exception>
    /// <exception cref="InvalidOperationException">This processor is processing another event: it handles one at a time.</exception>
    /// <exception cref="ObjectDisposedException">The processor is disposed.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="utf8Event"/> or <paramref name="response"/> is null.</exception>
    public Task<BatchSummary> ProcessAsync(Stream utf8Event, DateTimeOffset deadline, IBufferWriter<byte> response, CancellationToken cancellationToken = default) =>
        ProcessAsync(utf8Event, deadline, response, checkDeadline: true, cancellationToken);

    /// <summary>
    /// The stream overload, without the deadline's check for a host that made it in its caller's terms
    /// (<see cref="KinesisFunction.HandleAsync"/>, on the same clock): checked again a moment later, a remaining time
    /// of exactly 15 minutes below zero, which the host takes, was refused naming a deadline its caller never gave.
    /// </summary>
    internal async Task<BatchSummary> ProcessAsync(Stream utf8Event, DateTimeOffset deadline, IBufferWriter<byte> response, bool checkDeadline, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(utf8Event);
        ArgumentNullException.ThrowIfNull(response);
        if (checkDeadline)
        {
            CheckDeadline(deadline);
        }

        Enter();
        try
        {
            // The event's buffer is the processor's own: loaded only once the processor is known to be free.
            await _eventBuffer.LoadAsync(utf8Event, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Volatile.Write(ref _busy, 0);
            throw;
        }

        // Releases the claim itself when the event is done.
        return await ProcessCoreAsync(_eventBuffer.Memory, deadline, response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The length of the pooled array that holds an event read from a stream; 0 before the first and after <see cref="Dispose"/>.</summary>
    internal int EventBufferCapacity => _eventBuffer.Capacity;

    /// <summary>Returns pooled buffers; the processor cannot be used after.</summary>
    public void Dispose()
    {
        _disposed = true;
        _eventBuffer.Dispose();
    }

    /// <summary>
    /// Claims the processor for one event. Two at once would share its batch, its response and its poison list (and
    /// one's response could name the other's records): refused instead, with the rule.
    /// </summary>
    private void Enter()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Interlocked.Exchange(ref _busy, 1) != 0)
        {
            ThrowHelper.ThrowInvalidOperation(
                "This KinesisBatchProcessor is already processing an event. It handles one at a time, as Lambda gives an execution " +
                "environment one invocation at a time; give each concurrent caller its own processor.");
        }
    }

    private async Task<int> WriteQuarantineAsync(BatchSummary summary, CancellationToken deadline, CancellationToken cancellationToken)
    {
        List<QuarantinedRecord> records = _quarantine;
        Task<int> write;
        try
        {
            write = _quarantineSink.WriteAsync(records, cancellationToken) ?? throw NullTask(nameof(IQuarantineSink));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            SetResult(summary.SetQuarantineSinkResult, Classify(e, deadline), e);
            return 0;
        }

        if (await BoundedAsync(write, cancellationToken).ConfigureAwait(false))
        {
            try
            {
                int durable = Math.Clamp(await write.ConfigureAwait(false), 0, records.Count);
                if (durable == records.Count || deadline.IsCancellationRequested || cancellationToken.IsCancellationRequested)
                {
                    // Fewer stored once its time was up: it stopped as asked (the AWS sinks do), a time-out. Our deadline
                    // decides, as for a sink that throws (Classify): a return after the caller's cancellation is a return.
                    summary.SetQuarantineSinkResult(durable < records.Count && deadline.IsCancellationRequested ? SinkOutcome.TimedOut : SinkOutcome.Completed, null);
                }
                else
                {
                    // Fewer stored with time left and no error: a failure, said in our own words, as for a spill sink that
                    // returns false (found by review: "Completed" and no reason, while the shard stopped at the first
                    // record not stored on every re-delivery).
                    summary.SetQuarantineSinkFailure(string.Create(
                        CultureInfo.InvariantCulture,
                        $"The quarantine sink returned with {durable} of {records.Count} poison records stored, with time left, and gave no error."));
                }

                return durable;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                SetResult(summary.SetQuarantineSinkResult, Classify(e, deadline), e);
                return 0;
            }
        }

        // The sink ignored cancellation and is still running: it keeps the list; the next invocation gets a new one.
        _quarantine = [];
        summary.SetQuarantineSinkResult(SinkOutcome.TimedOut, null);
        return 0;
    }

    private async Task WriteAggregatesAsync(AggregateBatch batch, BatchSummary summary, CancellationToken deadline, CancellationToken cancellationToken, CancellationToken share = default)
    {
        // share: a shorter budget for the sink alone (before a spill); the wait is still bounded by cancellationToken. Its
        // own token, not one linked to it, decides whether a cancellation was a time-out: a linked source is cancelled by a
        // callback, which may run after the sink's own callback has already ended the write (a CI failure: a source's
        // callbacks run last registered first, so a sink that honoured the share was counted as failed).
        Task write;
        using CancellationTokenSource? shareLinked = share.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, share) : null;
        CancellationToken given = shareLinked?.Token ?? cancellationToken;
        try
        {
            write = _aggregateSink.WriteAsync(batch, given) ?? throw NullTask(nameof(IAggregateSink));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            SinkOutcome outcome = Classify(e, deadline, share);
            SetResult(summary.SetAggregateSinkResult, outcome, e);
            DescribeSinkIssue(batch, Threw(outcome, e));
            GiveUpAfterInvocation(batch);
            return;
        }

        if (!await BoundedAsync(write, cancellationToken).ConfigureAwait(false))
        {
            // The sink ignored cancellation and is still using the batch: what it marked so far is durable and is
            // read below; the batch object is given up so the next invocation does not share it with the sink.
            DescribeSinkIssue(batch, "had not returned at the deadline less the safety margin");
            GiveUpBatch(batch);
            summary.SetAggregateSinkResult(SinkOutcome.TimedOut, null);
            return;
        }

        try
        {
            await write.ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Not durable: the pairs it did not mark are reported below. Writes it started may still be running (a sink
            // that throws at its first failed write while the others are in flight): given up like a late sink's.
            SinkOutcome outcome = Classify(e, deadline, share);
            SetResult(summary.SetAggregateSinkResult, outcome, e);
            DescribeSinkIssue(batch, Threw(outcome, e));
            GiveUpAfterInvocation(batch);
            return;
        }

        if (batch.DurableCount < batch.Count)
        {
            // Returned with pairs unmarked: a write of it may still be running and mark them (or read the batch) later.
            GiveUpAfterInvocation(batch);
        }

        // Read before the deadline: a cancelled token with the deadline not passed is the caller's. Read after it, the
        // working-time timer could fire between the two reads, and a time-out was reported as the caller's cancellation.
        bool cancelledBeforeTheDeadline = given.IsCancellationRequested;
        if (batch.DurableCount < batch.Count && (deadline.IsCancellationRequested || share.IsCancellationRequested))
        {
            // It stopped when its time was up, as asked (the AWS sinks do): a time-out, not a sink that forgot to mark.
            // Our deadline or the share decides, as for a sink that throws (Classify), not the sink's token, which the
            // caller's cancellation also fires: that was a time-out when the sink returned and a failure when it threw.
            summary.SetAggregateSinkResult(SinkOutcome.TimedOut, null);
            DescribeSinkIssue(batch, "ran out of time (its budget ends at the deadline less the safety margin) and returned");
            return;
        }

        summary.SetAggregateSinkResult(SinkOutcome.Completed, null);
        if (batch.DurableCount < batch.Count)
        {
            DescribeSinkIssue(
                batch,
                cancelledBeforeTheDeadline ? "returned after the invocation was cancelled (the caller's token)"
                : batch.DurableCount == 0
                    ? "returned without marking any pair durable (call AggregateBatch.MarkDurable or MarkAllDurable for what it stored)"
                    : "returned with pairs left unmarked");
        }
    }

    /// <summary>
    /// Gives the batch up to a sink call that may still be using it (at once when the call is still running; at the end
    /// of the invocation, <see cref="GiveUpAfterInvocation"/>, when it threw or left pairs unmarked, so that this
    /// invocation still reads it as its own: its spill and its log line), so the next invocation does not share it: a write
    /// the sink left running (it returned, threw or ran out of time before that write ended) would otherwise mark the
    /// next invocation's pair of the same index durable, or read its data (found by review: a sink that awaits its
    /// parallel puts in order and throws at the first failure had its other puts mark the next batch's pairs, whose
    /// records were then reported done and lost). A call that marked every pair and returned keeps it: the pooled batch
    /// is what keeps a successful invocation from allocating.
    /// </summary>
    private void GiveUpBatch(AggregateBatch batch)
    {
        if (ReferenceEquals(batch, _batch))
        {
            _batch = new AggregateBatch(_options.Aggregator);
        }
        else
        {
            // A window flush's batch (the pooled one, or a flush of state written under other options) reads the
            // window's aggregators, which the next invocation restores: they go too.
            _flushBatch = new AggregateBatch(_options.Aggregator);
            _window = new WindowState(_options.Aggregator, _options.StateKey);
        }
    }

    /// <summary>For tests: the pooled batch the next invocation fills.</summary>
    internal AggregateBatch PooledBatch => _batch;

    /// <summary>Gives <paramref name="batch"/> up when the invocation ends (see <see cref="GiveUpBatch"/>).</summary>
    private void GiveUpAfterInvocation(AggregateBatch batch)
    {
        if (_aggregateSinkSettlesWrites)
        {
            return;
        }

        _giveUpBatch |= ReferenceEquals(batch, _batch);
        _giveUpFlushBatch |= !ReferenceEquals(batch, _batch);
    }

    /// <summary>
    /// Keeps the exception of a failure. A time-out's cancellation says nothing more than the outcome, unless it carries
    /// its cause: the AWS sinks, stopped after failed attempts, give the last attempt's error as the inner exception,
    /// which is the error then, of a time-out or (stopped by the caller's cancellation) of a failure (review: the
    /// failure named an inner exception the line never showed).
    /// </summary>
    private static void SetResult(Action<SinkOutcome, Exception?> set, SinkOutcome outcome, Exception e) =>
        set(outcome, outcome == SinkOutcome.Failed ? CauseOf(e) ?? e : CauseOf(e));

    private static Exception? CauseOf(Exception e) =>
        e is OperationCanceledException { InnerException: { } cause } && cause is not OperationCanceledException ? cause : null;

    /// <summary>
    /// A sink's exception is a time-out when it is a cancellation that came with or after our deadline, or the end of the
    /// sink's <paramref name="share"/> of it.
    /// </summary>
    private static SinkOutcome Classify(Exception e, CancellationToken deadline, CancellationToken share = default) =>
        e is OperationCanceledException && (deadline.IsCancellationRequested || share.IsCancellationRequested) ? SinkOutcome.TimedOut : SinkOutcome.Failed;

    /// <summary>
    /// What a sink that threw did, for <see cref="BatchSummary.AggregateSinkIssue"/>: a time-out says so, since its
    /// cancellation is not an error and leaves <see cref="BatchSummary.AggregateSinkError"/> empty, unless it carries the
    /// failed attempts' cause (<see cref="CauseOf"/>), which is the error then.
    /// </summary>
    private static string Threw(SinkOutcome outcome, Exception e) => outcome != SinkOutcome.TimedOut
        ? $"threw {e.GetType().Name}"
        : CauseOf(e) is { } cause
            ? $"ran out of time (its budget ends at the deadline less the safety margin) after failed attempts, the last with {cause.GetType().Name} (the error)"
            : $"ran out of time (its budget ends at the deadline less the safety margin) and threw {e.GetType().Name}";

    /// <summary>
    /// Learns the sinks' cost per pair and per poison record from a call that finished, ran out of time or failed, so the
    /// next invocation stops reading early enough for its sinks: a rise is taken at once, a fall halfway; but a time-out's
    /// lesson is replaced at once by the first call that finishes with everything durable.
    /// </summary>
    /// <remarks>
    /// A call that timed out with nothing durable teaches its whole time as the cost of one pair, so the next invocation
    /// reads one record: the progress an invocation can always make. Once a call finishes, the store answers again and
    /// its time is a cost; halved step by step from the time-out's seconds, a healthy table took nine invocations to read
    /// a 300-record batch whole again after one slow call (review: 1, 2, 3, 6, 12, 24, 44, 80 records, each a failed
    /// attempt to Lambda), and with bounded retries the batch could reach the on-failure destination meanwhile.
    /// </remarks>
    private void LearnSinkCosts(BatchSummary summary, int pairs, int pairsDurable, int poison, int poisonDurable)
    {
        long frequency = _time.TimestampFrequency;
        // A call that failed (the AWS sinks throw once a pair's retries are spent) is counted over all its pairs, as a
        // call that returned: over the durable ones alone, an outage's give-up would teach a cost of seconds per pair.
        if (pairs > 0 && summary.AggregateSinkOutcome is SinkOutcome.Completed or SinkOutcome.TimedOut or SinkOutcome.Failed)
        {
            int done = summary.AggregateSinkOutcome != SinkOutcome.TimedOut ? pairs : Math.Max(1, pairsDurable);
            Learn(ref _pairCostTicks, ref _pairCostFromTimeOut, (long)(summary.AggregateSinkDuration.TotalSeconds * frequency) / done, summary.AggregateSinkOutcome, pairsDurable == pairs);
        }

        if (poison > 0 && summary.QuarantineSinkOutcome is SinkOutcome.Completed or SinkOutcome.TimedOut or SinkOutcome.Failed)
        {
            int done = summary.QuarantineSinkOutcome != SinkOutcome.TimedOut ? poison : Math.Max(1, poisonDurable);
            Learn(ref _poisonCostTicks, ref _poisonCostFromTimeOut, (long)(summary.QuarantineSinkDuration.TotalSeconds * frequency) / done, summary.QuarantineSinkOutcome, poisonDurable == poison);
        }

        static void Learn(ref long cost, ref bool fromTimeOut, long measured, SinkOutcome outcome, bool allDurable)
        {
            if (outcome == SinkOutcome.TimedOut)
            {
                fromTimeOut = measured >= cost || fromTimeOut;
                cost = Blend(cost, measured);
            }
            else if (fromTimeOut && outcome == SinkOutcome.Completed && allDurable)
            {
                fromTimeOut = false;
                cost = measured;
            }
            else
            {
                cost = Blend(cost, measured);
            }
        }

        static long Blend(long previous, long measured) => measured >= previous ? measured : (previous + measured) / 2;
    }

    /// <summary>
    /// Keeps why aggregates are not durable, for the invocation log line (never an exception message: it may quote data):
    /// what the sink did and how many it made durable. What becomes of the others is not known here; the step that
    /// decides it ends the sentence (<see cref="EndSinkIssue"/>).
    /// </summary>
    private void DescribeSinkIssue(AggregateBatch batch, string what) => _sinkIssue = ReferenceEquals(batch, _batch)
        ? $"The aggregate sink {what}; {batch.DurableCount} of {batch.Count} pairs durable"
        : $"The aggregate sink {what}; {batch.DurableCount} of {batch.Count} window aggregates durable";

    /// <summary>
    /// Ends the sink's issue kept by <see cref="DescribeSinkIssue"/> with what became of the pairs it left
    /// (<paramref name="fate"/>, from ", " to the full stop) and puts it in the summary; nothing when the sink left none.
    /// </summary>
    private void EndSinkIssue(BatchSummary summary, string fate)
    {
        if (_sinkIssue is { } issue)
        {
            summary.AggregateSinkIssue = issue + fate;
            _sinkIssue = null;
        }
    }

    /// <summary>
    /// Waits for <paramref name="task"/> until the token fires and then <see cref="s_graceAfterCancel"/> more; false when
    /// the task is still running then.
    /// </summary>
    /// <remarks>
    /// The grace timer is started by the cancellation callback itself, through the processor's clock, and the wait ends
    /// on that timer's callback: the continuation never runs on the thread that cancelled (the caller's, for its own
    /// token), and under a virtual clock the timer exists before the clock moves on and fires on the clock's thread, so
    /// the give-up is as deterministic as the rest of the run.
    /// </remarks>
    private async Task<bool> BoundedAsync(Task task, CancellationToken cancellationToken)
    {
        if (task.IsCompleted)
        {
            return true;
        }

        var grace = new GraceWait(_time);
        Task first;
        using (cancellationToken.Register(static s => ((GraceWait)s!).Start(), grace))
        {
            // A sink that honours cancellation returns what it made durable within the grace time.
            first = await Task.WhenAny(task, grace.Over).ConfigureAwait(false);
        }

        // The registration is gone, so the callback has run or never will: the timer can be released.
        grace.Dispose();
        return first == task;
    }

    /// <summary>The grace wait after cancellation: a timer on the processor's clock, started by the cancellation callback.</summary>
    private sealed class GraceWait(TimeProvider time) : IDisposable
    {
        // Continuations run on the timer's callback (not RunContinuationsAsynchronously): that is the clock's thread.
        private readonly TaskCompletionSource _over = new();
        private ITimer? _timer;

        public Task Over => _over.Task;

        public void Start() =>
            _timer = time.CreateTimer(static s => ((TaskCompletionSource)s!).TrySetResult(), _over, s_graceAfterCancel, Timeout.InfiniteTimeSpan);

        public void Dispose() => _timer?.Dispose();
    }

    private async Task<T> TimedAsync<T>(Task<T> task, long start, Action<TimeSpan> record)
    {
        try
        {
            return await task.ConfigureAwait(false);
        }
        finally
        {
            record(_time.GetElapsedTime(start));
        }
    }

    private async Task TimedAsync(Task task, long start, Action<TimeSpan> record)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        finally
        {
            record(_time.GetElapsedTime(start));
        }
    }

    private void ReportQuarantineFailures(List<QuarantinedRecord> poison, int durable, BatchSummary summary)
    {
        summary.Quarantined = durable;
        if (durable < poison.Count)
        {
            // Records are in sequence order, so the first one not durable is the lowest.
            ReportFailure(poison[durable].SequenceNumber);
        }
    }

    private void ReportAggregateFailures(AggregateBatch batch)
    {
        for (int pair = 0; pair < batch.Count; pair++)
        {
            if (!batch.IsDurable(pair))
            {
                _response.ReportFailure(batch.GetFirstSequenceNumber(pair));
            }
        }
    }

    private void ReportFailure(string sequenceNumber)
    {
        Span<byte> digits = stackalloc byte[SequenceNumber.MaxDigits];
        int length = Encoding.ASCII.GetBytes(sequenceNumber, digits);
        _response.ReportFailure(digits.Slice(0, length));
    }
}
