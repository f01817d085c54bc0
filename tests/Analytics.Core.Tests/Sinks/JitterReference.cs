namespace Analytics.Core.Tests;

/// <summary>
/// The seeded full jitter of the AWS sinks, written here from its description and not from the library's code, so a
/// test that expects a wait does not ask the code under test what to expect: the cap <c>min(MaxDelay, BaseDelay ·
/// 2^attempt)</c> times a unit in [0, 1) made of the seed, the request key and the attempt (FNV-1a, 64 bits, over the
/// key's UTF-16 code units; the seed in the high and the attempt in the low 32 bits XORed in; SplitMix64's finalizer;
/// its top 53 bits as a fraction).
/// </summary>
internal static class JitterReference
{
    public static TimeSpan Wait(AwsRetryOptions options, int attempt, string requestKey)
    {
        int seed = options.JitterSeed ?? throw new ArgumentException("Only a seeded jitter has an expected value.", nameof(options));
        double cap = Math.Min(options.MaxDelay.TotalMilliseconds, options.BaseDelay.TotalMilliseconds * Math.Pow(2, attempt));
        return TimeSpan.FromMilliseconds(Unit(seed, requestKey, attempt) * cap);
    }

    public static double Unit(int seed, string requestKey, int attempt)
    {
        const ulong offsetBasis = 0xCBF29CE484222325;
        const ulong prime = 0x100000001B3;
        ulong hash = offsetBasis;
        foreach (char c in requestKey)
        {
            hash ^= c;
            hash *= prime;
        }

        ulong z = hash ^ (((ulong)(uint)seed << 32) | (uint)attempt);
        z += 0x9E3779B97F4A7C15;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        z ^= z >> 31;
        return (z >> 11) / 9007199254740992.0; // 2^53
    }
}
