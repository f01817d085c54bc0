using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace Analytics.Core;

/// <summary>Every throw of the AWS sinks goes through here, so the retry loops stay small.</summary>
/// <remarks>
/// Not shared with Analytics.Core's <c>ThrowHelper</c> on purpose: that one is internal, and opening it to this
/// assembly (InternalsVisibleTo) would bind each Analytics.Core.Aws release to the internals of one exact
/// Analytics.Core build, while a consumer may update the two packages apart. The two members both have
/// (argument checks) are one line each; the rest throw what only the AWS sinks throw.
/// </remarks>
[StackTraceHidden]
internal static class AwsThrowHelper
{
    [DoesNotReturn]
    public static void ThrowArgument(string paramName, string message) =>
        throw new ArgumentException(message, paramName);

    [DoesNotReturn]
    public static void ThrowArgumentOutOfRange(string paramName, string message) =>
        throw new ArgumentOutOfRangeException(paramName, message);

    [DoesNotReturn]
    public static void ThrowFormat(string message) =>
        throw new FormatException(message);

    [DoesNotReturn]
    public static void ThrowInvalidData(string message) =>
        throw new InvalidDataException(message);

    [DoesNotReturn]
    public static void ThrowInvalidOperation(string message) =>
        throw new InvalidOperationException(message);

    [DoesNotReturn]
    public static void ThrowIO(string message) =>
        throw new IOException(message);

    /// <summary>A sink stopped by its token after failed attempts: a cancellation that carries the last one as its cause.</summary>
    [DoesNotReturn]
    public static void ThrowStoppedAfterFailures(string message, Exception lastFailure, CancellationToken cancellationToken) =>
        throw new OperationCanceledException(message, lastFailure, cancellationToken);

    [DoesNotReturn]
    public static void ThrowTimeout(string message) =>
        throw new TimeoutException(message);

    /// <summary>S3's <paramref name="error"/> again (its type, code and status; it the inner exception) with <paramref name="more"/> after its message.</summary>
    [DoesNotReturn]
    public static void ThrowS3(Amazon.S3.AmazonS3Exception error, string more)
    {
        string message = error.Message.TrimEnd();
        throw new Amazon.S3.AmazonS3Exception(message + (message.EndsWith('.') ? " " : ". ") + more, error, error.ErrorType, error.ErrorCode, error.RequestId, error.StatusCode);
    }
}
