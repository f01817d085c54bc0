using System.Buffers;
using System.Text;

namespace Analytics.Core.Tests.Pipeline;

/// <summary>What a test spill sink does with a call.</summary>
public enum SpillCall
{
    /// <summary>Returns the configured result at once.</summary>
    Result,

    /// <summary>Throws <see cref="TestSpillSink.Throw"/> from the call itself.</summary>
    ThrowAtOnce,

    /// <summary>Returns a task that faults with <see cref="TestSpillSink.Throw"/>.</summary>
    Fault,

    /// <summary>Returns a task that the test completes (<see cref="TestSpillSink.Pending"/>).</summary>
    Pending,

    /// <summary>Returns a task that is cancelled when the token is (an honouring sink).</summary>
    HonourToken,

    /// <summary>Returns a task that gives <see langword="false"/> when the token is cancelled (a sink that answers "not spilled").</summary>
    FalseWhenCancelled,

    /// <summary>Returns a task that never completes (a sink that ignores cancellation).</summary>
    Hang,
}

/// <summary>A spill sink whose removal and write each do what the test says, and that records every call.</summary>
internal sealed class TestSpillSink : ISpillSink
{
    public SpillCall Remove { get; set; } = SpillCall.Result;

    public SpillCall Write { get; set; } = SpillCall.Result;

    public bool RemoveResult { get; set; } = true;

    public bool WriteResult { get; set; } = true;

    public Exception Throw { get; set; } = new IOException("spill store unreachable");

    /// <summary>The task of the last call answered with <see cref="SpillCall.Pending"/>.</summary>
    public TaskCompletionSource<bool>? Pending { get; private set; }

    public List<SpillBatch> Writes { get; } = [];

    public List<string> Removals { get; } = [];

    public Task<bool> WriteAsync(SpillBatch spill, CancellationToken cancellationToken)
    {
        Writes.Add(spill);
        return Answer(Write, WriteResult, cancellationToken);
    }

    public Task<bool> RemoveUnconfirmedAsync(string shardId, string? eventSourceArn, string spillId, CancellationToken cancellationToken)
    {
        Removals.Add(spillId);
        return Answer(Remove, RemoveResult, cancellationToken);
    }

    private Task<bool> Answer(SpillCall call, bool result, CancellationToken cancellationToken)
    {
        switch (call)
        {
            case SpillCall.ThrowAtOnce:
                throw Throw;
            case SpillCall.Fault:
                return Task.FromException<bool>(Throw);
            case SpillCall.Pending:
                Pending = new TaskCompletionSource<bool>();
                return Pending.Task;
            case SpillCall.HonourToken:
                var cancelled = new TaskCompletionSource<bool>();
                cancellationToken.Register(() => cancelled.TrySetCanceled(cancellationToken));
                return cancelled.Task;
            case SpillCall.FalseWhenCancelled:
                var unspilled = new TaskCompletionSource<bool>();
                cancellationToken.Register(() => unspilled.TrySetResult(false));
                return unspilled.Task;
            case SpillCall.Hang:
                return new TaskCompletionSource<bool>().Task;
            default:
                return Task.FromResult(result);
        }
    }
}

/// <summary>
/// An aggregate sink that marks every pair durable or none; or that waits for its token and notes when it was
/// cancelled (on the processor's clock), then returns with nothing durable.
/// </summary>
internal sealed class ShareSink(TimeProvider time) : IAggregateSink
{
    public bool Durable { get; set; }

    /// <summary>Marks only the first pair durable (a store that took part of the batch).</summary>
    public bool DurableFirstOnly { get; set; }

    public bool WaitForToken { get; set; }

    /// <summary>When each waiting call's token was cancelled.</summary>
    public List<DateTimeOffset> CancelledAt { get; } = [];

    public int Calls { get; private set; }

    /// <summary>Runs first in each call (a sink that takes time: it moves the test's clock).</summary>
    public Action? OnCall { get; set; }

    public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
    {
        Calls++;
        OnCall?.Invoke();
        if (WaitForToken)
        {
            var done = new TaskCompletionSource();
            cancellationToken.Register(() =>
            {
                CancelledAt.Add(time.GetUtcNow());
                done.TrySetCanceled(cancellationToken);
            });
            return done.Task;
        }

        if (Durable)
        {
            batch.MarkAllDurable();
        }
        else if (DurableFirstOnly)
        {
            batch.MarkDurable(0);
        }

        return Task.CompletedTask;
    }
}

/// <summary>Events of the spill tests: one metric sample per record, of a shard the test names.</summary>
internal static class SpillEvents
{
    /// <summary>A shard id as Kinesis writes them, of the same length as <see cref="TestEvents.ShardId"/>.</summary>
    public static string Shard(int n) => "shardId-" + n.ToString("D12", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary><paramref name="count"/> records from sequence <paramref name="first"/> on, arrived at <see cref="TestEvents.Arrival"/>, one metric each.</summary>
    public static List<TestRecord> Records(int first, int count, int metrics = 1) =>
        [.. Enumerable.Range(first, count).Select(i => new TestRecord(
            TestEvents.Seq(i),
            TestEvents.Utf8(TestEvents.Sample("m" + (i % metrics).ToString(System.Globalization.CultureInfo.InvariantCulture), i, TestEvents.Arrival)),
            TestEvents.Arrival))];

    /// <summary>The event of <paramref name="records"/> from shard <paramref name="shardId"/>.</summary>
    public static byte[] Build(List<TestRecord> records, string shardId)
    {
        byte[] built = TestEvents.Build(records);
        if (shardId == TestEvents.ShardId)
        {
            return built;
        }

        // Same length, so a byte-for-byte replacement of every eventID's shard.
        string text = Encoding.UTF8.GetString(built).Replace(TestEvents.ShardId, shardId, StringComparison.Ordinal);
        return Encoding.UTF8.GetBytes(text);
    }

    /// <summary>Runs one invocation that must complete without the clock moving; returns its summary.</summary>
    public static BatchSummary RunAtOnce(KinesisBatchProcessor processor, TimeProvider time, byte[] evt)
    {
        Task<BatchSummary> run = processor.ProcessAsync(evt, time.GetUtcNow().AddSeconds(30), new ArrayBufferWriter<byte>());
        Assert.True(run.IsCompleted, "the invocation waited although every sink returned at once");
        return run.GetAwaiter().GetResult();
    }
}

/// <summary>
/// Runs the test's thread without a synchronization context, as a Lambda host's: under xUnit's context a continuation
/// that the test's fake clock or sink completes would be queued to the thread pool instead of running inline, and
/// then time or the test could move on before it ran.
/// </summary>
internal sealed class NoSynchronizationContext : IDisposable
{
    private readonly SynchronizationContext? _previous = SynchronizationContext.Current;

    public NoSynchronizationContext() => SynchronizationContext.SetSynchronizationContext(null);

    public void Dispose() => SynchronizationContext.SetSynchronizationContext(_previous);
}

/// <summary>Starts work on the test's thread under a given synchronization context, and puts the previous one back.</summary>
internal static class UnderContext
{
    /// <summary>Calls <paramref name="start"/> with <paramref name="context"/> current: a continuation of what it leaves pending that goes back to its caller's context is posted there.</summary>
    public static T Start<T>(SynchronizationContext context, Func<T> start)
    {
        SynchronizationContext? previous = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(context);
        try
        {
            return start();
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
        }
    }

    /// <summary>Starts an invocation of <paramref name="evt"/> with 30 s to go under <paramref name="context"/>.</summary>
    public static Task<BatchSummary> Process(SynchronizationContext context, KinesisBatchProcessor processor, TimeProvider time, byte[] evt) =>
        Start(context, () => processor.ProcessAsync(evt, time.GetUtcNow().AddSeconds(30), new ArrayBufferWriter<byte>()));
}

/// <summary>A context that runs nothing when it is posted to: it keeps what it gets until the test pumps it.</summary>
internal sealed class QueueingSynchronizationContext : SynchronizationContext
{
    private readonly List<(SendOrPostCallback Callback, object? State)> _posted = [];

    public override void Post(SendOrPostCallback d, object? state) => _posted.Add((d, state));

    public override void Send(SendOrPostCallback d, object? state) => _posted.Add((d, state));

    /// <summary>Runs what was posted (so that nothing is left waiting) and says how much it was.</summary>
    public int Pump()
    {
        int count = 0;
        while (_posted.Count > 0)
        {
            (SendOrPostCallback callback, object? state) = _posted[0];
            _posted.RemoveAt(0);
            callback(state);
            count++;
        }

        return count;
    }
}
