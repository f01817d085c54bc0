using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Analytics.Core.Testing.Tests;

/// <summary>Rules of the function side (timeout, environments, compute time) and of time (polling, windows, age).</summary>
public class FunctionRuleTests
{
    // Source: Lambda Developer Guide, "Configure Lambda function timeout": "Lambda runs your code for a set amount of
    // time before timing out"; a timed-out invocation is a function error and the execution environment is reset.
    [Fact]
    public void Timeout_EndsTheInvocationAtItsDeadline_KeepsItsEffects_AndReplacesTheEnvironment()
    {
        var effects = new List<string>();
        int calls = 0;
        EmulatorScenario scenario = Emulate.Texts("a") with { Function = new() { TimeoutSeconds = 3 } };
        EmulationRecording run = Emulate.Run(scenario, clock => new DelegateHandler(async (e, deadline, _) =>
        {
            int call = ++calls;
            effects.Add($"start {call}");
            await Task.Delay(TimeSpan.FromSeconds(call == 1 ? 5 : 1), clock);
            effects.Add($"end {call}");
            return Array.Empty<byte>();
        }));

        Assert.Equal(InvocationOutcome.Timeout, run.Invocations[0].Outcome);
        Assert.Equal(3000, run.Invocations[0].EndMs - run.Invocations[0].StartMs);
        Assert.Equal(InvocationOutcome.Success, run.Invocations[1].Outcome);
        // The first environment was stopped: its pending "end 1" never ran; the retry ran on a new, cold one.
        Assert.Equal(["start 1", "start 2", "end 2"], effects);
        Assert.NotEqual(run.Invocations[0].Environment, run.Invocations[1].Environment);
        Assert.True(run.Invocations[1].ColdStart);
    }

    // A timeout in virtual time (the handler waits on the clock past its deadline) is no wait off the clock: the run
    // stays byte-reproducible. Only one with no timer of its own ahead waits on something real (a mutation run found
    // every timeout counted as off the clock unchecked).
    [Fact]
    public void ATimeoutOnTheClock_IsNoWaitOffTheClock()
    {
        EmulatorScenario scenario = Emulate.Texts("a") with { Mapping = new() { MaximumRetryAttempts = 0 }, Function = new() { TimeoutSeconds = 3 } };
        EmulationRecording run = Emulate.Run(scenario, clock => new DelegateHandler(async (_, _, _) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(5), clock);
            return Array.Empty<byte>();
        }), out EmulationSummary summary);

        Assert.Equal(InvocationOutcome.Timeout, Assert.Single(run.Invocations).Outcome);
        Assert.Equal((0L, true), (summary.OffClockWaits, summary.Reproducible));
    }

    // Source: Lambda Developer Guide, "Lambda execution environment lifecycle": when the runtime exits or fails its
    // init (Runtime.ExitError, Runtime.InitError), Lambda resets the execution environment and the next invocation
    // initializes a new one. The Runtime API host reports both as RuntimeApiHostException; a function error does not
    // reset the environment.
    [Fact]
    public void RuntimeExited_ResetsTheEnvironment_TheRetryIsAColdStart_AFunctionErrorDoesNot()
    {
        EmulatorScenario scenario = Emulate.Texts("a") with { Mapping = new() { MaximumRetryAttempts = 3 }, Function = new() { InitMs = 400 } };
        int calls = 0;
        EmulationRecording run = Emulate.Run(scenario, _ => new DelegateHandler((_, _, _) => ++calls switch
        {
            1 => Task.FromException<ReadOnlyMemory<byte>>(new InvalidOperationException("a function error")),
            2 => Task.FromException<ReadOnlyMemory<byte>>(new RuntimeApiHostException("bootstrap exited with code 3.")),
            _ => Task.FromResult<ReadOnlyMemory<byte>>(Array.Empty<byte>()),
        }));

        Assert.Equal([InvocationOutcome.Error, InvocationOutcome.Error, InvocationOutcome.Success], run.Invocations.Select(i => i.Outcome));
        Assert.Equal([1, 1, 2], run.Invocations.Select(i => i.Environment));
        Assert.Equal([true, false, true], run.Invocations.Select(i => i.ColdStart));
        // Each cold start pays the 400 ms init before its (1 ms) run; the warm retry does not.
        Assert.Equal([401L, 1L, 401L], run.Invocations.Select(i => i.EndMs - i.StartMs));
    }

    // Choice (grade 3, docs/emulator.md): every invocation lasts at least 1 ms of virtual time. Lambda bills at least
    // 1 ms ("duration ... rounded up to the nearest 1 ms", AWS Lambda pricing), and retries start at once, so a batch
    // that failed in no time with MaximumRetryAttempts -1 was retried forever at one instant: the run never ended.
    [Fact]
    public async Task AnInvocationThatFailsInNoTime_LastsOneMillisecond_SoEndlessRetriesMoveTime_AndTheRunEnds()
    {
        EmulatorScenario scenario = Emulate.Texts("a") with { DurationSeconds = 2 }; // no compute time, endless retries
        EmulationSummary summary = null!;
        Task<EmulationRecording> running = Task.Factory.StartNew(
            () => Emulate.Run(scenario, _ => new DelegateHandler((_, _, _) => Task.FromException<ReadOnlyMemory<byte>>(new InvalidOperationException("fails at once"))), out summary),
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
        Assert.Same(running, await Task.WhenAny(running, Task.Delay(TimeSpan.FromSeconds(60)))); // else: the run did not end
        IReadOnlyList<InvocationReport> invocations = (await running).Invocations;

        Assert.All(invocations, i => Assert.Equal((InvocationOutcome.Error, 1L), (i.Outcome, i.EndMs - i.StartMs)));
        Assert.All(invocations.Skip(1).Zip(invocations), p => Assert.Equal(p.Second.EndMs, p.First.StartMs)); // back to back
        Assert.InRange(invocations.Count, 1_990, 2_000);
        Assert.Equal(1, summary.RecordsPending);
    }

    // Source: Lambda Developer Guide, "Lambda execution environment lifecycle": the Init phase runs once per new
    // environment; "Lambda ... reuses the execution environment" for later invocations.
    [Fact]
    public void ColdStart_PaysInitOnce_AndEnvironmentsAreReused()
    {
        EmulatorScenario scenario = new()
        {
            StartTime = Emulate.Start,
            DurationSeconds = 10,
            Records = [ExplicitRecord.Text("k", "a", 0), ExplicitRecord.Text("k", "b", 2000)],
            Function = new() { InitMs = 400 },
        };
        var starts = new List<DateTimeOffset>();
        EmulationRecording run = Emulate.Run(scenario, clock => new DelegateHandler((e, _, _) =>
        {
            starts.Add(clock.GetUtcNow());
            return Task.FromResult<ReadOnlyMemory<byte>>(Array.Empty<byte>());
        }));

        Assert.Equal([true, false], run.Invocations.Select(i => i.ColdStart));
        Assert.Equal([1, 1], run.Invocations.Select(i => i.Environment));
        // The first handler runs after the 400 ms init and lasts 1 ms (the shortest invocation); the shard is polled every
        // second from then (1,401, 2,401 ms), so the record of 2,000 ms starts at 2,401 ms, without init.
        Assert.Equal([Emulate.Start.AddMilliseconds(400), Emulate.Start.AddMilliseconds(2401)], starts);
    }

    // Source: Lambda Developer Guide, "Lambda execution environment lifecycle" (Init errors): an error in the Init
    // phase fails the invocation (Runtime.InitError, a function error, retried by the mapping) and the environment is
    // not reused; the next invocation initializes a new one. The in-process form of init is the handler factory.
    [Fact]
    public void InitError_FailsTheInvocation_AndTheNextOneInitializesANewEnvironment()
    {
        EmulatorScenario scenario = Emulate.Texts("a") with { Mapping = new() { MaximumRetryAttempts = 2 }, Function = new() { InitMs = 400 } };
        var created = new List<int>();
        var emulator = new StreamEmulator(scenario, id =>
        {
            created.Add(id);
            return id == 1 ? throw new InvalidOperationException("missing setting") : Emulate.Succeed();
        });
        var run = new EmulationRecording();
        EmulationSummary summary = emulator.Run(run);

        Assert.Equal([1, 2], created);
        Assert.Equal([InvocationOutcome.Error, InvocationOutcome.Success], run.Invocations.Select(i => i.Outcome));
        Assert.Equal([1, 2], run.Invocations.Select(i => i.Environment));
        Assert.Equal([true, true], run.Invocations.Select(i => i.ColdStart));
        Assert.Equal((1, 0), (summary.Errors, summary.RecordsPending));
    }

    // An init that always fails is a crash loop the mapping ends as it ends any other: the retries, then the
    // on-failure destination. The run returns; the factory's exception never escapes it.
    [Fact]
    public void InitThatAlwaysFails_IsRetriedAndGivenUp_WithoutEscapingTheRun()
    {
        EmulatorScenario scenario = Emulate.Texts("a") with { Mapping = new() { MaximumRetryAttempts = 1, OnFailure = OnFailureDestination.Sqs } };
        var emulator = new StreamEmulator(scenario, _ => throw new InvalidOperationException("missing setting"));
        var run = new EmulationRecording();
        EmulationSummary summary = emulator.Run(run);

        Assert.Equal([InvocationOutcome.Error, InvocationOutcome.Error], run.Invocations.Select(i => i.Outcome));
        Assert.Equal([1, 2], run.Invocations.Select(i => i.Environment));
        Assert.Equal("RetryAttemptsExhausted", Assert.Single(run.Destination).Condition);
        Assert.Equal(1, summary.RecordsToDestination);
    }

    // Source: the deadline passed to the handler is the invocation's start plus the timeout (Runtime API header
    // Lambda-Runtime-Deadline-Ms).
    [Fact]
    public void Deadline_IsStartPlusTimeout()
    {
        DateTimeOffset seen = default;
        DateTimeOffset now = default;
        EmulatorScenario scenario = Emulate.Texts("a") with { Function = new() { TimeoutSeconds = 7 } };
        Emulate.Run(scenario, clock => new DelegateHandler((e, deadline, _) =>
        {
            (seen, now) = (deadline, clock.GetUtcNow());
            return Task.FromResult<ReadOnlyMemory<byte>>(Array.Empty<byte>());
        }));
        Assert.Equal(now.AddSeconds(7), seen);
    }

    // Source: Lambda Developer Guide, "Configuring Lambda function memory": "At 1,769 MB, a function has the equivalent
    // of one vCPU"; CPU is allocated in proportion to memory. Modeled compute time of one vCPU is scaled by the share.
    [Theory]
    [InlineData(1769, 100)]
    [InlineData(3538, 100)]
    [InlineData(128, 1382)]
    public void ModeledCompute_ScalesWithTheCpuShare(int memory, long expectedMs)
    {
        EmulatorScenario scenario = Emulate.Texts("a", "b") with
        {
            Function = new() { MemoryMb = memory, ComputeMsPerInvocation = 20, ComputeMsPerRecord = 40, TimeoutSeconds = 10 },
        };
        InvocationReport only = Assert.Single(Emulate.Run(scenario, _ => Emulate.Succeed()).Invocations);
        Assert.Equal(expectedMs, only.EndMs - only.StartMs);
    }

    // Source: the same allocation: CPU time shows on the clock the function watches, as on AWS. Modeled compute runs
    // before the handler is called (docs/emulator.md, "Compute time"): the handler gets Lambda's deadline, set at its
    // start, and sees the time its CPU took. A handler that answers at its deadline less 1 s (as the library's pipeline
    // plans) with 2 s of CPU ends at 9 s; charged after its wait, as before, the same invocation ran 9 s + 2 s past
    // its 10 s timeout (found by review). CPU that reaches the timeout times out without the handler being called.
    [Theory]
    [InlineData(2000, "Success", 9000L, true)]
    [InlineData(10_000, "Timeout", 10_000L, false)]
    public void ModeledCompute_RunsBeforeTheHandler_WhichSeesIt(double computeMs, string outcome, long durationMs, bool called)
    {
        var calls = new List<(DateTimeOffset Now, DateTimeOffset Deadline)>();
        EmulatorScenario scenario = Emulate.Texts("a") with { Function = new() { MemoryMb = 1769, TimeoutSeconds = 10, ComputeMsPerInvocation = computeMs } };
        EmulationRecording run = Emulate.Run(scenario, clock => new DelegateHandler(async (_, deadline, _) =>
        {
            calls.Add((clock.GetUtcNow(), deadline));
            await Task.Delay(deadline - TimeSpan.FromSeconds(1) - clock.GetUtcNow(), clock);
            return Array.Empty<byte>();
        }));

        InvocationReport first = run.Invocations[0];
        Assert.Equal((outcome, durationMs), (first.Outcome.ToString(), first.EndMs - first.StartMs));
        DateTimeOffset start = Emulate.Start.AddMilliseconds(first.StartMs);
        if (called)
        {
            (DateTimeOffset now, DateTimeOffset deadline) = calls[0];
            Assert.Equal((start.AddMilliseconds(computeMs), start.AddSeconds(10)), (now, deadline));
        }
        else
        {
            Assert.Empty(calls); // nor in any retry: each one's CPU reaches its timeout too
        }
    }

    // Source: "Lambda polls each shard in your Kinesis stream for records at a base rate of once per second."
    [Fact]
    public void IdleShard_IsPolledOncePerSecond()
    {
        EmulatorScenario scenario = new() { StartTime = Emulate.Start, DurationSeconds = 5, Records = [ExplicitRecord.Text("k", "a", 1300)] };
        InvocationReport only = Assert.Single(Emulate.Run(scenario, _ => Emulate.Succeed()).Invocations);
        Assert.Equal(2000, only.StartMs);
    }

    // Source: "Lambda reads records until it has gathered a full batch, the batching window expires, or the batch
    // reaches the payload limit of 6 MB", and for Kinesis "the next batching window begins as soon as the previous
    // function invocation completes" (the second invocation: 3 s after the first ended, not 3 s after its record came).
    // The first window, with no invocation before it, begins at the first record's arrival (grade 3, the longer wait).
    [Fact]
    public void BatchingWindow_GathersUntilFullOrExpired()
    {
        EmulatorScenario scenario = new()
        {
            StartTime = Emulate.Start,
            DurationSeconds = 20,
            Records = Enumerable.Range(0, 5).Select(i => ExplicitRecord.Text("k", "r" + i, i * 1000L)).ToArray(),
            Mapping = new() { MaximumBatchingWindowInSeconds = 3, BatchSize = 10 },
        };
        EmulationRecording run = Emulate.Run(scenario, _ => Emulate.Succeed());
        Assert.Equal([3000L, run.Invocations[0].EndMs + 3000], run.Invocations.Select(i => i.StartMs));
        Assert.Equal([4, 1], run.Invocations.Select(i => i.Records.Count));

        EmulationRecording full = Emulate.Run(scenario with { Mapping = scenario.Mapping with { BatchSize = 2 } }, _ => Emulate.Succeed());
        Assert.Equal(1000L, full.Invocations[0].StartMs);
    }

    // Source: for Kinesis "the next batching window begins as soon as the previous function invocation completes":
    // records that arrived while an invocation ran (fewer than a batch) wait a whole window after it ends, however long
    // they have waited already, and the records arriving in that window join them. Before, the window ran from the
    // oldest waiting record's arrival, so such records went at once, in a smaller batch and sooner than on AWS.
    [Fact]
    public void BatchingWindow_BeginsWhenThePreviousInvocationCompletes()
    {
        EmulatorScenario scenario = new()
        {
            StartTime = Emulate.Start,
            DurationSeconds = 30,
            Records = [ExplicitRecord.Text("k", "r0", 0), ExplicitRecord.Text("k", "r1", 2500), ExplicitRecord.Text("k", "r2", 3000), ExplicitRecord.Text("k", "r3", 8000)],
            Mapping = new() { MaximumBatchingWindowInSeconds = 2, BatchSize = 10 },
            Function = new() { MemoryMb = 1769, ComputeMsPerInvocation = 5000, TimeoutSeconds = 60 },
        };
        EmulationRecording run = Emulate.Run(scenario, _ => Emulate.Succeed());
        InvocationReport first = run.Invocations[0];
        Assert.Equal((2000L, 7000L), (first.StartMs, first.EndMs));
        Assert.Equal(9000L, run.Invocations[1].StartMs);
        Assert.Equal([["r0"], ["r1", "r2", "r3"]], run.Invocations.Select(i => Emulate.DeliveredTexts(run, i)).ToArray());
    }

    // Grade 3: after a window that expired with nothing to gather (the stream went idle), a record waits a whole window
    // from its arrival. AWS does not describe this case; of the readings (invoke at once, windows repeating from the last
    // completion, a window from the record's arrival) this is the longest wait, the one a consumer should plan for.
    [Fact]
    public void BatchingWindow_AfterAnIdleGap_BeginsAtTheNextRecordsArrival()
    {
        EmulatorScenario scenario = new()
        {
            StartTime = Emulate.Start,
            DurationSeconds = 30,
            Records = [ExplicitRecord.Text("k", "r0", 0), ExplicitRecord.Text("k", "r1", 10_500)],
            Mapping = new() { MaximumBatchingWindowInSeconds = 3, BatchSize = 10 },
        };
        EmulationRecording run = Emulate.Run(scenario, _ => Emulate.Succeed());
        Assert.True(run.Invocations[0].EndMs + 3000 < 10_500);
        Assert.Equal([3000L, 13_500L], run.Invocations.Select(i => i.StartMs));

        // A record that arrives at the last instant of the window begun by the previous invocation's end is still in it
        // (grade 3, the bound's side): it goes then, not a whole window later.
        long end = run.Invocations[0].EndMs;
        EmulationRecording atTheEnd = Emulate.Run(scenario with { Records = [scenario.Records[0], ExplicitRecord.Text("k", "r1", end + 3000)] }, _ => Emulate.Succeed());
        Assert.Equal([3000L, end + 3000], atTheEnd.Invocations.Select(i => i.StartMs));
    }

    // Source: "the payload limit of 6 MB": a batch is cut before its event would pass 6 MB.
    [Fact]
    public void Batch_StaysUnderThe6MbPayloadLimit()
    {
        byte[] data = new byte[700 * 1024];
        EmulatorScenario scenario = new()
        {
            StartTime = Emulate.Start,
            DurationSeconds = 30,
            Stream = new() { WriteBytesPerSecond = int.MaxValue },
            Records = Enumerable.Range(0, 12).Select(i => new ExplicitRecord("k", data, 0)).ToArray(),
        };
        var sizes = new List<int>();
        EmulationRecording run = Emulate.Run(scenario, _ => new DelegateHandler((e, _, _) =>
        {
            sizes.Add(e.Length);
            return Task.FromResult<ReadOnlyMemory<byte>>(Array.Empty<byte>());
        }));
        Assert.All(sizes, s => Assert.True(s <= 6 * 1024 * 1024));
        Assert.Equal(12, run.Invocations.Sum(i => i.Records.Count));
        Assert.True(run.Invocations.Count >= 2);
    }

    // Same source, in a tumbling window: the rest of a partial response is retried with the state that response set, and
    // is cut again when that state would carry its event past 6 MiB (found by review: a 1 MB state and four 1 MB records
    // made a 6.3 MB event). Every record is still delivered, in order, and the retry's tail waits its turn.
    // The state counts as the bytes it is sent in: about 1 MB of '€' is a third as many chars (found by review: the
    // estimate counted chars, and such a state with four 1 MB records made an event of 6.38 MB).
    [Theory]
    [InlineData('x')]
    [InlineData('€')]
    public void WindowRetry_WithTheStateAPartialResponseSet_StaysUnderThe6MbPayloadLimit(char stateChar)
    {
        byte[] big = new byte[1_000_000];
        Array.Fill(big, (byte)'a');
        EmulatorScenario scenario = new()
        {
            StartTime = Emulate.Start,
            DurationSeconds = 120,
            Records = [ExplicitRecord.Text("k", "small", 0), .. Enumerable.Range(1, 4).Select(i => new ExplicitRecord("k", big, i * 1000))],
            Mapping = new() { TumblingWindowInSeconds = 900, ReportBatchItemFailures = true, MaximumBatchingWindowInSeconds = 20 },
            Function = new() { TimeoutSeconds = 60 },
        };
        string bigState = "{\"s\":\"" + new string(stateChar, 1_000_000 / Encoding.UTF8.GetByteCount(stateChar.ToString())) + "\"}";
        var sizes = new List<int>();
        var delivered = new List<string>();
        EmulationRecording run = Emulate.Run(scenario, _ => new DelegateHandler((e, _, _) =>
        {
            sizes.Add(e.Length);
            using JsonDocument document = JsonDocument.Parse(e);
            JsonElement[] records = [.. document.RootElement.GetProperty("Records").EnumerateArray()];
            string[] sequences = [.. records.Select(r => r.GetProperty("kinesis").GetProperty("sequenceNumber").GetString()!)];
            if (sizes.Count == 1)
            {
                // The first record is processed; the second fails, and the state grows to about 1 MB.
                delivered.Add(sequences[0]);
                return Task.FromResult<ReadOnlyMemory<byte>>(Encoding.UTF8.GetBytes($"{{\"state\":{bigState},\"batchItemFailures\":[{{\"itemIdentifier\":\"{sequences[1]}\"}}]}}"));
            }

            delivered.AddRange(sequences);
            return Task.FromResult<ReadOnlyMemory<byte>>(Encoding.UTF8.GetBytes("{\"state\":{}}"));
        }));

        Assert.Equal(5, run.Invocations[0].Records.Count);
        Assert.All(sizes, s => Assert.True(s <= 6 * 1024 * 1024, $"an event of {s:N0} bytes; all: {string.Join(", ", sizes)}"));
        Assert.True(run.Invocations[1].Records.Count < 4, "the retry's rest was not cut");
        Assert.Equal(run.Records.Select(r => r.SequenceNumber), delivered);
    }

    // Source: IteratorAge, "the age of the last record in the event", emitted "when your function finishes processing
    // a batch of records".
    [Fact]
    public void IteratorAge_IsTheAgeOfTheEventsLastRecordAtTheEnd()
    {
        EmulatorScenario scenario = new()
        {
            StartTime = Emulate.Start,
            DurationSeconds = 10,
            Records = [ExplicitRecord.Text("k", "a", 0), ExplicitRecord.Text("k", "b", 600)],
            Function = new() { ComputeMsPerInvocation = 250, MemoryMb = 1769 },
        };
        EmulationRecording run = Emulate.Run(scenario, _ => Emulate.Succeed());
        InvocationReport second = run.Invocations[1];
        Assert.Equal(second.EndMs - 600, second.IteratorAgeMs);
        ShardSecond metrics = run.Seconds.Single(s => s.Second == second.EndMs / 1000);
        Assert.Equal(second.IteratorAgeMs, metrics.IteratorAgeMs);
    }

    // Source: StartingPosition: "LATEST - Read only new records", "TRIM_HORIZON - Process all available records",
    // "AT_TIMESTAMP - Specify a time from which to start reading records".
    [Fact]
    public void StartingPosition_ChoosesWhichRecordsAreRead()
    {
        ExplicitRecord[] records = [ExplicitRecord.Text("k", "before", -5000), ExplicitRecord.Text("k", "middle", -1000), ExplicitRecord.Text("k", "after", 500)];
        EmulatorScenario scenario = new() { StartTime = Emulate.Start, DurationSeconds = 5, Records = records };
        string[] Read(MappingOptions mapping)
        {
            EmulationRecording run = Emulate.Run(scenario with { Mapping = mapping }, _ => Emulate.Succeed());
            return run.Invocations.SelectMany(i => Emulate.DeliveredTexts(run, i)).ToArray();
        }

        Assert.Equal(["before", "middle", "after"], Read(new()));
        Assert.Equal(["after"], Read(new() { StartingPosition = StartingPosition.Latest }));
        Assert.Equal(["middle", "after"], Read(new() { StartingPosition = StartingPosition.AtTimestamp, StartingPositionTimestamp = Emulate.Start.AddSeconds(-2) }));
    }

    // Same source. Records put before the starting position are skipped when they are put (found by review): they were
    // decided only when a poll passed them, so until then the oldest unprocessed age counted them, and a run ending
    // before that counted them as not processed rather than skipped.
    [Theory]
    [InlineData(5)]
    [InlineData(0)]
    public void RecordsBeforeAnAtTimestamp_AreSkippedFromTheirPut_NeitherPendingNorAged(int secondsBeforeStart)
    {
        EmulatorScenario scenario = new()
        {
            StartTime = Emulate.Start,
            DurationSeconds = 10,
            Records = [.. Enumerable.Range(1, 10).Select(i => ExplicitRecord.Text("k" + (i % 3), "r" + i, -i * 1000))],
            Producers = [new() { RatePerSecond = 10, PartitionKeys = 3 }],
            Mapping = new() { StartingPosition = StartingPosition.AtTimestamp, StartingPositionTimestamp = Emulate.Start.AddSeconds(-secondsBeforeStart) },
        };
        var run = new EmulationRecording();
        StreamEmulator emulator = null!;
        emulator = new StreamEmulator(scenario, _ => new ScriptedHandler(emulator.Clock, []));
        EmulationSummary summary = emulator.Run(run);

        long cut = Emulate.Start.AddSeconds(-secondsBeforeStart).ToUnixTimeMilliseconds();
        int before = run.Records.Count(r => r.Arrival.ToUnixTimeMilliseconds() < cut);
        Assert.True(before > 0);
        Assert.Equal(before, summary.RecordsSkipped);
        Assert.Equal(summary.RecordsIn - before, summary.RecordsOut + summary.RecordsPending);

        // A skipped record is older than any read one: an oldest unprocessed age past the cut's would be a skipped one.
        Assert.All(run.Seconds, s => Assert.True(s.OldestUnprocessedAgeMs <= ((s.Second + 1) * 1000L) + (secondsBeforeStart * 1000L), $"second {s.Second}: {s.OldestUnprocessedAgeMs} ms"));
    }

    // Source: AWS Lambda API reference, CreateEventSourceMapping: "StartingPositionTimestamp cannot be in the future."
    // The mapping is created at the run's start (found by review: a timestamp an hour later was taken, and every record
    // put before it was skipped without a word).
    [Fact]
    public void AnAtTimestampAfterTheRunsStart_IsRefused_AsAwsRefusesATimestampInTheFuture()
    {
        EmulatorScenario scenario = Emulate.Texts("a") with { Mapping = new() { StartingPosition = StartingPosition.AtTimestamp, StartingPositionTimestamp = Emulate.Start.AddHours(1) } };
        ArgumentException e = Assert.ThrowsAny<ArgumentException>(() => new StreamEmulator(scenario, _ => Emulate.Succeed()));
        Assert.Equal("StartingPositionTimestamp", e.ParamName);
        Assert.Contains("cannot be in the future", e.Message, StringComparison.Ordinal);

        // The start itself is not in the future.
        _ = new StreamEmulator(scenario with { Mapping = scenario.Mapping with { StartingPositionTimestamp = Emulate.Start } }, _ => Emulate.Succeed());
    }

    // Source: "One shard with ParallelizationFactor 1 is processed serially: the next batch starts only after the
    // previous invocation finished" (esm-semantics note; Lambda Developer Guide, "Polling and batching streams").
    [Fact]
    public void ParallelizationFactor1_ProcessesAShardSerially()
    {
        EmulatorScenario scenario = new()
        {
            StartTime = Emulate.Start,
            DurationSeconds = 30,
            Producers = [new() { RatePerSecond = 50, PartitionKeys = 20 }],
            Mapping = new() { BatchSize = 10 },
            Function = new() { ComputeMsPerInvocation = 150, MemoryMb = 1769 },
        };
        EmulationRecording run = Emulate.Run(scenario, _ => Emulate.Succeed());
        InvocationReport[] ordered = run.Invocations.OrderBy(i => i.StartMs).ToArray();
        Assert.All(ordered.Zip(ordered.Skip(1)), p => Assert.True(p.Second.StartMs >= p.First.EndMs));
        Assert.All(run.Seconds, s => Assert.True(s.Concurrency <= 1));
    }

    // Source: "Lambda can process up to 10 batches in each shard simultaneously."
    [Fact]
    public void ParallelizationFactor_RunsConcurrentBatchesPerShard()
    {
        EmulatorScenario scenario = new()
        {
            StartTime = Emulate.Start,
            DurationSeconds = 10,
            Producers = [new() { RatePerSecond = 400, PartitionKeys = 200 }],
            Mapping = new() { BatchSize = 10, ParallelizationFactor = 4 },
            Function = new() { ComputeMsPerInvocation = 500, MemoryMb = 1769 },
        };
        EmulationRecording run = Emulate.Run(scenario, _ => Emulate.Succeed(), out EmulationSummary summary);
        Assert.Equal(4, summary.MaxConcurrency);
        Assert.Equal(4, run.Seconds.Max(s => s.Concurrency));
    }

    // Source: Lambda Developer Guide, "Lambda function scaling": with reserved concurrency reached, invocations are
    // throttled; "invocation errors before the function runs (throttles) are retried until the records expire, without
    // using the retry quota".
    [Fact]
    public void ReservedConcurrency_ThrottlesWithoutUsingTheRetryQuota()
    {
        EmulatorScenario scenario = new()
        {
            StartTime = Emulate.Start,
            DurationSeconds = 20,
            Stream = new() { ShardCount = 4 },
            Producers = [new() { RatePerSecond = 100, PartitionKeys = 100 }],
            Mapping = new() { MaximumRetryAttempts = 0 },
            Function = new() { ReservedConcurrency = 1, ComputeMsPerInvocation = 200, MemoryMb = 1769 },
        };
        EmulationRecording run = Emulate.Run(scenario, _ => Emulate.Succeed(), out EmulationSummary summary);
        Assert.True(summary.Throttles > 0);
        Assert.Equal(1, summary.MaxConcurrency);
        Assert.Equal(0, summary.RecordsToDestination);
        Assert.Equal(summary.Throttles, run.Seconds.Sum(s => s.Throttles));
    }

    // Source: Lambda Developer Guide, "Tumbling windows": the event carries window, state, shardId, eventSourceARN,
    // isFinalInvokeForWindow, isWindowTerminatedEarly; state returned is passed to the next invocation of the window;
    // the final invocation is flagged; windows follow arrival time.
    [Fact]
    public void TumblingWindow_PassesStateAndEndsWithAFinalInvocation()
    {
        EmulatorScenario scenario = new()
        {
            StartTime = Emulate.Start,
            DurationSeconds = 100,
            Records = [ExplicitRecord.Text("k", "1", 0), ExplicitRecord.Text("k", "2", 5000), ExplicitRecord.Text("k", "3", 31_000)],
            Mapping = new() { TumblingWindowInSeconds = 30 },
        };
        var events = new List<JsonElement>();
        EmulationRecording run = Emulate.Run(scenario, _ => new DelegateHandler((e, _, _) =>
        {
            using JsonDocument document = JsonDocument.Parse(e);
            JsonElement root = document.RootElement.Clone();
            events.Add(root);
            int sum = root.GetProperty("state").TryGetProperty("sum", out JsonElement s) ? s.GetInt32() : 0;
            sum += Emulate.Texts(root).Sum(int.Parse);
            return Task.FromResult<ReadOnlyMemory<byte>>(Encoding.UTF8.GetBytes($"{{\"state\":{{\"sum\":{sum}}}}}"));
        }));

        Assert.Equal(
            ["1|{}|False", "2|{\"sum\":1}|False", "|{\"sum\":3}|True", "3|{}|False", "|{\"sum\":3}|True"],
            events.Select(e => string.Join(",", Emulate.Texts(e)) + "|" + e.GetProperty("state").GetRawText() + "|" + e.GetProperty("isFinalInvokeForWindow").GetBoolean()));
        Assert.Equal("2025-01-01T00:00:00Z", events[0].GetProperty("window").GetProperty("start").GetString());
        Assert.Equal("2025-01-01T00:00:30Z", events[0].GetProperty("window").GetProperty("end").GetString());
        Assert.Equal("shardId-000000000000", events[0].GetProperty("shardId").GetString());
        Assert.Equal(
            ["Records", "window", "state", "shardId", "eventSourceARN", "isFinalInvokeForWindow", "isWindowTerminatedEarly"],
            events[0].EnumerateObject().Select(p => p.Name));
        Assert.All(run.Invocations, i => Assert.Equal(InvocationOutcome.Success, i.Outcome));
    }

    // Source: "Implementing stateful Kinesis Data Streams processing in Lambda" (tumbling windows): "Each record in a
    // stream belongs to a specific window", "Lambda aggregates all records received in the window. You can receive these
    // records in multiple batches", "At the end of your window, the flag isFinalInvokeForWindow is set to true to
    // indicate that this is the final state". Found by review: a backlog past the shard's read limit (10 MiB in 5 s)
    // left records of an ended window unread, the window's final invocation came first, and its later records got a
    // second window of the same start with a final of its own: two or three finals per window, each with part of it.
    [Fact]
    public void TumblingWindow_BacklogPastTheReadLimit_EachWindowEndsOnce_AfterAllItsRecords()
    {
        // 600 KB records, 3 a second for 30 s (1.8 MB/s, under the raised write limit); the first invocation waits
        // 12 s, so about 36 records (21 MB) wait to be read, twice what a shard serves in 5 s.
        string pad = new('x', 600_000);
        ExplicitRecord[] records = [.. Enumerable.Range(0, 90).Select(i => ExplicitRecord.Text("k", i.ToString(CultureInfo.InvariantCulture) + pad, i * 334))];
        EmulatorScenario scenario = new()
        {
            StartTime = Emulate.Start,
            DurationSeconds = 120,
            Stream = new() { WriteBytesPerSecond = 2_000_000 },
            Records = records,
            Mapping = new() { TumblingWindowInSeconds = 10, BatchSize = 100 },
            Function = new() { TimeoutSeconds = 60 },
        };
        var events = new List<(string Window, bool Final, int[] Records)>();
        Emulate.Run(scenario, clock => new DelegateHandler(async (e, _, _) =>
        {
            (string window, bool final, int[] ids) = Read(e);
            if (events.Count == 0)
            {
                await Task.Delay(TimeSpan.FromSeconds(12), clock);
            }

            events.Add((window, final, ids));
            return Encoding.UTF8.GetBytes("{\"state\":{}}");
        }), out EmulationSummary summary);

        // The truth, from the records' own arrival times: window i holds the records that arrived in [10i, 10i + 10) s.
        Assert.Equal(records.Length, summary.RecordsOut);
        var windows = events.GroupBy(e => e.Window).ToArray();
        Assert.Equal(records.Select(r => r.AtMs / 10_000).Distinct().Count(), windows.Length);
        foreach (var window in windows)
        {
            var list = window.ToList();
            Assert.Equal(1, list.Count(e => e.Final));
            Assert.True(list[^1].Final, $"window {window.Key}: an invocation after its final");
            int start = int.Parse(window.Key.AsSpan(17, 2), CultureInfo.InvariantCulture);
            Assert.Equal(
                Enumerable.Range(0, records.Length).Where(i => records[i].AtMs / 1000 / 10 * 10 == start),
                list.SelectMany(e => e.Records).Order());
        }

        static (string Window, bool Final, int[] Records) Read(ReadOnlyMemory<byte> e)
        {
            using JsonDocument document = JsonDocument.Parse(e);
            JsonElement root = document.RootElement;
            int[] ids = [.. Emulate.Texts(root).Select(t => int.Parse(t.AsSpan(0, t.Length - 600_000), CultureInfo.InvariantCulture))];
            return (root.GetProperty("window").GetProperty("start").GetString()!, root.GetProperty("isFinalInvokeForWindow").GetBoolean(), ids);
        }
    }

    // Grade 3 (docs/emulator.md): AWS says only that tumbling windows "fully support the existing retry policies
    // maxRetryAttempts and maxRecordAge"; no AWS recording has a tumbling window. A window whose only record expired
    // (MaximumRecordAgeInSeconds) before any invocation still ends with a final invocation: no records, state {}.
    [Fact]
    public void AWindowWhoseRecordsAllExpired_StillEndsWithAFinalInvocation_WithAnEmptyState()
    {
        EmulatorScenario scenario = new()
        {
            StartTime = Emulate.Start,
            DurationSeconds = 300,
            Records = [ExplicitRecord.Text("k", "slow", 0), ExplicitRecord.Text("k", "expires", 31_000)],
            Mapping = new() { BatchSize = 1, TumblingWindowInSeconds = 30, MaximumRecordAgeInSeconds = 60, OnFailure = OnFailureDestination.Sqs },
            Function = new() { TimeoutSeconds = 900 },
        };
        var seen = new List<(int Records, string Start, bool Final, bool Early, string State)>();
        // "slow" holds the shard for 100 s: "expires" (second window, arrived at 31 s) is 69 s old when it is read.
        EmulationRecording run = Emulate.Run(scenario, clock => new DelegateHandler(async (e, _, _) =>
        {
            using (JsonDocument document = JsonDocument.Parse(e))
            {
                seen.Add(WindowView(document.RootElement));
            }

            if (seen.Count == 1)
            {
                await Task.Delay(TimeSpan.FromSeconds(100), clock);
            }

            return Encoding.UTF8.GetBytes("{\"state\":{\"n\":1}}");
        }));

        Assert.Equal(
            [(1, "2025-01-01T00:00:00Z", false, false, "{}"), (0, "2025-01-01T00:00:00Z", true, false, "{\"n\":1}"), (0, "2025-01-01T00:00:30Z", true, false, "{}")],
            seen);
        DestinationRecord expired = Assert.Single(run.Destination);
        Assert.Equal("RecordAgeExceeded", expired.Condition);
        Assert.Equal([run.Records[1].SequenceNumber], expired.SequenceNumbers);
    }

    // Source: Tumbling windows: "a missing state in the response counts as a failed invocation".
    [Fact]
    public void TumblingWindow_ResponseWithoutState_IsAFailure()
    {
        EmulatorScenario scenario = Emulate.Texts("a") with { Mapping = new() { TumblingWindowInSeconds = 30, MaximumRetryAttempts = 0 } };
        EmulationRecording run = Emulate.Scripted(scenario, new ScriptRule(ScriptAction.Respond, Body: "{\"batchItemFailures\":[]}"));
        Assert.Equal(InvocationOutcome.Error, run.Invocations[0].Outcome);
    }

    // Source: "If the state exceeds 1 MB, the window terminates early" (isWindowTerminatedEarly).
    [Fact]
    public void TumblingWindow_StateOver1Mb_TerminatesTheWindowEarly()
    {
        string big = new('x', (1024 * 1024) + 10);
        EmulatorScenario scenario = Emulate.Texts("a") with { Mapping = new() { TumblingWindowInSeconds = 60 } };
        var flags = new List<(bool Final, bool Early)>();
        Emulate.Run(scenario, _ => new DelegateHandler((e, _, _) =>
        {
            using JsonDocument document = JsonDocument.Parse(e);
            flags.Add((document.RootElement.GetProperty("isFinalInvokeForWindow").GetBoolean(), document.RootElement.GetProperty("isWindowTerminatedEarly").GetBoolean()));
            return Task.FromResult<ReadOnlyMemory<byte>>(Encoding.UTF8.GetBytes($"{{\"state\":{{\"blob\":\"{big}\"}}}}"));
        }));
        Assert.Equal([(false, false), (true, true)], flags);
    }

    /// <summary>A window event as (records, window start, final, ended early, state), a state over 100 characters as "big".</summary>
    private static (int Records, string Start, bool Final, bool Early, string State) WindowView(JsonElement root)
    {
        string state = root.GetProperty("state").GetRawText();
        return (root.GetProperty("Records").GetArrayLength(), root.GetProperty("window").GetProperty("start").GetString()!,
            root.GetProperty("isFinalInvokeForWindow").GetBoolean(), root.GetProperty("isWindowTerminatedEarly").GetBoolean(), state.Length > 100 ? "big" : state);
    }

    // Grade 3 (AWS does not say what follows an early end): a window ended early is over for the records given to it;
    // later records of its time range open a window with the same bounds and an empty state, which ends with a final
    // invocation of its own (documented by review as a choice).
    [Fact]
    public void AWindowEndedEarly_ReopensForItsLaterRecords_WithAFinalInvocationOfItsOwn()
    {
        EmulatorScenario scenario = new()
        {
            StartTime = Emulate.Start,
            DurationSeconds = 120,
            Records = [ExplicitRecord.Text("k", "1", 1000), ExplicitRecord.Text("k", "2", 5000), ExplicitRecord.Text("k", "3", 9000)],
            Mapping = new() { TumblingWindowInSeconds = 60 },
        };
        string big = new('x', 1_100_000);
        var seen = new List<(int Records, string Start, bool Final, bool Early, string State)>();
        Emulate.Run(scenario, _ => new DelegateHandler((e, _, _) =>
        {
            using JsonDocument document = JsonDocument.Parse(e);
            seen.Add(WindowView(document.RootElement));
            return Task.FromResult<ReadOnlyMemory<byte>>(Encoding.UTF8.GetBytes(seen.Count == 1 ? $"{{\"state\":{{\"blob\":\"{big}\"}}}}" : "{\"state\":{}}"));
        }));

        const string Start = "2025-01-01T00:00:00Z";
        Assert.Equal((1, Start, false, false, "{}"), seen[0]);
        Assert.Equal((0, Start, true, true, "big"), seen[1]);
        Assert.Equal(2, seen.Count(s => s.Start == Start && s.Final));
        Assert.Equal(2, seen.Where(s => s.Start == Start && !s.Final).Skip(1).Sum(s => s.Records));
        Assert.Equal((0, Start, true, false, "{}"), seen[^1]);
    }

    // Grade 3, as above: a response that sets a state over 1 MB ends the window before the records still to be retried
    // from its batch (the rest of a partial response, the other half of a bisection): the final invocation comes first,
    // with that state, and those records follow in the reopened window with an empty state. Found by review: the rest
    // was retried carrying the state, and a state of 5.2 MB with one 1 MB record made an event of 6,534,161 bytes.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AStateOver1MbSetBeforeARetry_EndsTheWindowFirst_AndTheRetryStartsEmpty(bool bisect)
    {
        byte[] big = new byte[1_000_000];
        Array.Fill(big, (byte)'a');
        EmulatorScenario scenario = new()
        {
            StartTime = Emulate.Start,
            DurationSeconds = 120,
            Records = [ExplicitRecord.Text("k", "1", 1000), ExplicitRecord.Text("k", "2", 1000), new ExplicitRecord("k", big, 1000)],
            Mapping = new() { TumblingWindowInSeconds = 60, ReportBatchItemFailures = !bisect, BisectBatchOnFunctionError = bisect },
        };
        string hugeState = "{\"blob\":\"" + new string('x', 5_200_000) + "\"}";
        var seen = new List<(int Records, string Start, bool Final, bool Early, string State)>();
        var sizes = new List<int>();
        EmulationRecording run = Emulate.Run(scenario, _ => new DelegateHandler((e, _, _) =>
        {
            sizes.Add(e.Length);
            using JsonDocument document = JsonDocument.Parse(e);
            JsonElement[] records = [.. document.RootElement.GetProperty("Records").EnumerateArray()];
            seen.Add(WindowView(document.RootElement));
            if (seen.Count == 1 && bisect)
            {
                throw new InvalidOperationException("the whole batch fails once");
            }

            if (seen.Count == 1 || (seen.Count == 2 && bisect))
            {
                // Records before the big one are processed into a state of 5.2 MB; the big one is still to be retried.
                string failure = bisect ? string.Empty : $",\"batchItemFailures\":[{{\"itemIdentifier\":\"{records[2].GetProperty("kinesis").GetProperty("sequenceNumber").GetString()}\"}}]";
                return Task.FromResult<ReadOnlyMemory<byte>>(Encoding.UTF8.GetBytes($"{{\"state\":{hugeState}{failure}}}"));
            }

            return Task.FromResult<ReadOnlyMemory<byte>>(Encoding.UTF8.GetBytes("{\"state\":{}}"));
        }));

        const string Start = "2025-01-01T00:00:00Z";
        (int, string, bool, bool, string)[] expected = bisect
            ? [(3, Start, false, false, "{}"), (2, Start, false, false, "{}"), (0, Start, true, true, "big"), (1, Start, false, false, "{}"), (0, Start, true, false, "{}")]
            : [(3, Start, false, false, "{}"), (0, Start, true, true, "big"), (1, Start, false, false, "{}"), (0, Start, true, false, "{}")];
        Assert.Equal(expected, seen);
        Assert.All(sizes, s => Assert.True(s <= 6 * 1024 * 1024, $"an event of {s:N0} bytes; all: {string.Join(", ", sizes)}"));
        Assert.Equal(run.Records[2].SequenceNumber, Assert.Single(run.Invocations.Single(i => i.Records.Count == 1).Records).SequenceNumber);
    }

    // Source: Lambda Developer Guide, "Retaining discarded batch records": for S3 destinations "the payload field
    // contains the original invocation record as an escaped JSON string"; object key
    // aws/lambda/<ESM-UUID>/<shardID>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<Random UUID>.
    [Fact]
    public void S3Destination_CarriesThePayload_UnderTheDocumentedKey()
    {
        EmulatorScenario scenario = Emulate.Texts("a", "boom") with
        {
            Mapping = new() { MaximumRetryAttempts = 0, OnFailure = OnFailureDestination.S3, Uuid = "0f8b6c2e-1111-4222-8333-444455556666" },
        };
        byte[]? lastEvent = null;
        EmulationRecording run = Emulate.Run(scenario, _ => new DelegateHandler((e, _, _) =>
        {
            lastEvent = e.ToArray();
            throw new InvalidOperationException("fail");
        }));

        DestinationRecord sent = Assert.Single(run.Destination);
        Assert.Matches(@"^aws/lambda/0f8b6c2e-1111-4222-8333-444455556666/shardId-000000000000/2025/01/01/2025-01-01T00\.00\.00-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", sent.S3Key);
        using JsonDocument record = JsonDocument.Parse(sent.Json);
        Assert.Equal(Encoding.UTF8.GetString(lastEvent!), record.RootElement.GetProperty("payload").GetString());
        Assert.Equal("payload", record.RootElement.EnumerateObject().Last().Name);
    }

    // Source: Kinesis retention: records older than the retention period are no longer readable (trimmed).
    [Fact]
    public void Retention_TrimsRecordsTheMappingDidNotReachInTime()
    {
        EmulatorScenario scenario = new()
        {
            StartTime = Emulate.Start,
            DurationSeconds = 10,
            Records = [ExplicitRecord.Text("k", "ancient", -25 * 3_600_000L), ExplicitRecord.Text("k", "fresh", 0)],
        };
        EmulationRecording run = Emulate.Run(scenario, _ => Emulate.Succeed(), out EmulationSummary summary);
        Assert.Equal(1, summary.RecordsExpired);
        Assert.Equal(["fresh"], run.Invocations.SelectMany(i => Emulate.DeliveredTexts(run, i)));
    }

    // Source: the scripted handler of the issue: sleepMs waits in virtual time, then the next rule applies.
    [Fact]
    public void ScriptedSleep_WaitsInVirtualTime()
    {
        EmulatorScenario scenario = Emulate.Texts("a") with { Function = new() { TimeoutSeconds = 10 } };
        EmulationRecording run = Emulate.Scripted(scenario, new ScriptRule(ScriptAction.SleepMs, Ms: 2500));
        Assert.Equal(2500, run.Invocations[0].EndMs - run.Invocations[0].StartMs);
        Assert.Equal(InvocationOutcome.Success, run.Invocations[0].Outcome);
    }

    // The run covers [start, end) (Run's documentation: "Runs the scenario to its end"); the clock stays the caller's
    // afterwards. Found by the spill redrive tests, which drive the same clock after the run: each shard's idle poll kept firing once per virtual
    // second, and time raced ahead by days (61,571 to 832,246 virtual seconds per redrive run) whenever the redrive's
    // own work ran on another thread.
    [Fact]
    public void AfterTheRun_NothingOfItFires_AndAnInvocationInFlightStaysWhereTheRunEnded()
    {
        EmulatorScenario scenario = new()
        {
            StartTime = Emulate.Start,
            DurationSeconds = 10,
            Stream = new() { ShardCount = 2 },
            Records = [ExplicitRecord.Text("k", "early", 0), ExplicitRecord.Text("k", "late", 8_000)],
            Function = new() { TimeoutSeconds = 60 },
        };
        var effects = new List<string>();
        StreamEmulator emulator = null!;
        emulator = new StreamEmulator(scenario, _ => new DelegateHandler(async (e, _, _) =>
        {
            using JsonDocument document = JsonDocument.Parse(e);
            string text = Emulate.Texts(document.RootElement)[0];
            effects.Add("start " + text);
            await Task.Delay(TimeSpan.FromSeconds(3), emulator.Clock);
            effects.Add("end " + text);
            return Array.Empty<byte>();
        }));
        EmulationSummary summary = emulator.Run();
        Assert.Equal(["start early", "end early", "start late"], effects);
        Assert.Equal(1, summary.RecordsPending);

        // The caller's own timers still fire, and time moves only as far as they ask.
        DateTimeOffset after = emulator.Clock.GetUtcNow();
        int fired = 0;
        using ITimer mine = emulator.Clock.CreateTimer(_ => fired++, null, TimeSpan.FromSeconds(5), Timeout.InfiniteTimeSpan);
        for (int step = 0; step < 1_000 && emulator.Clock.NextDue is { } due; step++)
        {
            emulator.Clock.AdvanceTo(due);
        }

        Assert.Null(emulator.Clock.NextDue);
        Assert.Equal(1, fired);
        Assert.Equal(["start early", "end early", "start late"], effects);
        Assert.True(emulator.Clock.GetUtcNow() - after <= TimeSpan.FromSeconds(5), $"time moved {emulator.Clock.GetUtcNow() - after} after the run");
        emulator.Clock.Advance(TimeSpan.FromHours(1));
        Assert.Equal(["start early", "end early", "start late"], effects);
        Assert.Equal(0, emulator.Clock.PendingTimers);
    }

    [Fact]
    public void AfterTheRun_AColdStartStillInitialising_NeverStartsTheHandler()
    {
        // The run ends while the late record's environment is still in its init: the step that would start the
        // handler is on the caller's clock, and must do nothing once the run is over.
        EmulatorScenario scenario = new()
        {
            StartTime = Emulate.Start,
            DurationSeconds = 10,
            Stream = new() { ShardCount = 1 },
            Records = [ExplicitRecord.Text("k", "late", 8_000)],
            Function = new() { TimeoutSeconds = 60, InitMs = 5_000 },
        };
        var started = new List<string>();
        var emulator = new StreamEmulator(scenario, _ => new DelegateHandler((e, _, _) =>
        {
            using JsonDocument document = JsonDocument.Parse(e);
            started.Add(Emulate.Texts(document.RootElement)[0]);
            return Task.FromResult<ReadOnlyMemory<byte>>(Array.Empty<byte>());
        }));
        EmulationSummary summary = emulator.Run();
        Assert.Empty(started);
        Assert.Equal(1, summary.RecordsPending);

        for (int step = 0; step < 1_000 && emulator.Clock.NextDue is { } due; step++)
        {
            emulator.Clock.AdvanceTo(due);
        }

        emulator.Clock.Advance(TimeSpan.FromHours(1));
        Assert.Empty(started);
    }
}
