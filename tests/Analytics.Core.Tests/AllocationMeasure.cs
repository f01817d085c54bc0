namespace Analytics.Core.Tests;

/// <summary>Allocation of code under test, measured on the current thread.</summary>
internal static class AllocationMeasure
{
    /// <summary>
    /// The fewest bytes <paramref name="action"/> allocated on this thread in <paramref name="runs"/> measured runs. The
    /// code's own allocation is the same in every run; what the runtime allocates now and then on the same thread (a
    /// method reaching its next JIT tier on a loaded machine, about 5 KB once in CI) is not, so the fewest is the code's.
    /// </summary>
    public static long Least(Action action, int runs = 3)
    {
        long least = long.MaxValue;
        for (int i = 0; i < runs; i++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            action();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        return least;
    }
}
