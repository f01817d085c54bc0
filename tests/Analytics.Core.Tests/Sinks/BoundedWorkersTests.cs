using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Analytics.Core.Tests;

/// <summary>The worker pool both AWS sinks share.</summary>
public sealed class BoundedWorkersTests
{
    [Property(MaxTest = 100, Replay = "(424242,1013904223)")]
    public void RunAsync_AllSucceed_EveryIndexOnceAndNeverMoreThanTheBoundInFlight(byte count, PositiveInt concurrency)
    {
        int bound = 1 + (concurrency.Get % 12);
        int[] seen = new int[count];
        int inFlight = 0;
        int maxInFlight = 0;
        int states = 0;

        BoundedWorkers.RunAsync(
            count,
            bound,
            () => Interlocked.Increment(ref states),
            async (i, _, _) =>
            {
                int now = Interlocked.Increment(ref inFlight);
                InterlockedMax(ref maxInFlight, now);
                await Task.Yield();
                Interlocked.Increment(ref seen[i]);
                Interlocked.Decrement(ref inFlight);
                return true;
            },
            CancellationToken.None).GetAwaiter().GetResult();

        Assert.All(seen, n => Assert.Equal(1, n));
        Assert.InRange(maxInFlight, 0, bound);
        Assert.Equal(Math.Min(bound, (int)count), states);
    }

    [Fact]
    public async Task RunAsync_OneFails_RethrowsThatFailureAndStopsTheOthers()
    {
        var boom = new InvalidDataException("boom");
        int started = 0, startedAfterStop = 0;
        Task run = BoundedWorkers.RunAsync(
            1000,
            4,
            () => 0,
            async (i, _, token) =>
            {
                Interlocked.Increment(ref started);
                if (token.IsCancellationRequested)
                {
                    Interlocked.Increment(ref startedAfterStop);
                }

                if (i == 10)
                {
                    throw boom;
                }

                // The others are mid-request when the failure comes: their cancellation is not an error.
                await Task.Delay(5, token);
                return true;
            },
            CancellationToken.None);

        InvalidDataException thrown = await Assert.ThrowsAsync<InvalidDataException>(() => run);
        Assert.Same(boom, thrown);
        // Indexes 0 to 10 started; after the failure, at most each other worker's index taken just before it (how many
        // the others got through before the failure depends on the machine's load, not on the contract).
        Assert.InRange(Volatile.Read(ref started), 11, 999);
        Assert.InRange(Volatile.Read(ref startedAfterStop), 0, 3);
    }

    /// <summary>
    /// Once a worker says stop, no worker takes a new index: at most each other worker's index taken just before the stop
    /// starts after it. Counted by what each call sees (its token already cancelled), not by how far the others got
    /// while the stopping call waited for a thread: on a loaded machine they took over a hundred more indexes in that
    /// time, which the contract allows.
    /// </summary>
    [Fact]
    public async Task RunAsync_WorkSaysStop_NoIndexBeyondTheInFlightOnesStarts()
    {
        const int Workers = 3;
        int highest = -1, startedAfterStop = 0, calls = 0;
        const int Count = 1_000_000; // a stop that is not heeded takes them all; a late one, far fewer
        await BoundedWorkers.RunAsync(
            Count,
            Workers,
            () => 0,
            async (i, _, token) =>
            {
                Interlocked.Increment(ref calls);
                if (token.IsCancellationRequested)
                {
                    Interlocked.Increment(ref startedAfterStop);
                }

                InterlockedMax(ref highest, i);
                await Task.Yield();
                return i != 5;
            },
            CancellationToken.None);

        Assert.True(highest >= 5, $"index 5 was never taken (highest {highest})");
        Assert.True(calls < Count, $"the run did not stop: {calls} calls");
        Assert.InRange(startedAfterStop, 0, Workers - 1);
    }

    [Fact]
    public async Task RunAsync_CallerCancels_ReturnsWithoutError()
    {
        using var cts = new CancellationTokenSource();
        int done = 0;
        Task run = BoundedWorkers.RunAsync(
            100,
            2,
            () => 0,
            async (_, _, token) =>
            {
                if (Interlocked.Increment(ref done) == 4)
                {
                    await cts.CancelAsync();
                }

                await Task.Delay(1, token);
                return true;
            },
            cts.Token);

        await run.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.InRange(done, 4, 6);
    }

    private static void InterlockedMax(ref int location, int value)
    {
        int current = Volatile.Read(ref location);
        while (value > current)
        {
            int seen = Interlocked.CompareExchange(ref location, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
