using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Security.Cryptography;

namespace Analytics.Core;

/// <summary>
/// De-aggregation of Kinesis records written by the Kinesis Producer Library (KPL) or a compatible aggregator:
/// one Kinesis record that packs many user records. Lambda hands such records over still packed.
/// </summary>
/// <remarks>
/// <para>Format: the magic bytes <c>F3 89 9A C2</c>, a protobuf <c>AggregatedRecord</c>, then the 16-byte MD5
/// of the protobuf bytes.</para>
/// <para>Usage: pass the record's decoded data to <see cref="IsAggregated"/>; data without the magic is an
/// ordinary record and is processed as it is. Otherwise call <see cref="TryRead"/>, which checks the checksum
/// and validates the whole container before the first user record is read, so a container is either poison as a
/// whole or every one of its user records is readable. All user records share the container's sequence number,
/// so a failure can only be reported for the container.</para>
/// <para>Neither method throws on any input, nor reads outside <c>data</c>. A valid container is read without
/// allocating.</para>
/// </remarks>
public static class KplAggregate
{
    /// <summary>The length of the magic prefix.</summary>
    internal const int MagicLength = 4;

    /// <summary>The length of the trailing MD5 checksum.</summary>
    internal const int ChecksumLength = 16;

    /// <summary>
    /// The largest aggregated record the pipeline reads: 6 MiB, more than any record of a Lambda event can decode to
    /// (the whole event is at most 6 MB of base64). <see cref="MetricParserOptions.MaxRecordBytes"/> holds each user
    /// record, not the container: aggregators fill containers up to the stream's record size (1 MiB and more), far past
    /// the 256 KiB a single JSON record is allowed by default.
    /// </summary>
    internal const int MaxContainerBytes = 6 * 1024 * 1024;

    /// <summary>The magic prefix of an aggregated record: <c>F3 89 9A C2</c>.</summary>
    internal static ReadOnlySpan<byte> Magic => [0xF3, 0x89, 0x9A, 0xC2];

    /// <summary>Tells whether a record's data is a KPL aggregated record.</summary>
    /// <param name="data">The record's data, base64-decoded.</param>
    /// <returns>
    /// <see langword="true"/> when <paramref name="data"/> starts with the magic bytes <c>F3 89 9A C2</c>, whatever
    /// its length: such data is never valid UTF-8, so it is a KPL container or poison, and <see cref="TryRead"/> gives
    /// one that is too short <see cref="PoisonReason.AggregateMalformed"/>.
    /// </returns>
    public static bool IsAggregated(ReadOnlySpan<byte> data) => data.StartsWith(Magic);

    /// <summary>Checks and validates an aggregated record and returns a reader over its user records.</summary>
    /// <param name="data">The record's data, base64-decoded, including magic and checksum.</param>
    /// <param name="reader">A reader over the user records when valid; an empty reader otherwise.</param>
    /// <param name="reason">
    /// <see cref="PoisonReason.None"/> when valid; <see cref="PoisonReason.AggregateChecksumMismatch"/> when the
    /// MD5 does not match; <see cref="PoisonReason.AggregateMalformed"/> when the data is too short, lacks the
    /// magic, or the protobuf is malformed (truncated or overlong varint, a length past the end of its parent,
    /// a wrong wire type for a known field, a group, a missing required field, a key index outside its table).
    /// </param>
    /// <param name="detail">What is wrong and at which byte offset of <paramref name="data"/>; empty when valid (as <see cref="RecordVerdict.Detail"/>).</param>
    /// <returns><see langword="true"/> when every user record can be read.</returns>
    /// <remarks>
    /// The reader and the user records it returns are views into <paramref name="data"/>; keep the bytes alive
    /// and unchanged while reading. Unknown fields are skipped; a container with no user records is valid.
    /// Partition keys and explicit hash keys are returned as the producer wrote them; their UTF-8 is not checked.
    /// </remarks>
    public static bool TryRead(ReadOnlySpan<byte> data, out KplRecordReader reader, out PoisonReason reason, out string detail)
    {
        reader = default;
        if (data.Length < MagicLength + ChecksumLength)
        {
            reason = PoisonReason.AggregateMalformed;
            detail = string.Create(CultureInfo.InvariantCulture, $"{data.Length} bytes are too short for the magic and the MD5 of an aggregated record ({MagicLength + ChecksumLength} bytes)");
            return false;
        }

        if (!data.StartsWith(Magic))
        {
            reason = PoisonReason.AggregateMalformed;
            detail = "the data does not start with the KPL magic bytes F3 89 9A C2 at byte 0";
            return false;
        }

        ReadOnlySpan<byte> message = data.Slice(MagicLength, data.Length - MagicLength - ChecksumLength);
        if (!ChecksumMatches(message, data.Slice(data.Length - ChecksumLength)))
        {
            reason = PoisonReason.AggregateChecksumMismatch;
            detail = message.IsEmpty
                ? string.Create(CultureInfo.InvariantCulture, $"the MD5 of the empty protobuf (no byte between the magic bytes and the checksum) does not match the checksum at byte {MagicLength}")
                : string.Create(CultureInfo.InvariantCulture, $"the MD5 of the protobuf bytes {MagicLength}..{data.Length - ChecksumLength - 1} does not match the checksum at byte {data.Length - ChecksumLength}");
            return false;
        }

        KplKeyTables tables = KplKeyTables.ForCurrentThread();
        int generation = tables.Reset();
        if (!KplAggregateValidator.TryValidate(message, MagicLength, tables, out int count, out string? malformed))
        {
            reason = PoisonReason.AggregateMalformed;
            detail = malformed ?? "the aggregated record's protobuf is malformed";
            return false;
        }

        reader = new KplRecordReader(message, count, tables, generation);
        reason = PoisonReason.None;
        detail = string.Empty;
        return true;
    }

    [SuppressMessage("Security", "CA5351:Do Not Use Broken Cryptographic Algorithms", Justification = "MD5 is the integrity checksum the KPL format defines; it is not used for security.")]
    private static bool ChecksumMatches(ReadOnlySpan<byte> message, ReadOnlySpan<byte> checksum)
    {
        Span<byte> hash = stackalloc byte[ChecksumLength];
        int written = MD5.HashData(message, hash);
        return written == ChecksumLength && hash.SequenceEqual(checksum);
    }
}
