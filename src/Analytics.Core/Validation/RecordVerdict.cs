namespace Analytics.Core;

/// <summary>The validator's verdict on one record: valid with its sample count, or poison with one reason.</summary>
/// <param name="Reason">Why the record is poison, or <see cref="PoisonReason.None"/> when it is valid.</param>
/// <param name="Detail">What is wrong and at which byte, in the library's own words and the configured field names (never bytes of the record), at most 256 UTF-8 bytes; empty when valid.</param>
/// <param name="SampleCount">The number of samples of a valid record (of a poison record: those read before the error).</param>
public readonly record struct RecordVerdict(PoisonReason Reason, string Detail, int SampleCount)
{
    /// <summary>Whether the record is valid.</summary>
    public bool IsValid => Reason == PoisonReason.None;
}
