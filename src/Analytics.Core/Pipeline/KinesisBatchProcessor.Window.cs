using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Analytics.Core;

public sealed partial class KinesisBatchProcessor
{
    private const byte StateVersion = 1;
    private readonly MetricAggregator _windowAggregator;
    private readonly ArrayBufferWriter<byte> _stateBuffer = new();
    private AggregateBatch _flushBatch;
    private readonly byte[] _stateKey;

    /// <summary>
    /// Tumbling-window invocation: merges this batch into the window's state, flushes it when the window ends (or the
    /// state would grow too large), and answers with the new state.
    /// </summary>
    private async Task ProcessWindowAsync(BatchHeader header, BatchSummary summary, IBufferWriter<byte> response, Task<int> quarantine, CancellationToken deadline, CancellationToken cancellationToken)
    {
        _windowAggregator.Clear();
        (string? stateFirst, string? stateLast) = RestoreState(header.State);
        _windowAggregator.Merge(_batch.Aggregator);
        string? first = stateFirst ?? header.FirstSequenceNumber;
        string? last = header.LastSequenceNumber ?? stateLast;

        _stateBuffer.ResetWrittenCount();
        if (_windowAggregator.PairCount > 0)
        {
            EncodeState(first!, last!);
        }

        long encodedStateBytes = (_stateBuffer.WrittenCount + 2L) / 3 * 4;
        bool flush = _windowAggregator.PairCount > 0 &&
            (header.IsFinalInvokeForWindow || header.IsWindowTerminatedEarly || encodedStateBytes > _options.MaxStateBytes);
        Task aggregates = Task.CompletedTask;
        AggregateBatch flushBatch = _flushBatch;
        if (flush)
        {
            flushBatch.UseWindow(_windowAggregator, header.ShardId, header.EventSourceArn, Encoding.ASCII.GetBytes(first!), Encoding.ASCII.GetBytes(last!));
            long flushStart = _time.GetTimestamp();
            aggregates = TimedAsync(WriteAggregatesAsync(flushBatch, summary, deadline, cancellationToken), flushStart, d => summary.AggregateSinkDuration = d);
        }

        int poisonCount = _quarantine.Count;
        int durable = await quarantine.ConfigureAwait(false);
        await aggregates.ConfigureAwait(false);
        summary.Quarantined = durable;
        if (durable < poisonCount)
        {
            throw new BatchFailedException($"The quarantine sink made {durable} of {poisonCount} poison records durable ({Describe(summary.QuarantineSinkOutcome, summary.QuarantineSinkError)}); the window state cannot express a partial batch.");
        }

        if (summary.StopReason != BatchStopReason.None)
        {
            throw new BatchFailedException("The deadline came before every record was processed; the window state cannot express a partial batch.");
        }

        if (flush)
        {
            int written = 0;
            for (int pair = 0; pair < flushBatch.Count; pair++)
            {
                written += flushBatch.IsDurable(pair) ? 1 : 0;
            }

            summary.AggregatesWritten = written;
            if (written < flushBatch.Count)
            {
                throw new BatchFailedException($"The aggregate sink made {written} of {flushBatch.Count} window aggregates durable ({Describe(summary.AggregateSinkOutcome, summary.AggregateSinkError)}); Lambda retries the batch with the previous state.");
            }
        }

        summary.Flushed = flush;
        byte[] incoming = header.State;
        byte[] stateKey = _stateKey;
        ReadOnlyMemory<byte> ours = flush ? ReadOnlyMemory<byte>.Empty : _stateBuffer.WrittenMemory;
        _response.WriteWindowResponse(response, writer =>
        {
            PassThroughForeignState(incoming, stateKey, writer);
            if (!ours.IsEmpty)
            {
                writer.WriteBase64String(stateKey, ours.Span);
            }
        });
    }

    private static string Describe(SinkOutcome outcome, string? error) => error is null ? outcome.ToString() : $"{outcome}: {error}";

    /// <summary>Layout: version, u8 length + first sequence number, u8 length + last sequence number, aggregator.</summary>
    private void EncodeState(string first, string last)
    {
        Span<byte> head = _stateBuffer.GetSpan(3 + first.Length + last.Length);
        head[0] = StateVersion;
        head[1] = (byte)first.Length;
        int pos = 2 + Encoding.ASCII.GetBytes(first, head.Slice(2));
        head[pos++] = (byte)last.Length;
        pos += Encoding.ASCII.GetBytes(last, head.Slice(pos));
        _stateBuffer.Advance(pos);
        _windowAggregator.WriteTo(_stateBuffer);
    }

    /// <summary>Merges our entry of the incoming state into the window aggregator; returns its sequence range.</summary>
    private (string? First, string? Last) RestoreState(byte[] state)
    {
        if (state.Length == 0)
        {
            return (null, null);
        }

        // Every name is looked at, also after ours, so a state the pass-through cannot write fails here, before the
        // aggregate sink has seen anything of this invocation.
        (string? First, string? Last) restored = (null, null);
        var reader = new Utf8JsonReader(state);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            bool ours = JsonText.ValueTextEquals(ref reader, _stateKey);
            if (!ours && !CanPassThrough(ref reader))
            {
                ThrowHelper.ThrowState("The window state names an entry whose name is not text (invalid UTF-8, or a JSON escape of a lone surrogate), which cannot be passed through.");
            }

            reader.Read();
            if (!ours)
            {
                reader.Skip();
                continue;
            }

            if (restored.First is not null)
            {
                ThrowHelper.ThrowState($"The window state names the entry '{_options.StateKey}' twice.");
            }

            if (reader.TokenType != JsonTokenType.String || !JsonText.IsText(ref reader) || !reader.TryGetBytesFromBase64(out byte[]? bytes))
            {
                ThrowHelper.ThrowState($"The window state entry '{_options.StateKey}' is not a base64 string.");
                return default;
            }

            restored = DecodeState(bytes);
        }

        return restored;
    }

    private (string First, string Last) DecodeState(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 3 || bytes[0] != StateVersion)
        {
            ThrowHelper.ThrowState($"The window state entry '{_options.StateKey}' has an unknown version.");
        }

        int firstLength = bytes[1];
        if (2 + firstLength >= bytes.Length)
        {
            ThrowHelper.ThrowState($"The window state entry '{_options.StateKey}' is truncated.");
        }

        ReadOnlySpan<byte> first = bytes.Slice(2, firstLength);
        int lastLength = bytes[2 + firstLength];
        int aggregatorStart = 3 + firstLength + lastLength;
        if (aggregatorStart > bytes.Length)
        {
            ThrowHelper.ThrowState($"The window state entry '{_options.StateKey}' is truncated.");
        }

        ReadOnlySpan<byte> last = bytes.Slice(3 + firstLength, lastLength);
        if (!SequenceNumber.IsValid(first) || !SequenceNumber.IsValid(last) || !_windowAggregator.TryMergeFrom(bytes.Slice(aggregatorStart)))
        {
            ThrowHelper.ThrowState($"The window state entry '{_options.StateKey}' cannot be decoded.");
        }

        return (Encoding.ASCII.GetString(first), Encoding.ASCII.GetString(last));
    }

    /// <summary>Whether the current property name can be written again (read as a string, as the pass-through does).</summary>
    private static bool CanPassThrough(ref Utf8JsonReader reader)
    {
        // Utf8JsonReader checks neither: GetString throws on invalid UTF-8 as on an escaped lone surrogate.
        return System.Text.Unicode.Utf8.IsValid(reader.ValueSpan) && JsonText.IsText(ref reader);
    }

    /// <summary>Copies every state entry that is not ours, as it came (strings, numbers, objects alike).</summary>
    private static void PassThroughForeignState(byte[] state, byte[] stateKey, Utf8JsonWriter writer)
    {
        if (state.Length == 0)
        {
            return;
        }

        var reader = new Utf8JsonReader(state);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            bool ours = JsonText.ValueTextEquals(ref reader, stateKey);
            string? name = ours ? null : reader.GetString();
            reader.Read();
            int start = (int)reader.TokenStartIndex;
            reader.Skip();
            if (name is not null)
            {
                writer.WritePropertyName(name);
                writer.WriteRawValue(state.AsSpan(start, (int)reader.BytesConsumed - start), skipInputValidation: true);
            }
        }
    }
}
