using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace Analytics.Core;

/// <summary>Every throw of the library goes through here, so hot methods stay small and inlineable.</summary>
[StackTraceHidden]
internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void ThrowEventFormat(string message, long bytePosition) =>
        throw new KinesisEventFormatException(message, bytePosition);

    [DoesNotReturn]
    public static void ThrowArgumentOutOfRange(string paramName, string message) =>
        throw new ArgumentOutOfRangeException(paramName, message);

    [DoesNotReturn]
    public static void ThrowArgument(string paramName, string message) =>
        throw new ArgumentException(message, paramName);

    [DoesNotReturn]
    public static void ThrowInvalidOperation(string message) =>
        throw new InvalidOperationException(message);

    [DoesNotReturn]
    public static void ThrowState(string message) =>
        throw new WindowStateFormatException(message);

    [DoesNotReturn]
    public static void ThrowBatchFailed(string message, BatchSummary summary)
    {
        // The whole batch fails: Lambda retries it from its first record, the invocation's checkpoint.
        summary.ReportedFailure ??= summary.FirstSequenceNumber;
        summary.FailedWhole = true;
        throw new BatchFailedException(message, summary);
    }
}
