using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace Analytics.Core;

/// <summary>Every throw of the AWS sinks goes through here, so the retry loops stay small.</summary>
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
    public static void ThrowInvalidData(string message) =>
        throw new InvalidDataException(message);

    [DoesNotReturn]
    public static void ThrowInvalidOperation(string message) =>
        throw new InvalidOperationException(message);

    [DoesNotReturn]
    public static void ThrowTimeout(string message) =>
        throw new TimeoutException(message);
}
