namespace Analytics.Core;

/// <summary>The validator's verdict on one record: valid with its sample count, or poison with one reason.</summary>
/// <remarks>Only <see cref="RecordValidator"/> gives verdicts; <c>default</c> is a valid record with no sample.</remarks>
public readonly record struct RecordVerdict
{
    private readonly string? _detail;

    internal RecordVerdict(PoisonReason reason, string detail, int sampleCount)
    {
        Reason = reason;
        _detail = detail;
        SampleCount = sampleCount;
    }

    /// <summary>Why the record is poison, or <see cref="PoisonReason.None"/> when it is valid.</summary>
    public PoisonReason Reason { get; }

    /// <summary>
    /// What is wrong and at which byte, in the library's own words and the configured field names (never bytes of
    /// the record), at most 256 UTF-8 bytes; empty when valid.
    /// </summary>
    public string Detail => _detail ?? string.Empty;

    /// <summary>The number of samples of a valid record (of a poison record: those read before the error).</summary>
    public int SampleCount { get; }

    /// <summary>Whether the record is valid.</summary>
    public bool IsValid => Reason == PoisonReason.None;
}
