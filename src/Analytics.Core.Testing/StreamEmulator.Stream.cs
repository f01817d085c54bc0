using System.Globalization;
using System.Text;

namespace Analytics.Core.Testing;

public sealed partial class StreamEmulator
{
    private const int MaxCachedKeys = 1 << 20;

    private readonly List<(long AtMs, string Key, byte[] Data)> _produced = [];
    private string?[]?[]? _producerKeys;
    private int _explicitNext;
    private ExplicitRecord[]? _explicitSorted;

    // Puts this second's records: explicit ones and each producer's, merged by time (explicit first on a tie).
    private void ProduceSecond(int second)
    {
        // Every record not yet processed is held in memory, with its data: a function that falls behind its producers
        // for good (one that always times out, for a week) took the run to many GB and out of memory, and so did large
        // records (1 MiB/s per shard is within Kinesis's limits) at a few thousand, far below the count's bound (both
        // found by review).
        long records = RecordsHeld;
        string? held = _dataBytesHeld > MaxDataBytesHeld
            ? string.Format(CultureInfo.InvariantCulture, "{0:N0} bytes of records not yet processed, more than the emulator keeps ({1:N0})", _dataBytesHeld, MaxDataBytesHeld)
            : records > MaxRecordsHeld
                ? string.Format(CultureInfo.InvariantCulture, "{0:N0} records not yet processed, more than the emulator keeps ({1:N0}, about 12 GB of memory)", records, MaxRecordsHeld)
                : null;
        if (held is not null)
        {
            throw new InvalidOperationException(string.Create(
                CultureInfo.InvariantCulture,
                $"At {second} s the stream holds {held}: the function falls behind its producers for good. Shorten the run (durationSeconds), lower the producers' rates or record sizes, or shorten the stream's retention."));
        }

        long fromMs = second * 1000L;
        List<(long AtMs, string Key, byte[] Data)> batch = _produced;
        batch.Clear();
        PutExplicit(fromMs, fromMs + 1000, batch);
        for (int p = 0; p < _scenario.Producers.Count; p++)
        {
            ProducerOptions producer = _scenario.Producers[p];
            _carry[p] += producer.RateAt(second);
            int count = (int)Math.Floor(_carry[p]);
            _carry[p] -= count;
            for (int k = 0; k < count; k++)
            {
                long atMs = fromMs + (k * 1000L / count);
                string key = ProducerKey(p, producer, _produceRandom.Next(producer.PartitionKeys));
                DateTimeOffset at = DateTimeOffset.FromUnixTimeMilliseconds(_startMs + atMs);
                batch.Add((atMs, key, Generated(producer.Generator(_producerIndex++, key, at, _produceRandom), key)));
            }
        }

        // A stable sort keeps explicit records ahead of produced ones at the same millisecond; one producer alone is
        // in order already.
        bool ordered = true;
        for (int i = 1; i < batch.Count && ordered; i++)
        {
            ordered = batch[i - 1].AtMs <= batch[i].AtMs;
        }

        IEnumerable<(long AtMs, string Key, byte[] Data)> inOrder = ordered ? batch : batch.Select((r, i) => (r, i)).OrderBy(x => x.r.AtMs).ThenBy(x => x.i).Select(x => x.r).ToList();
        foreach ((long atMs, string key, byte[] data) in inOrder)
        {
            Put(key, data, _startMs + atMs);
        }

        batch.Clear();
    }

    /// <summary>Kinesis's limit on a record: data plus partition key (UTF-8) at most 1 MiB.</summary>
    private const int MaxRecordBytes = 1024 * 1024;

    // What a producer's generator made, as PutRecord takes it: a record over 1 MiB is refused by Kinesis with a
    // ValidationException, not throttled, so it is a bug in the scenario (as an explicit record's is), not a put to count.
    private static byte[] Generated(byte[]? data, string key)
    {
        if (data is null)
        {
            throw new InvalidOperationException("A producer's RecordGenerator returned null; it must return the record's data (an empty array for none).");
        }

        // A key of up to 256 characters is at most 768 UTF-8 bytes: below that margin no count is needed.
        if (data.Length > MaxRecordBytes - (3 * 256) && data.Length + (long)Encoding.UTF8.GetByteCount(key) > MaxRecordBytes)
        {
            throw new InvalidOperationException(string.Create(
                CultureInfo.InvariantCulture,
                $"A producer's RecordGenerator made a record of {data.Length + (long)Encoding.UTF8.GetByteCount(key)} bytes (data plus partition key '{key}'); Kinesis accepts at most 1 MiB ({MaxRecordBytes} bytes)."));
        }

        return data;
    }

    // The key strings of a producer, made once each (up to a bound of keys).
    private string ProducerKey(int producerIndex, ProducerOptions producer, int n)
    {
        if (producer.PartitionKeys > MaxCachedKeys)
        {
            return producer.KeyPrefix + n.ToString(CultureInfo.InvariantCulture);
        }

        _producerKeys ??= new string?[_scenario.Producers.Count][];
        string?[] keys = _producerKeys[producerIndex] ??= new string?[producer.PartitionKeys];
        return keys[n] ??= producer.KeyPrefix + n.ToString(CultureInfo.InvariantCulture);
    }

    private void PutExplicit(long fromMs, long toMs, List<(long AtMs, string Key, byte[] Data)>? into = null)
    {
        _explicitSorted ??= _scenario.Records.Select((r, i) => (r, i)).OrderBy(x => x.r.AtMs).ThenBy(x => x.i).Select(x => x.r).ToArray();
        while (_explicitNext < _explicitSorted.Length && _explicitSorted[_explicitNext].AtMs < toMs)
        {
            ExplicitRecord record = _explicitSorted[_explicitNext++];
            if (record.AtMs < fromMs && fromMs != long.MinValue)
            {
                continue;
            }

            if (into is null)
            {
                Put(record.PartitionKey, record.Data.ToArray(), _startMs + record.AtMs);
            }
            else
            {
                into.Add((record.AtMs, record.PartitionKey, record.Data.ToArray()));
            }
        }
    }

    // One PutRecord: the shard by MD5 of the key, the write limits per shard and second, then a sequence number.
    private void Put(string key, byte[] data, long arrivalMs)
    {
        KeyInfo keyInfo = Key(key);
        ShardState shard = _shards[keyInfo.Shard];
        int second = (int)Math.Floor((arrivalMs - _startMs) / 1000.0);
        if (shard.WriteSecond != second)
        {
            shard.WriteSecond = second;
            shard.WriteCount = 0;
            shard.WriteBytes = 0;
        }

        long bytes = data.Length + keyInfo.Utf8Bytes;
        int counterSecond = SecondOf(arrivalMs);
        if (shard.WriteCount + 1 > _scenario.Stream.WriteRecordsPerSecond || shard.WriteBytes + bytes > _scenario.Stream.WriteBytesPerSecond)
        {
            shard.Seconds[counterSecond].ThrottledPuts++;
            _throttledPuts++;
            return;
        }

        shard.WriteCount++;
        shard.WriteBytes += bytes;
        var record = new SimRecord
        {
            Shard = shard,
            Counter = ++shard.Counter,
            PartitionKey = key,
            EscapedKey = keyInfo.Escaped,
            Data = data,
            ArrivalMs = arrivalMs,
        };
        record.JsonLength = _events.RecordLength(record);
        if (BeforeStartingPosition(arrivalMs))
        {
            // Known at the put: the mapping never reads it. Left pending until a poll passed it, it counted as not
            // processed at the end and in the oldest unprocessed age of every second before then.
            record.Done = true;
            _skipped++;
        }
        else
        {
            shard.Pending.Enqueue(record);
            _dataBytesHeld += record.Data.Length;
        }

        shard.Seconds[counterSecond].RecordsIn++;
        _recordsIn++;
        _observer?.OnRecord(new StreamRecord(shard.Id, record.FormatSequenceNumber(), key, data, DateTimeOffset.FromUnixTimeMilliseconds(arrivalMs)));
    }

    // MD5, UTF-8 size and escaping once per key (a run has few keys and many records); beyond a bound, per record.
    private KeyInfo Key(string key)
    {
        if (_keys.TryGetValue(key, out KeyInfo? info))
        {
            return info;
        }

        info = new KeyInfo { Shard = ShardFor(HashKey(key)), Utf8Bytes = Encoding.UTF8.GetByteCount(key), Escaped = EventWriter.EscapedKey(key, _scenario.EventStringEscaping) };
        if (_keys.Count < MaxCachedKeys)
        {
            _keys.Add(key, info);
        }

        return info;
    }

    private int ShardFor(UInt128 hash)
    {
        UInt128 index = hash / _shardSpan;
        return index >= (UInt128)(uint)_shards.Length ? _shards.Length - 1 : (int)index;
    }
}
