using FsCheck.Xunit;

namespace Analytics.Core.Tests.Aggregation;

/// <summary>
/// Sketch equality must be able to say "different" (every merge and round-trip test relies on it), and a sketch
/// reused after <see cref="QuantileSketch.Clear"/> must be indistinguishable from a new one, collapses included.
/// </summary>
public class QuantileSketchEqualityTests
{
    private static QuantileSketch Sketch(IEnumerable<double> values, int maxBins = 2048)
    {
        var sketch = new QuantileSketch(0.01, maxBins);
        foreach (double v in values)
        {
            sketch.Add(v);
        }

        return sketch;
    }

    public static TheoryData<string, double[], double[]> DifferentPairs => new()
    {
        { "one more value", [1, 2, 3], [1, 2, 3, 3] },
        { "a zero instead of a tiny positive value", [0, 5], [1e-300, 5] },
        { "same bins, smaller minimum", [1.005, 50], [1.01, 50] },      // 1.005 and 1.01 share a bin at 1 %
        { "same bins, larger maximum", [1, 50.0], [1, 50.02] },
        { "same bins, negative extremes", [-50.0, -1], [-50.02, -1] },
        { "a middle positive bin differs", [1, 3, 10], [1, 5, 10] },
        { "a middle negative bin differs", [-10, -3, 10], [-10, -5, 10] },
        { "sign of one value", [-3, 1, 10], [3, 1, 10] },
        { "two zeros or a zero and a negative", [0, 0, 4], [-1e-9, 0, 4] },
    };

    [Theory]
    [MemberData(nameof(DifferentPairs))]
    public void ContentEquals_DifferentContent_IsFalseBothWays(string because, double[] a, double[] b)
    {
        QuantileSketch x = Sketch(a);
        QuantileSketch y = Sketch(b);
        Assert.False(x.ContentEquals(y), because);
        Assert.False(y.ContentEquals(x), because);
        Assert.True(x.ContentEquals(Sketch(a.Reverse())), because + " (same values, other order)");
    }

    [Fact]
    public void ContentEquals_EmptySketches_AreEqual_AndNotEqualToAnyValue()
    {
        Assert.True(new QuantileSketch().ContentEquals(new QuantileSketch()));
        Assert.False(new QuantileSketch().ContentEquals(Sketch([0.0])));
        Assert.False(Sketch([0.0]).ContentEquals(new QuantileSketch()));
        var cleared = Sketch([1, 2, 3]);
        cleared.Clear();
        Assert.True(cleared.ContentEquals(new QuantileSketch()));
    }

    [Property(MaxTest = 200)]
    public void ContentEquals_IsTrueExactlyForTheSameBinsAndExtremes(int seed)
    {
        var random = new Random(seed);
        double[] values = [.. Enumerable.Range(0, random.Next(1, 60)).Select(_ => Math.Round((random.NextDouble() - 0.3) * 1000, random.Next(0, 3)))];
        double[] others = (double[])values.Clone();
        int k = random.Next(others.Length);
        others[k] = random.Next(3) switch { 0 => others[k], 1 => -others[k], _ => others[k] * (1 + (random.NextDouble() * 0.1)) };

        QuantileSketch a = Sketch(values);
        QuantileSketch b = Sketch(others.OrderBy(_ => random.Next()));

        // Independent expectation: same count, same extremes, and the same multiset of (sign, bin) pairs, where the
        // bin of a magnitude m is ceil(log(m) / log(gamma)) (the sketch's documented bins).
        double gamma = (1 + 0.01) / (1 - 0.01);
        static string Bin(double v, double gamma) =>
            v == 0 ? "0" : (v < 0 ? "-" : "+") + ((int)Math.Ceiling(Math.Log(Math.Abs(v)) / Math.Log(gamma))).ToString(System.Globalization.CultureInfo.InvariantCulture);
        bool sameBins = values.Select(v => Bin(v, gamma)).Order().SequenceEqual(others.Select(v => Bin(v, gamma)).Order());
        bool expected = sameBins && values.Min() == others.Min() && values.Max() == others.Max();
        if (values.Any(v => v != 0 && Math.Abs((Math.Log(Math.Abs(v)) / Math.Log(gamma)) - Math.Round(Math.Log(Math.Abs(v)) / Math.Log(gamma))) < 1e-4))
        {
            return; // a value on a bin boundary: floating-point rounding may put it either side
        }

        Assert.Equal(expected, a.ContentEquals(b));
    }

    [Property(MaxTest = 100)]
    public void ReusedAfterACollapse_IsLikeANewSketch(int seed)
    {
        var random = new Random(seed);
        const int maxBins = 16; // 16 bins at 1 % cover a factor of about 1.4: every spread below collapses
        double[] wide = [.. Enumerable.Range(0, random.Next(5, 200)).Select(_ => Math.Exp(random.NextDouble() * 20) * (random.Next(4) == 0 ? -1 : 1))];
        double[] next = [.. Enumerable.Range(0, random.Next(1, 200)).Select(_ => Math.Exp((random.NextDouble() * 3) - 1) * (random.Next(4) == 0 ? -1 : 1))];

        QuantileSketch reused = Sketch(wide, maxBins);
        reused.Clear();
        foreach (double v in next)
        {
            reused.Add(v);
        }

        QuantileSketch fresh = Sketch(next, maxBins);
        Assert.True(reused.ContentEquals(fresh));
        Assert.Equal(next.Length, reused.Count);
        foreach (double q in new[] { 0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1 })
        {
            Assert.Equal(fresh.GetQuantile(q), reused.GetQuantile(q));
        }

        // Each store's bin counts add up to what was added of its sign.
        Assert.Equal(next.Count(v => v > 0), reused.Positive.Total);
        Assert.Equal(next.Count(v => v < 0), reused.Negative.Total);
    }

    [Fact]
    public void BinArrayBytes_AreTheBytesTheBinArraysTookOnTheHeap()
    {
        // One positive and one negative value: each store allocates its first array and nothing else. Measured on
        // later sketches, so that first-call costs of the runtime are not counted; nothing else allocates between. The
        // fewest bytes of three rounds: the runtime may allocate on the thread now and then on a loaded machine.
        long fewestPositive = long.MaxValue, fewestBoth = long.MaxValue;
        int positiveReported = 0, bothReported = 0;
        foreach (int round in new[] { 0, 1, 2, 3 })
        {
            var sketch = new QuantileSketch();
            int empty = sketch.BinArrayBytes;
            long before = GC.GetAllocatedBytesForCurrentThread();
            sketch.Add(5);
            long positive = GC.GetAllocatedBytesForCurrentThread() - before;
            positiveReported = sketch.BinArrayBytes;
            sketch.Add(-5);
            long both = GC.GetAllocatedBytesForCurrentThread() - before;
            bothReported = sketch.BinArrayBytes;
            Assert.Equal(0, empty);
            if (round > 0)
            {
                fewestPositive = Math.Min(fewestPositive, positive);
                fewestBoth = Math.Min(fewestBoth, both);
            }
        }

        Assert.Equal(fewestPositive, positiveReported);
        Assert.Equal(fewestBoth, bothReported);
        Assert.True(fewestPositive > 0 && fewestBoth == 2 * fewestPositive, $"{fewestPositive} then {fewestBoth}");

        // Wider spreads grow the arrays: the figure follows the arrays kept, not the ones dropped.
        var wide = new QuantileSketch();
        for (int i = 0; i < 2000; i++)
        {
            wide.Add(Math.Exp(i / 100.0));
        }

        // A long[] over the bins' range at the least: a 24-byte header on 64-bit, 8 bytes a slot.
        Assert.True(wide.BinArrayBytes >= 24 + (8 * (wide.Positive.MaxIndex - wide.Positive.MinIndex + 1)), $"{wide.BinArrayBytes} B");
    }
}
