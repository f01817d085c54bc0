using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Analytics.Core.Testing;

/// <summary>
/// Runs a scenario: a Kinesis stream, Lambda's event source mapping reading it, and a function, all in virtual time on
/// the calling thread. The same scenario and handler give the same outputs byte for byte.
/// </summary>
/// <remarks>
/// <para>Rules come from what AWS recorded or documents (see <c>docs/emulator.md</c>); where AWS says nothing the
/// emulator makes a seeded choice that keeps only what AWS promises.</para>
/// <para>Resharding is out of scope: shards neither split nor merge.</para>
/// </remarks>
public sealed partial class StreamEmulator
{
    private const long TicksPerMs = TimeSpan.TicksPerMillisecond;

    private readonly EmulatorScenario _scenario;
    private readonly Func<int, ILambdaHandler> _createHandler;
    private readonly Random _produceRandom;
    private readonly Random _choiceRandom;
    private readonly Random? _redeliveryRandom;
    private readonly ShardState[] _shards;
    private readonly UInt128 _shardSpan;
    private readonly List<ExecutionEnvironment> _environments = [];
    private readonly List<Invocation> _waiting = [];
    private readonly string _functionArn;
    private readonly string _roleArn;
    private readonly string _uuid;
    private readonly long _startMs;
    private readonly double[] _carry;
    private readonly string _streamArn;
    private readonly EventWriter _events;
    private readonly EventBuffers _eventBuffers = new();
    private readonly Dictionary<string, KeyInfo> _keys = new(StringComparer.Ordinal);
    private IEmulationObserver? _observer;
    private (S3Model Model, string Name)? _destinationBucket;
    private long _invocations;
    private long _recordsIn;
    private long _throttledPuts;
    private long _recordsOut;
    private long _toDestination;
    private long _expired;
    private long _skipped;
    private long _errors;
    private long _timeouts;
    private long _ignoredFailureReports;
    private long _windowsDiscarded;
    private long _redeliveries;
    private long _dataBytesHeld;
    private long _throttles;
    private long _coldStarts;
    private long _maxIteratorAge;
    private long _offClockWaits;
    private int _busy;
    private int _maxBusy;
    private int _maxBusyThisSecond;
    private long _busySinceMs;
    private long _producerIndex;
    private bool _ran;
    private bool _ended;
    private int _runThread;
    private long _step;
    private Invocation? _starting;
    private BlockedRunWatch? _watch;

    /// <summary>Creates an emulator whose execution environments share one handler.</summary>
    /// <remarks>
    /// Lambda has one function instance per execution environment; here every environment calls this one instance, so
    /// with several shards or a ParallelizationFactor above 1 it runs invocations at once. Only for a handler safe for that:
    /// a <c>KinesisBatchProcessor</c> handles one invocation at a time and fails the others (their records then go to the
    /// destination). Otherwise use the constructor that makes a handler per environment.
    /// </remarks>
    /// <param name="scenario">The scenario.</param>
    /// <param name="handler">The function.</param>
    /// <exception cref="ArgumentException">The scenario has a setting out of range.</exception>
    public StreamEmulator(EmulatorScenario scenario, ILambdaHandler handler)
        : this(scenario, _ => handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
    }

    /// <summary>Creates an emulator that makes one handler per execution environment (its init).</summary>
    /// <param name="scenario">The scenario.</param>
    /// <param name="createHandler">
    /// Makes the handler of environment n (from 1), in virtual time, when it starts. When it throws, that is the
    /// function's init failing, as in Lambda: the invocation is a function error and the next one starts a new environment.
    /// </param>
    /// <exception cref="ArgumentException">The scenario has a setting out of range.</exception>
    public StreamEmulator(EmulatorScenario scenario, Func<int, ILambdaHandler> createHandler)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(createHandler);
        scenario.Validate();
        _scenario = scenario;
        _createHandler = createHandler;
        Clock = new VirtualClock(scenario.StartTime);
        _produceRandom = new Random(scenario.Seed);
        _choiceRandom = new Random(unchecked((scenario.Seed * 7919) + 17));
        _redeliveryRandom = scenario.RedeliveryFraction > 0 ? new Random(unchecked((scenario.Seed * 104_729) + 31)) : null;
        _startMs = scenario.StartTime.ToUnixTimeMilliseconds();
        StreamOptions stream = scenario.Stream;
        _functionArn = scenario.Function.Arn(stream.Region, stream.AccountId);
        _roleArn = $"arn:aws:iam::{stream.AccountId}:role/{scenario.Function.FunctionName}-role";
        _uuid = scenario.Mapping.Uuid ?? NewUuid();
        _streamArn = stream.StreamArn;
        _events = new EventWriter(_streamArn, stream.Region, _roleArn);
        _shardSpan = ShardSpan(stream.ShardCount);
        _carry = new double[scenario.Producers.Count];
        _shards = new ShardState[stream.ShardCount];
        for (int i = 0; i < _shards.Length; i++)
        {
            var shard = new ShardState
            {
                Index = i,
                Id = string.Create(CultureInfo.InvariantCulture, $"shardId-{i:D12}"),
                Seconds = new SecondCounters[scenario.DurationSeconds + 1],
            };
            shard.Lanes = Enumerable.Range(0, scenario.Mapping.ParallelizationFactor).Select(l => new Lane { Shard = shard, Index = l }).ToArray();
            _shards[i] = shard;
        }
    }

    /// <summary>The virtual clock: pass it to the function and to downstream models as their <see cref="TimeProvider"/>.</summary>
    public VirtualClock Clock { get; }

    /// <summary>The mapping's UUID (given, or drawn from the seed).</summary>
    public string MappingUuid => _uuid;

    /// <summary>
    /// Makes the mapping's S3 on-failure destination a bucket of <paramref name="model"/>: every batch Lambda gives up
    /// on is stored there as Lambda stores it (the invocation record with <c>payload</c>, under
    /// <c>aws/lambda/&lt;ESM-UUID&gt;/&lt;shardId&gt;/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-&lt;UUID&gt;</c>). The delivery is
    /// Lambda's write, not the function's: it takes no virtual time and none of the model's faults.
    /// </summary>
    /// <param name="model">The S3 model.</param>
    /// <param name="bucketName">The bucket. It must exist in the model when <see cref="Run"/> starts
    /// (<see cref="S3Model.CreateBucket"/>, or a CreateBucket request through the model's client): on AWS, Lambda
    /// does not create its destination, and a write to a missing bucket fails.</param>
    /// <exception cref="InvalidOperationException">The mapping's destination is not <see cref="OnFailureDestination.S3"/>, or the emulator has run.</exception>
    /// <exception cref="ArgumentException">The bucket name is empty.</exception>
    public void SendOnFailureTo(S3Model model, string bucketName)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(bucketName);
        if (_scenario.Mapping.OnFailure != OnFailureDestination.S3)
        {
            throw new InvalidOperationException("The mapping's on-failure destination is " + _scenario.Mapping.OnFailure + ", not S3.");
        }

        if (_ran)
        {
            throw new InvalidOperationException("Set the destination bucket before Run.");
        }

        _destinationBucket = (model, bucketName);
    }

    /// <summary>
    /// The index (from 0) of the shard a partition key goes to: the one whose hash-key range holds MD5 of the key as a
    /// 128-bit number. Its id, as reports name it, is <c>shardId-</c> and the index in 12 digits
    /// (<c>$"shardId-{index:D12}"</c>).
    /// </summary>
    /// <param name="partitionKey">The key.</param>
    /// <param name="shardCount">Shards, hash-key ranges split evenly.</param>
    /// <returns>The shard's index, from 0.</returns>
    public static int ShardFor(string partitionKey, int shardCount)
    {
        ArgumentNullException.ThrowIfNull(partitionKey);
        ArgumentOutOfRangeException.ThrowIfLessThan(shardCount, 1);
        UInt128 hash = HashKey(partitionKey);
        UInt128 index = hash / ShardSpan(shardCount);
        return index >= (UInt128)(uint)shardCount ? shardCount - 1 : (int)index;
    }

    // floor(2^128 / n): shard i holds [i * span, (i + 1) * span - 1], the last one up to 2^128 - 1.
    private static UInt128 ShardSpan(int shardCount)
    {
        var n = (UInt128)(uint)shardCount;
        if (shardCount == 1)
        {
            return UInt128.MaxValue; // 2^128 does not fit; the index is clamped to the last shard anyway.
        }

        return (UInt128.MaxValue / n) + (UInt128.MaxValue % n == n - 1 ? UInt128.One : UInt128.Zero);
    }

    /// <summary>MD5 of the key's UTF-8 bytes as a big-endian 128-bit number (the key's position in the hash-key space).</summary>
    /// <param name="partitionKey">The key.</param>
    /// <returns>The hash key.</returns>
    public static UInt128 HashKey(string partitionKey)
    {
        ArgumentNullException.ThrowIfNull(partitionKey);
        Span<byte> digest = stackalloc byte[16];
        MD5.HashData(Encoding.UTF8.GetBytes(partitionKey), digest);
        return new UInt128(System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(digest), System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(digest[8..]));
    }

    /// <summary>Runs the scenario to its end; callable once. Nothing of the run fires on <see cref="Clock"/> afterwards: invocations still running stop where the run ended.</summary>
    /// <param name="observer">Receives the outputs as they happen; <see langword="null"/> for totals only.</param>
    /// <returns>The totals.</returns>
    /// <exception cref="InvalidOperationException">
    /// Already run; or a producer's <see cref="RecordGenerator"/> returned <see langword="null"/> or a record Kinesis
    /// refuses (data plus partition key over 1 MiB); or handler code kept the run's thread waiting inside one step for
    /// 10 s of real time (or <see cref="EmulatorScenario.RealTimeSettle"/>, when longer), as a handler blocking on a task
    /// of the clock (<c>.Wait()</c>, <c>.Result</c>) does: the clock moves only when handler code returns to it; or the
    /// stream holds more than 40 million records not yet processed (the function falls behind its producers for good,
    /// and the run would run out of memory); or the bucket given to <see cref="SendOnFailureTo"/> does not exist in its
    /// model.
    /// </exception>
    public EmulationSummary Run(IEmulationObserver? observer = null)
    {
        if (_ran)
        {
            throw new InvalidOperationException("An emulator runs once; make a new one for another run.");
        }

        if (_destinationBucket is { } destination && !destination.Model.HasBucket(destination.Name))
        {
            throw new InvalidOperationException(
                "The S3 on-failure destination bucket '" + destination.Name + "' (SendOnFailureTo) does not exist in the S3 model: create it before Run " +
                "(S3Model.CreateBucket, or a CreateBucket request through the model's client). Lambda does not create its destination on AWS.");
        }

        _ran = true;
        _observer = observer;

        // Continuations must run inline on this thread: a synchronization context (a UI's, a test framework's) would
        // send them elsewhere, and then time could move on before they ran.
        SynchronizationContext? context = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        try
        {
            return RunLoop();
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(context);
        }
    }

    private EmulationSummary RunLoop()
    {
        Clock.IsOwnerAlive = static owner => owner is not Invocation invocation || invocation.Alive;
        _runThread = Environment.CurrentManagedThreadId;
        if (_scenario.RealTimeSettle <= TimeSpan.Zero)
        {
            // Handler code runs on the clock only on this thread, inside a call of the emulator's (the handler's start, a
            // timer's callback). A timer set from another thread was set by a continuation that something real resumed
            // (I/O, Task.Run, a Task.Delay cancelled through its token), at a virtual time that depends on real timing.
            Clock.TimerCreated = owner =>
            {
                if (owner is Invocation invocation && Environment.CurrentManagedThreadId != _runThread)
                {
                    CountOffClock(invocation);
                }
            };
        }

        if (_scenario.Function.MeasureCompute)
        {
            Clock.CallbackMeasured = static (owner, ticks) =>
            {
                if (owner is Invocation invocation)
                {
                    invocation.MeasuredTicks += ticks;
                }
            };
        }

        // Records put before the start (negative atMs) are in the stream already.
        PutExplicit(long.MinValue, 0);
        long end = _scenario.StartTime.UtcTicks + (_scenario.DurationSeconds * TimeSpan.TicksPerSecond);
        for (int s = 0; s < _scenario.DurationSeconds; s++)
        {
            int second = s;
            Schedule(second * TimeSpan.TicksPerSecond, () => ProduceSecond(second));
        }

        for (int s = 1; s < _scenario.DurationSeconds; s++)
        {
            int second = s - 1;
            Schedule(s * TimeSpan.TicksPerSecond, () => EmitSecond(second));
        }

        foreach (ShardState shard in _shards)
        {
            foreach (Lane lane in shard.Lanes)
            {
                Lane l = lane;
                lane.PollTimer = Clock.CreateHostTimer(_ => Poll(l), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                SchedulePoll(lane, 0);
            }
        }

        // A run that waits for handlers in real time (RealTimeSettle) lets one step wait as long as that too.
        TimeSpan limit = BlockedRunLimit > _scenario.RealTimeSettle ? BlockedRunLimit : _scenario.RealTimeSettle;
        using (_watch = new BlockedRunWatch(Thread.CurrentThread, limit, () => Volatile.Read(ref _step), DescribeStep))
        {
            try
            {
                while (true)
                {
                    Settle();
                    if (!FireNextStep(end - 1))
                    {
                        CheckOffClock();
                        break;
                    }

                    CheckOffClock();
                    ObserveCompletions();
                }
            }
            catch (ThreadInterruptedException interrupted) when (_watch.Blocked is not null)
            {
                // The wait ended just as the watch gave up on it, so the interrupt landed after the step (in the settle's
                // wait, say): the run ends as it would have in the step.
                throw Blocked(interrupted);
            }

            if (_watch.Blocked is not null)
            {
                throw Blocked(null);
            }
        }

        // The run covers [start, end): what is due at the end itself does not happen; the last second is measured.
        foreach (ShardState shard in _shards)
        {
            foreach (Lane lane in shard.Lanes)
            {
                // Given up and not yet sent: a bisection the run's end cut short sends what it gave up, at the run's last
                // instant (the end itself is outside the run; found by review: stamped and keyed at it).
                SendConsolidated(lane, all: true);
            }
        }

        Clock.JumpTo(end);
        Stop();
        EmitSecond(_scenario.DurationSeconds - 1);
        long inFlight = 0;
        foreach (ShardState shard in _shards)
        {
            foreach (Lane lane in shard.Lanes)
            {
                inFlight += lane.Running is null ? 0 : 1;
            }
        }

        // Read once: a handler still running on another thread may count itself after this.
        long offClockWaits = Interlocked.Read(ref _offClockWaits);
        var summary = new EmulationSummary
        {
            RecordsIn = _recordsIn,
            ThrottledPuts = _throttledPuts,
            RecordsOut = _recordsOut,
            RecordsToDestination = _toDestination,
            RecordsExpired = _expired,
            RecordsSkipped = _skipped,
            RecordsPending = _recordsIn - _recordsOut - _toDestination - _expired - _skipped,
            Invocations = _invocations - inFlight,
            InvocationsInFlight = inFlight,
            Errors = _errors,
            Timeouts = _timeouts,
            IgnoredFailureReports = _ignoredFailureReports,
            WindowsDiscarded = _windowsDiscarded,
            Redeliveries = _redeliveries,
            Throttles = _throttles,
            ColdStarts = _coldStarts,
            MaxIteratorAgeMs = _maxIteratorAge,
            MaxConcurrency = _maxBusy,
            OffClockWaits = offClockWaits,
            Reproducible = !_scenario.Function.MeasureCompute && offClockWaits == 0 && _scenario.RealTimeSettle <= TimeSpan.Zero,
        };
        _observer?.OnEnd(summary);
        return summary;
    }

    /// <summary>
    /// How long handler code may keep the run's thread in a wait inside one step before the run ends with an error
    /// (<see cref="BlockedRunWatch"/>): 10 s of real time, or <see cref="EmulatorScenario.RealTimeSettle"/> when that is
    /// longer. On the virtual clock a handler must not wait on anything real at all, so 10 s is far beyond any wait it
    /// could mean.
    /// </summary>
    internal TimeSpan BlockedRunLimit { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Fires the next timer of the run as one step (odd <see cref="_step"/> while it runs); ends the run when handler code blocked it.</summary>
    private bool FireNextStep(long limitTicks)
    {
        bool fired;
        Volatile.Write(ref _step, _step + 1);
        try
        {
            fired = Clock.FireNext(limitTicks);
        }
        catch (ThreadInterruptedException interrupted) when (_watch?.Blocked is not null)
        {
            // The interrupted wait was in a timer's callback itself, not in a handler's task.
            throw Blocked(interrupted);
        }
        finally
        {
            Volatile.Write(ref _step, _step + 1);
        }

        return _watch?.Blocked is null ? fired : throw Blocked(null);
    }

    private InvalidOperationException Blocked(Exception? inner)
    {
        Stop();
        return new InvalidOperationException(
            $"The run stopped: {_watch!.Blocked} kept the emulator's thread waiting for {_watch.Limit.TotalSeconds:0.#} s of real time "
            + "(Task.Wait, .Result, GetAwaiter().GetResult(), a lock). The virtual clock moves only when handler code returns to it, "
            + "so a wait for anything on the clock (Task.Delay(t, clock), a model's answer, another invocation) never ends. Await it instead; "
            + "a handler that must wait on something real needs EmulatorScenario.RealTimeSettle.",
            inner);
    }

    /// <summary>Names what runs in the current step, for <see cref="BlockedRunWatch"/> (from its thread).</summary>
    private string DescribeStep()
    {
        object? owner = Volatile.Read(ref _starting) ?? Clock.FiringOwner;
        string at = Clock.GetUtcNow().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        return owner is Invocation invocation
            ? $"the handler of invocation {invocation.Number} ({invocation.Lane.Shard.Id}, execution environment {invocation.Environment.Id}, virtual time {at})"
            : $"code run by the emulator at virtual time {at} (a handler's init, or a timer's callback)";
    }

    private long NowTicks => Clock.GetTimestamp();

    private long NowMs => Clock.GetTimestamp() / TicksPerMs - (DateTimeOffset.UnixEpoch.UtcTicks / TicksPerMs);

    private int SecondOf(long unixMs) => (int)Math.Clamp((unixMs - _startMs) / 1000, 0, _scenario.DurationSeconds);

    /// <summary>
    /// Ends the emulated world with the run. The clock stays the caller's (a test then drives it for its own work, a
    /// redrive say), so nothing of the run may fire on it again: left armed, each shard's idle poll fired once per virtual
    /// second whenever the caller's work had no timer due, and time raced ahead by days while that work ran on another
    /// thread; and an invocation still in flight would have gone on writing after the summary was taken. Its timers
    /// are dropped when due (as for a timed-out environment), the poll and deadline timers are disposed, and what
    /// the run scheduled does nothing.
    /// </summary>
    private void Stop()
    {
        _ended = true;
        Clock.IsOwnerAlive = static owner => owner is not Invocation;
        foreach (ShardState shard in _shards)
        {
            foreach (Lane lane in shard.Lanes)
            {
                lane.PollTimer?.Dispose();
                lane.Running?.DeadlineTimer?.Dispose();
            }
        }
    }

    private ITimer Schedule(long offsetTicks, Action action)
    {
        long due = _scenario.StartTime.UtcTicks + offsetTicks - NowTicks;
        return ScheduleIn(due, action);
    }

    private ITimer ScheduleIn(long delayTicks, Action action) =>
        Clock.CreateHostTimer(static s => ((Scheduled)s!).Run(), new Scheduled(this, action), TimeSpan.FromTicks(Math.Max(0, delayTicks)), Timeout.InfiniteTimeSpan);

    /// <summary>A scheduled step of the run, which does nothing once the run has ended.</summary>
    private sealed class Scheduled(StreamEmulator emulator, Action action)
    {
        public void Run()
        {
            if (!emulator._ended)
            {
                action();
            }
        }
    }

    private string NewUuid()
    {
        Span<byte> bytes = stackalloc byte[16];
        _choiceRandom.NextBytes(bytes);
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x40);
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
        return Convert.ToHexString(bytes).ToLowerInvariant().Insert(20, "-").Insert(16, "-").Insert(12, "-").Insert(8, "-");
    }

    /// <summary>
    /// Before virtual time moves on, waits (at most <see cref="EmulatorScenario.RealTimeSettle"/>) for handlers still
    /// running in real time, then observes every handler that has finished, whether it finished during the wait or before
    /// it: one that finished on another thread after the loop's last look, with nothing left to wait for, was otherwise
    /// observed only after the next timer fired, and its invocation lasted up to a virtual second too long.
    /// </summary>
    private void Settle()
    {
        if (_scenario.RealTimeSettle <= TimeSpan.Zero || _waiting.Count == 0)
        {
            return;
        }

        Task[] tasks = _waiting.Where(i => i.Task is { IsCompleted: false }).Select(i => (Task)i.Task!).ToArray();
        bool settled = true;
        if (tasks.Length > 0)
        {
            try
            {
                settled = Task.WaitAll(tasks, _scenario.RealTimeSettle);
            }
            catch (AggregateException)
            {
                // A handler that failed is a function error: ObserveCompletions reads it from its task.
            }
        }

        ObserveCompletions();
        if (!settled && Clock.GuestTimers == 0)
        {
            // A handler outlasted the settle while no timer of the clock could complete it: it waits on something real
            // for longer than RealTimeSettle, virtual time moves on without it, and where it ends depends on real timing.
            // The run is not reproducible (a settle that ran out only on handlers waiting on the clock is no sign).
            CountIncompleteHandlersOffClock();
        }
    }

    /// <summary>
    /// Counts the handlers caught off the virtual clock: a handler's task is incomplete while no timer but the emulator's
    /// own is pending, so nothing in virtual time can complete it (the emulator's timers produce records, poll and end
    /// invocations; they resume no handler). It waits on something real (<c>Task.Yield</c>, <c>Task.Run</c>, a delay
    /// without the clock, I/O), or for nothing, and when it ends against virtual time depends on real timing. Called
    /// where handler code has just run (its start, a timer's callback), reading the timers before the tasks: a task seen
    /// incomplete was so when no timer could complete it. Not with RealTimeSettle, whose runs wait for such handlers
    /// (<see cref="Settle"/> counts those that outlast the wait).
    /// </summary>
    private void CheckOffClock()
    {
        if (_waiting.Count == 0 || Clock.GuestTimers > 0 || _scenario.RealTimeSettle > TimeSpan.Zero)
        {
            return;
        }

        CountIncompleteHandlersOffClock();
    }

    /// <summary>Counts each handler still running, once per invocation, as caught off the virtual clock.</summary>
    private void CountIncompleteHandlersOffClock()
    {
        foreach (Invocation invocation in _waiting)
        {
            if (!invocation.Ended && invocation.Task is { IsCompleted: false })
            {
                CountOffClock(invocation);
            }
        }
    }

    /// <summary>
    /// A downstream model serves a request of <paramref name="invocation"/>'s handler: off the run's clock when the model
    /// runs on another clock (built on <see cref="TimeProvider.System"/>, say: its latency passes in real time), or when
    /// the call is made on another thread than the run's (a continuation that something real resumed: a retry's delay on
    /// the system clock, I/O). Either way what the model answers, and when, depends on real timing (found by review: a
    /// sink whose retries waited on the system clock lost most of a run's records to the destination, differently in
    /// each run, and every run said <c>Reproducible</c>). Not with <see cref="EmulatorScenario.RealTimeSettle"/>, whose
    /// runs expect such handlers.
    /// </summary>
    internal void NoteDownstreamCall(Invocation invocation, TimeProvider modelClock)
    {
        // Another clock reads another time: virtual time stands still while real time runs, so a provider that passes
        // through to the run's clock (a consumer's wrapper) reads the same, and any other does not (found by review: a
        // wrapper was counted off the clock).
        if (_scenario.RealTimeSettle <= TimeSpan.Zero
            && ((!ReferenceEquals(modelClock, Clock) && modelClock.GetUtcNow() != Clock.GetUtcNow()) || Environment.CurrentManagedThreadId != _runThread))
        {
            CountOffClock(invocation);
        }
    }

    /// <summary>Counts a handler as caught off the virtual clock, once per invocation; callable from any thread.</summary>
    private void CountOffClock(Invocation invocation)
    {
        if (invocation.MarkOffClock())
        {
            Interlocked.Increment(ref _offClockWaits);
        }
    }

    /// <summary>
    /// Counts the handler off the clock when its task completes on another thread than the run's: something real
    /// resumed it (I/O, <c>Task.Run</c>, a delay without the clock) while a timer of the clock was pending (its own
    /// deadline's, say), which <see cref="CheckOffClock"/> takes for a handler waiting on the clock.
    /// </summary>
    private void WatchCompletionThread(Invocation invocation)
    {
        if (_scenario.RealTimeSettle > TimeSpan.Zero || invocation.Task is not { IsCompleted: false } task)
        {
            return;
        }

        _ = task.ContinueWith(
            static (_, state) =>
            {
                (StreamEmulator emulator, Invocation invocation) = ((StreamEmulator, Invocation))state!;
                if (Environment.CurrentManagedThreadId != emulator._runThread)
                {
                    emulator.CountOffClock(invocation);
                }
            },
            (this, invocation),
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    /// <summary>
    /// Called before invocations of <paramref name="shard"/> start or end: the count held since the last change, now that
    /// its instant is over, goes into the second's highest. A count is taken when its instant is over, after every start
    /// and end at it, so an invocation that ends at the instant another starts, or at a second's start, is not counted
    /// as running then (found by review: one ending at a second's start was counted in that second, and an end after a
    /// start at one instant counted both).
    /// </summary>
    private void BeforeRunningChanges(ShardState shard)
    {
        long now = NowMs;
        if (now != shard.RunningSinceMs)
        {
            shard.MaxRunningThisSecond = Math.Max(shard.MaxRunningThisSecond, shard.Running);
            shard.RunningSinceMs = now;
        }

        if (now != _busySinceMs)
        {
            _maxBusyThisSecond = Math.Max(_maxBusyThisSecond, _busy);
            _maxBusy = Math.Max(_maxBusy, _busy);
            _busySinceMs = now;
        }
    }

    private void EmitSecond(int second)
    {
        // Fired before anything else due at the second's end (its timer was made first), so the counts held now are
        // the last ones of the second.
        long now = NowMs;
        _maxBusyThisSecond = Math.Max(_maxBusyThisSecond, _busy);
        _maxBusy = Math.Max(_maxBusy, _busy);
        foreach (ShardState shard in _shards)
        {
            ref SecondCounters c = ref shard.Seconds[second];
            shard.MaxRunningThisSecond = Math.Max(shard.MaxRunningThisSecond, shard.Running);

            // Measured (and the queue of unprocessed records trimmed) with or without an observer: a run without one
            // would otherwise hold every record it produced until the end.
            long oldestUnprocessedAge = OldestUnprocessedAge(shard);
            _observer?.OnSecond(new ShardSecond
            {
                Second = second,
                ShardId = shard.Id,
                IteratorAgeMs = c.Invocations > 0 ? c.IteratorAgeMs : -1,
                OldestUnprocessedAgeMs = oldestUnprocessedAge,
                Invocations = c.Invocations,
                Errors = c.Errors,
                Timeouts = c.Timeouts,
                Throttles = c.Throttles,
                Concurrency = shard.MaxRunningThisSecond,
                FunctionConcurrency = _maxBusyThisSecond,
                DestinationRecords = c.Destination,
                RecordsIn = c.RecordsIn,
                ThrottledPuts = c.ThrottledPuts,
                RecordsOut = c.RecordsOut,
                RecordsExpired = c.Expired,
            });
            shard.MaxRunningThisSecond = 0;
            shard.RunningSinceMs = now;
        }

        _maxBusyThisSecond = 0;
        _busySinceMs = now;
    }

    /// <summary>
    /// The most records not yet processed a run may hold (<see cref="RecordsHeld"/>), checked each virtual second before
    /// its records are made: 40 million. A held record of a small producer record costs about 300 bytes (3 million held
    /// took 0.97 GB of resident memory), so about 12 GB. The incident scenarios' hour of 10 shards at 10,000 records/s
    /// puts 36 million in all. Settable for tests.
    /// </summary>
    internal long MaxRecordsHeld { get; init; } = 40_000_000;

    /// <summary>
    /// The most bytes of record data a run may hold not yet processed (<see cref="DataBytesHeld"/>), checked with
    /// <see cref="MaxRecordsHeld"/>: 8 GiB. Small records meet the count's bound first (the incident scenarios' 36 million
    /// records carry about 5 GB); records of 1 MiB meet this one at about 8,000. Settable for tests.
    /// </summary>
    internal long MaxDataBytesHeld { get; init; } = 8L << 30;

    /// <summary>The data bytes of the records <see cref="RecordsHeld"/> counts.</summary>
    internal long DataBytesHeld => _dataBytesHeld;

    /// <summary>Records the emulator holds as not yet processed (for tests of what a run keeps in memory).</summary>
    internal long RecordsHeld => _shards.Sum(s => (long)s.Undone.Count + s.Pending.Count);

    private long OldestUnprocessedAge(ShardState shard)
    {
        while (shard.Undone.TryPeek(out SimRecord? head) && head.Done)
        {
            shard.Undone.Dequeue();
            _dataBytesHeld -= head.Data.Length;
        }

        long now = NowMs;
        if (shard.Undone.TryPeek(out SimRecord? oldest))
        {
            return now - oldest.ArrivalMs;
        }

        return shard.Pending.TryPeek(out SimRecord? pending) && pending.ArrivalMs <= now ? now - pending.ArrivalMs : 0;
    }
}
