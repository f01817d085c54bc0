namespace Analytics.Core.Tests.Pipeline;

/// <summary>
/// A clock that stands still at <paramref name="now"/> and whose timers never fire, allocating nothing per timer (unlike
/// a recording fake): what an allocation test of the processor runs under.
/// </summary>
internal sealed class FrozenClock(DateTimeOffset now) : TimeProvider
{
    private static readonly NeverTimer s_timer = new();

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => 0;

    public override DateTimeOffset GetUtcNow() => now;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => s_timer;

    private sealed class NeverTimer : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period) => true;

        public void Dispose()
        {
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

/// <summary>Marks every pair durable, or none when <see cref="Durable"/> is off, synchronously and allocating nothing.</summary>
internal sealed class SynchronousSink : IAggregateSink
{
    public bool Durable { get; set; } = true;

    public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
    {
        if (Durable)
        {
            batch.MarkAllDurable();
        }

        return Task.CompletedTask;
    }
}
