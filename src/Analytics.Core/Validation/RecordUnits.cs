namespace Analytics.Core;

/// <summary>
/// The one validation path of a record up to its samples: decode the base64, recognise a KPL container and
/// de-aggregate it, and hand out each unit to parse (the record's data, or each user record's data) or the poison
/// verdict that ends the record. The pipeline and <see cref="RecordValidator"/> both walk records with it, so they
/// cannot disagree about a record.
/// </summary>
/// <remarks>Every detail it hands out is built from the library's own words and offsets and is bounded.</remarks>
internal ref struct RecordUnits
{
    private ReadOnlySpan<byte> _data;
    private KplRecordReader _users;
    private State _state;

    private enum State
    {
        Poison,
        Single,
        Container,
        Done,
    }

    /// <summary>Why the current unit is poison before it is parsed, or <see cref="PoisonReason.None"/> when <see cref="Data"/> is to be parsed.</summary>
    public PoisonReason Reason { get; private set; }

    /// <summary>The detail of <see cref="Reason"/>; empty when none.</summary>
    public string Detail { get; private set; }

    /// <summary>The bytes to parse as metric samples, when <see cref="Reason"/> is none.</summary>
    public readonly ReadOnlySpan<byte> Data => _data;

    /// <summary>The unit's index in its KPL container; null for a plain record or a container that is poison as a whole.</summary>
    public int? SubSequenceNumber { get; private set; }

    /// <summary>The KPL user record of the unit, when <see cref="SubSequenceNumber"/> is set.</summary>
    public KplUserRecord User { get; private set; }

    /// <summary>Starts walking an event's record: decodes its data into <paramref name="decoder"/>'s buffer.</summary>
    /// <remarks>
    /// Decoded up to the larger of <paramref name="maxRecordBytes"/> and <see cref="KplAggregate.MaxContainerBytes"/>:
    /// whether the data is a KPL container is known only once decoded, and a container is held to its own limit, each
    /// of its user records to <paramref name="maxRecordBytes"/> (the parser's check).
    /// </remarks>
    public static RecordUnits Open(in KinesisRecord record, RecordDecoder decoder, int maxRecordBytes)
    {
        int decodeLimit = Math.Max(maxRecordBytes, KplAggregate.MaxContainerBytes);
        return decoder.TryDecode(record, decodeLimit, out ReadOnlySpan<byte> data, out PoisonReason reason, out string detail)
            ? FromData(data, maxRecordBytes)
            : Poison(reason, reason == PoisonReason.TooLarge ? RecordDecoder.TooLargeDetail(decodeLimit, maxRecordBytes, atLeast: true) : detail);
    }

    /// <summary>Starts walking a record's decoded data.</summary>
    public static RecordUnits FromData(ReadOnlySpan<byte> data, int maxRecordBytes)
    {
        // Data that starts with the magic is never valid UTF-8 (F3 89 9A C2 is a broken sequence), so it is a KPL
        // container or nothing: a short or broken one gets the container's reason, not InvalidUtf8.
        if (!KplAggregate.IsAggregated(data))
        {
            return data.Length > maxRecordBytes
                ? Poison(PoisonReason.TooLarge, RecordDecoder.TooLargeDetail(data.Length, maxRecordBytes))
                : new RecordUnits { _data = data, _state = State.Single, Detail = string.Empty };
        }

        int containerLimit = Math.Max(maxRecordBytes, KplAggregate.MaxContainerBytes);
        if (data.Length > containerLimit)
        {
            return Poison(PoisonReason.TooLarge, RecordDecoder.TooLargeDetail(data.Length, containerLimit));
        }

        if (!KplAggregate.TryRead(data, out KplRecordReader users, out PoisonReason reason, out string detail))
        {
            return Poison(reason, detail);
        }

        if (users.Count == 0)
        {
            // Well formed, but nothing in it: as a plain record without a sample, it is quarantined, not passed over
            // without a trace (no producer library writes one).
            return Poison(PoisonReason.EmptyData, "the aggregated record holds no user record");
        }

        return new RecordUnits { _users = users, _state = State.Container, Detail = string.Empty };
    }

    private static RecordUnits Poison(PoisonReason reason, string detail) =>
        new() { _state = State.Poison, Reason = reason, Detail = PoisonDetail.Bound(detail) };

    /// <summary>Moves to the next unit.</summary>
    /// <returns><see langword="false"/> when the record has no more units.</returns>
    public bool MoveNext()
    {
        switch (_state)
        {
            case State.Poison:
            case State.Single:
                _state = State.Done;
                return true;
            case State.Container:
                if (_users.MoveNext())
                {
                    KplUserRecord user = _users.Current;
                    _data = user.Data;
                    User = user;
                    SubSequenceNumber = user.SubSequenceNumber;
                    return true;
                }

                _state = State.Done;
                return false;
            default:
                return false;
        }
    }
}
