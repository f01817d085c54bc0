using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Analytics.Core;

/// <summary>
/// A tumbling window's state as the processor carries it between invocations: the window aggregator, its first and
/// last sequence numbers, and their binary form in the response's <c>state</c> entry (base64 under the state key).
/// </summary>
/// <remarks>
/// Binary layout (version 1): version byte, u8 length + first sequence number (ASCII), u8 length + last sequence
/// number (ASCII), then the aggregator's own format (<see cref="MetricAggregator.WriteTo"/>). Entries of others in
/// the state object pass through untouched.
/// </remarks>
internal sealed class WindowState
{
    private const byte Version = 1;
    private readonly ArrayBufferWriter<byte> _encoded = new();
    private readonly byte[] _key;
    private readonly string _keyName;

    public WindowState(AggregatorOptions options, string stateKey)
    {
        Aggregator = new MetricAggregator(options);
        _keyName = stateKey;
        _key = Encoding.UTF8.GetBytes(stateKey);

        // The object's braces, and our entry's name as the response's writer escapes it, its quotes, the colon and the
        // base64 string's quotes.
        FixedBytes = 2 + JsonEncodedText.Encode(_key).EncodedUtf8Bytes.Length + 2 + 1 + 2;
    }

    /// <summary>
    /// The bytes of the response's state object besides our base64 and <see cref="ForeignBytes"/>: what the bound on the
    /// state counts with them, so that a state kept under the largest bound fits Lambda's cap (found by mutation review:
    /// a state kept under 1,000,000 was 1,000,024 bytes in the response).
    /// </summary>
    public int FixedBytes { get; }

    /// <summary>The window's aggregates: what the incoming state held, once restored, plus what is merged into it.</summary>
    public MetricAggregator Aggregator { get; }

    /// <summary>
    /// The restored window when our entry was written with other aggregator options (a window size, accuracy or bin
    /// bound changed by a redeployment while the window was open), under those options; null otherwise. The range
    /// <see cref="Restore"/> returns is then this aggregator's, and <see cref="Aggregator"/> is empty.
    /// </summary>
    public MetricAggregator? Previous { get; private set; }

    /// <summary>The encoded state written by <see cref="Encode"/>; empty before it.</summary>
    public ReadOnlyMemory<byte> Encoded => _encoded.WrittenMemory;

    /// <summary>How long <see cref="Encoded"/> is in the response once in base64.</summary>
    public long EncodedBase64Length => (_encoded.WrittenCount + 2L) / 3 * 4;

    /// <summary>
    /// The bytes of the incoming state's entries that are not ours, as the answer writes them (the name as the response's
    /// writer escapes it, which can be longer than it came, the value as it came, and the separators): they pass through
    /// into the answer, so they count against Lambda's cap on the state as much as ours.
    /// </summary>
    public long ForeignBytes { get; private set; }

    /// <summary>Clears the aggregator and the encoded state, then merges our entry of the incoming state object.</summary>
    /// <returns>The restored window's sequence range; nulls when the state holds no entry of ours.</returns>
    /// <exception cref="WindowStateFormatException">Our entry cannot be decoded.</exception>
    public (string? First, string? Last) Restore(byte[] state)
    {
        Aggregator.Clear();
        Previous = null;
        ForeignBytes = 0;
        _encoded.ResetWrittenCount();
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
            bool ours = JsonText.ValueTextEquals(ref reader, _key);
            if (!ours && !CanPassThrough(ref reader))
            {
                ThrowHelper.ThrowState("The window state names an entry whose name is not text (invalid UTF-8, or a JSON escape of a lone surrogate), which cannot be passed through.");
            }

            string? name = ours ? null : reader.GetString();
            reader.Read();
            if (!ours)
            {
                long valueStart = reader.TokenStartIndex;
                reader.Skip();

                // Quotes, colon, value and the comma before the next entry; the name as PassThroughForeign writes it.
                ForeignBytes += JsonEncodedText.Encode(name!).EncodedUtf8Bytes.Length + 3 + (reader.BytesConsumed - valueStart) + 1;
                continue;
            }

            if (restored.First is not null)
            {
                ThrowHelper.ThrowState($"The window state names the entry '{_keyName}' twice.");
            }

            if (reader.TokenType != JsonTokenType.String || !JsonText.IsText(ref reader) || !reader.TryGetBytesFromBase64(out byte[]? bytes))
            {
                ThrowHelper.ThrowState($"The window state entry '{_keyName}' is not a base64 string.");
                return default;
            }

            restored = Decode(bytes);
        }

        return restored;
    }

    /// <summary>Whether the current property name can be written again (read as a string, as the pass-through does).</summary>
    private static bool CanPassThrough(ref Utf8JsonReader reader)
    {
        // Utf8JsonReader checks neither: GetString throws on invalid UTF-8 as on an escaped lone surrogate.
        return System.Text.Unicode.Utf8.IsValid(reader.ValueSpan) && JsonText.IsText(ref reader);
    }

    /// <summary>Encodes the aggregator with the window's sequence range into <see cref="Encoded"/>.</summary>
    public void Encode(string first, string last)
    {
        _encoded.ResetWrittenCount();
        Span<byte> head = _encoded.GetSpan(3 + first.Length + last.Length);
        head[0] = Version;
        head[1] = (byte)first.Length;
        int pos = 2 + Encoding.ASCII.GetBytes(first, head.Slice(2));
        head[pos++] = (byte)last.Length;
        pos += Encoding.ASCII.GetBytes(last, head.Slice(pos));
        _encoded.Advance(pos);
        Aggregator.WriteTo(_encoded);
    }

    /// <summary>
    /// Writes the response's state entries: every entry of others in <paramref name="incoming"/> as it came, then
    /// <paramref name="ours"/> (base64) under the state key unless it is empty.
    /// </summary>
    public void WriteEntries(byte[] incoming, ReadOnlyMemory<byte> ours, Utf8JsonWriter writer)
    {
        PassThroughForeign(incoming, _key, writer);
        if (!ours.IsEmpty)
        {
            writer.WriteBase64String(_key, ours.Span);
        }
    }

    private (string First, string Last) Decode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 3 || bytes[0] != Version)
        {
            ThrowHelper.ThrowState($"The window state entry '{_keyName}' has an unknown version.");
        }

        int firstLength = bytes[1];
        if (2 + firstLength >= bytes.Length)
        {
            ThrowHelper.ThrowState($"The window state entry '{_keyName}' is truncated.");
        }

        ReadOnlySpan<byte> first = bytes.Slice(2, firstLength);
        int lastLength = bytes[2 + firstLength];
        int aggregatorStart = 3 + firstLength + lastLength;
        if (aggregatorStart > bytes.Length)
        {
            ThrowHelper.ThrowState($"The window state entry '{_keyName}' is truncated.");
        }

        ReadOnlySpan<byte> last = bytes.Slice(3 + firstLength, lastLength);
        if (!SequenceNumber.IsValid(first) || !SequenceNumber.IsValid(last))
        {
            ThrowHelper.ThrowState($"The window state entry '{_keyName}' cannot be decoded.");
        }

        if (SequenceNumber.Compare(first, last) > 0)
        {
            // Never written so (a range grows from its first record): such a range does not say which records the
            // aggregates hold, so a re-delivered batch could not be trimmed of the ones already in them.
            ThrowHelper.ThrowState($"The window state entry '{_keyName}' has a sequence range that ends before it starts.");
        }

        ReadOnlySpan<byte> aggregates = bytes.Slice(aggregatorStart);
        if (!Aggregator.TryMergeFrom(aggregates))
        {
            // Written by a version of the function with other options: refusing it would fail every retry of the
            // window (Lambda hands back the same state) and block the shard; it is kept under its own options instead.
            Previous = TryRestoreUnderItsOwnOptions(aggregates);
            if (Previous is null)
            {
                ThrowHelper.ThrowState($"The window state entry '{_keyName}' cannot be decoded.");
            }
        }

        return (Encoding.ASCII.GetString(first), Encoding.ASCII.GetString(last));
    }

    /// <summary>
    /// Reads the aggregator's binary form under the window size, accuracy and bin bound its header names, when they
    /// differ from ours and are valid options; null when they do not, or the bytes are not valid under them either.
    /// </summary>
    private MetricAggregator? TryRestoreUnderItsOwnOptions(ReadOnlySpan<byte> aggregates)
    {
        if (!MetricAggregator.TryReadOptions(aggregates, Aggregator.Options, out AggregatorOptions options))
        {
            return null;
        }

        if (options == Aggregator.Options)
        {
            return null;
        }

        var previous = new MetricAggregator(options);
        return previous.TryMergeFrom(aggregates) ? previous : null;
    }

    /// <summary>Copies every state entry that is not ours, as it came (strings, numbers, objects alike).</summary>
    private static void PassThroughForeign(byte[] state, byte[] key, Utf8JsonWriter writer)
    {
        if (state.Length == 0)
        {
            return;
        }

        var reader = new Utf8JsonReader(state);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            bool ours = JsonText.ValueTextEquals(ref reader, key);
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
