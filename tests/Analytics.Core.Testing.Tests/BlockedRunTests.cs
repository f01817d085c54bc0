namespace Analytics.Core.Testing.Tests;

/// <summary>
/// A handler that blocks the emulator's thread on a task the virtual clock completes (<c>.Wait()</c>, <c>.Result</c>)
/// waits for a clock that moves only when the handler returns to it. The run hung for good (a consumer's test with it
/// never ended); it now ends with an error that names the invocation and says what to do.
/// </summary>
public class BlockedRunTests
{
    private static readonly ReadOnlyMemory<byte> s_ok = "{\"batchItemFailures\":[]}"u8.ToArray();

    private static readonly TimeSpan s_limit = TimeSpan.FromMilliseconds(600);

    /// <summary>Far beyond the limit: a run that outlasts it hangs.</summary>
    private static readonly TimeSpan s_hang = TimeSpan.FromSeconds(60);

    private static EmulatorScenario Scenario(TimeSpan settle = default) => new()
    {
        Seed = 3,
        StartTime = Emulate.Start,
        DurationSeconds = 10,
        Stream = new() { ShardCount = 2 },
        Records = [ExplicitRecord.Text("a", "r1", 1500), ExplicitRecord.Text("a", "r2", 2500)],
        Function = new() { TimeoutSeconds = 5 },
        RealTimeSettle = settle,
    };

    /// <summary>Runs on a thread of its own, so that a run that hangs fails the test instead of hanging it.</summary>
    private static (Exception? Error, bool InterruptLeft) RunBounded(EmulatorScenario scenario, Func<VirtualClock, ILambdaHandler> handler, TimeSpan limit)
    {
        Exception? error = null;
        bool interruptLeft = false;
        var thread = new Thread(() =>
        {
            StreamEmulator emulator = null!;
            emulator = new StreamEmulator(scenario, _ => handler(emulator.Clock)) { BlockedRunLimit = limit };
            try
            {
                emulator.Run();
            }
            catch (Exception e)
            {
                error = e;
            }

            try
            {
                Thread.Sleep(0);
            }
            catch (ThreadInterruptedException)
            {
                interruptLeft = true;
            }
        })
        { IsBackground = true };
        thread.Start();
        Assert.True(thread.Join(s_hang), "the run hung");
        return (error, interruptLeft);
    }

    public static TheoryData<string> BlockingHandlers => ["Wait on a clock delay", "Result of a clock delay", "GetResult after an await", "wait again after the interrupt", "in a timer callback"];

    private static Func<VirtualClock, ILambdaHandler> Handler(string kind) => kind switch
    {
        "Wait on a clock delay" => clock => new DelegateHandler((_, _, _) =>
        {
            Task.Delay(TimeSpan.FromMilliseconds(100), clock).Wait();
            return Task.FromResult(s_ok);
        }),
        "Result of a clock delay" => clock => new DelegateHandler((_, _, _) =>
            Task.FromResult(DelayThen(clock).Result)),
        "GetResult after an await" => clock => new DelegateHandler(async (_, _, _) =>
        {
            await Task.Delay(TimeSpan.FromMilliseconds(10), clock);
            return DelayThen(clock).GetAwaiter().GetResult();
        }),
        "wait again after the interrupt" => clock => new DelegateHandler((_, _, _) =>
        {
            Task delay = Task.Delay(TimeSpan.FromMilliseconds(100), clock);
            for (int i = 0; i < 3; i++)
            {
                try
                {
                    delay.Wait();
                }
                catch (ThreadInterruptedException)
                {
                }
            }

            return Task.FromResult(s_ok);
        }),
        "in a timer callback" => clock => new DelegateHandler((_, _, _) =>
        {
            var done = new TaskCompletionSource<ReadOnlyMemory<byte>>();
            clock.CreateTimer(_ =>
            {
                Task.Delay(TimeSpan.FromMilliseconds(100), clock).Wait();
                done.SetResult(s_ok);
            }, null, TimeSpan.FromMilliseconds(5), Timeout.InfiniteTimeSpan);
            return done.Task;
        }),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    private static async Task<ReadOnlyMemory<byte>> DelayThen(VirtualClock clock)
    {
        await Task.Delay(TimeSpan.FromMilliseconds(100), clock).ConfigureAwait(false);
        return s_ok;
    }

    [Theory]
    [MemberData(nameof(BlockingHandlers))]
    public void AHandlerBlockingOnTheClock_EndsTheRunWithAnErrorNamingIt(string kind)
    {
        (Exception? error, bool interruptLeft) = RunBounded(Scenario(), Handler(kind), s_limit);

        InvalidOperationException stopped = Assert.IsType<InvalidOperationException>(error);
        // The first record arrives at 1.5 s on the one shard that holds key "a"; its invocation is the run's first.
        string shard = $"shardId-{StreamEmulator.ShardFor("a", 2):D12}";
        Assert.Contains($"invocation 1 ({shard}, execution environment 1, virtual time 2025-01-01T00:00:0", stopped.Message, StringComparison.Ordinal);
        Assert.Contains("Await it instead", stopped.Message, StringComparison.Ordinal);
        Assert.False(interruptLeft, "the interrupt was left pending on the caller's thread");
    }

    /// <summary>
    /// A function's init that blocks (the handler's factory, when a new execution environment starts) is named as such,
    /// not as the handler that started last (found by a mutation run: the handler's start was left marked as running).
    /// </summary>
    [Fact]
    public void AnInitBlockingOnTheClock_IsNamedAsCodeOfTheEmulator_NotTheLastHandler()
    {
        (string first, string other) = Emulate.KeysOnTwoShards();
        EmulatorScenario scenario = Scenario() with { Records = [ExplicitRecord.Text(first, "r1", 1500), ExplicitRecord.Text(other, "r2", 1500)] };
        int created = 0;
        (Exception? error, _) = RunBounded(scenario, clock =>
        {
            if (++created == 2)
            {
                // The second shard's invocation needs a second environment while the first is busy.
                Task.Delay(TimeSpan.FromMilliseconds(100), clock).Wait();
            }

            return new DelegateHandler(async (_, _, _) =>
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), clock);
                return s_ok;
            });
        }, s_limit);

        InvalidOperationException stopped = Assert.IsType<InvalidOperationException>(error);
        Assert.Contains("code run by the emulator at virtual time 2025-01-01T00:00:02", stopped.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("invocation 1", stopped.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// An interrupt that reached the thread after its wait had ended is still pending when the watch is disposed: the
    /// watch takes it off, so the caller's next wait is not interrupted (found by review: no test noticed the cleanup
    /// removed, since every test's handler was still waiting when the interrupt came).
    /// </summary>
    [Fact]
    public void AnInterruptLeftPending_IsTakenOffTheThread_WhenTheWatchIsDisposed()
    {
        bool leftAfterDispose = true;
        string? blocked = null;
        var thread = new Thread(() =>
        {
            long step = 1;
            var watch = new BlockedRunWatch(Thread.CurrentThread, TimeSpan.FromMilliseconds(300), () => Volatile.Read(ref step), () => "the test's step");
            try
            {
                Thread.Sleep(Timeout.Infinite);
            }
            catch (ThreadInterruptedException)
            {
            }

            Volatile.Write(ref step, 2);
            blocked = watch.Blocked;
            // As if a second interrupt had come just after the wait ended.
            Thread.CurrentThread.Interrupt();
            watch.Dispose();
            try
            {
                Thread.Sleep(0);
                leftAfterDispose = false;
            }
            catch (ThreadInterruptedException)
            {
            }
        })
        { IsBackground = true };
        thread.Start();

        Assert.True(thread.Join(s_hang), "the watch never interrupted the wait");
        Assert.Equal("the test's step", blocked);
        Assert.False(leftAfterDispose, "the interrupt was left pending on the caller's thread");
    }

    [Fact]
    public void AHandlerThatWaitsBrieflyOnSomethingReal_RunsThrough()
    {
        // Synchronous real waits shorter than the limit, one per invocation: a breach of the contract, not a hang.
        int invoked = 0;
        (Exception? error, bool interruptLeft) = RunBounded(Scenario(), _ => new DelegateHandler((_, _, _) =>
        {
            Thread.Sleep(s_limit / 4);
            invoked++;
            return Task.FromResult(s_ok);
        }), s_limit);

        Assert.Null(error);
        Assert.False(interruptLeft);
        Assert.Equal(2, invoked);
    }

    [Fact]
    public void ARunThatWaitsInRealTime_LetsAStepWaitAsLongAsItsSettle()
    {
        // With RealTimeSettle a step may wait that long: a real wait of twice the limit, within the settle, runs through.
        (Exception? error, _) = RunBounded(Scenario(settle: s_limit * 4), _ => new DelegateHandler((_, _, _) =>
        {
            Thread.Sleep(s_limit * 2);
            return Task.FromResult(s_ok);
        }), s_limit);

        Assert.Null(error);
    }
}
