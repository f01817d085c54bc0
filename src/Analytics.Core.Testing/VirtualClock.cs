using System.Diagnostics;

namespace Analytics.Core.Testing;

/// <summary>
/// A <see cref="TimeProvider"/> whose time moves only when its owner advances it, and whose timers fire only then,
/// on the advancing thread, in order of due time and then of creation.
/// </summary>
/// <remarks>
/// <para>Code under test sees time pass only through this provider: <see cref="TimeProvider.GetUtcNow"/>,
/// <see cref="TimeProvider.GetTimestamp"/>, <c>Task.Delay(delay, timeProvider)</c>,
/// <c>new CancellationTokenSource(delay, timeProvider)</c> and <see cref="TimeProvider.CreateTimer"/>. A timer callback
/// runs inline in <see cref="AdvanceTo"/>, with no synchronization context current whatever the advancing thread has;
/// continuations of tasks it completes run inline too, unless the awaiting code captured a context (an <c>await</c>
/// without <c>ConfigureAwait(false)</c> under a test framework's or a UI's context posts to it), runs under a task
/// scheduler of its own, or forces them onto the thread pool (<c>Task.Run</c>, <c>Task.Yield</c>,
/// <c>TaskCreationOptions.RunContinuationsAsynchronously</c>, <c>CancellationTokenSource.CancelAsync</c>, and a
/// <c>Task.Delay(delay, timeProvider, token)</c> ended by its token: since .NET 8 its awaiter resumes on the thread pool)
/// or waits on something real (I/O, <c>Task.Delay</c> without a provider); such code is no longer deterministic.</para>
/// <para>Thread-safe: timers may be created, changed and disposed from any thread.</para>
/// </remarks>
public sealed class VirtualClock : TimeProvider
{
    private readonly object _gate = new();
    private readonly PriorityQueue<VirtualTimer, (long Due, long Order)> _timers = new();
    private long _nowTicks;
    private long _order;
    private int _guestTimers;
    private object? _firingOwner;

    /// <summary>Creates a clock that reads <paramref name="start"/>.</summary>
    /// <param name="start">The initial time.</param>
    public VirtualClock(DateTimeOffset start)
    {
        _nowTicks = start.UtcTicks;
    }

    /// <summary>Raised for each timer created, with the timer's owner tag (see <see cref="CurrentOwner"/>).</summary>
    internal Action<object?>? TimerCreated { get; set; }

    /// <summary>Tags timers created under the current execution context (the emulator tags each invocation's timers).</summary>
    internal static AsyncLocal<object?> CurrentOwner { get; } = new();

    /// <summary>
    /// Called by the downstream models as each request starts, with the clock the model runs on: an emulator's
    /// invocation in whose flow the request was made (<see cref="CurrentOwner"/>) learns whether it called the model off
    /// the run's clock (the model on another clock, or the call made on a thread something real resumed).
    /// </summary>
    internal static void NoteDownstreamCall(TimeProvider modelClock)
    {
        if (CurrentOwner.Value is IClockGuest guest)
        {
            guest.NoteDownstreamCall(modelClock);
        }
    }

    /// <summary>Decides, when a timer is due, whether its owner is still alive (a timed-out environment is not).</summary>
    internal Func<object?, bool>? IsOwnerAlive { get; set; }

    /// <summary>
    /// Timers scheduled to fire that are not the host's own (<see cref="CreateHostTimer"/>): the ones through which
    /// code under test can still be resumed in virtual time. Kept up to date under the clock's lock.
    /// </summary>
    internal int GuestTimers => Volatile.Read(ref _guestTimers);

    /// <summary>The owner of the timer whose callback runs now (readable from any thread); <see langword="null"/> between callbacks.</summary>
    internal object? FiringOwner => Volatile.Read(ref _firingOwner);

    /// <summary>When set, receives the real time (ticks) each timer callback took, with the timer's owner.</summary>
    internal Action<object?, long>? CallbackMeasured { get; set; }

    /// <inheritdoc />
    public override DateTimeOffset GetUtcNow() => new(Volatile.Read(ref _nowTicks), TimeSpan.Zero);

    /// <inheritdoc />
    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    /// <inheritdoc />
    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    /// <inheritdoc />
    public override long GetTimestamp() => Volatile.Read(ref _nowTicks);

    /// <summary>The due time of the earliest pending timer, if any.</summary>
    public DateTimeOffset? NextDue
    {
        get
        {
            lock (_gate)
            {
                while (_timers.TryPeek(out VirtualTimer? timer, out (long Due, long Order) key))
                {
                    if (timer.IsCurrent(key.Order))
                    {
                        return new DateTimeOffset(key.Due, TimeSpan.Zero);
                    }

                    _timers.Dequeue();
                }

                return null;
            }
        }
    }

    /// <summary>The number of timers that are scheduled to fire.</summary>
    public int PendingTimers
    {
        get
        {
            lock (_gate)
            {
                int count = 0;
                foreach ((VirtualTimer timer, (long Due, long Order) key) in _timers.UnorderedItems)
                {
                    if (timer.IsCurrent(key.Order))
                    {
                        count++;
                    }
                }

                return count;
            }
        }
    }

    /// <summary>Whether a timer of <paramref name="owner"/> is pending with its due time after <paramref name="ticks"/>.</summary>
    internal bool HasTimerAfter(object owner, long ticks)
    {
        lock (_gate)
        {
            foreach ((VirtualTimer timer, (long Due, long Order) key) in _timers.UnorderedItems)
            {
                if (key.Due > ticks && ReferenceEquals(timer.Owner, owner) && timer.IsCurrent(key.Order))
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <inheritdoc />
    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        ArgumentNullException.ThrowIfNull(callback);
        object? owner = CurrentOwner.Value;
        var timer = new VirtualTimer(this, callback, state, owner, host: false);
        timer.Change(dueTime, period);
        TimerCreated?.Invoke(owner);
        return timer;
    }

    /// <summary>A timer of the host driving the clock (the emulator's schedule): no owner, and not one of <see cref="GuestTimers"/>.</summary>
    internal ITimer CreateHostTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new VirtualTimer(this, callback, state, owner: null, host: true);
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>Moves time forward by <paramref name="delta"/>, firing every timer due on the way.</summary>
    /// <param name="delta">How far; not negative.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="delta"/> is negative.</exception>
    public void Advance(TimeSpan delta)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delta, TimeSpan.Zero);
        AdvanceTo(GetUtcNow() + delta);
    }

    /// <summary>
    /// Moves time forward to <paramref name="time"/>, firing every timer due at or before it in order of due time,
    /// then creation; the clock reads each timer's due time while its callback runs.
    /// </summary>
    /// <param name="time">The new time; not earlier than now.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="time"/> is earlier than now.</exception>
    public void AdvanceTo(DateTimeOffset time)
    {
        long target = time.UtcTicks;
        ArgumentOutOfRangeException.ThrowIfLessThan(target, Volatile.Read(ref _nowTicks), nameof(time));

        // No synchronization context while the timers fire: under one (a test framework's, a UI's) .NET queues even a
        // ConfigureAwait(false) continuation to the thread pool, and time could move on before it ran.
        SynchronizationContext? context = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        try
        {
            while (FireNext(target))
            {
            }
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(context);
        }

        Volatile.Write(ref _nowTicks, target);
    }

    /// <summary>Sets the time without firing anything (the emulator's end of run).</summary>
    internal void JumpTo(long ticks) => Volatile.Write(ref _nowTicks, Math.Max(ticks, Volatile.Read(ref _nowTicks)));

    /// <summary>Fires the earliest timer due at or before <paramref name="limitTicks"/>, if any.</summary>
    internal bool FireNext(long limitTicks)
    {
        VirtualTimer timer;
        lock (_gate)
        {
            while (true)
            {
                if (!_timers.TryPeek(out VirtualTimer? next, out (long Due, long Order) key) || key.Due > limitTicks)
                {
                    return false;
                }

                _timers.Dequeue();
                if (!next.IsCurrent(key.Order))
                {
                    continue;
                }

                if (key.Due > _nowTicks)
                {
                    Volatile.Write(ref _nowTicks, key.Due);
                }

                timer = next;
                timer.Rearm();
                break;
            }
        }

        // Read once: a callback that disposes its own timer clears it.
        object? owner = timer.Owner;
        if (IsOwnerAlive is { } alive && !alive(owner))
        {
            timer.Dispose();
            return true;
        }

        object? previous = CurrentOwner.Value;
        CurrentOwner.Value = owner;
        Volatile.Write(ref _firingOwner, owner);
        try
        {
            if (CallbackMeasured is { } measured)
            {
                long started = Stopwatch.GetTimestamp();
                timer.Fire();
                measured(owner, Stopwatch.GetElapsedTime(started).Ticks);
            }
            else
            {
                timer.Fire();
            }
        }
        finally
        {
            CurrentOwner.Value = previous;
            Volatile.Write(ref _firingOwner, null);
        }

        return true;
    }

    private sealed class VirtualTimer : ITimer
    {
        private sealed record Work(TimerCallback Callback, object? State);

        private readonly VirtualClock _clock;
        private readonly bool _host;

        // What firing does, dropped at disposal: a disposed timer stays in the clock's queue until its due time, and its
        // callback held an invocation and its response that long (found by review: a 900 s timeout kept every ended
        // invocation 900 virtual seconds; a retried 7 MB response filled 24 GB in a 5-second scenario).
        private Work? _work;
        private long _order;
        private long _periodTicks;
        private long _dueTicks;
        private bool _disposed;

        public VirtualTimer(VirtualClock clock, TimerCallback callback, object? state, object? owner, bool host)
        {
            _clock = clock;
            _work = new Work(callback, state);
            _host = host;
            Owner = owner;
        }

        public object? Owner { get; private set; }

        public bool IsCurrent(long order) => !_disposed && Volatile.Read(ref _order) == order;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            if (_disposed)
            {
                return false;
            }

            ArgumentOutOfRangeException.ThrowIfLessThan(dueTime == Timeout.InfiniteTimeSpan ? TimeSpan.Zero : dueTime, TimeSpan.Zero);

            // Queued and marked current in one step under the clock's lock: with the mark written after the lock, a thread
            // advancing the clock (or reading NextDue) between the two saw the new entry as stale and dropped it, and the
            // timer never fired (a redrive on the thread pool hung while a test drove the clock).
            lock (_clock._gate)
            {
                if (_disposed)
                {
                    return false;
                }

                bool armed = _order != 0;
                _periodTicks = period == Timeout.InfiniteTimeSpan || period <= TimeSpan.Zero ? 0 : period.Ticks;
                if (dueTime == Timeout.InfiniteTimeSpan)
                {
                    Volatile.Write(ref _order, 0);
                    if (armed && !_host)
                    {
                        _clock._guestTimers--;
                    }

                    return true;
                }

                _dueTicks = _clock.GetTimestamp() + dueTime.Ticks;
                long order = ++_clock._order;
                _clock._timers.Enqueue(this, (_dueTicks, order));
                Volatile.Write(ref _order, order);
                if (!armed && !_host)
                {
                    _clock._guestTimers++;
                }
            }

            return true;
        }

        // Called under the clock's lock when the timer is dequeued to fire: a periodic timer is queued again.
        public void Rearm()
        {
            if (_periodTicks > 0)
            {
                _dueTicks += _periodTicks;
                long order = ++_clock._order;
                _clock._timers.Enqueue(this, (_dueTicks, order));
                Volatile.Write(ref _order, order);
            }
            else
            {
                Volatile.Write(ref _order, 0);
                if (!_host)
                {
                    _clock._guestTimers--;
                }
            }
        }

        // One read: a timer disposed on another thread after it was taken to fire either fires whole or not at all.
        public void Fire()
        {
            if (Volatile.Read(ref _work) is { } work)
            {
                work.Callback(work.State);
            }
        }

        public void Dispose()
        {
            if (_host)
            {
                _disposed = true;
                Release();
                return;
            }

            lock (_clock._gate)
            {
                if (!_disposed && _order != 0)
                {
                    _clock._guestTimers--;
                }

                _disposed = true;
            }

            Release();
        }

        private void Release()
        {
            Volatile.Write(ref _work, null);
            Owner = null;
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>An owner of timers that the downstream models tell of each request made in its flow (an emulator's invocation).</summary>
internal interface IClockGuest
{
    /// <summary>A downstream model on <paramref name="modelClock"/> is serving a request made in this owner's flow, on the current thread.</summary>
    void NoteDownstreamCall(TimeProvider modelClock);
}
