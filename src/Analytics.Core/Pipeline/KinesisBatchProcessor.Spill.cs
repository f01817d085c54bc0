using System.Globalization;
using System.Text;

namespace Analytics.Core;

public sealed partial class KinesisBatchProcessor
{
    /// <summary>Most shards whose consecutive failures one processor remembers (a hint; see <see cref="ProcessorOptions.SpillAfterFailedInvocations"/>).</summary>
    private const int MaxRememberedShards = 1024;

    /// <summary>Share of the sinks' remaining time the aggregate sink gets when the batch may be spilled; the rest is the spill's.</summary>
    private const double AggregateShareBeforeSpill = 2.0 / 3.0;

    /// <summary>
    /// The aggregate sink's time instead when this processor's last invocation of the shard spilled (within the usual
    /// share): a short probe of whether the store is back, so that a shard in an outage spills at the pace records
    /// arrive. Fixed, not a share: a tenth of a 120 s timeout was 12 s per batch, and at BatchSize 100 and
    /// ParallelizationFactor 10 that spilled about 80 records/s per shard, far below a busy shard's rate.
    /// </summary>
    private static readonly TimeSpan s_probeWhileSpilling = TimeSpan.FromSeconds(1);

    /// <summary>
    /// While a shard spills, how soon after its first spill this processor probes the store; the invocations between
    /// spill without calling the aggregate sink. Each probe that finds the store still failing doubles the wait for the
    /// next, up to <see cref="s_longestProbeInterval"/>. A probe and the spill's read of the items each wait up to a
    /// second in a full outage, so probing every batch spilled one batch per 2.1 s per concurrent batch: 458 records/s
    /// per shard at BatchSize 100 and ParallelizationFactor 10, measured in the emulator, below a busy shard's 1,000.
    /// </summary>
    private static readonly TimeSpan s_probeIntervalWhileSpilling = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The longest wait between probes of a shard's store while it spills: how late, at most, this processor sees the
    /// store back; in a long outage each probe is a second of a lane that could have spilled a batch.
    /// </summary>
    private static readonly TimeSpan s_longestProbeInterval = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Shards whose last invocation in this processor spilled (or whose store took nothing), with this processor's last
    /// probe of the store for them and how many probes in a row found it failing (a hint that only shortens or skips
    /// the probe).
    /// </summary>
    private readonly Dictionary<string, SpillingShard> _spillingShards = new(StringComparer.Ordinal);

    /// <summary>A spilling shard as this processor knows it: when its store was last probed (or the shard first spilled), and how many probes since.</summary>
    private readonly record struct SpillingShard(long LastProbe, int Probes)
    {
        /// <summary>How long after the last probe the next one comes: 5 s after the first spill, then 10, 20, and 30 s.</summary>
        public TimeSpan Interval => Probes >= 3 ? s_longestProbeInterval : s_probeIntervalWhileSpilling * (1 << Probes);
    }

    /// <summary>The probe's length: one second, within the usual share.</summary>
    private static TimeSpan ProbeWithin(TimeSpan usual) => usual < s_probeWhileSpilling ? usual : s_probeWhileSpilling;

    /// <summary>Whether the spilling shard's next probe is due.</summary>
    private bool IsProbeDue(in SpillingShard known) => _time.GetElapsedTime(known.LastProbe) >= known.Interval;

    /// <summary>Notes a probe of the shard's store now (the shard must be spilling).</summary>
    private void NoteProbe(string shardId, SpillingShard known) => _spillingShards[shardId] = new SpillingShard(_time.GetTimestamp(), known.Probes + 1);

    /// <summary>Per shard, how many invocations in a row (in this processor) left aggregates not durable.</summary>
    private readonly Dictionary<string, int> _failedInvocations = new(StringComparer.Ordinal);

    /// <summary>Whether the batch may be spilled: a spill sink is set, and the batch is old enough or its shard kept failing.</summary>
    private bool IsSpillCandidate(BatchSummary summary, AggregateBatch batch)
    {
        if (_options.SpillSink is null || batch.Count == 0)
        {
            return false;
        }

        return ReachesSpillTrigger(summary.OldestRecordAge, summary.ShardId);
    }

    /// <summary>
    /// The two spill triggers, one rule for the decision at the first record (<see cref="IsSpillBounded"/>) and at the end
    /// (<see cref="IsSpillCandidate"/>): the oldest record is <see cref="ProcessorOptions.SpillAfterAge"/> old, or this
    /// processor counted <see cref="ProcessorOptions.SpillAfterFailedInvocations"/> failed invocations of the shard in a
    /// row (<paramref name="shardId"/> null: none of any shard is remembered).
    /// </summary>
    private bool ReachesSpillTrigger(TimeSpan oldestAge, string? shardId) =>
        oldestAge >= _options.SpillAfterAge ||
        (_options.SpillAfterFailedInvocations > 0 && shardId is not null && _failedInvocations.TryGetValue(shardId, out int failed) && failed >= _options.SpillAfterFailedInvocations);

    /// <summary>
    /// How long until a batch that is not a spill candidate reaches <see cref="ProcessorOptions.SpillAfterAge"/>, when it
    /// does within the aggregate sink's usual share of the <paramref name="left"/> time (two thirds): such a batch is a
    /// spill candidate at the end of that share, if the sink leaves pairs. Failed instead after the whole working time,
    /// a young batch in an outage in which the store did not answer held its lane 108 s of a 120 s timeout and one more
    /// invocation (measured with the emulator: the max iterator age of ten minutes of it was 282 s at a 60 s spill age).
    /// Null for a batch that does not (or without a spill sink).
    /// </summary>
    private TimeSpan? UntilSpillAgeWithinShare(TimeSpan age, TimeSpan left)
    {
        if (_options.SpillSink is null)
        {
            return null;
        }

        TimeSpan until = _options.SpillAfterAge - age;
        return until > TimeSpan.Zero && until <= left * AggregateShareBeforeSpill ? until : null;
    }

    /// <summary>
    /// For a batch that reaches the spill age within the sink's usual share (<see cref="UntilSpillAgeWithinShare"/>): the
    /// aggregate sink's share, started now. It is the usual one, or, while this processor knows the shard's store to take
    /// nothing (<see cref="_spillingShards"/>), the time until the spill age (the batch cannot be spilled before: the store
    /// may as well have it), and at least the probe's second when a probe is due. Cancelled, it says the batch reached
    /// the spill age. Null when the batch does not reach the spill age in the share.
    /// </summary>
    /// <remarks>
    /// Without the probe's interval, every such batch gave the store at least a second: while a table did not answer, a
    /// shard's lanes met batches just younger than the spill age, and half the invocations of a ten-minute outage were
    /// such seconds (the emulator, ParallelizationFactor 10).
    /// </remarks>
    private CancellationTokenSource? StartShareUntilSpillAge(BatchSummary summary, AggregateBatch batch, TimeSpan left)
    {
        if (batch.Count == 0 || UntilSpillAgeWithinShare(summary.OldestRecordAge, left) is not { } until)
        {
            return null;
        }

        TimeSpan usual = left * AggregateShareBeforeSpill;
        TimeSpan share = usual;
        if (_spillingShards.TryGetValue(summary.ShardId, out SpillingShard known))
        {
            TimeSpan probe = ProbeWithin(usual);
            share = until;
            if (until < probe && IsProbeDue(known))
            {
                share = probe;
            }

            if (share >= probe)
            {
                NoteProbe(summary.ShardId, known);
            }
        }

        return new CancellationTokenSource(share, _time);
    }

    /// <summary>
    /// For a batch that reaches the spill age within the sink's share: removes an unconfirmed spill of an earlier attempt
    /// where another environment may have made one (<see cref="MaySpilledElsewhere"/>; an attempt here that spilled it by
    /// age makes every later one a spill candidate, which removes it), then gives the aggregate sink the share.
    /// </summary>
    private async Task WriteAggregatesUntilSpillAgeAsync(AggregateBatch batch, BatchSummary summary, CancellationToken share, CancellationToken deadline, CancellationToken cancellationToken)
    {
        if (!MaySpilledElsewhere || await RemoveUnconfirmedSpillAsync(batch, summary, cancellationToken).ConfigureAwait(false))
        {
            await WriteAggregatesAsync(batch, summary, deadline, cancellationToken, share).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// For a batch that may be spilled: removes an unconfirmed spill of an earlier attempt that began at the same record
    /// (its records must not be both in a spill and in the table), then gives the aggregate sink its share of the
    /// time, so that the rest is left for a spill.
    /// </summary>
    private async Task WriteAggregatesBeforeSpillAsync(AggregateBatch batch, BatchSummary summary, TimeSpan left, CancellationToken deadline, CancellationToken cancellationToken)
    {
        if (!await RemoveUnconfirmedSpillAsync(batch, summary, cancellationToken).ConfigureAwait(false))
        {
            return;
        }

        // While spilling: one second (within the usual share) to see a recovered store, at growing intervals.
        bool spilling = _spillingShards.TryGetValue(summary.ShardId, out SpillingShard known);
        if (spilling && !IsProbeDue(known))
        {
            summary.AggregateSinkIssue = string.Create(
                CultureInfo.InvariantCulture,
                $"The aggregate sink was not called: the shard is spilling and the store was probed {_time.GetElapsedTime(known.LastProbe).TotalSeconds:F1} s ago (next after {known.Interval.TotalSeconds:F0} s); {batch.Count} pairs left for a spill.");
            return;
        }

        if (spilling)
        {
            NoteProbe(summary.ShardId, known);
        }

        TimeSpan usual = left * AggregateShareBeforeSpill;
        using var share = new CancellationTokenSource(spilling ? ProbeWithin(usual) : usual, _time);
        // The sink gets the share; the processor's wait stays bounded by the working time, so a sink that honours the
        // share's cancellation returns on the clock's own thread (no give-up continuation, which would leave it).
        await WriteAggregatesAsync(batch, summary, deadline, cancellationToken, share.Token).ConfigureAwait(false);
    }

    /// <summary>
    /// Whether an earlier attempt of this batch may have spilled it in another execution environment although this
    /// processor does not count it a spill candidate: <see cref="ProcessorOptions.SpillAfterFailedInvocations"/> counts
    /// failures per processor, so the environment that spilled counted them and this one did not. (The age rule holds in
    /// every environment alike.)
    /// </summary>
    private bool MaySpilledElsewhere => _options.SpillSink is not null && _options.SpillAfterFailedInvocations > 0;

    /// <summary>
    /// For a batch that is not a spill candidate here but may have been spilled by an attempt in another environment
    /// (<see cref="MaySpilledElsewhere"/>): removes that attempt's unconfirmed spill, then writes as usual. Kept, the spill
    /// held records the table then got too, and the redrive applied them a second time.
    /// </summary>
    private async Task WriteAggregatesAfterRemovingSpillAsync(AggregateBatch batch, BatchSummary summary, CancellationToken deadline, CancellationToken cancellationToken)
    {
        if (await RemoveUnconfirmedSpillAsync(batch, summary, cancellationToken).ConfigureAwait(false))
        {
            await WriteAggregatesAsync(batch, summary, deadline, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Removes an unconfirmed spill of an earlier attempt that began at the same record (its records must not be both in
    /// a spill and in the table). False, with the summary's issue set, when that could not be done: then nothing may be
    /// written to the table.
    /// </summary>
    private async Task<bool> RemoveUnconfirmedSpillAsync(AggregateBatch batch, BatchSummary summary, CancellationToken cancellationToken)
    {
        ISpillSink spill = _options.SpillSink!;
        bool removed;
        string? error = null;
        try
        {
            Task<bool> remove = spill.RemoveUnconfirmedAsync(summary.ShardId, summary.EventSourceArn, summary.FirstSequenceNumber!, cancellationToken);
            removed = await BoundedAsync(remove, cancellationToken).ConfigureAwait(false) && remove.IsCompletedSuccessfully && remove.Result;
            if (remove.IsFaulted)
            {
                error = BatchSummary.DescribeError(remove.Exception);
            }
            else if (remove.IsCanceled && StoppedCause(remove) is { } cause)
            {
                // Stopped after failed attempts (the S3 spill sink's time-out): the last attempt's error.
                error = BatchSummary.DescribeError(cause);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A cancellation with no failed attempt behind it is a time-out, not the spill sink's error.
            removed = false;
            error = e is OperationCanceledException && CauseOf(e) is null ? null : BatchSummary.DescribeError(CauseOf(e) ?? e);
        }

        if (error is not null)
        {
            // The spill sink failed: an Error line and SinkErrors (found by review: only the aggregate sink's issue said
            // so, at Warn, while a role without s3:DeleteObject kept every batch from the table).
            summary.SpillOutcome = SinkOutcome.Failed;
            summary.SetSpillError("The removal of an unconfirmed spill failed: " + error);
        }

        if (!removed)
        {
            // Not written: the table must not get records an unconfirmed spill may also hold. Re-delivered, or spilled.
            // The spill sink's error, when it threw, is the operator's lead (a bucket that does not exist, access denied).
            summary.AggregateSinkIssue = $"The aggregate sink was not called: an unconfirmed spill of a batch beginning at this record could not be ruled out; {batch.Count} pairs left for a spill or re-delivery." +
                (error is null ? string.Empty : $" The spill sink's removal failed: {error}");
        }

        return removed;
    }

    /// <summary>The failed attempts' cause a cancelled <paramref name="task"/> was stopped with (<see cref="CauseOf"/>), if any.</summary>
    private static Exception? StoppedCause(Task task)
    {
        try
        {
            task.GetAwaiter().GetResult();
            return null;
        }
        catch (OperationCanceledException e)
        {
            return CauseOf(e);
        }
    }

    /// <summary>
    /// Reports the pairs that are not durable, or, when the batch may be spilled, spills them and reports the batch as
    /// done (but a record the pipeline stopped before, which Lambda must still deliver).
    /// </summary>
    private async Task ReportOrSpillAsync(AggregateBatch batch, bool candidate, bool poisonDurable, BatchSummary summary, CancellationToken deadline, CancellationToken cancellationToken)
    {
        bool failed = batch.DurableCount < batch.Count;
        // A spill is written only when every other effect of the batch is durable (a poison record not quarantined is
        // re-delivered with every record after it: those must not be in a spill too), and only from a batch the
        // aggregate sink has returned (one still running may yet mark pairs durable).
        if (!candidate || !failed || !poisonDurable || !ReferenceEquals(batch, _batch))
        {
            ReportAggregateFailures(batch);
            EndSinkIssue(summary, failed ? ", the first record of an unmarked pair is reported as the checkpoint." : ".");
            NoteShardOutcome(summary, batch, failed);
            return;
        }

        string? stop = _response.HasFailure ? Encoding.ASCII.GetString(_response.LowestFailure) : null;
        ReportAggregateFailures(batch);

        // The spill's id is the batch's first record: whatever way Lambda retries a batch whose spill was not confirmed
        // (from the checkpoint reported below, whole after a crash, or bisected), the retry begins at this record and
        // removes the spill first (WriteAggregatesBeforeSpillAsync).
        string spillId = summary.FirstSequenceNumber!;
        var names = new Dictionary<int, (string Sequence, string Key)>();
        var pairs = new List<SpilledPair>();
        for (int pair = 0; pair < batch.Count; pair++)
        {
            if (!batch.IsDurable(pair))
            {
                pairs.Add(new SpilledPair(pair, batch.GetSamples(pair, names)));
            }
        }

        bool spilled = false;
        try
        {
            Task<bool> write = _options.SpillSink!.WriteAsync(new SpillBatch(batch, spillId, pairs), cancellationToken);
            if (await BoundedAsync(write, cancellationToken).ConfigureAwait(false))
            {
                spilled = await write.ConfigureAwait(false);
                bool cancelled = cancellationToken.IsCancellationRequested; // before the deadline's read, as for the aggregate sink
                summary.SpillOutcome = spilled ? SinkOutcome.Completed : deadline.IsCancellationRequested ? SinkOutcome.TimedOut : SinkOutcome.Failed;
                if (summary.SpillOutcome == SinkOutcome.Failed)
                {
                    // Never only "Failed", here either: the sink gave no words, so the line says what is known.
                    summary.SetSpillError(cancelled
                        ? "The spill sink returned false (not stored) after the caller cancelled the invocation."
                        : "The spill sink returned false (not stored) with time left, and gave no error.");
                }
            }
            else
            {
                // The sink ignored cancellation and still reads the batch: the next invocation gets a new one.
                _batch = new AggregateBatch(_options.Aggregator);
                summary.SpillOutcome = SinkOutcome.TimedOut;
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            summary.SpillOutcome = e is OperationCanceledException && deadline.IsCancellationRequested ? SinkOutcome.TimedOut : SinkOutcome.Failed;
            if (summary.SpillOutcome == SinkOutcome.Failed)
            {
                // Never only "Failed": the operator needs the spill sink's words (a missing bucket, access denied).
                summary.SetSpillError(CauseOf(e) ?? e);
            }
            else if (CauseOf(e) is { } cause)
            {
                // Out of time after failed attempts: the last one's error, as for the other sinks (found by review: a
                // throttled spill bucket showed a bare TimedOut at Warn).
                summary.SetSpillError(cause);
            }
        }

        // After a spill the pairs left were not reported: they were spilled, or, the spill not confirmed, the batch is
        // re-delivered from its first record.
        EndSinkIssue(summary, spilled
            ? string.Create(CultureInfo.InvariantCulture, $", the other {pairs.Count} spilled.")
            : ", the spill of the others was not confirmed: the batch's first record is reported as the checkpoint.");
        if (spilled)
        {
            summary.SpilledAggregates = pairs.Count;
            summary.SpilledRecords = names.Count;
            _response.Reset();
            if (stop is not null)
            {
                ReportFailure(stop);
            }
        }
        else
        {
            // The spill may have landed unconfirmed: the retry must begin at its id, the batch's first record (the
            // records of durable pairs before the checkpoint come again; their watermarks skip them).
            ReportFailure(spillId);
        }

        NoteShardOutcome(summary, batch, failed, spilled);
    }

    /// <summary>
    /// What the invocation tells of the shard: whether it failed (a spill counts as done), and what its store showed, for
    /// the spill's probes (<see cref="_spillingShards"/>). A shard that spilled, or whose store took nothing of the
    /// sink's call (down, or not answering), is probed, not given the usual share again, when this processor next meets
    /// it with a batch that may be spilled: each such meeting cost two thirds of an invocation (72 s at a 120 s timeout)
    /// while a table did not answer. A spill that failed says nothing of the store (with ten concurrent batches a spill
    /// failed now and then on the shard's marker), nor does a sink that was not called (an earlier attempt's spill could
    /// not be ruled out, the store was probed a moment ago, or the batch had no pairs: every record poison): what was
    /// known stays. A store that took part of the batch is up: the shard is forgotten, or, spilled, probed again at the
    /// first interval.
    /// </summary>
    private void NoteShardOutcome(BatchSummary summary, AggregateBatch batch, bool failed, bool spilled = false)
    {
        string shardId = summary.ShardId;
        NoteFailedInvocation(shardId, failed && !spilled);
        bool tookNothing = failed && batch.DurableCount == 0 && _options.SpillSink is not null && ReferenceEquals(batch, _batch);
        if (!spilled && summary.AggregateSinkOutcome == SinkOutcome.NotCalled)
        {
            // Not "took part" either: a batch without pairs, which does not fail, once made the processor forget a
            // spilling shard, and the next old batch gave a store that had taken nothing two thirds of its time (review).
            return;
        }

        if (!spilled && !tookNothing)
        {
            _spillingShards.Remove(shardId);
            return;
        }

        if (_spillingShards.Count >= MaxRememberedShards)
        {
            _spillingShards.Clear();
        }

        // The first spill, or a call in which the store took nothing, counts as a probe: this invocation gave the store its
        // share and got nothing from it.
        if (!_spillingShards.TryAdd(shardId, new SpillingShard(_time.GetTimestamp(), 0)) && !tookNothing)
        {
            _spillingShards[shardId] = _spillingShards[shardId] with { Probes = 0 };
        }
    }

    /// <summary>Counts the shard's failed invocations in a row (<see cref="ProcessorOptions.SpillAfterFailedInvocations"/>).</summary>
    private void NoteFailedInvocation(string shardId, bool failed)
    {
        if (_options.SpillAfterFailedInvocations <= 0)
        {
            return;
        }

        if (!failed)
        {
            _failedInvocations.Remove(shardId);
            return;
        }

        if (_failedInvocations.Count >= MaxRememberedShards && !_failedInvocations.ContainsKey(shardId))
        {
            _failedInvocations.Clear();
        }

        _failedInvocations[shardId] = _failedInvocations.GetValueOrDefault(shardId) + 1;
    }
}
