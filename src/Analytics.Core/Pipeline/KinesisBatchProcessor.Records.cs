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
        PoisonReason reason = _decoder.TryDecode(record, _schema.Options.MaxRecordBytes, out ReadOnlySpan<byte> data, out string message);
        if (reason != PoisonReason.None)
        {
            Quarantine(record, reason, message, null, default, summary);
            return;
        }

        if (!KplAggregate.IsAggregated(data))
        {
            reason = ParseAndAggregate(data, record.ApproximateArrivalTimestampMs, recordIndex, ref aggregateTicks, summary, out string? detail);
            if (reason != PoisonReason.None)
            {
                Quarantine(record, reason, detail!, null, default, summary);
            }

            return;
        }

        if (!KplAggregate.TryRead(data, out KplRecordReader users, out reason, out string? containerDetail))
        {
            Quarantine(record, reason, containerDetail ?? reason.ToString(), null, default, summary);
            return;
        }

        // Every user record is validated and aggregated on its own; all of them share the container's sequence
        // number, so their effects become durable (or are reported) together.
        while (users.TryReadNext(out KplUserRecord user))
        {
            reason = ParseAndAggregate(user.Data, record.ApproximateArrivalTimestampMs, recordIndex, ref aggregateTicks, summary, out string? detail);
            if (reason != PoisonReason.None)
            {
                Quarantine(record, reason, detail!, user.SubSequenceNumber, user, summary);
            }
        }
    }

    /// <summary>Parses one (user) record; commits its samples only when all of them are valid and fit the cap.</summary>
    private PoisonReason ParseAndAggregate(ReadOnlySpan<byte> data, long arrivalMs, int recordIndex, ref long aggregateTicks, BatchSummary summary, out string? detail)
    {
        MetricAggregator aggregator = _batch.Aggregator;
        int mark = aggregator.PairCount;
        int count = 0;
        var parser = new MetricRecordParser(data, _scratch, _schema, arrivalMs);
        while (parser.TryReadSample(out MetricSample sample))
        {
            if (!aggregator.TryGetOrAddPair(sample.Key.Encoded, sample.TimestampMs, out int pair))
            {
                aggregator.RollbackTo(mark);
                detail = $"the record would pass the cap of {_options.Aggregator.MaxPairs} (series, window) pairs";
                return PoisonReason.CardinalityLimit;
            }

            if (count == _pending.Length)
            {
                Array.Resize(ref _pending, count * 2);
            }

            _pending[count++] = (pair, sample.Value);
        }

        if (parser.Error != PoisonReason.None)
        {
            aggregator.RollbackTo(mark);
            detail = parser.GetErrorDetail();
            return parser.Error;
        }

        long start = _time.GetTimestamp();
        for (int i = 0; i < count; i++)
        {
            (int pair, double value) = _pending[i];
            _batch.NoteContribution(pair, recordIndex, value);
            aggregator.AddToPair(pair, value);
        }

        aggregateTicks += _time.GetTimestamp() - start;
        summary.ValidRecords++;
        summary.Samples += count;
        detail = null;
        return PoisonReason.None;
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
