namespace Analytics.Core;

/// <summary>
/// A wait on a <see cref="TimeProvider"/> that ends when its time has passed (true) or its token is cancelled (false),
/// resuming the awaiting code on the thread that ended it: the provider's timer thread, or the thread that cancelled.
/// </summary>
/// <remarks>
/// Not <c>Task.Delay(delay, timeProvider, token)</c>: since .NET 8 a delay cancelled by its token resumes its awaiter on
/// the thread pool. Under a virtual clock (the emulator's) that continuation then races the thread that moves the clock,
/// and the rest of the invocation (a sink giving up, the spill, the response) runs after virtual time has moved on, by
/// as much as the machine's load decides. Here both endings complete the task in the callback itself, so under a
/// virtual clock everything stays on the clock's thread. The timer and the registration are released before the
/// awaiter runs.
/// </remarks>
internal static class ClockDelay
{
    private static readonly Task<bool> s_elapsed = Task.FromResult(true);
    private static readonly Task<bool> s_cancelled = Task.FromResult(false);

    /// <summary>
    /// Waits <paramref name="delay"/> on <paramref name="time"/>; false when <paramref name="token"/> is cancelled first.
    /// <see cref="Timeout.InfiniteTimeSpan"/> waits for the cancellation alone (no timer), for ever with a token that
    /// cannot be cancelled.
    /// </summary>
    public static Task<bool> WaitAsync(TimeProvider time, TimeSpan delay, CancellationToken token)
    {
        if (token.IsCancellationRequested)
        {
            return s_cancelled;
        }

        if (delay <= TimeSpan.Zero && delay != Timeout.InfiniteTimeSpan)
        {
            return s_elapsed;
        }

        var wait = new Wait();
        wait.Start(time, delay, token);
        return wait.Task;
    }

    // Not RunContinuationsAsynchronously: the continuation runs in the callback that completes the task.
    private sealed class Wait : TaskCompletionSource<bool>
    {
        private ITimer? _timer;
        private CancellationTokenRegistration _registration;
        private int _ended;

        public void Start(TimeProvider time, TimeSpan delay, CancellationToken token)
        {
            if (delay != Timeout.InfiniteTimeSpan)
            {
                ITimer timer = time.CreateTimer(static s => ((Wait)s!).End(true), this, delay, Timeout.InfiniteTimeSpan);
                Volatile.Write(ref _timer, timer);
                if (Volatile.Read(ref _ended) != 0)
                {
                    // A real timer may fire before it was stored.
                    timer.Dispose();
                    return;
                }
            }

            // Runs at once when the token was cancelled meanwhile.
            CancellationTokenRegistration registration = token.UnsafeRegister(static s => ((Wait)s!).End(false), this);
            _registration = registration;
            if (Volatile.Read(ref _ended) != 0)
            {
                registration.Unregister();
            }
        }

        private void End(bool elapsed)
        {
            if (Interlocked.Exchange(ref _ended, 1) != 0)
            {
                return;
            }

            Volatile.Read(ref _timer)?.Dispose();
            _registration.Unregister();
            TrySetResult(elapsed);
        }
    }
}
