#if NET9_0_OR_GREATER
using Gate = System.Threading.Lock;
#else
using Gate = System.Object;
#endif

namespace Analytics.Core.Testing;

/// <summary>
/// How long a modeled service takes to answer: a log-normal distribution given by its median and 99th percentile,
/// sampled from the model's seeded random source.
/// </summary>
/// <param name="P50">The median latency; zero with <paramref name="P99"/> zero for no latency at all.</param>
/// <param name="P99">The 99th percentile; at least <paramref name="P50"/>. Equal to it for a constant latency. At most about
/// 49.7 days (4,294,967,294 ms, the longest a timer waits); a draw past that waits that long.</param>
public readonly record struct LatencyDistribution(TimeSpan P50, TimeSpan P99)
{
    // The standard normal quantile at 0.99.
    private const double Z99 = 2.3263478740408408;

    /// <summary>
    /// The longest wait a model makes: the longest a timer of <see cref="TimeProvider.System"/> accepts (4,294,967,294
    /// ms, about 49.7 days). A longer percentile or request timeout is refused where it is given, not by a timer inside
    /// a request; a drawn latency past it waits this long.
    /// </summary>
    internal static readonly TimeSpan LongestWait = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    /// <summary>No latency: every request is answered at the virtual instant it is made.</summary>
    public static LatencyDistribution None => default;

    /// <summary>Creates the distribution from milliseconds.</summary>
    /// <param name="p50Ms">The median in milliseconds.</param>
    /// <param name="p99Ms">The 99th percentile in milliseconds.</param>
    /// <returns>The distribution.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A percentile is not a finite number (NaN, infinite, or past what a <see cref="TimeSpan"/> holds).</exception>
    public static LatencyDistribution FromMilliseconds(double p50Ms, double p99Ms)
    {
        // TimeSpan's own refusal of NaN or an overflow names no option.
        foreach ((string name, double ms) in (ReadOnlySpan<(string, double)>)[(nameof(p50Ms), p50Ms), (nameof(p99Ms), p99Ms)])
        {
            if (!double.IsFinite(ms) || Math.Abs(ms) > TimeSpan.MaxValue.TotalMilliseconds / 2)
            {
                throw new ArgumentOutOfRangeException(name, ms, "A latency percentile must be a finite number of milliseconds.");
            }
        }

        return new(TimeSpan.FromMilliseconds(p50Ms), TimeSpan.FromMilliseconds(p99Ms));
    }

    /// <summary>Checks the percentiles.</summary>
    /// <param name="name">The option's name, for the message.</param>
    /// <exception cref="ArgumentOutOfRangeException">A percentile is negative, P99 is below P50, P50 is zero while P99 is
    /// not, or P99 is past 4,294,967,294 ms (about 49.7 days, the longest a timer waits).</exception>
    internal void Validate(string name)
    {
        if (P50 < TimeSpan.Zero || P99 < P50 || (P50 == TimeSpan.Zero && P99 != TimeSpan.Zero))
        {
            throw new ArgumentOutOfRangeException(name, $"{name}: need 0 <= P50 <= P99 and P50 > 0 unless both are 0 (got P50 {P50.TotalMilliseconds} ms, P99 {P99.TotalMilliseconds} ms).");
        }

        if (P99 > LongestWait)
        {
            throw new ArgumentOutOfRangeException(name, $"{name}: P99 must be at most {LongestWait.TotalMilliseconds} ms (about 49.7 days, the longest a timer waits; got {P99.TotalMilliseconds} ms).");
        }
    }

    /// <summary>Draws one latency from two uniform draws in [0, 1) (always two, whatever the parameters, so a change
    /// of latency never shifts the other seeded decisions).</summary>
    internal TimeSpan Sample(Func<double> nextUniform)
    {
        double u1 = 1.0 - nextUniform();
        double u2 = nextUniform();
        if (P50 == TimeSpan.Zero)
        {
            return TimeSpan.Zero;
        }

        double z = Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
        double sigma = Math.Log(P99.TotalMilliseconds / P50.TotalMilliseconds) / Z99;
        // A wide distribution's tail can pass any timer's limit (and a long's ticks): such a draw waits the longest wait.
        double ms = Math.Min(P50.TotalMilliseconds * Math.Exp(sigma * z), LongestWait.TotalMilliseconds);
        return TimeSpan.FromTicks((long)Math.Round(ms * TimeSpan.TicksPerMillisecond));
    }
}

/// <summary>
/// A span of time in which a modeled service answers every request made in it with a server error (HTTP 500), or, when
/// <see cref="Unanswered"/>, gives it no answer at all.
/// </summary>
/// <param name="From">The first instant of the outage (by the model's clock).</param>
/// <param name="Until">The end of the outage, exclusive.</param>
public readonly record struct OutageWindow(DateTimeOffset From, DateTimeOffset Until)
{
    /// <summary>
    /// Whether a request made in the outage gets no answer (a service that hangs, a lost connection) instead of a server
    /// error: it waits until its caller's cancellation token fires, also when the outage ends first, and then throws a
    /// <see cref="TaskCanceledException"/> carrying that token, as the AWS SDK does when a caller cancels a request; or,
    /// with the model's <c>RequestTimeout</c>, fails at that timeout as the SDK fails a request whose timeout elapsed.
    /// Without one, every such request costs its caller all the time it allowed. Default <see langword="false"/>.
    /// </summary>
    public bool Unanswered { get; init; }

    /// <summary>Whether <paramref name="instant"/> lies in the outage.</summary>
    /// <param name="instant">The instant.</param>
    /// <returns><see langword="true"/> when <c>From &lt;= instant &lt; Until</c>.</returns>
    public bool Contains(DateTimeOffset instant) => instant >= From && instant < Until;
}

/// <summary>
/// The seeded decisions a model takes per request: latency, outage, throttling. Each request's draws come from its own
/// stream, derived from the seed, the request's identity (operation and content), the instant it is made (by the model's
/// clock) and how often that identity was seen before at that instant, so concurrent requests get the same decisions
/// whatever order they arrive in, and a retry of an equal request gets fresh ones.
/// </summary>
/// <remarks>
/// Only the current instant's counts are kept: memory is bounded by the requests of one instant, not the length of the
/// run. With a real clock the instant is the real time, so decisions are seeded but not reproducible.
/// </remarks>
internal sealed class FaultPlan
{
    private readonly ulong _seed;
    private readonly LatencyDistribution _latency;
    private readonly double _throttleFraction;
    private readonly OutageWindow[] _outages;
    private readonly TimeSpan? _requestTimeout;
    private readonly TimeProvider _time;
    private readonly Dictionary<ulong, long> _seen = [];
    private readonly Gate _seenGate = new();
    private long _seenInstant = long.MinValue;
    private readonly string _model;
    private volatile bool _closed;
    private static readonly FaultDraws s_quietDraws = new(0);

    public FaultPlan(int seed, LatencyDistribution latency, double throttleFraction, IReadOnlyList<OutageWindow>? outages, TimeProvider time, string prefix, TimeSpan? requestTimeout = null)
    {
        latency.Validate(prefix + "Latency");
        if (requestTimeout is { } timeout && (timeout <= TimeSpan.Zero || timeout > LatencyDistribution.LongestWait))
        {
            throw new ArgumentOutOfRangeException(nameof(requestTimeout), $"{prefix}RequestTimeout must be positive and at most {LatencyDistribution.LongestWait.TotalMilliseconds} ms (about 49.7 days, the longest a timer waits), or null for none (got {timeout.TotalMilliseconds} ms).");
        }

        _requestTimeout = requestTimeout;
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

        _seed = FaultDraws.Mix((ulong)(uint)seed);
        _latency = latency;
        _throttleFraction = throttleFraction;
        _time = time;
        _model = prefix.Replace("Options.", string.Empty, StringComparison.Ordinal);
    }

    /// <summary>The latency <see cref="Decide(bool, ulong)"/> gives a request of an unanswered outage: it waits for its caller's cancellation.</summary>
    public static readonly TimeSpan Unanswered = Timeout.InfiniteTimeSpan;

    /// <summary>The message of the SDK's exceptions for an elapsed HTTP timeout.</summary>
    internal const string TimedOutMessage = "The operation was canceled.";

    public TimeProvider Time => _time;

    /// <summary>The model was disposed: its clients' requests are refused from now on.</summary>
    public void Close() => _closed = true;

    /// <summary>
    /// Called as each request starts: refuses it once the model is disposed, and tells an emulator's invocation that
    /// called the model off the run's clock (<see cref="VirtualClock.NoteDownstreamCall"/>).
    /// </summary>
    /// <exception cref="ObjectDisposedException">The model was disposed.</exception>
    public void Enter()
    {
        if (_closed)
        {
            throw new ObjectDisposedException(_model, $"The {_model} was disposed; its clients stop working with it. Dispose the model after the code that uses its clients.");
        }

        VirtualClock.NoteDownstreamCall(_time);
    }

    /// <summary>How many request identities the plan holds counts for (those of the current instant).</summary>
    internal int TrackedIdentities
    {
        get
        {
            lock (_seenGate)
            {
                return _seen.Count;
            }
        }
    }

    public double ThrottleFraction => _throttleFraction;

    /// <summary>
    /// No latency, no throttling, no outages: every request is decided alike (<see cref="Quiet"/>), so a caller need not
    /// work out the request's identity (hashing every request's content was a twentieth of a run's time).
    /// </summary>
    public bool IsQuiet => _latency.P50 == TimeSpan.Zero && _throttleFraction == 0 && _outages.Length == 0;

    /// <summary>The decision of a quiet plan, the same as <see cref="Decide(bool, ulong)"/> makes there for any request:
    /// no latency, no outage, not throttled. Its draws are one shared stream: only a throttled request draws from them,
    /// and a quiet plan throttles none, so no request allocates one.</summary>
    /// <returns>The decision.</returns>
    public static (TimeSpan Latency, bool Outage, bool Throttled, FaultDraws Draws) Quiet() => (TimeSpan.Zero, false, false, s_quietDraws);

    /// <summary>Decides one request: its latency, and whether it falls in an outage or is throttled.</summary>
    /// <param name="throttleable">Whether the operation is subject to throttling (data-plane calls).</param>
    /// <param name="identity">What the request is (operation and content); equal requests are told apart by count.</param>
    /// <returns>The decision, and the request's draw stream for further per-item decisions.</returns>
    public (TimeSpan Latency, bool Outage, bool Throttled, FaultDraws Draws) Decide(bool throttleable, ReadOnlySpan<byte> identity) =>
        Decide(throttleable, Hash(identity));

    /// <summary>The 64-bit FNV-1a hash of a request's bytes, as an identity for <see cref="Decide(bool, ulong)"/>.</summary>
    public static ulong Hash(ReadOnlySpan<byte> identity)
    {
        ulong hash = 14695981039346656037UL;
        foreach (byte b in identity)
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return hash;
    }

    /// <summary>Decides one request given its identity as a hash (equal requests must hash equal, on every path).</summary>
    /// <param name="throttleable">Whether the operation is subject to throttling (data-plane calls).</param>
    /// <param name="identity">What the request is, hashed; equal requests are told apart by count.</param>
    /// <returns>The decision, and the request's draw stream for further per-item decisions.</returns>
    public (TimeSpan Latency, bool Outage, bool Throttled, FaultDraws Draws) Decide(bool throttleable, ulong identity)
    {
        ulong hash = identity ^ _seed;
        DateTimeOffset now = _time.GetUtcNow();
        long instant = now.UtcTicks;
        long occurrence;
        lock (_seenGate)
        {
            if (instant != _seenInstant)
            {
                // Time moved: no later request can be made at an earlier instant, so the old counts are done with.
                _seen.Clear();
                if (_seen.EnsureCapacity(0) > 1024)
                {
                    _seen.TrimExcess();
                }

                _seenInstant = instant;
            }

            _seen.TryGetValue(hash, out occurrence);
            _seen[hash] = occurrence + 1;
        }

        hash ^= FaultDraws.Mix((ulong)instant);

        var draws = new FaultDraws(FaultDraws.Mix(hash + ((ulong)occurrence * 0x9E3779B97F4A7C15UL)));
        TimeSpan latency = _latency.Sample(draws.NextDouble);
        double throttleDraw = draws.NextDouble();
        bool outage = false;
        foreach (OutageWindow o in _outages)
        {
            if (o.Contains(now))
            {
                outage = true;
                if (o.Unanswered)
                {
                    latency = Unanswered;
                    break;
                }
            }
        }

        return (latency, outage, !outage && throttleable && throttleDraw < _throttleFraction, draws);
    }

    /// <summary>
    /// Waits the latency on the model's clock (virtual time advances it; a real clock really waits). A cancelled wait
    /// throws on the thread that cancelled, not on the thread pool as <c>Task.Delay</c> would (<c>ClockDelay</c>): under the
    /// virtual clock the request's caller then stays on the clock's thread. <see cref="Unanswered"/> (a request in an
    /// unanswered outage) waits for the cancellation alone, however long.
    /// </summary>
    public async Task DelayAsync(TimeSpan latency, CancellationToken cancellationToken)
    {
        if (_requestTimeout is { } timeout && (latency == Unanswered || latency > timeout))
        {
            // The client gives up first: the SDK's error for an elapsed HTTP timeout (AWS SDK 4: a TimeoutException over
            // the TaskCanceledException of HttpClient's own cancellation), the request unapplied.
            if (!await ClockDelay.WaitAsync(_time, timeout, cancellationToken).ConfigureAwait(false))
            {
                throw new TaskCanceledException(TimedOutMessage, null, cancellationToken);
            }

            throw new TimeoutException(TimedOutMessage, new TaskCanceledException(TimedOutMessage));
        }

        if (latency == Unanswered)
        {
            // Ends only by the cancellation, on the thread that cancels; then what the SDK throws when its caller's token
            // ends a request (HttpClient's cancellation).
            await ClockDelay.WaitAsync(_time, Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false);
            throw new TaskCanceledException(TimedOutMessage, null, cancellationToken);
        }

        if (latency > TimeSpan.Zero && !await ClockDelay.WaitAsync(_time, latency, cancellationToken).ConfigureAwait(false))
        {
            cancellationToken.ThrowIfCancellationRequested();
        }
    }
}

/// <summary>A SplitMix64 stream of uniform draws for one request.</summary>
internal sealed class FaultDraws(ulong state)
{
    private ulong _state = state;

    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A uniform draw in [0, 1).</summary>
    public double NextDouble()
    {
        _state += 0x9E3779B97F4A7C15UL;
        return (Mix(_state) >> 11) * (1.0 / (1UL << 53));
    }
}
