using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Analytics.Core.Fuzz;

internal static partial class Targets
{
    private const string StateKey = "analytics.core.v1";
    private static readonly MemorySinks s_sinks = new();
    private static readonly KinesisBatchProcessor s_processor = new(s_sinks, s_sinks, ProcessorOptions.Default);
    private static readonly ArrayBufferWriter<byte> s_response = new();

    /// <summary>
    /// The processor end to end with in-memory sinks that make everything durable. Oracles: only the documented
    /// exceptions escape (an event that is not one, an undecodable window state of ours); with nothing failing and time
    /// to spare, every record is processed and none is reported failed; the counts add up; every quarantined record has a
    /// reason and a clean detail; the response is JSON; and the processor's verdicts are those of
    /// <see cref="RecordValidator"/> record by record (and user record by user record in a KPL container).
    /// </summary>
    public static void Processor(ReadOnlySpan<byte> input)
    {
        if (!TryProcess(input.ToArray(), out BatchSummary? summary))
        {
            return;
        }

        using (JsonDocument response = ParseResponse())
        {
            if (!summary.IsWindowInvocation)
            {
                Oracle.True(response.RootElement.TryGetProperty("batchItemFailures", out JsonElement failures) && failures.GetArrayLength() == 0, "a failure reported with durable sinks");
            }
        }

        Oracle.True(summary.ReportedFailure is null, "a failure reported with durable sinks");
        Oracle.True(summary.RecordsProcessed == summary.Records, $"{summary.RecordsProcessed} of {summary.Records} records processed with time to spare");
        int byReason = 0;
        foreach (PoisonReason reason in Enum.GetValues<PoisonReason>())
        {
            byReason += summary.GetPoisonCount(reason);
        }

        Oracle.True(summary.GetPoisonCount(PoisonReason.None) == 0 && byReason == summary.PoisonRecords, "the poison counts by reason do not add up");
        Oracle.True(summary.Quarantined == s_sinks.Quarantined.Count, "Quarantined differs from what the sink got");
        Oracle.True(summary.AggregatesWritten == s_sinks.Pairs, "AggregatesWritten differs from what the sink got");
        foreach (QuarantinedRecord q in s_sinks.Quarantined)
        {
            Oracle.Verdict(q.Reason, q.Detail, "QuarantinedRecord");
            Oracle.True(q.Reason != PoisonReason.None, "a quarantined record without a reason");
        }

        if (summary.GetPoisonCount(PoisonReason.CardinalityLimit) > 0)
        {
            return; // The validator does not know the aggregator's cap.
        }

        (int valid, int poison, int samples)? expected = ValidateEachRecord(input);
        if (expected is { } e)
        {
            Oracle.True(summary.ValidRecords == e.valid, $"the processor counts {summary.ValidRecords} valid records, the validator {e.valid}");
            Oracle.True(summary.PoisonRecords == e.poison, $"the processor counts {summary.PoisonRecords} poison records, the validator {e.poison}");
            Oracle.True(summary.Samples == e.samples, $"the processor aggregated {summary.Samples} samples, the validator counts {e.samples}");
        }
    }

    /// <summary>Runs the processor; false when it refused the event with a documented exception.</summary>
    private static bool TryProcess(byte[] utf8Event, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out BatchSummary? summary)
    {
        s_sinks.Clear();
        s_response.ResetWrittenCount();
        try
        {
            summary = s_processor.ProcessAsync(utf8Event, DateTimeOffset.UtcNow.AddHours(1), s_response).GetAwaiter().GetResult();
            return true;
        }
        catch (KinesisEventFormatException e)
        {
            Oracle.PrintableAscii(e.Message, "KinesisEventFormatException");
        }
        catch (WindowStateFormatException e)
        {
            Oracle.PrintableAscii(e.Message, "WindowStateFormatException");
        }

        summary = null;
        return false;
    }

    private static JsonDocument ParseResponse()
    {
        try
        {
            return JsonDocument.Parse(s_response.WrittenMemory);
        }
        catch (JsonException)
        {
            Oracle.Fail("the response is not JSON");
            throw;
        }
    }

    /// <summary>
    /// Valid and poison records, each user record of a KPL container counted (as the processor counts them), and the
    /// samples of the valid ones, by the validator; null when it cannot say.
    /// </summary>
    private static (int Valid, int Poison, int Samples)? ValidateEachRecord(ReadOnlySpan<byte> utf8Event)
    {
        var validator = new RecordValidator();
        var reader = new KinesisEventReader(utf8Event);
        int valid = 0;
        int poison = 0;
        int samples = 0;
        while (reader.Read())
        {
            KinesisRecord record = reader.Current;
            byte[] data = new byte[Math.Max(record.MaxDecodedLength, record.RawBase64Data.Length)];
            if (!record.TryDecodeData(data, out int length) || !KplAggregate.IsAggregated(data.AsSpan(0, length)))
            {
                RecordVerdict verdict = validator.Validate(record);
                valid += verdict.IsValid ? 1 : 0;
                poison += verdict.IsValid ? 0 : 1;
                samples += verdict.IsValid ? verdict.SampleCount : 0;
                continue;
            }

            if (length > MetricSchema.Default.Options.MaxRecordBytes || !KplAggregate.TryRead(data.AsSpan(0, length), out KplRecordReader users, out _, out _) ||
                users.Count == 0)
            {
                poison++;
                continue;
            }

            var userData = new List<byte[]>();
            while (users.MoveNext())
            {
                KplUserRecord user = users.Current;
                userData.Add(user.Data.ToArray());
            }

            int userPoison = 0;
            foreach (byte[] u in userData)
            {
                if (KplAggregate.IsAggregated(u))
                {
                    return null; // Inside a container such data is parsed as it is; the validator would open it.
                }

                RecordVerdict verdict = validator.ValidateData(u, record.ApproximateArrivalTimestampMs);
                userPoison += verdict.IsValid ? 0 : 1;
                samples += verdict.IsValid ? verdict.SampleCount : 0;
            }

            poison += userPoison;
            valid += userData.Count - userPoison;
        }

        return (valid, poison, samples);
    }

    /// <summary>
    /// The window state decoder: the input is our state entry's bytes, carried base64 in a tumbling-window event
    /// without records. Oracles: the processor accepts it or throws <see cref="WindowStateFormatException"/>, nothing
    /// else; the state it answers with is a fixed point (fed back, it comes back byte for byte).
    /// </summary>
    public static void Window(ReadOnlySpan<byte> input)
    {
        if (!TryProcess(WindowEvent(input), out _))
        {
            return;
        }

        byte[]? state = OurState();
        if (state is null)
        {
            return;
        }

        Oracle.True(TryProcess(WindowEvent(state), out _), "the processor refused the state it wrote");
        byte[]? again = OurState();
        Oracle.True(again is not null && again.AsSpan().SequenceEqual(state), "the window state is not a fixed point: fed back, it changed");
    }

    private static byte[] WindowEvent(ReadOnlySpan<byte> state) => Encoding.UTF8.GetBytes(
        "{\"Records\":[],\"window\":{\"start\":\"2025-01-20T10:00:00Z\",\"end\":\"2025-01-20T10:15:00Z\"},\"state\":{\"" + StateKey + "\":\""
        + Convert.ToBase64String(state) + "\"},\"shardId\":\"shardId-000000000007\",\"eventSourceARN\":\"arn:aws:kinesis:us-east-1:123456789012:stream/metrics\","
        + "\"isFinalInvokeForWindow\":false,\"isWindowTerminatedEarly\":false}");

    /// <summary>Our entry of the response's state, decoded; null when the response has none.</summary>
    private static byte[]? OurState()
    {
        using JsonDocument response = ParseResponse();
        if (!response.RootElement.TryGetProperty("state", out JsonElement state) || !state.TryGetProperty(StateKey, out JsonElement ours))
        {
            return null;
        }

        byte[]? bytes = null;
        Oracle.True(ours.ValueKind == JsonValueKind.String && ours.TryGetBytesFromBase64(out bytes), "our state entry is not base64");
        return bytes;
    }

    /// <summary>Sinks that keep everything in memory and make all of it durable.</summary>
    private sealed class MemorySinks : IAggregateSink, IQuarantineSink
    {
        public List<QuarantinedRecord> Quarantined { get; } = [];

        public int Pairs { get; private set; }

        public void Clear()
        {
            Quarantined.Clear();
            Pairs = 0;
        }

        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            for (int pair = 0; pair < batch.Count; pair++)
            {
                Oracle.True(batch.GetAggregate(pair).Count > 0, "an empty aggregate handed to the sink");
                batch.MarkDurable(pair);
            }

            Pairs += batch.Count;
            return Task.CompletedTask;
        }

        public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken)
        {
            Quarantined.AddRange(records);
            return Task.FromResult(records.Count);
        }
    }
}
