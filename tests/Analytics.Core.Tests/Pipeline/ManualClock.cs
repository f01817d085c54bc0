namespace Analytics.Core.Tests.Pipeline;

/// <summary>
/// A fake clock for the pipeline: time moves only when the code under test reads the timestamp (a fixed step per
/// read, standing for the work done between reads) or when a fake sink spends time with <see cref="Advance"/>.
/// Timers (the pipeline's deadline token) fire in this fake time, synchronously, as soon as it passes them.
/// </summary>
internal sealed class ManualClock(DateTimeOffset start, TimeSpan stepPerRead) : TimeProvider
{
    private readonly List<FakeTimer> _timers = [];
    private long _ticks;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public TimeSpan StepPerRead { get; set; } = stepPerRead;

    public TimeSpan Elapsed => TimeSpan.FromTicks(_ticks);

    /// <summary>Fake time (ticks since start) at which the earliest pending timer fires; long.MaxValue when none.</summary>
    public long EarliestTimerDue
    {
        get
        {
            lock (_timers)
            {
                return _timers.Count == 0 ? long.MaxValue : _timers.Min(t => t.DueTicks);
            }
        }
    }

    /// <summary>Fake time in ticks since start, without moving it.</summary>
    public long Now => _ticks;

    public override long GetTimestamp()
    {
        Advance(StepPerRead);
        return _ticks;
    }

    public override DateTimeOffset GetUtcNow() => start + TimeSpan.FromTicks(_ticks);

    public void Advance(TimeSpan by)
    {
        _ticks += by.Ticks;
        FakeTimer[] due;
        lock (_timers)
        {
            due = [.. _timers.Where(t => t.DueTicks <= _ticks)];
            foreach (FakeTimer t in due)
            {
                _timers.Remove(t);
            }
        }

        foreach (FakeTimer t in due)
        {
            t.Fire();
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new FakeTimer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    private sealed class FakeTimer(ManualClock clock, TimerCallback callback, object? state) : ITimer
    {
        public long DueTicks { get; private set; }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (clock._timers)
            {
                clock._timers.Remove(this);
                if (dueTime == Timeout.InfiniteTimeSpan)
                {
                    return true;
                }

                DueTicks = clock._ticks + dueTime.Ticks;
                clock._timers.Add(this);
            }

            if (dueTime <= TimeSpan.Zero)
            {
                clock.Advance(TimeSpan.Zero);
            }

            return true;
        }

        public void Fire() => callback(state);

        public void Dispose()
        {
            lock (clock._timers)
            {
                clock._timers.Remove(this);
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>
/// An aggregate sink that keeps, per (series, window), a watermark and the running count and sum, applying only the
/// records past the watermark (as the DynamoDB sink does), and spends a fixed fake time per pair. It honours the
/// token: a pair whose write ends after the deadline is not made durable.
/// </summary>
internal sealed class SlowWatermarkSink(ManualClock clock, TimeSpan perPair) : IAggregateSink
{
    public Dictionary<(string Series, long Window), (string Watermark, long Count, double Sum)> Store { get; } = [];

    public TimeSpan PerPair { get; set; } = perPair;

    public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
    {
        var scratch = new MetricAggregate(AggregatorOptions.Default);
        for (int pair = 0; pair < batch.Count; pair++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            clock.Advance(PerPair);
            cancellationToken.ThrowIfCancellationRequested();
            var key = (SeriesText(batch.GetSeriesKey(pair)), batch.GetWindowStartMs(pair));
            Store.TryGetValue(key, out var entry);
            byte[] watermark = System.Text.Encoding.ASCII.GetBytes(entry.Watermark ?? string.Empty);
            if (batch.TryGetAggregateAfter(pair, watermark, scratch))
            {
                entry = (System.Text.Encoding.ASCII.GetString(batch.GetLastSequenceNumber(pair)), entry.Count + scratch.Count, entry.Sum + scratch.Sum);
                Store[key] = entry;
            }

            batch.MarkDurable(pair);
        }

        return Task.CompletedTask;
    }

    /// <summary><c>metric|k=v,k=v</c>.</summary>
    public static string SeriesText(SeriesKey key)
    {
        var dims = new List<string>();
        foreach ((ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) in key.Dimensions)
        {
            dims.Add(System.Text.Encoding.UTF8.GetString(name) + "=" + System.Text.Encoding.UTF8.GetString(value));
        }

        return key.GetMetricString() + "|" + string.Join(",", dims);
    }
}

/// <summary>
/// An idempotent quarantine (by sequence and sub-sequence number) that needs a fixed fake time per record. It runs
/// concurrently with the aggregate sink, as in a real invocation: its time runs in its own lane from the moment it
/// is called, and a record whose write would end after the pipeline's deadline timer is not made durable.
/// </summary>
internal sealed class SlowQuarantineSink(ManualClock clock, TimeSpan perRecord) : IQuarantineSink
{
    public Dictionary<(string Sequence, int? Sub), QuarantinedRecord> Records { get; } = [];

    public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken)
    {
        long start = clock.Now;
        long deadline = clock.EarliestTimerDue;
        for (int i = 0; i < records.Count; i++)
        {
            if (cancellationToken.IsCancellationRequested || start + ((i + 1) * perRecord.Ticks) > deadline)
            {
                return Task.FromResult(i);
            }

            Records[(records[i].SequenceNumber, records[i].SubSequenceNumber)] = records[i];
        }

        return Task.FromResult(records.Count);
    }
}
