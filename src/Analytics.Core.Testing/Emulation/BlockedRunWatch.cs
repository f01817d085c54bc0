namespace Analytics.Core.Testing;

/// <summary>
/// Catches handler code that blocks the emulator's thread (<c>Task.Wait</c>, <c>.Result</c>,
/// <c>GetAwaiter().GetResult()</c>, a contended lock) while the emulator's clock is waiting on that very thread. The
/// clock moves only when handler code returns to it, so a wait for a clock task never ends: without this the run hung
/// for good. A real-time timer looks at the run's thread a few times a second; when that thread has been in a managed
/// wait inside one step of the run (one timer callback of the clock) for <see cref="Limit"/> of real time, the watch
/// records which invocation it was and interrupts the wait (<see cref="Thread.Interrupt"/>), and the run ends with an
/// <see cref="InvalidOperationException"/> that says so.
/// </summary>
/// <remarks>
/// On the virtual clock a handler must not wait on anything real either, so a wait that long breaks the contract
/// whatever it waits for; a run that expects real waits sets <see cref="EmulatorScenario.RealTimeSettle"/>, and its
/// steps may wait that long. The emulator's own waits (the settle) are between steps. A wait the runtime does not see
/// as one (a native blocking call, a spin) is not caught.
/// </remarks>
internal sealed class BlockedRunWatch : IDisposable
{
    /// <summary>How often the watch looks.</summary>
    private const int PeriodMs = 200;

    private readonly Thread _thread;
    private readonly Func<long> _step;
    private readonly Func<string> _describe;
    private readonly Timer _timer;

    // Taken by the timer's looks only (they may overlap): never on the run's thread, where an interrupt delivered while
    // it waited for the lock would escape from the emulator's own code (found by review).
    private readonly object _gate = new();
    private long _watchedStep = -1;
    private long _blockedSince;
    private volatile string? _blocked;
    private volatile bool _disposed;

    /// <summary>Starts watching <paramref name="thread"/>.</summary>
    /// <param name="thread">The run's thread.</param>
    /// <param name="limit">How long a wait inside one step may last.</param>
    /// <param name="step">The run's step counter: odd while a step (handler code included) runs on the thread.</param>
    /// <param name="describe">Names what runs in the current step (read from the watch's thread).</param>
    public BlockedRunWatch(Thread thread, TimeSpan limit, Func<long> step, Func<string> describe)
    {
        _thread = thread;
        Limit = limit;
        _step = step;
        _describe = describe;
        _timer = new Timer(static s => ((BlockedRunWatch)s!).Look(), this, PeriodMs, PeriodMs);
    }

    /// <summary>How long the run's thread may wait inside one step.</summary>
    public TimeSpan Limit { get; }

    /// <summary>What blocked the run, set before the watch interrupts it; otherwise <see langword="null"/>. Lock-free.</summary>
    public string? Blocked => _blocked;

    /// <summary>
    /// Stops watching: waits until no look of the timer runs, then takes off the thread an interrupt that found it no
    /// longer waiting (it stays pending until the thread's next wait: the caller's).
    /// </summary>
    /// <remarks>Called on the run's thread.</remarks>
    public void Dispose()
    {
        _disposed = true;
        using (var stopped = new ManualResetEvent(false))
        {
            if (_timer.Dispose(stopped))
            {
                while (true)
                {
                    try
                    {
                        stopped.WaitOne();
                        break;
                    }
                    catch (ThreadInterruptedException)
                    {
                        // A look's interrupt, landed on this wait: taken off; wait on for the look to end.
                    }
                }
            }
        }

        if (_blocked is not null)
        {
            try
            {
                // The wait above takes off most (a pending interrupt ends it); this, one it left.
                Thread.Sleep(0);
            }
            catch (ThreadInterruptedException)
            {
            }
        }
    }

    private void Look()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            long step = _step();
            bool waiting = (step & 1) == 1 && (_thread.ThreadState & ThreadState.WaitSleepJoin) != 0;
            long now = Environment.TickCount64;
            if (!waiting || step != _watchedStep)
            {
                _watchedStep = waiting ? step : -1;
                _blockedSince = now;
                return;
            }

            if (now - _blockedSince < (long)Limit.TotalMilliseconds)
            {
                return;
            }

            // Still waiting in the same step: interrupt again each Limit (a handler that caught the first one and waits again).
            // What blocked is set first, so wherever the interrupt lands the run knows why (FireNextStep, RunLoop).
            _blocked ??= _describe();
            _blockedSince = now;
            _thread.Interrupt();
        }
    }
}
