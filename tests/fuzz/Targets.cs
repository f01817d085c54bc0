using System.Buffers;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Unicode;

namespace Analytics.Core.Fuzz;

/// <summary>
/// One target per parser of untrusted bytes. Each runs the library on the input and checks its promises; a broken
/// promise throws (afl-fuzz then keeps the input as a crash), an input the library rightly refuses does not.
/// </summary>
/// <remarks>
/// The instrumented library must not run before SharpFuzz has set up its coverage map, so nothing here is touched
/// before the first input (the static state below is created on first use, inside the fuzzing loop).
/// </remarks>
internal static partial class Targets
{
    /// <summary>Inputs are cut to this many bytes (afl-fuzz keeps them far smaller).</summary>
    public const int MaxInputBytes = 1 << 20;

    public delegate void Target(ReadOnlySpan<byte> input);

    private static readonly RecordValidator s_validator = new();
    private static readonly byte[] s_scratch = new byte[MetricRecordParser.ScratchSize];
    private static readonly byte[] s_decoded = new byte[MaxInputBytes * 6];
    private static ReadOnlySpan<byte> Bom => [0xEF, 0xBB, 0xBF];
    private static ReadOnlySpan<byte> KplMagic => [0xF3, 0x89, 0x9A, 0xC2];

    /// <summary>
    /// The Kinesis event reader on a whole event. Oracles: only <see cref="KinesisEventFormatException"/> escapes,
    /// with an offset inside the event and a message in the library's words; an event it reads to the end is JSON by
    /// <see cref="JsonDocument"/>; every record's fields are usable; a second read allocates nothing; the envelope
    /// scanner and the reader on Utf8JsonReader (its fallback) return the same records and facts, or the same error.
    /// </summary>
    public static void Event(ReadOnlySpan<byte> input)
    {
        EnvelopeAgreement(input);
        bool read;
        try
        {
            read = ReadEvent(input, check: true) >= 0;
        }
        catch (KinesisEventFormatException e)
        {
            Oracle.True(e.BytePosition >= 0 && e.BytePosition <= input.Length, $"the error offset {e.BytePosition} is outside the event of {input.Length} bytes");
            Oracle.PrintableAscii(e.Message, "KinesisEventFormatException");
            read = false;
        }

        ReadOnlySpan<byte> json = input.StartsWith(Bom) ? input.Slice(3) : input;
        if (read)
        {
            Oracle.True(Oracle.IsJson(json, 64, out JsonValueKind kind) && kind == JsonValueKind.Object, "the reader read an event that JsonDocument does not accept as a JSON object");
            long before = GC.GetAllocatedBytesForCurrentThread();
            int records = ReadEvent(input, check: false);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Oracle.True(allocated == 0, $"reading an event of {records} records allocated {allocated} bytes");
        }
    }

    /// <summary>The scanner (<see cref="KinesisEventReader"/>) against <see cref="JsonKinesisEventReader"/>: the same records, facts and error.</summary>
    private static void EnvelopeAgreement(ReadOnlySpan<byte> input)
    {
        var scanner = new KinesisEventReader(input);
        var reference = new JsonKinesisEventReader(input);
        string? scannerError = null, referenceError = null;
        int records = 0;
        while (true)
        {
            bool a = false, b = false;
            try
            {
                a = scannerError is null && scanner.Read();
            }
            catch (KinesisEventFormatException e)
            {
                scannerError = e.Message;
            }

            try
            {
                b = referenceError is null && reference.Read();
            }
            catch (KinesisEventFormatException e)
            {
                referenceError = e.Message;
            }

            Oracle.True(a == b && scannerError == referenceError, $"after {records} records the scanner says {a} ({scannerError}), the reference {b} ({referenceError})");
            if (!a)
            {
                break;
            }

            records++;
            KinesisRecord x = scanner.Current, y = reference.Current;
            Oracle.True(
                x.SequenceNumber.SequenceEqual(y.SequenceNumber) && x.RawPartitionKey.SequenceEqual(y.RawPartitionKey) &&
                x.PartitionKeyIsEscaped == y.PartitionKeyIsEscaped && x.ShardId.SequenceEqual(y.ShardId) &&
                x.RawBase64Data.SequenceEqual(y.RawBase64Data) && x.DataIsEscaped == y.DataIsEscaped &&
                x.ApproximateArrivalTimestampMs == y.ApproximateArrivalTimestampMs && x.ByteOffset == y.ByteOffset &&
                scanner.EventSourceArn.SequenceEqual(reference.EventSourceArn),
                $"record {records} differs between the scanner and the reference");
        }

        if (scannerError is null)
        {
            Oracle.True(
                scanner.RecordCount == reference.RecordCount && scanner.ShardId.SequenceEqual(reference.ShardId) &&
                scanner.EventSourceArn.SequenceEqual(reference.EventSourceArn) && scanner.State.SequenceEqual(reference.State) &&
                scanner.HasWindow == reference.HasWindow && scanner.WindowStart == reference.WindowStart &&
                scanner.WindowEnd == reference.WindowEnd && scanner.IsFinalInvokeForWindow == reference.IsFinalInvokeForWindow &&
                scanner.IsWindowTerminatedEarly == reference.IsWindowTerminatedEarly,
                "the event's facts differ between the scanner and the reference");
        }
    }

    /// <summary>Reads every record; returns the record count.</summary>
    private static int ReadEvent(ReadOnlySpan<byte> input, bool check)
    {
        var reader = new KinesisEventReader(input);
        int records = 0;
        while (reader.Read())
        {
            KinesisRecord record = reader.Current;
            records++;
            if (!check)
            {
                continue;
            }

            Oracle.True(SequenceNumber.IsValid(record.SequenceNumber), "a record's sequence number is not a sequence number");
            Oracle.True(!record.ShardId.IsEmpty, "a record without a shard");
            Oracle.True(record.ByteOffset >= 0 && record.ByteOffset < input.Length, "a record's offset is outside the event");
            _ = record.ApproximateArrivalTimestamp;
            _ = record.GetPartitionKeyString();
            _ = record.GetBase64DataString();
            int size = Math.Max(record.MaxDecodedLength, record.RawBase64Data.Length);
            bool decoded = record.TryDecodeData(s_decoded.AsSpan(0, size), out int written);
            Oracle.True(!decoded || written <= size, "decoded data longer than its buffer");
        }

        if (check)
        {
            Oracle.True(reader.RecordCount == records, "RecordCount differs from the records read");
            Oracle.True(reader.State.IsEmpty || Oracle.IsJson(reader.State, 64, out JsonValueKind stateKind) && stateKind == JsonValueKind.Object, "the state is not a JSON object");
        }

        return records;
    }

    /// <summary>
    /// Record data through <see cref="RecordValidator"/> and <see cref="MetricRecordParser"/>. Oracles: no exception;
    /// every verdict has a reason and a clean detail; the same data gets the same verdict, and a valid one allocates
    /// nothing the second time; the parser alone agrees with the validator; samples are finite and in the time range;
    /// the parser agrees with <see cref="JsonDocument"/> on which NDJSON lines are JSON objects.
    /// </summary>
    public static void Record(ReadOnlySpan<byte> data)
    {
        RecordVerdict verdict = s_validator.ValidateData(data, Oracle.ArrivalMs);
        Oracle.Verdict(verdict.Reason, verdict.Detail, "RecordValidator");
        Oracle.True(verdict.SampleCount >= 0, "a negative sample count");

        long before = GC.GetAllocatedBytesForCurrentThread();
        RecordVerdict again = s_validator.ValidateData(data, Oracle.ArrivalMs);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Oracle.True(again == verdict, $"the same data got {verdict.Reason}, then {again.Reason}");
        Oracle.True(!verdict.IsValid || allocated == 0, $"validating a valid record of {verdict.SampleCount} samples allocated {allocated} bytes");

        if (KplAggregate.IsAggregated(data) || data.Length > MetricSchema.Default.Options.MaxRecordBytes)
        {
            return;
        }

        MetricParserOptions options = MetricSchema.Default.Options;
        var parser = new MetricRecordParser(data, s_scratch, MetricSchema.Default, Oracle.ArrivalMs);
        int samples = 0;
        while (parser.TryReadSample(out MetricSample sample))
        {
            samples++;
            Oracle.True(double.IsFinite(sample.Value), "a sample with a value that is not finite");
            Oracle.True(sample.TimestampMs >= Oracle.ArrivalMs - (long)options.MaxAge.TotalMilliseconds
                && sample.TimestampMs <= Oracle.ArrivalMs + (long)options.MaxFutureSkew.TotalMilliseconds, "a sample outside the time range");
            Oracle.True(sample.Key.Encoded.Length >= 2 && !sample.Key.Metric.IsEmpty && Utf8.IsValid(sample.Key.Metric), "a sample with a broken key");
        }

        Oracle.True(parser.Reason == verdict.Reason, $"the parser says {parser.Reason}, the validator {verdict.Reason}");
        Oracle.True(samples == parser.SampleCount && samples == verdict.SampleCount, "the sample counts differ");
        Oracle.True(parser.Reason == PoisonReason.None || parser.DetailOffset >= 0 && parser.DetailOffset <= data.Length, $"the error offset {parser.DetailOffset} is outside the data");
        Oracle.Verdict(parser.Reason, parser.Reason == PoisonReason.None ? null : parser.GetDetail(), "MetricRecordParser");

        if (verdict.IsValid)
        {
            Oracle.True(Utf8.IsValid(data), "a valid record that is not UTF-8");
            Oracle.True(IsASequenceOfJsonObjects(data), "the parser accepted data that JsonDocument does not read as a sequence of JSON objects");
        }
        else if (verdict.Reason == PoisonReason.InvalidJson)
        {
            Oracle.True(!IsASequenceOfJsonObjects(data) || !EveryLineIsAJsonObject(data), "the parser refused as InvalidJson data whose every line JsonDocument accepts as a JSON object");
        }
    }

    /// <summary>
    /// The data (after a leading BOM) is JSON objects one after the other by <see cref="JsonDocument"/>. An object may
    /// span lines (JSON allows white space, newlines among it, inside); the parser also requires a newline between
    /// two objects, which this does not check.
    /// </summary>
    private static bool IsASequenceOfJsonObjects(ReadOnlySpan<byte> data)
    {
        if (data.StartsWith(Bom))
        {
            data = data.Slice(3);
        }

        var reader = new Utf8JsonReader(data, new JsonReaderOptions { AllowMultipleValues = true, MaxDepth = 256 });
        try
        {
            while (reader.Read())
            {
                using JsonDocument document = JsonDocument.ParseValue(ref reader);
                if (document.RootElement.ValueKind != JsonValueKind.Object)
                {
                    return false;
                }
            }

            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Every non-blank line (after a leading BOM) is one JSON object by <see cref="JsonDocument"/>.</summary>
    private static bool EveryLineIsAJsonObject(ReadOnlySpan<byte> data)
    {
        if (data.StartsWith(Bom))
        {
            data = data.Slice(3);
        }

        foreach (Range range in data.Split((byte)'\n'))
        {
            ReadOnlySpan<byte> line = data[range];
            if (line.TrimStart(" \t\r"u8).IsEmpty)
            {
                continue;
            }

            if (!Oracle.IsJson(line, 256, out JsonValueKind kind) || kind != JsonValueKind.Object)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The KPL de-aggregator. The first byte chooses: even, the rest is the protobuf message, framed with the magic
    /// and its MD5 (so mutations reach the parser past the checksum); odd, the rest is the data as it is. Oracles:
    /// no exception; a refusal has a container reason and a detail; an accepted container yields exactly its count of
    /// user records, numbered in order, all inside the data, and is read again without allocating; the validator's
    /// verdict on the container is that of its first poison user record (<c>EmptyData</c> when it has none).
    /// </summary>
    public static void Kpl(ReadOnlySpan<byte> input)
    {
        if (input.IsEmpty)
        {
            return;
        }

        byte[] data;
        if ((input[0] & 1) == 0)
        {
            ReadOnlySpan<byte> message = input.Slice(1);
            data = new byte[4 + message.Length + 16];
            KplMagic.CopyTo(data);
            message.CopyTo(data.AsSpan(4));
            MD5.HashData(message, data.AsSpan(4 + message.Length));
        }
        else
        {
            data = input.Slice(1).ToArray();
        }

        if (!KplAggregate.TryRead(data, out KplRecordReader reader, out PoisonReason reason, out string detail))
        {
            Oracle.True(reason is PoisonReason.AggregateMalformed or PoisonReason.AggregateChecksumMismatch, $"a refused container with reason {reason}");
            Oracle.Verdict(reason, detail, "KplAggregate.TryRead");
            if (KplAggregate.IsAggregated(data) && data.Length <= MetricSchema.Default.Options.MaxRecordBytes)
            {
                RecordVerdict whole = s_validator.ValidateData(data, Oracle.ArrivalMs);
                Oracle.True(whole.Reason == reason, $"the validator says {whole.Reason} of a container the de-aggregator refuses as {reason}");
            }

            return;
        }

        Oracle.True(reason == PoisonReason.None && detail.Length == 0, "an accepted container with a reason or detail");
        var users = new List<byte[]>();
        int count = reader.Count;
        while (reader.MoveNext())
        {
            KplUserRecord user = reader.Current;
            Oracle.True(user.SubSequenceNumber == users.Count, $"user record {users.Count} numbered {user.SubSequenceNumber}");
            Oracle.True(Inside(user.Data, data) && Inside(user.PartitionKey, data) && Inside(user.ExplicitHashKey, data), "a user record outside the container's bytes");
            users.Add(user.Data.ToArray());
        }

        Oracle.True(users.Count == count, $"Count says {count}, the reader gave {users.Count}");

        long before = GC.GetAllocatedBytesForCurrentThread();
        Oracle.True(KplAggregate.TryRead(data, out reader, out _, out _), "the same container refused the second time");
        while (reader.MoveNext())
        {
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Oracle.True(allocated == 0, $"reading a valid container of {count} user records allocated {allocated} bytes");

        if (data.Length > MetricSchema.Default.Options.MaxRecordBytes || users.Exists(u => KplAggregate.IsAggregated(u)))
        {
            return;
        }

        // A container with no user record is EmptyData, as a plain record without a sample is.
        PoisonReason expected = users.Count == 0 ? PoisonReason.EmptyData : PoisonReason.None;
        int first = -1;
        for (int i = 0; i < users.Count && first < 0; i++)
        {
            RecordVerdict one = s_validator.ValidateData(users[i], Oracle.ArrivalMs);
            if (!one.IsValid)
            {
                expected = one.Reason;
                first = i;
            }
        }

        RecordVerdict verdict = s_validator.ValidateData(data, Oracle.ArrivalMs);
        Oracle.Verdict(verdict.Reason, verdict.Detail, "RecordValidator on a container");
        Oracle.True(verdict.Reason == expected, $"the container's verdict is {verdict.Reason}, its first poison user record's {expected}");
        Oracle.True(first < 0 || verdict.Detail.StartsWith($"user record {first}: ", StringComparison.Ordinal), "the container's detail does not name its first poison user record");
    }

    private static bool Inside(ReadOnlySpan<byte> part, ReadOnlySpan<byte> whole) =>
        part.IsEmpty || whole.Overlaps(part, out int offset) && offset >= 0 && offset + part.Length <= whole.Length;

    /// <summary>
    /// The binary form of aggregates: <see cref="MetricAggregate.TryReadFrom"/> and
    /// <see cref="MetricAggregator.TryMergeFrom"/> on the same bytes. Oracles: no exception; an accepted form reads
    /// back what it writes (write, read, write gives the same bytes) and holds a consistent sketch; a refused one
    /// leaves the aggregate empty and the aggregator unchanged.
    /// </summary>
    public static void Aggregate(ReadOnlySpan<byte> input)
    {
        var aggregate = new MetricAggregate(AggregatorOptions.Default);
        if (aggregate.TryReadFrom(input, out int read))
        {
            Oracle.True(read > 0 && read <= input.Length, $"TryReadFrom read {read} of {input.Length} bytes");
            CheckAggregate(aggregate);
            var written = new ArrayBufferWriter<byte>();
            aggregate.WriteTo(written);
            var copy = new MetricAggregate(AggregatorOptions.Default);
            Oracle.True(copy.TryReadFrom(written.WrittenSpan, out int readBack) && readBack == written.WrittenCount, "an aggregate's own bytes do not read back");
            var rewritten = new ArrayBufferWriter<byte>();
            copy.WriteTo(rewritten);
            Oracle.True(written.WrittenSpan.SequenceEqual(rewritten.WrittenSpan), "an aggregate does not round-trip");
            Oracle.True(copy.Count == aggregate.Count && copy.Sum.Equals(aggregate.Sum) && copy.Min.Equals(aggregate.Min) && copy.Max.Equals(aggregate.Max), "a round-tripped aggregate differs");
        }
        else
        {
            Oracle.True(read == 0 && aggregate.Count == 0, "a refused aggregate is not empty");
        }

        MetricAggregator aggregator = SeededAggregator();
        var before = new ArrayBufferWriter<byte>();
        aggregator.WriteTo(before);
        if (aggregator.TryMergeFrom(input))
        {
            var fresh = new MetricAggregator(AggregatorOptions.Default);
            Oracle.True(fresh.TryMergeFrom(input), "accepted once, refused by a fresh aggregator");
            var written = new ArrayBufferWriter<byte>();
            fresh.WriteTo(written);
            for (int pair = 0; pair < fresh.PairCount; pair++)
            {
                CheckAggregate(fresh.GetAggregate(pair));
            }

            var copy = new MetricAggregator(AggregatorOptions.Default);
            Oracle.True(copy.TryMergeFrom(written.WrittenSpan), "an aggregator's own bytes do not read back");
            var rewritten = new ArrayBufferWriter<byte>();
            copy.WriteTo(rewritten);
            Oracle.True(written.WrittenSpan.SequenceEqual(rewritten.WrittenSpan), "an aggregator does not round-trip");
        }
        else
        {
            var after = new ArrayBufferWriter<byte>();
            aggregator.WriteTo(after);
            Oracle.True(before.WrittenSpan.SequenceEqual(after.WrittenSpan), "a refused merge changed the aggregator");
        }
    }

    private static void CheckAggregate(MetricAggregate a)
    {
        Oracle.True(a.Count >= 0, "a negative count");
        if (a.Count == 0)
        {
            return;
        }

        Oracle.True(double.IsFinite(a.Min) && double.IsFinite(a.Max) && a.Min <= a.Max, $"min {a.Min} and max {a.Max} are not an interval");
        Oracle.True(!double.IsNaN(a.Sum), "a NaN sum");
        double q0 = a.GetQuantile(0);
        double q50 = a.GetQuantile(0.5);
        double q99 = a.GetQuantile(0.99);
        double q100 = a.GetQuantile(1);
        Oracle.True(q0 <= q50 && q50 <= q99 && q99 <= q100, $"quantiles not monotone: {q0} {q50} {q99} {q100}");
        Oracle.True(q0.Equals(a.Min) && q100.Equals(a.Max), "the 0 and 1 quantiles are not min and max");
    }

    /// <summary>Writes seeds of the aggregate target: aggregates of a few value sets and an aggregator of several pairs.</summary>
    public static void WriteAggregateSeeds(string directory)
    {
        Directory.CreateDirectory(directory);
        double[][] sets = [[1.5], [-3, 0, 0, 2.5, 1e6, 1e-6, -1e-300], [42, 42, 42, 43]];
        for (int i = 0; i < sets.Length; i++)
        {
            var aggregate = new MetricAggregate(AggregatorOptions.Default);
            foreach (double value in sets[i])
            {
                aggregate.Add(value);
            }

            var written = new ArrayBufferWriter<byte>();
            aggregate.WriteTo(written);
            File.WriteAllBytes(Path.Combine(directory, $"aggregate-{i}"), written.WrittenSpan.ToArray());
        }

        MetricAggregator aggregator = SeededAggregator();
        byte[] data = """
            {"metric":"a","value":-2,"timestamp":1737367260000,"dimensions":{"k":"v","z":"w"}}
            {"metric":"a","value":7,"timestamp":1737367330000}
            {"metric":"b","value":0,"timestamp":1737367330000,"dimensions":{"k":"v"}}
            """u8.ToArray();
        var parser = new MetricRecordParser(data, s_scratch, MetricSchema.Default, Oracle.ArrivalMs);
        while (parser.TryReadSample(out MetricSample sample))
        {
            aggregator.TryAdd(sample.Key, sample.TimestampMs, sample.Value);
        }

        var all = new ArrayBufferWriter<byte>();
        aggregator.WriteTo(all);
        File.WriteAllBytes(Path.Combine(directory, "aggregator-0"), all.WrittenSpan.ToArray());
    }

    /// <summary>An aggregator with one pair, so a refused merge has something to leave unchanged.</summary>
    private static MetricAggregator SeededAggregator()
    {
        var aggregator = new MetricAggregator(AggregatorOptions.Default);
        byte[] data = """{"metric":"seed","value":1.5,"timestamp":1737367200000,"dimensions":{"k":"v"}}"""u8.ToArray();
        var parser = new MetricRecordParser(data, s_scratch, MetricSchema.Default, Oracle.ArrivalMs);
        Oracle.True(parser.TryReadSample(out MetricSample sample) && aggregator.TryAdd(sample.Key, sample.TimestampMs, sample.Value), "the seed sample");
        return aggregator;
    }
}
