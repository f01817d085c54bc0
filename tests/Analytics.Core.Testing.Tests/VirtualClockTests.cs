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

    /// <summary>
    /// A continuation that does not capture a context (<c>ConfigureAwait(false)</c>, as library code awaits) runs inline
    /// on the thread that advances the clock even when that thread has a synchronization context of its own, as a test
    /// framework's thread does: with the context current, .NET queued it to the thread pool instead, so time could move
    /// on before it ran (a give-up test failed once in a full run that way).
    /// </summary>
    [Fact]
    public async Task ContextFreeContinuation_RunsInlineOnTheAdvancingThread_UnderASynchronizationContext()
    {
        var clock = new VirtualClock(Emulate.Start);
        var framework = new FrameworkContext();
        int advancing = Environment.CurrentManagedThreadId;
        bool inAdvance = false;
        bool ranInline = false;
        async Task WaitAsync()
        {
            await Task.Delay(TimeSpan.FromSeconds(1), clock).ConfigureAwait(false);
            ranInline = Volatile.Read(ref inAdvance) && Environment.CurrentManagedThreadId == advancing;
        }

        SynchronizationContext? previous = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(framework);
        Task waiting;
        try
        {
            waiting = WaitAsync();
            Volatile.Write(ref inAdvance, true);
            clock.Advance(TimeSpan.FromSeconds(1));
            Volatile.Write(ref inAdvance, false);
            Assert.Same(framework, SynchronizationContext.Current);
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
        }

        await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(ranInline);
    }

    /// <summary>A context of a type of its own, as a test framework's or a UI's.</summary>
    private sealed class FrameworkContext : SynchronizationContext;

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

    /// <summary>
    /// Timers created on other threads while one thread drives the clock (a redrive on the thread pool, a test looping on
    /// <see cref="VirtualClock.NextDue"/>) all fire. A timer was queued under the clock's lock and marked current after it:
    /// the driving thread could see the entry in between, take it for stale and drop it, and the timer never fired (the
    /// redrive awaiting it hung the spill test).
    /// </summary>
    [Fact]
    public void TimersCreatedOnOtherThreads_WhileTheClockIsDriven_AllFire()
    {
        const int Threads = 3;
        const int PerThread = 200_000;
        var clock = new VirtualClock(Emulate.Start);
        int fired = 0;
        int created = 0;
        var timers = new ITimer[Threads * PerThread];
        Thread[] creators = [.. Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            for (int i = 0; i < PerThread; i++)
            {
                timers[(t * PerThread) + i] = clock.CreateTimer(_ => Interlocked.Increment(ref fired), null, TimeSpan.Zero, Timeout.InfiniteTimeSpan);
                Interlocked.Increment(ref created);
            }
        }))];
        foreach (Thread creator in creators)
        {
            creator.Start();
        }

        // Drive the clock as the spill test's loop does, until every creator is done.
        while (creators.Any(c => c.IsAlive))
        {
            if (clock.NextDue is { } due)
            {
                clock.AdvanceTo(due > clock.GetUtcNow() ? due : clock.GetUtcNow());
            }
        }

        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(Threads * PerThread, Volatile.Read(ref created));
        Assert.Equal(Threads * PerThread, Volatile.Read(ref fired));
        Assert.Equal(0, clock.PendingTimers);
    }
}
