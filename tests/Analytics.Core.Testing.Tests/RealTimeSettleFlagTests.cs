namespace Analytics.Core.Testing.Tests;

/// <summary>
/// <see cref="EmulatorScenario.RealTimeSettle"/> waits for handlers off the virtual clock, up to that long. A handler that
/// outlasts it is left behind while virtual time moves on, so where it ends depends on real timing: the summary must not
/// call that run reproducible (it did: off-clock waits were never counted with a settle), and counts it off the clock.
/// No run with a settle is called reproducible: real I/O that outlasts a step while the handler's clock deadline is
/// pending is taken for a wait on the clock (a review's runs of one seed with the JSON-lines sinks and a 50 ms settle
/// sent 0 to 70 records to the destination, and each was called reproducible).
/// </summary>
public sealed class RealTimeSettleFlagTests
{
    private static EmulatorScenario Scenario(TimeSpan settle) => new()
    {
        Seed = 3,
        StartTime = Emulate.Start,
        DurationSeconds = 5,
        Records = [ExplicitRecord.Text("k", "one", 0)],
        Function = new() { TimeoutSeconds = 3 },
        RealTimeSettle = settle,
    };

    // A real 300 ms wait: well past a 20 ms settle, well inside a 20 s one.
    private static ILambdaHandler RealWait() => new DelegateHandler(async (_, _, _) =>
    {
        await Task.Delay(TimeSpan.FromMilliseconds(300));
        return ReadOnlyMemory<byte>.Empty;
    });

    [Fact]
    public void AHandlerThatOutlastsTheSettle_MakesTheRunNotReproducible()
    {
        Emulate.Run(Scenario(TimeSpan.FromMilliseconds(20)), _ => RealWait(), out EmulationSummary summary);
        Assert.False(summary.Reproducible, summary.ToString());
        // Left behind, it times out at its virtual deadline and its retry is left behind too: each counts once.
        Assert.InRange(summary.OffClockWaits, 1, summary.Invocations + summary.InvocationsInFlight);
    }

    [Fact]
    public void AHandlerThatEndsWithinTheSettle_IsNotCountedOffTheClock_ButTheRunIsNotCalledReproducible()
    {
        EmulationRecording recording = Emulate.Run(Scenario(TimeSpan.FromSeconds(20)), _ => RealWait(), out EmulationSummary summary);
        Assert.Equal((false, 0L), (summary.Reproducible, summary.OffClockWaits));
        Assert.Equal(InvocationOutcome.Success, Assert.Single(recording.Invocations).Outcome);
    }

    // Waiting on the clock is no sign: the settle runs out on such a handler every time (nothing real completes it).
    [Fact]
    public void AHandlerWaitingOnTheClock_IsNotCountedOffTheClock()
    {
        StreamEmulator emulator = null!;
        emulator = new StreamEmulator(Scenario(TimeSpan.FromMilliseconds(20)), _ => new DelegateHandler(async (_, _, _) =>
        {
            await Task.Delay(TimeSpan.FromMilliseconds(500), emulator.Clock);
            return ReadOnlyMemory<byte>.Empty;
        }));
        EmulationSummary summary = emulator.Run();
        Assert.Equal((false, 0L, 1L), (summary.Reproducible, summary.OffClockWaits, summary.RecordsOut));
    }
}
