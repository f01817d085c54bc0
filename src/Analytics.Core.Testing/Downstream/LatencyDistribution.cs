namespace Analytics.Core.Testing;

/// <summary>
/// How long a modeled service takes to answer: a log-normal distribution given by its median and 99th percentile,
/// sampled from the model's seeded random source.
/// </summary>
/// <param name="P50">The median latency; zero with <paramref name="P99"/> zero for no latency at all.</param>
/// <param name="P99">The 99th percentile; at least <paramref name="P50"/>. Equal to it for a constant latency.</param>
public readonly record struct LatencyDistribution(TimeSpan P50, TimeSpan P99)
{
    // The standard normal quantile at 0.99.
    private const double Z99 = 2.3263478740408408;

    /// <summary>No latency: every request is answered at the virtual instant it is made.</summary>
    public static LatencyDistribution None => default;

    /// <summary>Creates the distribution from milliseconds.</summary>
    /// <param name="p50Ms">The median in milliseconds.</param>
    /// <param name="p99Ms">The 99th percentile in milliseconds.</param>
    /// <returns>The distribution.</returns>
    public static LatencyDistribution FromMilliseconds(double p50Ms, double p99Ms) =>
        new(TimeSpan.FromMilliseconds(p50Ms), TimeSpan.FromMilliseconds(p99Ms));

    /// <summary>Checks the percentiles.</summary>
    /// <param name="name">The option's name, for the message.</param>
    /// <exception cref="ArgumentOutOfRangeException">A percentile is negative, P99 is below P50, or P50 is zero while P99 is not.</exception>
    internal void Validate(string name)
    {
        if (P50 < TimeSpan.Zero || P99 < P50 || (P50 == TimeSpan.Zero && P99 != TimeSpan.Zero))
        {
            throw new ArgumentOutOfRangeException(name, $"{name}: need 0 <= P50 <= P99 and P50 > 0 unless both are 0 (got P50 {P50.TotalMilliseconds} ms, P99 {P99.TotalMilliseconds} ms).");
        }
    }

    /// <summary>Draws one latency (exactly two draws of <paramref name="random"/>, whatever the parameters, so a
    /// change of latency never shifts the other seeded decisions).</summary>
    internal TimeSpan Sample(Random random)
    {
        double u1 = 1.0 - random.NextDouble();
        double u2 = random.NextDouble();
        if (P50 == TimeSpan.Zero)
        {
            return TimeSpan.Zero;
        }

        double z = Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
        double sigma = Math.Log(P99.TotalMilliseconds / P50.TotalMilliseconds) / Z99;
        double ms = P50.TotalMilliseconds * Math.Exp(sigma * z);
        return TimeSpan.FromTicks((long)Math.Round(ms * TimeSpan.TicksPerMillisecond));
    }
}

/// <summary>A span of time in which a modeled service answers every request with a server error.</summary>
/// <param name="From">The first instant of the outage (by the model's clock).</param>
/// <param name="Until">The end of the outage, exclusive.</param>
public readonly record struct OutageWindow(DateTimeOffset From, DateTimeOffset Until)
{
    /// <summary>Whether <paramref name="instant"/> lies in the outage.</summary>
    /// <param name="instant">The instant.</param>
    /// <returns><see langword="true"/> when <c>From &lt;= instant &lt; Until</c>.</returns>
    public bool Contains(DateTimeOffset instant) => instant >= From && instant < Until;
}

/// <summary>The seeded decisions a model takes per request: latency, outage, throttling.</summary>
internal sealed class FaultPlan
{
    private readonly Random _random;
    private readonly LatencyDistribution _latency;
    private readonly double _throttleFraction;
    private readonly OutageWindow[] _outages;
    private readonly TimeProvider _time;
    private readonly object _lock = new();

    public FaultPlan(int seed, LatencyDistribution latency, double throttleFraction, IReadOnlyList<OutageWindow>? outages, TimeProvider time, string prefix)
    {
        latency.Validate(prefix + "Latency");
        if (!(throttleFraction is >= 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(throttleFraction), $"{prefix}ThrottleFraction must be from 0 to 1 (got {throttleFraction}).");
        }

        _outages = outages?.ToArray() ?? [];
        foreach (OutageWindow o in _outages)
        {
            if (o.Until <= o.From)
            {
                throw new ArgumentOutOfRangeException(nameof(outages), $"{prefix}Outages: an outage must end after it starts ({o.From:O} .. {o.Until:O}).");
            }
        }

        _random = new Random(seed);
        _latency = latency;
        _throttleFraction = throttleFraction;
        _time = time;
    }

    public TimeProvider Time => _time;

    /// <summary>Decides one request: its latency, and whether it falls in an outage or is throttled.</summary>
    /// <param name="throttleable">Whether the operation is subject to throttling (data-plane calls).</param>
    public (TimeSpan Latency, bool Outage, bool Throttled) Decide(bool throttleable)
    {
        lock (_lock)
        {
            TimeSpan latency = _latency.Sample(_random);
            double draw = _random.NextDouble();
            DateTimeOffset now = _time.GetUtcNow();
            bool outage = _outages.Any(o => o.Contains(now));
            return (latency, outage, !outage && throttleable && draw < _throttleFraction);
        }
    }

    /// <summary>One more seeded draw, for per-key decisions inside a batch request.</summary>
    public double NextDouble()
    {
        lock (_lock)
        {
            return _random.NextDouble();
        }
    }

    public bool Throttles => _throttleFraction > 0;

    public double ThrottleFraction => _throttleFraction;

    /// <summary>Waits the latency on the model's clock (virtual time advances it; a real clock really waits).</summary>
    public Task DelayAsync(TimeSpan latency, CancellationToken cancellationToken) =>
        latency <= TimeSpan.Zero ? Task.CompletedTask : Task.Delay(latency, _time, cancellationToken);
}
