namespace Analytics.Core.Testing.Tests;

public class VirtualClockTests
{
    [Fact]
    public void Timers_FireOnlyWhenAdvanced_InDueThenCreationOrder()
    {
        var clock = new VirtualClock(Emulate.Start);
        var fired = new List<string>();
        using ITimer b = clock.CreateTimer(_ => fired.Add("b@20"), null, TimeSpan.FromMilliseconds(20), Timeout.InfiniteTimeSpan);
        using ITimer a = clock.CreateTimer(_ => fired.Add("a@10"), null, TimeSpan.FromMilliseconds(10), Timeout.InfiniteTimeSpan);
        using ITimer c = clock.CreateTimer(_ => fired.Add("c@20"), null, TimeSpan.FromMilliseconds(20), Timeout.InfiniteTimeSpan);
        Assert.Empty(fired);

        clock.Advance(TimeSpan.FromMilliseconds(15));
        Assert.Equal(["a@10"], fired);
        clock.Advance(TimeSpan.FromMilliseconds(5));
        Assert.Equal(["a@10", "b@20", "c@20"], fired);
        Assert.Equal(Emulate.Start.AddMilliseconds(20), clock.GetUtcNow());
    }

    [Fact]
    public void Callback_SeesItsOwnDueTime()
    {
        var clock = new VirtualClock(Emulate.Start);
        DateTimeOffset seen = default;
        using ITimer t = clock.CreateTimer(_ => seen = clock.GetUtcNow(), null, TimeSpan.FromSeconds(3), Timeout.InfiniteTimeSpan);
        clock.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(Emulate.Start.AddSeconds(3), seen);
    }

    [Fact]
    public async Task TaskDelay_CompletesInline_WhenTheClockPassesIt()
    {
        var clock = new VirtualClock(Emulate.Start);
        Task delay = Task.Delay(TimeSpan.FromSeconds(5), clock);
        clock.Advance(TimeSpan.FromSeconds(4));
        Assert.False(delay.IsCompleted);
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.True(delay.IsCompleted);
        await delay;
    }

    [Fact]
    public void PeriodicTimer_FiresEachPeriod_AndStopsWhenDisposed()
    {
        var clock = new VirtualClock(Emulate.Start);
        int count = 0;
        ITimer timer = clock.CreateTimer(_ => count++, null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        clock.Advance(TimeSpan.FromSeconds(3.5));
        Assert.Equal(3, count);
        timer.Dispose();
        clock.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal(3, count);
        Assert.Equal(0, clock.PendingTimers);
    }

    [Fact]
    public void ChangedTimer_FiresOnlyAtItsNewTime()
    {
        var clock = new VirtualClock(Emulate.Start);
        var times = new List<DateTimeOffset>();
        using ITimer timer = clock.CreateTimer(_ => times.Add(clock.GetUtcNow()), null, TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);
        timer.Change(TimeSpan.FromSeconds(5), Timeout.InfiniteTimeSpan);
        clock.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal([Emulate.Start.AddSeconds(5)], times);
    }

    [Fact]
    public void CancellationTokenSource_WithTheClock_CancelsInVirtualTime()
    {
        var clock = new VirtualClock(Emulate.Start);
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1), clock);
        clock.Advance(TimeSpan.FromSeconds(59));
        Assert.False(cts.IsCancellationRequested);
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.True(cts.IsCancellationRequested);
    }
}
