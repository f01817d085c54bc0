using System.Text;

namespace Analytics.Core;

public sealed partial class KinesisBatchProcessor
{
    private string? _eventSourceArn;

    /// <summary>What the pipeline keeps of the event's envelope once the spans are gone.</summary>
    private sealed class BatchHeader
    {
        public string ShardId = string.Empty;
        public string? EventSourceArn;
        public string? FirstSequenceNumber;
        public string? LastSequenceNumber;
        public bool HasWindow;
        public bool IsFinalInvokeForWindow;
        public bool IsWindowTerminatedEarly;
        public byte[] State = [];
    }

    /// <summary>The synchronous part: read, parse, validate and aggregate every record, until the stop time.</summary>
    private BatchHeader ReadRecords(ReadOnlySpan<byte> utf8Event, long stopAt, BatchSummary summary)
    {
        var header = new BatchHeader();
        var reader = new KinesisEventReader(utf8Event);
        _eventSourceArn = null;
        _batch.Reset(hasSampleLog: true);
        _pendingCount = 0;
        ReadOnlySpan<byte> lastSequence = default;
        ReadOnlySpan<byte> shard = default;
        long oldestArrival = long.MaxValue;
        long newestArrival = long.MinValue;
        bool stopped = false;
        long aggregateTicks = 0;

        while (reader.Read())
        {
            KinesisRecord record = reader.Current;
            if (header.FirstSequenceNumber is null)
            {
                header.FirstSequenceNumber = record.GetSequenceNumberString();
                shard = record.ShardId;
                _eventSourceArn = reader.EventSourceArn.IsEmpty ? null : Encoding.UTF8.GetString(reader.EventSourceArn);
            }

            lastSequence = record.SequenceNumber;
            oldestArrival = Math.Min(oldestArrival, record.ApproximateArrivalTimestampMs);
            newestArrival = Math.Max(newestArrival, record.ApproximateArrivalTimestampMs);
            if (stopped)
            {
                continue;
            }

            if (_time.GetTimestamp() >= stopAt)
            {
                // Out of time: this record and all after it are left to Lambda's re-delivery.
                stopped = true;
                summary.DeadlineReached = true;
                _response.ReportFailure(record.SequenceNumber);
                continue;
            }

            ProcessRecord(record, ref aggregateTicks, summary);
            summary.RecordsProcessed++;
        }

        CommitPending(ref aggregateTicks);

        summary.Records = reader.RecordCount;
        if (shard.IsEmpty)
        {
            shard = reader.ShardId;
        }

        header.ShardId = Encoding.UTF8.GetString(shard);
        header.EventSourceArn = reader.EventSourceArn.IsEmpty ? null : Encoding.UTF8.GetString(reader.EventSourceArn);
        header.LastSequenceNumber = lastSequence.IsEmpty ? null : Encoding.ASCII.GetString(lastSequence);
        header.HasWindow = reader.HasWindow;
        header.IsFinalInvokeForWindow = reader.IsFinalInvokeForWindow;
        header.IsWindowTerminatedEarly = reader.IsWindowTerminatedEarly;
        header.State = reader.State.ToArray();
        _batch.SetSource(header.ShardId, header.EventSourceArn);

        summary.ShardId = header.ShardId;
        summary.EventSourceArn = header.EventSourceArn;
        summary.FirstSequenceNumber = header.FirstSequenceNumber;
        summary.LastSequenceNumber = header.LastSequenceNumber;
        summary.IsWindowInvocation = header.HasWindow;
        summary.AggregateDuration = TimeSpan.FromSeconds(aggregateTicks / (double)_time.TimestampFrequency);
        if (summary.Records > 0)
        {
            long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
            summary.OldestRecordAge = TimeSpan.FromMilliseconds(Math.Max(0, now - oldestArrival));
            summary.NewestRecordAge = TimeSpan.FromMilliseconds(Math.Max(0, now - newestArrival));
        }

        return header;
    }

    private void ProcessRecord(in KinesisRecord record, ref long aggregateTicks, BatchSummary summary)
    {
        int recordIndex = _batch.AddRecord(record.SequenceNumber);

        // The one validation path (shared with RecordValidator): decode, de-aggregate, then parse each unit. Every
        // user record of a KPL container is validated and aggregated on its own; all of them share the container's
        // sequence number, so their effects become durable (or are reported) together.
        var units = RecordUnits.Open(record, _decoder, _schema.Options.MaxRecordBytes);
        while (units.MoveNext())
        {
            PoisonReason reason = units.Reason;
            string? detail = units.Detail;
            if (reason == PoisonReason.None)
            {
                reason = ParseAndAggregate(units.Data, record.ApproximateArrivalTimestampMs, recordIndex, ref aggregateTicks, summary, out detail);
            }

            if (reason != PoisonReason.None)
            {
                Quarantine(record, reason, PoisonDetail.Bound(detail ?? reason.ToString()), units.SubSequenceNumber, units.User, summary);
            }
        }
    }

    /// <summary>
    /// Parses one (user) record; queues its samples for the aggregator only when all of them are valid and fit the
    /// cap. Queued samples are applied in chunks by <see cref="CommitPending"/>, so the clock is read per chunk
    /// rather than twice per record.
    /// </summary>
    private PoisonReason ParseAndAggregate(ReadOnlySpan<byte> data, long arrivalMs, int recordIndex, ref long aggregateTicks, BatchSummary summary, out string? detail)
    {
        MetricAggregator aggregator = _batch.Aggregator;
        int mark = aggregator.PairCount;
        int start = _pendingCount;
        int count = _pendingCount;
        (int Pair, int Record, double Value)[] pending = _pending;
        var parser = new MetricRecordParser(data, _scratch, _schema, arrivalMs);
        while (parser.TryReadSample(out MetricSample sample))
        {
            if (!aggregator.TryGetOrAddPair(sample.Key.Encoded, sample.TimestampMs, out int pair))
            {
                aggregator.RollbackTo(mark);
                detail = $"the record would pass the cap of {_options.Aggregator.MaxPairs} (series, window) pairs";
                return PoisonReason.CardinalityLimit;
            }

            if (count == pending.Length)
            {
                Array.Resize(ref _pending, count * 2);
                pending = _pending;
            }

            pending[count++] = (pair, recordIndex, sample.Value);
        }

        if (parser.Error != PoisonReason.None)
        {
            // Pairs created by this record go; samples queued by earlier records only use older pairs and stay.
            aggregator.RollbackTo(mark);
            detail = parser.GetErrorDetail();
            return parser.Error;
        }

        _pendingCount = count;
        if (count >= PendingCommitThreshold)
        {
            CommitPending(ref aggregateTicks);
        }

        summary.ValidRecords++;
        summary.Samples += count - start;
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

    private void Quarantine(in KinesisRecord record, PoisonReason reason, string detail, int? subSequenceNumber, KplUserRecord user, BatchSummary summary)
    {
        var quarantined = new QuarantinedRecord
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
        _quarantine.Add(quarantined);
        summary.CountPoison(reason);
        _options.OnPoison?.Invoke(quarantined);
    }
}
