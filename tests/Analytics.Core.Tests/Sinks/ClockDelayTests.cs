using Analytics.Core.Tests.Pipeline;

namespace Analytics.Core.Tests;

/// <summary>
/// <c>ClockDelay</c>'s wait for a cancellation alone (<see cref="Timeout.InfiniteTimeSpan"/>), what the emulator's models
/// give a request that gets no answer: no time ends it, and the cancellation ends it on the thread that cancels.
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
}
