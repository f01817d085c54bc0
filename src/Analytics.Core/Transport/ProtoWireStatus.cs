namespace Analytics.Core;

/// <summary>The outcome of a <see cref="ProtoWire"/> read.</summary>
internal enum ProtoWireStatus
{
    /// <summary>Read.</summary>
    Ok = 0,

    /// <summary>The buffer ends inside a varint.</summary>
    TruncatedVarint,

    /// <summary>A varint runs past 10 bytes or overflows 64 bits.</summary>
    OverlongVarint,

    /// <summary>A tag that does not fit 32 bits, or whose field number is 0.</summary>
    InvalidTag,

    /// <summary>A length or a fixed-size payload runs past the end of its parent.</summary>
    PastEnd,

    /// <summary>The deprecated group wire types 3 and 4, which the KPL format never uses.</summary>
    Group,

    /// <summary>Wire type 6 or 7, which do not exist.</summary>
    InvalidWireType,
}
