namespace Analytics.Core.Tests.Pipeline;

/// <summary>One aggregate as a sink saw it, copied out of the batch.</summary>
internal sealed record SeenAggregate(string Metric, string Dimensions, long WindowStartMs, long Count, double Sum, double Min, double Max, string FirstSequenceNumber, string LastSequenceNumber);

/// <summary>Waits of test sinks.</summary>
internal static class SinkWaits
{
    /// <summary>
    /// Ends when <paramref name="token"/> fires, as the AWS sinks stop: resumed inline by the cancellation, so a sink
    /// awaiting it has returned before the processor's grace after the deadline ends.
    /// </summary>
    public static async Task UntilCancelledAsync(CancellationToken token)
    {
        var stopped = new TaskCompletionSource();
        using CancellationTokenRegistration registration = token.Register(() => stopped.TrySetResult());
        await stopped.Task;
    }
}

/// <summary>An in-memory aggregate sink for unit tests of the pipeline's logic (the real sinks have their own tests).</summary>
internal sealed class RecordingAggregateSink : IAggregateSink
{
    public List<SeenAggregate> Seen { get; } = [];

    /// <summary>Which pairs to make durable; all when null.</summary>
    public Func<int, bool>? Durable { get; set; }

    public Exception? Throw { get; set; }

    /// <summary>Wait this long honouring the token (TimeSpan.Zero: no wait).</summary>
    public TimeSpan DelayHonouringToken { get; set; }

    /// <summary>Wait this long ignoring the token.</summary>
    public TimeSpan DelayIgnoringToken { get; set; }

    public int Calls { get; private set; }

    public async Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
    {
        Calls++;
        for (int i = 0; i < batch.Count; i++)
        {
            SeriesKey key = batch.GetSeriesKey(i);
            MetricAggregate a = batch.GetAggregate(i);
            var dims = new List<string>();
            foreach ((ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) in key.Dimensions)
            {
                dims.Add(System.Text.Encoding.UTF8.GetString(name) + "=" + System.Text.Encoding.UTF8.GetString(value));
            }

            Seen.Add(new SeenAggregate(key.GetMetricString(), string.Join(",", dims), batch.GetWindowStartMs(i), a.Count, a.Sum, a.Min, a.Max,
                System.Text.Encoding.ASCII.GetString(batch.GetFirstSequenceNumber(i)), System.Text.Encoding.ASCII.GetString(batch.GetLastSequenceNumber(i))));
        }

        if (DelayHonouringToken > TimeSpan.Zero)
        {
            await Task.Delay(DelayHonouringToken, cancellationToken);
        }

        if (DelayIgnoringToken > TimeSpan.Zero)
        {
            await Task.Delay(DelayIgnoringToken, CancellationToken.None);
        }

        for (int i = 0; i < batch.Count; i++)
        {
            if (Durable?.Invoke(i) ?? true)
            {
                batch.MarkDurable(i);
            }
        }

        if (Throw is not null)
        {
            throw Throw;
        }
    }
}

internal sealed class RecordingQuarantineSink : IQuarantineSink
{
    public List<QuarantinedRecord> Records { get; } = [];

    /// <summary>How many to make durable per call; all when null.</summary>
    public int? DurableCount { get; set; }

    public Exception? Throw { get; set; }

    public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken)
    {
        if (Throw is not null)
        {
            throw Throw;
        }

        int n = Math.Min(DurableCount ?? records.Count, records.Count);
        Records.AddRange(records.Take(n));
        return Task.FromResult(n);
    }
}

/// <summary>A clock that moves forward by a fixed step each time the pipeline reads it.</summary>
internal sealed class SteppingTimeProvider(DateTimeOffset start, TimeSpan step) : TimeProvider
{
    private long _ticks;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Interlocked.Add(ref _ticks, step.Ticks);

    public override DateTimeOffset GetUtcNow() => start + TimeSpan.FromTicks(Volatile.Read(ref _ticks));
}

/// <summary>Returns a task the test completes, with how many records it made durable.</summary>
internal sealed class PendingQuarantineSink : IQuarantineSink
{
    public int Records { get; private set; }

    public TaskCompletionSource<int>? Pending { get; private set; }

    public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken)
    {
        Records = records.Count;
        Pending = new TaskCompletionSource<int>();
        return Pending.Task;
    }
}

/// <summary>Returns a task the test completes; the test marks what is durable.</summary>
internal sealed class PendingAggregateSink : IAggregateSink
{
    public AggregateBatch? Batch { get; private set; }

    public TaskCompletionSource? Pending { get; private set; }

    public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
    {
        Batch = batch;
        Pending = new TaskCompletionSource();
        return Pending.Task;
    }
}

/// <summary>Records the shard and stream of each batch it is given, and makes it durable.</summary>
internal sealed class SourceRecordingSink : IAggregateSink
{
    public List<(string ShardId, string? Arn)> Sources { get; } = [];

    public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
    {
        Sources.Add((batch.ShardId, batch.EventSourceArn));
        batch.MarkAllDurable();
        return Task.CompletedTask;
    }
}
