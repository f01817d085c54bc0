namespace Analytics.Core.Testing.Tests;

/// <summary>
/// <see cref="EmulatorScenario.RealTimeSettle"/>: a handler that finishes on another thread (real I/O) is observed at
/// the virtual time it was started, however its real completion falls against the emulator's loop.
/// </summary>
public sealed class RealTimeSettleTests
{
    /// <summary>
    /// Each handler completes on the thread pool after a random spin of a few microseconds, so its completion lands now
    /// before, now after the emulator's look at the handlers that finished. One that landed after that look and before the
    /// settle counted the handler as finished without observing it: it was observed only once the next timer had fired
    /// and virtual time had moved on, and the invocation lasted up to a virtual second too long (the cross-check against
    /// the local servers saw 1,070 ms for a 270 ms invocation).
    /// </summary>
    [Fact]
    public void HandlersCompletingOnOtherThreads_EachLastsItsModeledTime()
    {
        const int ComputeMs = 10;
        var scenario = new EmulatorScenario
        {
            Seed = 5,
            StartTime = Emulate.Start,
            DurationSeconds = 25,
            Producers = [new ProducerOptions { RatePerSecond = 80, PartitionKeys = 4 }],
            Mapping = new MappingOptions { BatchSize = 1 },
            // One vCPU: the modeled compute time is the configured one, in whole milliseconds.
            Function = new FunctionOptions { TimeoutSeconds = 5, InitMs = 0, MemoryMb = 1769, ComputeMsPerInvocation = ComputeMs, ComputeMsPerRecord = 0 },
            RealTimeSettle = TimeSpan.FromSeconds(30),
        };
        // A thread of its own spins for each handler's task and completes it a random few hundred spins after the handler
        // returned: around the emulator's look at finished handlers, which follows within a microsecond or so.
        var random = new Random(5);
        TaskCompletionSource<ReadOnlyMemory<byte>>? pending = null;
        int spins = 0;
        bool stop = false;
        var completer = new Thread(() =>
        {
            while (!Volatile.Read(ref stop))
            {
                if (Volatile.Read(ref pending) is { } task)
                {
                    Thread.SpinWait(Volatile.Read(ref spins));
                    Volatile.Write(ref pending, null);
                    task.SetResult(ReadOnlyMemory<byte>.Empty);
                }
            }
        })
        { IsBackground = true };
        completer.Start();
        EmulationRecording recording;
        try
        {
            recording = Emulate.Run(scenario, _ => new DelegateHandler((_, _, _) =>
            {
                var done = new TaskCompletionSource<ReadOnlyMemory<byte>>(TaskCreationOptions.RunContinuationsAsynchronously);
                Volatile.Write(ref spins, random.Next(0, 400));
                Volatile.Write(ref pending, done);
                return done.Task;
            }));
        }
        finally
        {
            Volatile.Write(ref stop, true);
            completer.Join();
        }

        Assert.True(recording.Invocations.Count > 1_500, $"only {recording.Invocations.Count} invocations");
        InvocationReport[] late = [.. recording.Invocations.Where(i => i.EndMs - i.StartMs != ComputeMs)];
        Assert.True(late.Length == 0, $"{late.Length} of {recording.Invocations.Count} invocations did not last {ComputeMs} ms, first: {late.FirstOrDefault()}");
    }
}
