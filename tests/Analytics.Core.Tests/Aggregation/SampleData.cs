namespace Analytics.Core.Tests.Aggregation;

/// <summary>Seeded sample streams for the aggregation properties (the seed comes from FsCheck, so a failure replays).</summary>
internal static class SampleData
{
    public const int DistributionCount = 7;

    public static readonly double[] FixedQuantiles = [0, 0.5, 0.9, 0.95, 0.99, 1];

    public static string DistributionName(int kind) => kind switch
    {
        0 => "uniform",
        1 => "lognormal",
        2 => "negatives-zeros-positives",
        3 => "heavy-duplicates",
        4 => "sixteen-decades",
        5 => "small-integers",
        _ => "latency-with-outliers",
    };

    public static double[] Values(int seed, int kind, int count)
    {
        var random = new Random(seed);
        var values = new double[count];
        double mu = random.NextDouble() * 5;
        double sigma = 0.25 + (random.NextDouble() * 2.75);
        double[] pool = [0, 1, -1, 3.5, 1e6, -0.25, 42];
        for (int i = 0; i < count; i++)
        {
            values[i] = kind switch
            {
                0 => random.NextDouble() * 1000,
                1 => LogNormal(random, mu, sigma),
                2 => random.Next(5) switch
                {
                    0 => 0,
                    1 or 2 => -LogNormal(random, mu, sigma),
                    _ => LogNormal(random, mu, sigma),
                },
                3 => pool[random.Next(3) == 0 ? random.Next(pool.Length) : random.Next(2)],
                4 => (random.Next(2) == 0 ? -1 : 1) * Math.Pow(10, (random.NextDouble() * 16) - 8),
                5 => random.Next(11),
                _ => random.Next(100) == 0 ? random.NextDouble() * 60_000 : LogNormal(random, 3, 0.5),
            };
        }

        return values;
    }

    /// <summary>The exact quantile as the sketch defines it: the value of rank floor(q·(n−1)) in sorted order.</summary>
    public static double ExactQuantile(double[] sorted, double q) => sorted[(int)Math.Floor(q * (sorted.Length - 1))];

    public static bool WithinRelativeError(double estimate, double exact, double alpha) =>
        Math.Abs(estimate - exact) <= alpha * Math.Abs(exact);

    private static double LogNormal(Random random, double mu, double sigma)
    {
        // Box-Muller.
        double u1 = 1.0 - random.NextDouble();
        double u2 = random.NextDouble();
        double normal = Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
        return Math.Exp(mu + (sigma * normal));
    }
}
