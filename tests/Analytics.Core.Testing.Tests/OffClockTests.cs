namespace Analytics.Core.Testing.Tests;

/// <summary>
/// A handler that breaks the virtual-time contract (docs/emulator.md, "Virtual time: the contract for handler
/// authors") makes the run timing-dependent: the emulator says so instead of claiming it reproducible.
/// </summary>
public class OffClockTests
{
    private static EmulatorScenario Scenario(TimeSpan settle = default) => new()
    {
        Seed = 11,
        StartTime = Emulate.Start,
        DurationSeconds = 20,
        Stream = new() { ShardCount = 2 },
        Producers = [new() { RatePerSecond = 20, PartitionKeys = 10, Schedule = [new RateStep(10, 0)], Generator = RecordGenerators.Text("r{n}") }],
        Mapping = new() { BatchSize = 3, ParallelizationFactor = 2 },
        // 1,769 MB: one full vCPU, so the modeled compute that runs before the handler is whole milliseconds, and a
        // handler's Task.Delay(deadline - now, clock), which .NET counts in whole milliseconds, is due at the deadline.
        Function = new() { TimeoutSeconds = 3, ComputeMsPerRecord = 1, MemoryMb = 1769 },
        RealTimeSettle = settle,
    };

    private static readonly ReadOnlyMemory<byte> s_ok = "{\"batchItemFailures\":[]}"u8.ToArray();

    private static EmulationSummary Run(EmulatorScenario scenario, Func<VirtualClock, ILambdaHandler> handler)
    {
        Emulate.Run(scenario, handler, out EmulationSummary summary);
        return summary;
    }

    /// <summary>
    /// The last two keep a deadline on the clock (a timer of the clock pending while they wait on something real), as a
    /// handler that follows the contract's advice on deadlines does (found by review: with the timer pending, the run
    /// was called reproducible; a handler awaiting an asynchronous file write timed out at every invocation, and its
    /// summary said <c>Reproducible</c>).
    /// </summary>
    public static TheoryData<string> OffClockHandlers => ["yield", "real delay", "virtual then yield", "real delay, deadline on the clock", "file write, deadline on the clock", "real wait raced with a clock delay to the deadline", "real wait beside a clock delay due at the deadline", "completed by another thread while a clock callback runs"];

    private static Func<VirtualClock, ILambdaHandler> Handler(string kind) => kind switch
    {
        "yield" => _ => new DelegateHandler(async (_, _, _) =>
        {
            await Task.Yield();
            return s_ok;
        }),
        "real delay" => _ => new DelegateHandler(async (_, _, _) =>
        {
            await Task.Delay(TimeSpan.FromMilliseconds(2));
            return s_ok;
        }),
        "virtual then yield" => clock => new DelegateHandler(async (_, _, _) =>
        {
            await Task.Delay(TimeSpan.FromMilliseconds(30), clock);
            await Task.Yield();
            return s_ok;
        }),
        "real delay, deadline on the clock" => clock => new DelegateHandler(async (_, deadline, _) =>
        {
            using var cts = new CancellationTokenSource(deadline - clock.GetUtcNow(), clock);
            await Task.Delay(TimeSpan.FromMilliseconds(2), CancellationToken.None);
            return s_ok;
        }),
        "file write, deadline on the clock" => clock => new DelegateHandler(async (utf8Event, deadline, _) =>
        {
            using var cts = new CancellationTokenSource(deadline - clock.GetUtcNow(), clock);
            string path = Path.GetTempFileName();
            try
            {
                await using (var file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite, 4096, useAsync: true))
                {
                    await file.WriteAsync(utf8Event, CancellationToken.None);
                    await file.FlushAsync(CancellationToken.None);
                }
            }
            finally
            {
                File.Delete(path);
            }

            return s_ok;
        }),
        // A delay due at the deadline's tick can never resume the handler: the deadline's timer, set before the handler
        // ran, fires first and stops the environment. So only the real wait can end these, and when it does against the
        // emulator's loop depends on real timing (found by review: a change that counted such a delay let both pass).
        "real wait raced with a clock delay to the deadline" => clock => new DelegateHandler(async (_, deadline, _) =>
        {
            await Task.WhenAny(Task.Delay(TimeSpan.FromSeconds(30)), Task.Delay(deadline - clock.GetUtcNow(), clock));
            return s_ok;
        }),
        "real wait beside a clock delay due at the deadline" => clock => new DelegateHandler(async (_, deadline, _) =>
        {
            Task guard = Task.Delay(deadline - clock.GetUtcNow(), clock);
            await Task.Delay(TimeSpan.FromSeconds(30));
            await guard;
            return s_ok;
        }),
        // Completed on another thread while the run's thread is still in a step (a clock timer's callback waits for
        // it): when the run looks at the task it is complete, as if it had completed on the clock, and only the thread
        // it completed on tells (found by a mutation run: without that watch every case above still passed, since each
        // was also caught at its deadline).
        "completed by another thread while a clock callback runs" => clock => new DelegateHandler((_, _, _) =>
        {
            var done = new TaskCompletionSource<ReadOnlyMemory<byte>>();
            var go = new ManualResetEventSlim();
            new Thread(() =>
            {
                go.Wait();
                done.SetResult(s_ok);
            })
            { IsBackground = true }.Start();
            clock.CreateTimer(_ =>
            {
                go.Set();
                done.Task.Wait(TimeSpan.FromSeconds(5));
            }, null, TimeSpan.FromMilliseconds(1), Timeout.InfiniteTimeSpan);
            return done.Task;
        }),
        "virtual" => clock => new DelegateHandler(async (_, _, ct) =>
        {
            await Task.Delay(TimeSpan.FromMilliseconds(30), clock, ct);
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(500), clock);
            await Task.Delay(TimeSpan.FromMilliseconds(7), clock, cts.Token).ConfigureAwait(false);
            return s_ok;
        }),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    [Theory]
    [MemberData(nameof(OffClockHandlers))]
    public void AHandlerWaitingOffTheVirtualClock_MakesTheRunNotReproducible(string kind)
    {
        EmulationSummary summary = Run(Scenario(), Handler(kind));
        Assert.True(summary.Invocations > 20);
        Assert.False(summary.Reproducible, $"{kind}: {summary}");
        Assert.InRange(summary.OffClockWaits, 1, summary.Invocations + summary.InvocationsInFlight);
    }

    [Fact]
    public void AHandlerWaitingOnlyInVirtualTime_IsReproducible()
    {
        EmulationSummary first = Run(Scenario(), Handler("virtual"));
        Assert.True(first.Invocations > 20);
        Assert.True(first.Reproducible, first.ToString());
        Assert.Equal(0, first.OffClockWaits);
        Assert.Equal(first, Run(Scenario(), Handler("virtual")));

        EmulationSummary scripted = Run(Scenario(), clock => new ScriptedHandler(clock, [new ScriptRule(ScriptAction.SleepMs, Ms: 40), new ScriptRule(ScriptAction.SleepMs, WhenData: "r7", Ms: 4000)]));
        Assert.True(scripted.Timeouts > 0);
        Assert.Equal((true, 0L), (scripted.Reproducible, scripted.OffClockWaits));
    }

    /// <summary>
    /// A handler that waits for a token its clock-kept timeout cancels after the deadline (a lock or channel wait with a
    /// timeout longer than the function's) waits on the clock: every invocation times out, the same in every run (found
    /// by review: a change that took such timers for ones that only cancel flagged these runs).
    /// </summary>
    [Fact]
    public void AHandlerWaitingForAClockTokenPastItsDeadline_IsReproducible()
    {
        var gate = new SemaphoreSlim(0);
        Func<VirtualClock, ILambdaHandler>[] handlers =
        [
            clock => new DelegateHandler(async (_, _, _) =>
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5), clock);
                await Task.Delay(Timeout.Infinite, cts.Token).ContinueWith(static _ => { }, TaskScheduler.Default);
                return s_ok;
            }),
            clock => new DelegateHandler(async (_, _, _) =>
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5), clock);
                await gate.WaitAsync(cts.Token).ContinueWith(static _ => { }, TaskScheduler.Default);
                return s_ok;
            }),
        ];
        foreach (Func<VirtualClock, ILambdaHandler> handler in handlers)
        {
            EmulationSummary summary = Run(Scenario(), handler);
            Assert.True(summary.Timeouts > 0, summary.ToString());
            Assert.Equal((true, 0L), (summary.Reproducible, summary.OffClockWaits));
            Assert.Equal(summary, Run(Scenario(), handler));
        }
    }

    [Fact]
    public void WithRealTimeSettle_TheHandlerIsWaitedFor_NotCountedOffTheClock_AndTheRunIsNotCalledReproducible()
    {
        // RealTimeSettle is the way to run such handlers (the Runtime API host's processes): the emulator waits for them,
        // and a run that waits on real time is never called reproducible (RealTimeSettleFlagTests).
        EmulationSummary summary = Run(Scenario(TimeSpan.FromSeconds(5)), Handler("yield"));
        Assert.Equal((false, 0L), (summary.Reproducible, summary.OffClockWaits));
    }
}
