using System.Diagnostics;

namespace Analytics.Core.Testing;

public sealed partial class StreamEmulator
{
    private void SchedulePoll(Lane lane, long delayTicks) =>
        lane.PollTimer!.Change(TimeSpan.FromTicks(Math.Max(0, delayTicks)), Timeout.InfiniteTimeSpan);

    // AWS: "Lambda polls each shard in your Kinesis stream for records at a base rate of once per second. When more
    // records are available, Lambda keeps processing batches until the function catches up with the stream."
    private void Poll(Lane lane)
    {
        if (lane.Running is not null)
        {
            return;
        }

        if (lane.RetryNotBeforeMs > NowMs)
        {
            SchedulePoll(lane, (lane.RetryNotBeforeMs - NowMs) * TicksPerMs);
            return;
        }

        Distribute(lane.Shard);
        while (true)
        {
            long wakeTicks = TimeSpan.TicksPerSecond;
            Batch? batch = lane.Current ?? NextBatch(lane, out wakeTicks);
            if (batch is null)
            {
                SchedulePoll(lane, wakeTicks);
                return;
            }

            if (lane.Window is { TerminateEarly: true } && !batch.IsWindowFinal)
            {
                // A response set a state over 1 MB while records of the window were still to be retried (a partial
                // response's rest, a bisected half, a tail cut at 6 MiB): the window ends first, with its final
                // invocation, and those records follow in a window reopened with an empty state, as its later records
                // do. Carried into their retry, a state of several MB made an event over the 6 MiB Lambda sends at
                // most (found by review: 6,534,161 bytes). AWS does not say what follows an early end (grade 3).
                lane.Deferred.Push(batch);
                batch = new Batch { Records = [], IsWindowFinal = true, TerminatedEarly = true };
            }

            lane.Current = batch;
            DropExpired(lane, batch);
            if (batch.Records.Count == 0 && !batch.IsWindowFinal)
            {
                Advance(lane);
                if (lane.Unsent.Count > 0)
                {
                    SendConsolidated(lane); // the batch's records all expired: its bisection may be over
                }

                continue;
            }

            if (lane.Window is null && _scenario.Mapping.TumblingWindowInSeconds > 0)
            {
                // Records retried after their window ended early.
                OpenWindow(lane, WindowStart(batch.Records[0].ArrivalMs));
            }

            CutToPayloadLimit(lane, batch);

            if (_scenario.Function.ReservedConcurrency is int reserved && _busy >= reserved)
            {
                // "Invocation errors before the function runs (throttles) are retried until the records expire,
                // without using the retry quota."
                lane.Shard.Seconds[SecondOf(NowMs)].Throttles++;
                _throttles++;
                SchedulePoll(lane, TimeSpan.TicksPerSecond);
                return;
            }

            Dispatch(lane, batch);
            return;
        }
    }

    /// <summary>What a shard serves to reads in any 5 seconds: 10 MiB, its "maximum total data read rate of 2 MB per second".</summary>
    internal const long MaxReadBytes = 10 * 1024 * 1024;

    internal const long ReadWindowMs = 5_000;

    // Reads the shard's arrived records (a GetRecords call) and moves them to its lanes (concurrent batches), keeping
    // per-key order. Kinesis: a shard serves reads of "up to a maximum total data read rate of 2 MB per second", a call
    // returns at most 10 MiB, and "if a call returns this amount of data, subsequent calls made within the next 5 seconds
    // throw ProvisionedThroughputExceededException": here, at most 10 MiB in any 5 seconds, a call exactly 5 s after a
    // read still counting it (within them: the cautious reading); a call that finds none of it left reads nothing
    // (throttled; the poller tries again). The data and the partition key count, the key as the
    // event carries it (JSON-escaped: its UTF-8 size, more for a key with characters to escape, the cautious side;
    // the key's own UTF-8 size is not kept per record). At a shard's write rate (1 MiB/s) this never binds; it bounds
    // how fast a backlog is read (before, a shard caught up after an outage at any speed). Not modelled: 5 calls per
    // second and 10,000 records per call (a lane reads when it forms a batch, and a batch holds at most 10,000).
    private void Distribute(ShardState shard)
    {
        long now = NowMs;
        while (shard.Reads.TryPeek(out (long AtMs, long Bytes) past) && past.AtMs < now - ReadWindowMs)
        {
            shard.Reads.Dequeue();
            shard.ReadBytes -= past.Bytes;
        }

        long read = 0;
        while (shard.Pending.TryPeek(out SimRecord? record) && record.ArrivalMs <= now)
        {
            long bytes = record.Data.Length + record.EscapedKey.Length;
            if (shard.ReadBytes + read + bytes > MaxReadBytes)
            {
                break;
            }

            read += bytes;
            shard.Pending.Dequeue();
            int lane = LaneFor(shard, record.PartitionKey);
            record.Lane = lane;
            shard.Lanes[lane].Queue.Enqueue(record);
            shard.Undone.Enqueue(record);
        }

        if (read > 0)
        {
            shard.Reads.Enqueue((now, read));
            shard.ReadBytes += read;
        }
    }

    /// <summary>When a read the shard's read limit stopped can go on: as its oldest read leaves the 5 seconds, at most a second (the poll's base rate).</summary>
    private static long ReadRetryTicks(ShardState shard, long now) =>
        shard.Reads.TryPeek(out (long AtMs, long Bytes) oldest)
            ? Math.Clamp((oldest.AtMs + ReadWindowMs + 1 - now) * TicksPerMs, TicksPerMs, TimeSpan.TicksPerSecond)
            : TimeSpan.TicksPerSecond;

    /// <summary>Whether the mapping's starting position skips a record that arrived at <paramref name="arrivalMs"/>.</summary>
    private bool BeforeStartingPosition(long arrivalMs)
    {
        MappingOptions mapping = _scenario.Mapping;
        return mapping.StartingPosition switch
        {
            StartingPosition.Latest => arrivalMs < _startMs,
            StartingPosition.AtTimestamp => arrivalMs < mapping.StartingPositionTimestamp!.Value.ToUnixTimeMilliseconds(),
            _ => false,
        };
    }

    private int LaneFor(ShardState shard, string key)
    {
        int factor = _scenario.Mapping.ParallelizationFactor;
        if (factor == 1)
        {
            return 0;
        }

        if (_scenario.KeyAssignment == KeyAssignment.Hash)
        {
            uint hash = 2166136261u ^ (uint)_scenario.Seed;
            foreach (char c in key)
            {
                hash = (hash ^ c) * 16777619u;
            }

            return (int)(hash % (uint)factor);
        }

        // Adversarial: a key with pending records stays on its lane; an idle key goes to a random lane.
        if (!shard.KeyLanes.TryGetValue(key, out (int Lane, int Pending) entry) || entry.Pending == 0)
        {
            entry = (_choiceRandom.Next(factor), 0);
        }

        shard.KeyLanes[key] = (entry.Lane, entry.Pending + 1);
        return entry.Lane;
    }

    private void MarkDone(SimRecord record)
    {
        record.Done = true;
        if (record.Shard.KeyLanes.TryGetValue(record.PartitionKey, out (int Lane, int Pending) entry))
        {
            record.Shard.KeyLanes[record.PartitionKey] = (entry.Lane, entry.Pending - 1);
        }
    }

    // Builds the lane's next batch, or says when to look again.
    private Batch? NextBatch(Lane lane, out long wakeTicks)
    {
        MappingOptions mapping = _scenario.Mapping;
        long now = NowMs;
        wakeTicks = TimeSpan.TicksPerSecond;
        int windowSeconds = mapping.TumblingWindowInSeconds;
        if (windowSeconds > 0 && lane.Window is { } open)
        {
            bool headInWindow = lane.Queue.TryPeek(out SimRecord? head) && WindowStart(head.ArrivalMs) == open.StartMs;

            // "Each record in a stream belongs to a specific window": a record of the window that arrived but is not read
            // yet (a backlog past the shard's read limit) is still to come, so the window is not over. Before, its final
            // invocation came first and the rest of the window got a second one (found by review: two or three finals
            // per window, each with part of its records). Records are read in arrival order, so only an empty lane
            // can wait for them.
            bool unreadInWindow = lane.Shard.Pending.TryPeek(out SimRecord? unread) && unread.ArrivalMs < open.EndMs;
            if (open.TerminateEarly || (!headInWindow && now >= open.EndMs && !unreadInWindow))
            {
                // The window is over: one final invocation, no records ("isFinalInvokeForWindow").
                return new Batch { Records = [], IsWindowFinal = true, TerminatedEarly = open.TerminateEarly };
            }

            if (!headInWindow)
            {
                // Until the window ends, or, past its end, until the shard's read limit lets its unread records through.
                wakeTicks = now < open.EndMs ? Math.Min(TimeSpan.TicksPerSecond, (open.EndMs - now) * TicksPerMs) : ReadRetryTicks(lane.Shard, now);
                return null;
            }
        }

        if (lane.Queue.Count == 0)
        {
            return null;
        }

        SimRecord first = lane.Queue.Peek();
        if (mapping.MaximumBatchingWindowInSeconds > 0 && lane.Queue.Count < mapping.BatchSize)
        {
            // "Lambda reads records until it has gathered a full batch, the batching window expires, or the batch
            // reaches the payload limit of 6 MB", and for Kinesis "the next batching window begins as soon as the
            // previous function invocation completes": records that waited through an invocation wait a whole window
            // after it. A window that expired with nothing gathered (the mapping's start, an idle stream) is not
            // described: the next begins at the first record's arrival, the longer of the readings (grade 3).
            long windowMs = mapping.MaximumBatchingWindowInSeconds * 1000L;
            long due = lane.CompletedMs is long completed && first.ArrivalMs <= completed + windowMs
                ? completed + windowMs
                : first.ArrivalMs + windowMs;
            if (now < due && PendingSize(lane) < LambdaJson.MaxPayloadBytes)
            {
                wakeTicks = Math.Min(TimeSpan.TicksPerSecond, (due - now) * TicksPerMs);
                return null;
            }
        }

        long windowStart = windowSeconds > 0 ? WindowStart(first.ArrivalMs) : 0;
        if (windowSeconds > 0 && lane.Window is null)
        {
            OpenWindow(lane, windowStart);
        }

        var records = new List<SimRecord>(Math.Min(mapping.BatchSize, lane.Queue.Count));
        long fragments = 0;
        while (records.Count < mapping.BatchSize && lane.Queue.TryPeek(out SimRecord? next))
        {
            if (windowSeconds > 0 && WindowStart(next.ArrivalMs) != windowStart)
            {
                break;
            }

            if (records.Count > 0 && !FitsPayload(fragments + next.JsonLength, records.Count + 1, lane))
            {
                break;
            }

            fragments += next.JsonLength;
            records.Add(lane.Queue.Dequeue());
        }

        return new Batch { Records = records };
    }

    private void OpenWindow(Lane lane, long startMs) =>
        lane.Window = new WindowState { StartMs = startMs, EndMs = startMs + (_scenario.Mapping.TumblingWindowInSeconds * 1000L) };

    /// <summary>
    /// Keeps a window's event within 6 MiB when the state grew after its batch was cut: the rest of a partial response
    /// is retried with the state the response set (found by review: a 1 MB state and four 1 MB records made a 6.3 MB
    /// event). The records past the limit wait as the next batch, like a bisected half: same attempts, same last event.
    /// AWS does not say what it does here (cut the retry, or fail the invoke); this keeps the documented limit.
    /// </summary>
    private static void CutToPayloadLimit(Lane lane, Batch batch)
    {
        if (lane.Window is null || batch.Records.Count < 2)
        {
            return;
        }

        long fragments = 0;
        for (int i = 0; i < batch.Records.Count; i++)
        {
            fragments += batch.Records[i].JsonLength;
            if (i > 0 && !FitsPayload(fragments, i + 1, lane))
            {
                lane.Deferred.Push(new Batch
                {
                    Records = batch.Records[i..],
                    Attempts = batch.Attempts,
                    LastEvent = batch.LastEvent,
                    LastFailureWasError = batch.LastFailureWasError,
                    LastFailureUnhandled = batch.LastFailureUnhandled,
                    Group = batch.Group,
                });
                batch.Records = batch.Records[..i];
                return;
            }
        }
    }

    /// <summary>Whether an event of <paramref name="count"/> records of <paramref name="fragments"/> bytes, with the lane's window fields, fits 6 MiB.</summary>
    private static bool FitsPayload(long fragments, int count, Lane lane) =>
        LambdaJson.EventSize(fragments, count) + WindowOverhead(lane) <= LambdaJson.MaxPayloadBytes;

    // The state counts in UTF-8 bytes, as the event carries it (found by review: counted in chars, a state of 1,047,000
    // bytes of '€' and four 1 MB records made an event of 6,382,810 bytes).
    private static int WindowOverhead(Lane lane) => lane.Window is null ? 0 : 512 + lane.Window.StateBytes;

    private long PendingSize(Lane lane)
    {
        long size = 0;
        int count = 0;
        foreach (SimRecord record in lane.Queue)
        {
            size += record.JsonLength;
            count++;
            if (size > LambdaJson.MaxPayloadBytes)
            {
                break;
            }
        }

        return LambdaJson.EventSize(size, count);
    }

    private long WindowStart(long arrivalMs)
    {
        long length = _scenario.Mapping.TumblingWindowInSeconds * 1000L;
        return arrivalMs - (((arrivalMs % length) + length) % length);
    }

    // Records past retention are gone; records past MaximumRecordAgeInSeconds go to the destination unprocessed.
    // Both are the oldest, so a prefix of the batch.
    private void DropExpired(Lane lane, Batch batch)
    {
        long now = NowMs;
        long retentionMs = _scenario.Stream.RetentionHours * 3_600_000L;
        int trimmed = 0;
        while (trimmed < batch.Records.Count && now - batch.Records[trimmed].ArrivalMs > retentionMs)
        {
            MarkDone(batch.Records[trimmed]);
            trimmed++;
        }

        if (trimmed > 0)
        {
            lane.Shard.Seconds[SecondOf(now)].Expired += trimmed;
            _expired += trimmed;
            batch.Records = batch.Records[trimmed..];
        }

        int maxAge = _scenario.Mapping.MaximumRecordAgeInSeconds;
        if (maxAge < 0)
        {
            return;
        }

        int old = 0;
        while (old < batch.Records.Count && now - batch.Records[old].ArrivalMs > maxAge * 1000L)
        {
            old++;
        }

        if (old > 0)
        {
            // "Records of the same batch that are not expired are still processed."
            SendToDestination(lane, batch, batch.Records[..old], "RecordAgeExceeded");
            batch.Records = batch.Records[old..];
        }
    }

    private void Dispatch(Lane lane, Batch batch)
    {
        ExecutionEnvironment? environment = _environments.FirstOrDefault(e => !e.Busy && !e.Dead);
        bool cold = environment is null;
        if (environment is null)
        {
            int id = _environments.Count + 1;
            ILambdaHandler handler;
            bool initFailed = false;
            try
            {
                handler = _createHandler(id);
            }
#pragma warning disable CA1031 // An exception from the function's init is a function error, as in Lambda.
            catch (Exception exception)
#pragma warning restore CA1031
            {
                // AWS: an error during the init phase fails the invocation (Runtime.InitError), and the execution
                // environment is not reused: the next invocation initializes a new one.
                handler = new InitFailedHandler(exception);
                initFailed = true;
            }

            environment = new ExecutionEnvironment { Id = id, Handler = handler, Dead = initFailed };
            _environments.Add(environment);
        }

        environment.Busy = true;
        ShardState shard = lane.Shard;
        BeforeRunningChanges(shard);
        _busy++;
        shard.Running++;
        foreach (SimRecord record in batch.Records)
        {
            record.InvokeCount++;
        }

        // A retry of the same records sends the same bytes: the event is built once per batch (the window's state
        // changes between invocations, so a window's event is built each time).
        WindowState? window = _scenario.Mapping.TumblingWindowInSeconds > 0 ? lane.Window : null;
        ReadOnlyMemory<byte> utf8Event;
        if (window is null && batch.BuiltEvent is { } built && ReferenceEquals(batch.BuiltFor, batch.Records))
        {
            utf8Event = built;
        }
        else
        {
            utf8Event = _events.Event(batch.Records, window, batch, shard.Id, _eventBuffers);
            if (window is null)
            {
                batch.BuiltEvent = utf8Event;
                batch.BuiltFor = batch.Records;
            }
        }

        var invocation = new Invocation
        {
            Number = ++_invocations,
            Run = this,
            Lane = lane,
            Batch = batch,
            Environment = environment,
            ColdStart = cold,
            DispatchTicks = NowTicks,
            Event = utf8Event,
        };
        batch.LastEvent = invocation.Event;
        lane.Running = invocation;
        long init = cold ? _scenario.Function.InitMs * TicksPerMs : 0;
        if (init > 0)
        {
            ScheduleIn(init, () => StartHandler(invocation));
        }
        else
        {
            StartHandler(invocation);
        }
    }

    /// <summary>The shortest invocation, from the handler's start to its end: 1 ms, Lambda's smallest billed duration.</summary>
    private const long MinInvocationTicks = TicksPerMs;

    private void StartHandler(Invocation invocation)
    {
        invocation.HandlerStartTicks = NowTicks;
        invocation.Deadline = Clock.GetUtcNow() + TimeSpan.FromSeconds(_scenario.Function.TimeoutSeconds);
        invocation.DeadlineTimer = ScheduleIn(TimeSpan.FromSeconds(_scenario.Function.TimeoutSeconds).Ticks, () => OnDeadline(invocation));
        // Modeled compute time runs first, on the clock the handler watches: a handler that plans by its deadline (the
        // library's pipeline does) sees the time its CPU took, as on AWS. Charged after the handler's last wait, it was
        // not seen, and a handler answering at its deadline less a margin timed out whenever its compute passed that
        // margin (found by review). Measured compute is known only afterwards, so it still runs at the end.
        long compute = _scenario.Function.MeasureCompute ? 0 : ModeledComputeTicks(invocation);
        if (compute > 0)
        {
            ScheduleIn(compute, () =>
            {
                if (!invocation.Ended)
                {
                    InvokeHandler(invocation);
                }
            });
        }
        else
        {
            InvokeHandler(invocation);
        }
    }

    /// <summary>The modeled compute time of the invocation: per invocation and per record, divided by the CPU share.</summary>
    private long ModeledComputeTicks(Invocation invocation)
    {
        FunctionOptions function = _scenario.Function;
        double ms = function.ComputeMsPerInvocation + (function.ComputeMsPerRecord * invocation.Batch.Records.Count);
        return (long)Math.Round(ms / function.CpuShare * TicksPerMs);
    }

    private void InvokeHandler(Invocation invocation)
    {
        object? previous = VirtualClock.CurrentOwner.Value;
        VirtualClock.CurrentOwner.Value = invocation;
        long started = Stopwatch.GetTimestamp();
        Volatile.Write(ref _starting, invocation);
        try
        {
            // A null task is what Lambda's .NET runtime fails with a NullReferenceException: a function error, at once
            // (taken for a handler still running, it waited out the whole timeout as if the function had hung).
            invocation.Task = invocation.Environment.Handler.InvokeAsync(invocation.Event, invocation.Deadline, CancellationToken.None)
                ?? Task.FromException<ReadOnlyMemory<byte>>(new InvalidOperationException(
                    $"{invocation.Environment.Handler.GetType().Name}.InvokeAsync returned null instead of a task."));
        }
#pragma warning disable CA1031 // Any exception from the function is a function error, as in Lambda.
        catch (Exception exception)
#pragma warning restore CA1031
        {
            invocation.Task = Task.FromException<ReadOnlyMemory<byte>>(exception);
        }
        finally
        {
            VirtualClock.CurrentOwner.Value = previous;
            Volatile.Write(ref _starting, null);
        }

        invocation.MeasuredTicks += Stopwatch.GetElapsedTime(started).Ticks;
        WatchCompletionThread(invocation);
        _waiting.Add(invocation);
        CheckOffClock();
        ObserveCompletions();
    }

    // Handlers whose task completed: their measured compute time runs, then they end (unless the deadline comes first).
    private void ObserveCompletions()
    {
        for (int i = 0; i < _waiting.Count; i++)
        {
            Invocation invocation = _waiting[i];
            if (invocation.Task is not { IsCompleted: true })
            {
                continue;
            }

            _waiting.RemoveAt(i--);
            if (invocation.Ended)
            {
                continue;
            }

            if (invocation.Task.Exception?.InnerException is FunctionTimeoutException)
            {
                // The function ran past its deadline in real time (a process through the Runtime API host, which
                // waited while virtual time stood still): it times out at its virtual deadline, which its timer keeps.
                continue;
            }

            // Modeled compute time ran before the handler (StartHandler); measured compute time runs now.
            FunctionOptions function = _scenario.Function;
            long compute = function.MeasureCompute ? (long)Math.Round(TimeSpan.FromTicks(invocation.MeasuredTicks).TotalMilliseconds / function.CpuShare * TicksPerMs) : 0;
            // Every invocation lasts at least 1 ms (Lambda bills at least 1 ms): retries start at once, so a batch that
            // failed in no time would otherwise be retried forever at one instant.
            compute = Math.Max(compute, MinInvocationTicks - (NowTicks - invocation.HandlerStartTicks));
            ScheduleIn(compute, () => OnHandlerDone(invocation));
        }
    }

    private void OnHandlerDone(Invocation invocation)
    {
        if (invocation.Ended)
        {
            return;
        }

        Task<ReadOnlyMemory<byte>> task = invocation.Task!;
        InvocationOutcome outcome;
        ResponseVerdict verdict = default;
        if (task.IsCompletedSuccessfully && task.Result.Length > LambdaJson.MaxResponseBytes)
        {
            // "6 MB each for request and response", exactly 6 MiB + 100 bytes for a response (LambdaJson.MaxResponseBytes):
            // Lambda fails the invocation (Function.ResponseSizeTooLarge), a function error, whatever the response says;
            // the Runtime API host answers a process the same way.
            outcome = InvocationOutcome.Error;
            invocation.Error = ("Function.ResponseSizeTooLarge", $"Response payload size ({task.Result.Length} bytes) exceeded maximum allowed payload size ({LambdaJson.MaxResponseBytes} bytes).");
        }
        else if (task.IsCompletedSuccessfully)
        {
            bool window = _scenario.Mapping.TumblingWindowInSeconds > 0;
            verdict = ResponseRules.Read(task.Result.Span, invocation.Batch.Records, _scenario.Mapping.ReportBatchItemFailures, window);
            outcome = verdict.Outcome;
            if (verdict.IgnoredFailures)
            {
                _ignoredFailureReports++;
            }
        }
        else
        {
            outcome = InvocationOutcome.Error;
            Exception error = task.Exception?.InnerException ?? CancellationOf(task);
            invocation.Error = error switch
            {
                // A process's function error, as it posted it; its runtime's exit or init error (found by review: both
                // were reported by the host's exception type).
                FunctionErrorException posted => (posted.ErrorType, posted.Message),
                RuntimeApiHostException { ErrorType: { } type } host => (type, host.Message),
                _ => (error.GetType().Name, error.Message),
            };
            if (error is RuntimeApiHostException)
            {
                // The function's runtime exited or failed its init (Runtime.ExitError, Runtime.InitError): Lambda resets
                // the execution environment, so the next invocation initializes a new one (a cold start).
                invocation.Environment.Dead = true;
            }
        }

        Finish(invocation, outcome, verdict);
    }

    // "An invocation past its timeout is an error, and its effects so far stay": the environment is stopped (its
    // pending timers never fire) and replaced.
    private void OnDeadline(Invocation invocation)
    {
        if (invocation.Ended)
        {
            return;
        }

        if (_scenario.RealTimeSettle <= TimeSpan.Zero && invocation.Task is { IsCompleted: false } && !Clock.HasTimerAfter(invocation, NowTicks))
        {
            // Timed out while no timer of its own lay ahead: nothing in virtual time could have completed it, so it waits on
            // something real (a timer of the clock due now, its own deadline's, hid that from CheckOffClock), and whether
            // it finishes before this deadline depends on real timing.
            CountOffClock(invocation);
        }

        invocation.Alive = false;
        invocation.Environment.Dead = true;
        invocation.Error = ("Sandbox.Timedout", FormattableString.Invariant($"Task timed out after {_scenario.Function.TimeoutSeconds:0.00} seconds"));
        Finish(invocation, InvocationOutcome.Timeout, default);
    }

    /// <summary>The handler of an execution environment whose init threw: every invocation fails with that exception.</summary>
    private sealed class InitFailedHandler(Exception exception) : ILambdaHandler
    {
        public Task<ReadOnlyMemory<byte>> InvokeAsync(ReadOnlyMemory<byte> utf8Event, DateTimeOffset deadline, CancellationToken cancellationToken) =>
            Task.FromException<ReadOnlyMemory<byte>>(exception);
    }

    /// <summary>
    /// What a cancelled handler task ends with, as awaiting it rethrows it (and Lambda's .NET runtime reports it): an
    /// async handler's own <see cref="OperationCanceledException"/>, its message saying why; a task made cancelled
    /// without one, a <see cref="TaskCanceledException"/>. (Found by review: every cancellation was reported as
    /// "TaskCanceledException: A task was canceled.", the handler's type and message lost.)
    /// </summary>
    private static Exception CancellationOf(Task task)
    {
        try
        {
            task.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException e)
        {
            return e;
        }

        return new TaskCanceledException(task);
    }
}
