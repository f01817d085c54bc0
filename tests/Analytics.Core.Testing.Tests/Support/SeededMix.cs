namespace Analytics.Core.Testing.Tests;

/// <summary>
/// A seed and a counter mixed into 64 well-spread bits, for the tests' seeded faults (which put, which invocation).
/// Consecutive seeds of <see cref="Random"/> start alike, so the counter is mixed in before any bits are used.
/// </summary>
internal static class SeededMix
{
    public static ulong Of(int seed, long counter) =>
        unchecked(((ulong)(uint)seed * 0x9E3779B97F4A7C15UL) ^ ((ulong)counter * 0xBF58476D1CE4E5B9UL));

    /// <summary>Whether the draw falls in the first <paramref name="percent"/> of 100.</summary>
    public static bool Below(int seed, long counter, int percent) => (int)((Of(seed, counter) >> 33) % 100) < percent;
}
