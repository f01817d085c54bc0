using System.Buffers;
using System.Text.Json;

namespace Analytics.Core;

/// <summary>
/// Builds the Lambda response for a Kinesis batch: <c>{"batchItemFailures":[{"itemIdentifier":"&lt;seq&gt;"}]}</c>,
/// following the Kinesis checkpoint rules exactly.
/// </summary>
/// <remarks>
/// <para>Lambda takes the LOWEST reported sequence number as the checkpoint and re-delivers every record from it on,
/// including ones that succeeded after it. Listing more identifiers therefore only misleads, so this writer keeps
/// and reports exactly one: the lowest failure seen. It never writes an empty or null identifier (Lambda would fail
/// the whole batch). With no failure it writes <c>{"batchItemFailures":[]}</c>, which means full success.</para>
/// <para>For a tumbling-window event the response also carries <c>state</c> (a missing state fails the invocation).</para>
/// </remarks>
public sealed class BatchResponseWriter
{
    private readonly byte[] _lowest = new byte[SequenceNumber.MaxDigits];
    private int _lowestLength;

    /// <summary>Whether a failure has been reported.</summary>
    public bool HasFailure => _lowestLength > 0;

    /// <summary>The lowest failed sequence number reported so far (empty when none).</summary>
    public ReadOnlySpan<byte> LowestFailure => _lowest.AsSpan(0, _lowestLength);

    /// <summary>Forgets reported failures, for the next invocation.</summary>
    public void Reset() => _lowestLength = 0;

    /// <summary>Reports that the record with this sequence number (and so everything after it) must be re-delivered.</summary>
    /// <param name="sequenceNumber">A valid sequence number (decimal digits, UTF-8).</param>
    /// <exception cref="ArgumentException">The sequence number is empty or not decimal digits.</exception>
    public void ReportFailure(ReadOnlySpan<byte> sequenceNumber)
    {
        if (!SequenceNumber.IsValid(sequenceNumber))
        {
            ThrowHelper.ThrowArgument(nameof(sequenceNumber), "A reported failure needs a valid sequence number; an empty identifier would fail the whole batch.");
        }

        if (_lowestLength == 0 || SequenceNumber.Compare(sequenceNumber, LowestFailure) < 0)
        {
            sequenceNumber.CopyTo(_lowest);
            _lowestLength = sequenceNumber.Length;
        }
    }

    /// <summary>Writes the response of a plain Kinesis invocation.</summary>
    /// <param name="output">Receives UTF-8 JSON.</param>
    /// <exception cref="ArgumentNullException"><paramref name="output"/> is null.</exception>
    public void WriteResponse(IBufferWriter<byte> output)
    {
        using var writer = new Utf8JsonWriter(output);
        writer.WriteStartObject();
        WriteFailures(writer);
        writer.WriteEndObject();
    }

    /// <summary>Writes the response of a tumbling-window invocation: <c>state</c> and <c>batchItemFailures</c>.</summary>
    /// <param name="output">Receives UTF-8 JSON.</param>
    /// <param name="writeStateMembers">Writes the members of the state object (the writer is inside it).</param>
    /// <exception cref="ArgumentNullException"><paramref name="output"/> or <paramref name="writeStateMembers"/> is null.</exception>
    public void WriteWindowResponse(IBufferWriter<byte> output, Action<Utf8JsonWriter> writeStateMembers)
    {
        ArgumentNullException.ThrowIfNull(writeStateMembers);
        using var writer = new Utf8JsonWriter(output);
        writer.WriteStartObject();
        writer.WriteStartObject("state"u8);
        writeStateMembers(writer);
        writer.WriteEndObject();
        WriteFailures(writer);
        writer.WriteEndObject();
    }

    private void WriteFailures(Utf8JsonWriter writer)
    {
        writer.WriteStartArray("batchItemFailures"u8);
        if (_lowestLength > 0)
        {
            writer.WriteStartObject();
            writer.WriteString("itemIdentifier"u8, LowestFailure);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
    }
}
