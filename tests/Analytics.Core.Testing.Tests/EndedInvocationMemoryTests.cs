using System.Runtime.CompilerServices;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Found by a careless-operator review of replay (2026-12-07): an invocation that ended stayed reachable, with its
/// handler's task and so its response, until its deadline's time came. Its deadline timer was disposed, but the
/// virtual clock keeps a disposed timer in its queue until it is due, and the timer held its callback. Memory grew with
/// the function's timeout times the invocation rate times the response size: a 5-second scenario whose function
/// answered 7 MB (a function error, retried at once) reached 24 GB and was killed. A disposed timer now holds nothing.
/// </summary>
public class EndedInvocationMemoryTests
{
    [Fact]
    public void AnEndedInvocationsResponse_IsNotKeptUntilItsDeadline()
    {
        EmulatorScenario scenario = new()
        {
            StartTime = Emulate.Start,
            DurationSeconds = 30,
            Records = [ExplicitRecord.Text("k", "first", 0), ExplicitRecord.Text("k", "second", 10_000)],
            Function = new() { TimeoutSeconds = 900 },
        };
        WeakReference? firstResponse = null;
        bool? firstResponseCollected = null;
        int calls = 0;
        EmulationRecording run = Emulate.Run(scenario, _ => new DelegateHandler((_, _, _) =>
        {
            if (++calls == 1)
            {
                (ReadOnlyMemory<byte> response, firstResponse) = LargeResponse();
                return Task.FromResult(response);
            }

            // 10 s later: the first invocation ended long ago; only its deadline (at 900 s) is still ahead.
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            firstResponseCollected ??= !firstResponse!.IsAlive;
            return Task.FromResult(ReadOnlyMemory<byte>.Empty);
        }));

        Assert.Equal(2, run.Invocations.Count);
        Assert.All(run.Invocations, i => Assert.Equal(InvocationOutcome.Success, i.Outcome));
        Assert.True(firstResponseCollected, "the first invocation's 1 MB response was still reachable 10 s after it ended");
    }

    [Fact]
    public void ADisposedTimer_KeepsNeitherItsStateNorItsCallback_AndDoesNotFire()
    {
        var clock = new VirtualClock(Emulate.Start);
        int fired = 0;
        (ITimer timer, WeakReference state) = Arm(clock, () => fired++);

        timer.Dispose();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        clock.Advance(TimeSpan.FromHours(2));

        Assert.False(state.IsAlive, "the disposed timer's state is still reachable");
        Assert.Equal(0, fired);
        GC.KeepAlive(timer);
    }

    [Fact]
    public void ATimerThatIsNotDisposed_StillFiresWithItsState()
    {
        var clock = new VirtualClock(Emulate.Start);
        object? seen = null;
        var state = new object();
        using ITimer timer = clock.CreateTimer(s => seen = s, state, TimeSpan.FromHours(1), Timeout.InfiniteTimeSpan);

        clock.Advance(TimeSpan.FromHours(2));

        Assert.Same(state, seen);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (ITimer Timer, WeakReference State) Arm(VirtualClock clock, Action onFire)
    {
        var state = new byte[1_000_000];
        return (clock.CreateTimer(_ => onFire(), state, TimeSpan.FromHours(1), Timeout.InfiniteTimeSpan), new WeakReference(state));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (ReadOnlyMemory<byte> Response, WeakReference Tracker) LargeResponse()
    {
        byte[] body = new byte[1_000_000];
        body.AsSpan().Fill((byte)' ');
        return (body, new WeakReference(body));
    }
}
