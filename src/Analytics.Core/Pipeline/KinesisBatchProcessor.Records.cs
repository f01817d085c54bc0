using System.Globalization;
using System.Text;

namespace Analytics.Core;

public sealed partial class KinesisBatchProcessor
{
    /// <summary>The window facts of the event's envelope, kept once the spans are gone (the rest goes to the summary).</summary>
    private readonly record struct WindowEnvelope(bool IsFinalInvokeForWindow, bool IsWindowTerminatedEarly, byte[] State);

    /// <summary>When reading must stop (timestamps of the processor's clock) and what the sinks cost, as learnt.</summary>
    private struct ReadPlan
    {
        /// <summary>End of the reading share: no record is started at or after it (but the first).</summary>
        public long ReadEnd;

        /// <summary>End of the working time, when the sinks' token fires.</summary>
        public long WorkEnd;

        /// <summary>Measured aggregate-sink time per pair (0: unknown).</summary>
        public long PairCost;

        /// <summary>Measured quarantine-sink time per poison record (0: unknown).</summary>
        public long PoisonCost;

        /// <summary>
        /// Whether the aggregate sink's cost is left out of the stop: the batch may be spilled (by age or by its shard's
        /// failures), so the aggregate sink gets a bounded share of the time whatever the pairs, and the pairs it leaves
        /// go to one spill object.
        /// </summary>
        public bool SpillBounded;

        /// <summary>
        /// Whether the learnt costs are left out of the stop: the event is a tumbling-window one, found out when they
        /// would first stop it (<see cref="IsOutOfTime"/>).
        /// </summary>
        public bool WindowRead;
    }

    /// <summary>What became of one record.</summary>
    private enum RecordOutcome
    {
        /// <summary>Valid and aggregated, or poison and quarantined.</summary>
        Done,

        /// <summary>It would pass the cap on pairs: nothing of it was kept; the batch is split before it.</summary>
        Split,
    }

    /// <summary>The synchronous part: read, parse, validate and aggregate every record, until the plan says stop.</summary>
    /// <remarks>The envelope's facts go to <paramref name="summary"/>, which the rest of the invocation reads them from.</remarks>
    private WindowEnvelope ReadRecords(ReadOnlySpan<byte> utf8Event, ReadPlan plan, BatchSummary summary)
    {
        var reader = new KinesisEventReader(utf8Event);
        _eventSourceArn = null;
        _batch.Reset(hasSampleLog: true);
        _pendingCount = 0;
        _enforceCap = true;
        _poisonCallbacks = 0;
        ReadOnlySpan<byte> lastSequence = default;
        ReadOnlySpan<byte> shard = default;
        long oldestArrival = long.MaxValue;
        long newestArrival = long.MinValue;
        bool stopped = false;
        long aggregateTicks = 0;

        while (reader.Read())
        {
            KinesisRecord record = reader.Current;
            if (summary.FirstSequenceNumber is null)
            {
                summary.FirstSequenceNumber = record.GetSequenceNumberString();
                shard = record.ShardId;
                NoteEventSourceArn(reader);
                plan.SpillBounded = IsSpillBounded(record, reader, plan.WorkEnd);
            }

            lastSequence = record.SequenceNumber;
            oldestArrival = Math.Min(oldestArrival, record.ApproximateArrivalTimestampMs);
            newestArrival = Math.Max(newestArrival, record.ApproximateArrivalTimestampMs);
            if (stopped)
            {
                continue;
            }

            // The first record is always processed: every invocation that can do anything makes progress.
            if (summary.RecordsProcessed > 0 && IsOutOfTime(ref plan, reader))
            {
                // This record and all after it are left to Lambda's re-delivery.
                stopped = true;
                summary.StopReason = BatchStopReason.TimeBudget;
                _response.ReportFailure(record.SequenceNumber);
                continue;
            }

            // Past the cap in a tumbling-window invocation (lifted there, below) a record's verdict is still its own:
            // one that alone holds more pairs than the cap is poison, as it is first in a batch, even when every pair
            // it holds already exists (review: it was quarantined first in a window batch, aggregated after others).
            AloneAtCap alone = _enforceCap ? AloneAtCap.Within : JudgeAloneAtCap(record);
            if (ProcessRecord(record, alone, ref aggregateTicks, summary) == RecordOutcome.Split)
            {
                // Our own split at the cap (not in a tumbling-window invocation, whose state must hold the whole batch).
                if (IsWindowEvent(reader))
                {
                    _enforceCap = false;
                    ProcessRecord(record, JudgeAloneAtCap(record), ref aggregateTicks, summary);
                }
                else
                {
                    stopped = true;
                    summary.StopReason = BatchStopReason.PairCap;
                    _response.ReportFailure(record.SequenceNumber);
                    continue;
                }
            }

            summary.RecordsProcessed++;
            if (_pendingCount >= PendingCommitThreshold)
            {
                CommitPending(ref aggregateTicks);
            }
        }

        CommitPending(ref aggregateTicks);

        summary.Records = reader.RecordCount;
        if (shard.IsEmpty)
        {
            shard = reader.ShardId;
        }

        NoteEventSourceArn(reader);
        // A window event without records has only the top-level shardId, which a writer may spell with escapes: the
        // sinks keep the window flush's watermark per shard, so the shard is its text, as a record's shard is.
        summary.ShardId = JsonText.GetText(shard);
        summary.EventSourceArn = _eventSourceArn;
        summary.LastSequenceNumber = lastSequence.IsEmpty ? null : Encoding.ASCII.GetString(lastSequence);
        summary.IsWindowInvocation = reader.HasWindow;
        _batch.SetSource(summary.ShardId, summary.EventSourceArn);
        summary.AggregateDuration = TimeSpan.FromSeconds(aggregateTicks / (double)_time.TimestampFrequency);
        if (summary.Records > 0)
        {
            long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
            summary.OldestRecordAge = AgeAt(now, oldestArrival);
            summary.NewestRecordAge = AgeAt(now, newestArrival);
        }

        return reader.HasWindow ? new WindowEnvelope(reader.IsFinalInvokeForWindow, reader.IsWindowTerminatedEarly, reader.State.ToArray()) : default;
    }

    /// <summary>
    /// Takes the event source ARN as a string (its text) the first time the reader has one: at the first record (quarantine
    /// entries carry it from there on), or at the end (a top-level ARN after the records).
    /// </summary>
    private void NoteEventSourceArn(in KinesisEventReader reader)
    {
        if (_eventSourceArn is null && !reader.EventSourceArn.IsEmpty)
        {
            // Its text, escapes resolved (a writer may spell "/" as "\/"): the sinks keep it as the stream of what they
            // write (DynamoDB refuses a write of another stream, S3 keys name it).
            _eventSourceArn = JsonText.GetText(reader.EventSourceArn);
        }
    }

    /// <summary>
    /// Whether reading must stop: at the end of the reading share, or earlier when the sinks' learnt costs for what was
    /// read, with a quarter of headroom, would not fit in the working time. A tumbling-window invocation stops at the
    /// end of the reading share only: one that stops early fails whole (its state cannot express a partial batch), so
    /// a stop there never makes progress, and the costs fit its writes badly (its aggregates are written only when the
    /// window is flushed, all of the window's pairs at once). They come from the plain batches of the same
    /// processor (window invocations do not learn them), so before, a processor serving a window mapping and a plain
    /// one, after a plain write that timed out, read one record of every window batch and failed it (review); the
    /// window's shard was blocked until a plain invocation lowered the cost. Whether the event is a window one is
    /// found out only when the costs would stop it, by reading a copy of the event to its end once.
    /// </summary>
    private bool IsOutOfTime(ref ReadPlan plan, in KinesisEventReader reader)
    {
        long now = _time.GetTimestamp();
        if (now >= plan.ReadEnd)
        {
            return true;
        }

        // A quarter of headroom over the measured cost.
        long sinks = (plan.SpillBounded ? 0 : plan.PairCost * _batch.Count) + (plan.PoisonCost * _quarantine.Count);
        if (plan.WindowRead || sinks == 0 || now + sinks + (sinks / 4) < plan.WorkEnd)
        {
            return false;
        }

        plan.WindowRead = IsWindowEvent(reader);
        return !plan.WindowRead;
    }

    /// <summary>
    /// Whether the batch will be a spill candidate whatever is read of it (see <see cref="IsSpillCandidate"/>): a spill
    /// sink is set, the event is not a tumbling-window one (a window invocation never spills), and the first record is
    /// <see cref="ProcessorOptions.SpillAfterAge"/> old (the oldest is at least as old), or will be within the sink's
    /// share of the time left (<see cref="UntilSpillAgeWithinShare"/>), or this processor counted
    /// <see cref="ProcessorOptions.SpillAfterFailedInvocations"/> failed invocations of the shard in a row. Then the
    /// aggregate sink gets a bounded share of the time (<see cref="WriteAggregatesBeforeSpillAsync"/>) and what it leaves
    /// goes to the spill, so its learnt cost per pair must not cut the reading: after a write that timed out with nothing
    /// durable (its whole time counted for one pair), such a batch was read one or two records at a time (review: by age
    /// first, then by failure count).
    /// </summary>
    private bool IsSpillBounded(in KinesisRecord first, in KinesisEventReader reader, long workEnd)
    {
        if (_options.SpillSink is null)
        {
            return false;
        }

        // The shard id is decoded only when its failures could decide: one string per invocation while a failure is remembered.
        TimeSpan age = AgeAt(_time.GetUtcNow().ToUnixTimeMilliseconds(), first.ApproximateArrivalTimestampMs);
        string? shardId = age < _options.SpillAfterAge && _failedInvocations.Count > 0 ? Encoding.UTF8.GetString(first.ShardId) : null;
        // Or the batch reaches the spill age within the sink's share of what is left: so it does at the sinks' start too,
        // its age growing as fast as the time left shrinks (UntilSpillAgeWithinShare).
        TimeSpan left = TimeSpan.FromSeconds(Math.Max(0, workEnd - _time.GetTimestamp()) / (double)_time.TimestampFrequency);
        return (ReachesSpillTrigger(age, shardId) || UntilSpillAgeWithinShare(age, left) is not null) && !IsWindowEvent(reader);
    }

    /// <summary>A record's age at <paramref name="nowMs"/>, as the summary reports it (never negative).</summary>
    private static TimeSpan AgeAt(long nowMs, long arrivalMs) => TimeSpan.FromMilliseconds(Math.Max(0, nowMs - arrivalMs));

    /// <summary>Whether the event is a tumbling-window one; reads a copy of the reader to the end when the window comes after the records.</summary>
    private static bool IsWindowEvent(KinesisEventReader reader)
    {
        if (reader.HasWindow)
        {
            return true;
        }

        KinesisEventReader probe = reader;
        while (probe.Read())
        {
        }

        return probe.HasWindow;
    }

    /// <summary>
    /// The record's partition key as the sinks tell keys apart (<see cref="AggregateBatch.GetPartitionKey"/>): a key that
    /// is text is its UTF-8 without JSON escapes (the raw bytes when unescaped, else unescaped into a reused buffer, so a
    /// producer's escaped keys cost no allocation per record); any other key (an escape of a lone surrogate, bytes that
    /// are not UTF-8) is 0xFF, a byte no text holds, followed by its bytes as the event spells them. So two different
    /// keys never share a watermark: decoded to text, they could (both to U+FFFD, or a lone surrogate's escape to the
    /// text that spells it), and a record of the one would then be skipped as already applied once the other's passed it.
    /// </summary>
    private ReadOnlySpan<byte> UnescapedPartitionKey(in KinesisRecord record)
    {
        ReadOnlySpan<byte> raw = record.RawPartitionKey;
        if (!record.PartitionKeyIsEscaped && System.Text.Unicode.Utf8.IsValid(raw))
        {
            return raw;
        }

        if (_keyScratch.Length < raw.Length + 1)
        {
            _keyScratch = new byte[Math.Max(_keyScratch.Length * 2, raw.Length + 1)];
        }

        if (record.PartitionKeyIsEscaped && JsonText.Unescape(raw, _keyScratch, out int written) == UnescapeStatus.Ok &&
            System.Text.Unicode.Utf8.IsValid(_keyScratch.AsSpan(0, written)))
        {
            return _keyScratch.AsSpan(0, written);
        }

        _keyScratch[0] = AggregateBatch.NotTextKeyMark;
        raw.CopyTo(_keyScratch.AsSpan(1));
        return _keyScratch.AsSpan(0, raw.Length + 1);
    }

    /// <param name="record">The record.</param>
    /// <param name="alone">Whether it alone holds more pairs than the cap (<see cref="JudgeAloneAtCap"/>, asked only where
    /// the cap is lifted): if so it is quarantined as <see cref="PoisonReason.CardinalityLimit"/>, as it is first in a
    /// batch.</param>
    /// <param name="aggregateTicks">Time spent aggregating, added to.</param>
    /// <param name="summary">The invocation's counts.</param>
    private RecordOutcome ProcessRecord(in KinesisRecord record, AloneAtCap alone, ref long aggregateTicks, BatchSummary summary)
    {
        // The Kinesis record's own partition key (a KPL container's, not its user records'): Lambda orders concurrent
        // batches of a shard by it, and the sinks keep their watermarks per (shard, partition key).
        int recordIndex = _batch.AddRecordOnce(record.SequenceNumber, UnescapedPartitionKey(in record));
        if (alone != AloneAtCap.Within)
        {
            Quarantine(record, PoisonReason.CardinalityLimit, PoisonDetail.Bound(alone == AloneAtCap.PastAsContainer ? ContainerPastCapDetail() : RecordPastCapDetail()), null, default, summary);
            return RecordOutcome.Done;
        }

        MetricAggregator aggregator = _batch.Aggregator;
        int pairMark = aggregator.PairCount;
        int pendingMark = _pendingCount;

        // The one validation path (shared with RecordValidator): decode, de-aggregate, then parse each unit. Every
        // user record of a KPL container is validated and aggregated on its own; all of them share the container's
        // sequence number, so their effects become durable (or are reported) together, and a split takes the
        // container whole.
        var units = RecordUnits.Open(record, _decoder, _schema.Options.MaxRecordBytes);
        _containerPoisonReasons.Clear();
        List<int>? poisonSubs = null;
        QuarantinedRecord? firstPoison = null;
        int validUnits = 0;
        while (units.MoveNext())
        {
            PoisonReason reason = units.Reason;
            string? detail = units.Detail;
            if (reason == PoisonReason.None)
            {
                reason = ParseAndAggregate(units.Data, record.ApproximateArrivalTimestampMs, recordIndex, pairMark == 0, out detail);
            }

            if (reason == SplitHere)
            {
                aggregator.RollbackTo(pairMark);
                _pendingCount = pendingMark;
                return RecordOutcome.Split;
            }

            if (reason == PoisonReason.None)
            {
                validUnits++;
                continue;
            }

            if (reason == PoisonReason.CardinalityLimit && units.SubSequenceNumber is not null)
            {
                // Past the cap in a container that started the batch: the container alone holds more pairs than the cap
                // (its user records together; a split takes it whole, so it would come back alone, again). Quarantined
                // whole, as a plain record alone past the cap is: which of its user records came after the cap says
                // nothing of them, and the one that passed it did not hold those pairs alone.
                aggregator.RollbackTo(pairMark);
                _pendingCount = pendingMark;
                Quarantine(record, reason, PoisonDetail.Bound(ContainerPastCapDetail()), null, default, summary);
                return RecordOutcome.Done;
            }

            string bounded = PoisonDetail.Bound(detail ?? reason.ToString());
            if (units.SubSequenceNumber is not int sub)
            {
                // A plain record, or a container that is poison as a whole: the record is its only unit.
                Quarantine(record, reason, bounded, null, default, summary);
                return RecordOutcome.Done;
            }

            firstPoison ??= CreateQuarantined(record, reason, bounded, sub, units.User);
            (poisonSubs ??= []).Add(sub);
            _containerPoisonReasons.Add(reason);
        }

        if (firstPoison is not null)
        {
            // The container's poison user records go out together: one quarantine entry, one callback, one write.
            AddQuarantined(Group(record, firstPoison, poisonSubs!), summary, countReason: false);
            foreach (PoisonReason r in _containerPoisonReasons)
            {
                summary.CountPoison(r);
            }
        }

        summary.ValidRecords += validUnits;
        summary.Samples += _pendingCount - pendingMark;
        return RecordOutcome.Done;
    }

    /// <summary>
    /// Whether <paramref name="record"/> alone holds more (series, window) pairs than the cap: what processing it first in
    /// a batch finds (<see cref="ProcessRecord"/>), counted in a probe aggregator of its own. Unit by unit, as that does:
    /// a unit found poison (a bad sample, a timestamp out of range) takes its pairs back, and the cap is met only by
    /// samples read before that. Only where the cap is lifted: in a tumbling-window invocation, which cannot split.
    /// </summary>
    private AloneAtCap JudgeAloneAtCap(in KinesisRecord record)
    {
        MetricAggregator probe = _capProbe ??= new MetricAggregator(_options.Aggregator);
        // Its own pairs go, newest first: the cost of this record's pairs, not of clearing a table sized for the largest
        // record seen, once per record past the cap (review).
        probe.RollbackTo(0);
        var units = RecordUnits.Open(record, _decoder, _schema.Options.MaxRecordBytes);
        while (units.MoveNext())
        {
            if (units.Reason != PoisonReason.None)
            {
                continue;
            }

            int mark = probe.PairCount;
            var parser = new MetricRecordParser(units.Data, _scratch, _schema, record.ApproximateArrivalTimestampMs);
            bool unitPoison = false;
            while (parser.TryReadSample(out MetricSample sample))
            {
                if (!probe.IsTimestampInRange(sample.TimestampMs))
                {
                    unitPoison = true;
                    break;
                }

                if (!probe.TryGetOrAddPair(sample.Key.Encoded, sample.TimestampMs, enforceCap: true, out _))
                {
                    return units.SubSequenceNumber is null ? AloneAtCap.Past : AloneAtCap.PastAsContainer;
                }
            }

            if (unitPoison || parser.Reason != PoisonReason.None)
            {
                probe.RollbackTo(mark);
            }
        }

        return AloneAtCap.Within;
    }

    /// <summary>What <see cref="JudgeAloneAtCap"/> found.</summary>
    private enum AloneAtCap
    {
        /// <summary>The record alone fits the cap.</summary>
        Within,

        /// <summary>A plain record that alone holds more pairs than the cap.</summary>
        Past,

        /// <summary>A KPL container whose user records together hold more pairs than the cap.</summary>
        PastAsContainer,
    }

    private string RecordPastCapDetail() =>
        string.Create(CultureInfo.InvariantCulture, $"the record alone holds more than the cap of {_options.Aggregator.MaxPairs} (series, window) pairs");

    private string ContainerPastCapDetail() =>
        string.Create(CultureInfo.InvariantCulture, $"the aggregated record alone holds more than the cap of {_options.Aggregator.MaxPairs} (series, window) pairs, its user records together");

    /// <summary>Returned by <see cref="ParseAndAggregate"/> when the batch must be split before the record (not a poison reason).</summary>
    private const PoisonReason SplitHere = (PoisonReason)(-1);

    /// <summary>
    /// Parses one (user) record; queues its samples for the aggregator only when all of them are valid and fit the
    /// cap. Queued samples are applied in chunks by <see cref="CommitPending"/> between records, so the clock is read
    /// per chunk rather than twice per record, and a split can drop a whole container's samples.
    /// </summary>
    /// <remarks>
    /// With <paramref name="aloneInBatch"/> (no pair existed before the record) passing the cap is the record's own
    /// doing and makes it poison; otherwise the result is <see cref="SplitHere"/>.
    /// </remarks>
    private PoisonReason ParseAndAggregate(ReadOnlySpan<byte> data, long arrivalMs, int recordIndex, bool aloneInBatch, out string? detail)
    {
        MetricAggregator aggregator = _batch.Aggregator;
        int mark = aggregator.PairCount;
        int count = _pendingCount;
        (int Pair, int Record, double Value)[] pending = _pending;
        var parser = new MetricRecordParser(data, _scratch, _schema, arrivalMs);
        while (parser.TryReadSample(out MetricSample sample))
        {
            if (!aggregator.IsTimestampInRange(sample.TimestampMs))
            {
                aggregator.RollbackTo(mark);
                detail = "the sample's window would end after 9999-12-31T23:59:59.999Z";
                return PoisonReason.InvalidTimestamp;
            }

            if (!aggregator.TryGetOrAddPair(sample.Key.Encoded, sample.TimestampMs, _enforceCap, out int pair))
            {
                aggregator.RollbackTo(mark);
                if (!aloneInBatch)
                {
                    detail = null;
                    return SplitHere;
                }

                detail = RecordPastCapDetail();
                return PoisonReason.CardinalityLimit;
            }

            if (count == pending.Length)
            {
                Array.Resize(ref _pending, count * 2);
                pending = _pending;
            }

            pending[count++] = (pair, recordIndex, sample.Value);
        }

        if (parser.Reason != PoisonReason.None)
        {
            // Pairs created by this record go; samples queued by earlier records only use older pairs and stay.
            aggregator.RollbackTo(mark);
            detail = parser.GetDetail();
            return parser.Reason;
        }

        _pendingCount = count;
        detail = null;
        return PoisonReason.None;
    }

    /// <summary>Samples queued before they are applied in one timed pass.</summary>
    private const int PendingCommitThreshold = 256;

    /// <summary>Applies the queued samples of valid records, in record order, and times it as aggregation.</summary>
    private void CommitPending(ref long aggregateTicks)
    {
        int count = _pendingCount;
        if (count == 0)
        {
            return;
        }

        MetricAggregator aggregator = _batch.Aggregator;
        long start = _time.GetTimestamp();
        (int Pair, int Record, double Value)[] pending = _pending;
        for (int i = 0; i < count; i++)
        {
            (int pair, int record, double value) = pending[i];
            _batch.NoteContribution(pair, record, value);
            aggregator.AddToPair(pair, value);
        }

        aggregateTicks += _time.GetTimestamp() - start;
        _pendingCount = 0;
    }

    private void Quarantine(in KinesisRecord record, PoisonReason reason, string detail, int? subSequenceNumber, KplUserRecord user, BatchSummary summary) =>
        AddQuarantined(CreateQuarantined(record, reason, detail, subSequenceNumber, user), summary);

    private QuarantinedRecord CreateQuarantined(in KinesisRecord record, PoisonReason reason, string detail, int? subSequenceNumber, KplUserRecord user) => new()
    {
        EventSourceArn = _eventSourceArn,
        ShardId = record.GetShardIdString(),
        SequenceNumber = record.GetSequenceNumberString(),
        SubSequenceNumber = subSequenceNumber,
        PartitionKey = subSequenceNumber is null ? record.GetPartitionKeyString() : Encoding.UTF8.GetString(user.PartitionKey),
        PartitionKeyBase64 = subSequenceNumber is null ? record.GetPartitionKeyBase64IfNotUtf8() : Utf8Text.Base64IfNotUtf8(user.PartitionKey),
        ApproximateArrival = record.ApproximateArrivalTimestamp,
        Reason = reason,
        Detail = detail,
        Data = subSequenceNumber is null ? record.GetBase64DataString() : Convert.ToBase64String(user.Data),
    };

    /// <summary>The quarantine entry of a KPL container's poison user records: the first one's fields, all of their indices.</summary>
    private static QuarantinedRecord Group(in KinesisRecord record, QuarantinedRecord first, List<int> poisonSubs)
    {
        // One poison user record: its own key and data. Several: the entry holds the whole container, so it carries
        // the container's partition key and data.
        bool one = poisonSubs.Count == 1;
        return new QuarantinedRecord
        {
            EventSourceArn = first.EventSourceArn,
            ShardId = first.ShardId,
            SequenceNumber = first.SequenceNumber,
            SubSequenceNumber = first.SubSequenceNumber,
            PoisonSubSequenceNumbers = poisonSubs,
            PartitionKey = one ? first.PartitionKey : record.GetPartitionKeyString(),
            PartitionKeyBase64 = one ? first.PartitionKeyBase64 : record.GetPartitionKeyBase64IfNotUtf8(),
            ApproximateArrival = first.ApproximateArrival,
            Reason = first.Reason,
            Detail = one ? first.Detail : PoisonDetail.Bound($"{poisonSubs.Count} user records of the container are poison; the first, {first.SubSequenceNumber}: {first.Detail}"),
            Data = one ? first.Data : record.GetBase64DataString(),
        };
    }

    private void AddQuarantined(QuarantinedRecord quarantined, BatchSummary summary, bool countReason = true)
    {
        _quarantine.Add(quarantined);
        if (countReason)
        {
            summary.CountPoison(quarantined.Reason);
        }

        // Callbacks (log lines) are bounded per invocation; the rest are counted.
        if (_options.OnPoison is { } onPoison)
        {
            if (_poisonCallbacks < _options.MaxPoisonCallbacks)
            {
                _poisonCallbacks++;
                try
                {
                    onPoison(quarantined);
                }
#pragma warning disable CA1031 // The consumer's callback: whatever it throws, the record is still quarantined (the summary says so).
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // Found by review: a throwing callback failed the batch on every retry, so the poison record it
                    // was called for blocked the shard, and its message (which may quote the record) became Lambda's.
                    summary.PoisonCallbackErrors++;
                    summary.PoisonCallbackError ??= e.GetType().FullName;
                }
#pragma warning restore CA1031
            }
            else
            {
                summary.PoisonCallbacksSkipped++;
            }
        }
    }
}
