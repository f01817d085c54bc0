using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace Analytics.Core;

/// <summary>Debug-only invariant checks; compiled away in Release.</summary>
internal static class CoreAssert
{
    [Conditional("DEBUG")]
    public static void True([DoesNotReturnIf(false)] bool condition, string message)
    {
        if (!condition)
        {
            throw new InvalidOperationException("Invariant violated: " + message);
        }
    }
}
