using Analytics.Core.Tests.Pipeline;

namespace Analytics.Core.Tests;

/// <summary>
/// <c>ClockDelay</c>'s wait for a cancellation alone (<see cref="Timeout.InfiniteTimeSpan"/>), what the emulator's models
/// give a request that gets no answer: no time ends it, and the cancellation ends it on the thread that cancels. And
/// the timer of a wait is released however the wait ends (a retry's backoff cut short by the deadline left its timer
/// armed for up to its whole delay: under the emulator's virtual clock, a timer the clock still had to reach).
/// </summary>
public class ClockDelayTests
{
    [Fact]
    public async Task AnInfiniteWait_OutlastsAnyTime_AndEndsOnlyByItsCancellation_OnTheCancellingThread()
    {
        var clock = new ManualTimeProvider(new DateTimeOffset(2025, 1, 20, 10, 0, 0, TimeSpan.Zero));
        using var caller = new CancellationTokenSource();
        Task<bool> wait = ClockDelay.WaitAsync(clock, Timeout.InfiniteTimeSpan, caller.Token);

        clock.Advance(TimeSpan.FromDays(365));
        await Task.Delay(50);
        Assert.False(wait.IsCompleted);

        caller.Cancel();
        Assert.True(wait.IsCompleted, "completed inside the cancellation, not later on the thread pool");
        Assert.False(await wait);
    }

    [Fact]
    public async Task AnEndedDelay_AndAnAlreadyCancelledToken_AnswerAtOnce()
    {
        var clock = new ManualTimeProvider(new DateTimeOffset(2025, 1, 20, 10, 0, 0, TimeSpan.Zero));
        Task<bool> none = ClockDelay.WaitAsync(clock, TimeSpan.Zero, CancellationToken.None);
        Task<bool> cancelled = ClockDelay.WaitAsync(clock, Timeout.InfiniteTimeSpan, new CancellationToken(canceled: true));
        Assert.True(none.IsCompleted && cancelled.IsCompleted);
        Assert.True(await none);
        Assert.False(await cancelled);
    }
    [Fact]
    public async Task ACancelledWait_ReleasesItsTimer_AndAnElapsedOneToo()
    {
        var clock = new ManualTimeProvider(new DateTimeOffset(2025, 1, 20, 10, 0, 0, TimeSpan.Zero));
        using var caller = new CancellationTokenSource();
        Task<bool> cancelled = ClockDelay.WaitAsync(clock, TimeSpan.FromHours(1), caller.Token);
        Assert.Equal(1, clock.LiveTimers);

        caller.Cancel();

        Assert.True(cancelled.IsCompleted);
        Assert.False(await cancelled);
        Assert.Equal(0, clock.LiveTimers);

        Task<bool> elapsed = ClockDelay.WaitAsync(clock, TimeSpan.FromSeconds(1), CancellationToken.None);
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.True(elapsed.IsCompleted);
        Assert.True(await elapsed);
        Assert.Equal(0, clock.LiveTimers);
    }

    /// <summary>A real timer can fire on its own thread before <c>CreateTimer</c> returns it: the wait ends, and the timer is still released.</summary>
    [Fact]
    public async Task ATimerThatFiresBeforeItIsReturned_EndsTheWait_AndIsReleased()
    {
        var clock = new FiresAtOnce();
        using var caller = new CancellationTokenSource();

        Task<bool> wait = ClockDelay.WaitAsync(clock, TimeSpan.FromSeconds(1), caller.Token);

        Assert.True(wait.IsCompleted);
        Assert.True(clock.Timer!.Disposed);
        caller.Cancel(); // its registration is gone too: nothing ends twice
        Assert.True(await wait);
    }

    /// <summary>A clock whose timer fires inside <c>CreateTimer</c>, before returning.</summary>
    private sealed class FiresAtOnce : TimeProvider
    {
        public RecordedTimer? Timer { get; private set; }

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            Timer = new RecordedTimer();
            callback(state);
            return Timer;
        }
    }

    private sealed class RecordedTimer : ITimer
    {
        public bool Disposed { get; private set; }

        public bool Change(TimeSpan dueTime, TimeSpan period) => true;

        public void Dispose() => Disposed = true;

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
