using System.Buffers;
using System.Text.Json;

namespace Analytics.Core.Tests.Pipeline;

/// <summary>
/// One processor serves many invocations: nothing of one invocation (durable marks, poison records, a sink call
/// it gave up on) may leak into the next.
/// </summary>
public class ProcessorReuseTests
{
    private static TestRecord Good(int n, string metric, double value) =>
        new(TestEvents.Seq(n), TestEvents.Utf8(TestEvents.Sample(metric, value, TestEvents.Arrival - 1000)), TestEvents.Arrival);

    private static TestRecord Poison(int n) => new(TestEvents.Seq(n), TestEvents.Utf8("{not json " + n), TestEvents.Arrival);

    private static byte[] WindowEvent(IEnumerable<TestRecord> records, string stateJson, bool final) =>
        TestEvents.BuildWindow(records, stateJson, final);

    private static string[] Failures(ReadOnlyMemory<byte> response)
    {
        using JsonDocument doc = JsonDocument.Parse(response);
        return [.. doc.RootElement.GetProperty("batchItemFailures").EnumerateArray().Select(f => f.GetProperty("itemIdentifier").GetString()!)];
    }

    [Fact]
    public async Task WindowFlushes_OnOneProcessor_EachNeedsItsOwnDurableMarks()
    {
        var sink = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);

        // First window: two pairs, both written.
        BatchSummary first = await processor.ProcessAsync(
            WindowEvent([Good(1, "a", 1), Good(2, "b", 2)], "{}", final: true), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
        Assert.Equal((true, 2), (first.Flushed, first.AggregatesWritten));

        // Second window on the same processor: the sink writes nothing. The marks of the first flush must not count.
        sink.Durable = _ => false;
        BatchFailedException e = await Assert.ThrowsAsync<BatchFailedException>(() => processor.ProcessAsync(
            WindowEvent([Good(3, "a", 3), Good(4, "b", 4)], "{}", final: true), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>()));
        Assert.Contains("0 of 2", e.Message, StringComparison.Ordinal);

        // Third: only the second pair is written.
        sink.Durable = pair => pair == 1;
        await Assert.ThrowsAsync<BatchFailedException>(() => processor.ProcessAsync(
            WindowEvent([Good(5, "a", 5), Good(6, "b", 6)], "{}", final: true), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>()));

        // And all of them again: success.
        sink.Durable = null;
        BatchSummary fourth = await processor.ProcessAsync(
            WindowEvent([Good(7, "a", 7), Good(8, "b", 8)], "{}", final: true), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
        Assert.Equal(2, fourth.AggregatesWritten);
    }

    /// <summary>
    /// A sink that starts one write per pair and lets the test decide when each lands (marking its pair then), and
    /// whether the call throws (from its task, or from the call itself) or returns before they land: the pattern of a
    /// sink that awaits its parallel puts in order and throws at the first failure, or acknowledges in the background.
    /// </summary>
    private sealed class StragglingAggregateSink : IAggregateSink
    {
        public List<Action> Late { get; } = [];

        public Func<AggregateBatch, bool>? Throw { get; set; }

        /// <summary>A <see cref="Throw"/> throws from the call itself, after starting its writes, not from its task.</summary>
        public bool ThrowAtOnce { get; init; }

        /// <summary>A <see cref="Throw"/> that first lands the first <paramref name="count"/> writes of earlier calls.</summary>
        public Func<AggregateBatch, bool> LandingEarlierWrites(int count, bool thenThrow) => _ =>
        {
            foreach (Action late in Late.Take(count).ToList())
            {
                late();
            }

            return thenThrow;
        };

        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            for (int pair = 0; pair < batch.Count; pair++)
            {
                int p = pair;
                Late.Add(() => batch.MarkDurable(p)); // lands later, whatever the call did
            }

            if (Throw?.Invoke(batch) != true)
            {
                return Task.CompletedTask;
            }

            return ThrowAtOnce ? throw new IOException("throttled") : Task.FromException(new IOException("throttled"));
        }
    }

    // Found by review (a custom sink's author): the writes a sink left running when its call threw, or returned with
    // pairs unmarked, marked the pairs of the same index in the next invocation's batch (the processor reuses one), and
    // that invocation reported as done records that were never stored. A batch whose call ended that way is now given up.
    [Theory]
    [InlineData(true, false)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public async Task WritesLeftRunningByACallThatFailed_DoNotMarkTheNextInvocationsPairs(bool threw, bool atOnce)
    {
        var sink = new StragglingAggregateSink { Throw = _ => threw, ThrowAtOnce = atOnce };
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);

        // First invocation: nothing lands in time; every record is reported.
        var first = new ArrayBufferWriter<byte>();
        await processor.ProcessAsync(TestEvents.Build([Good(1, "a", 1), Good(2, "b", 2)]), DateTimeOffset.UtcNow.AddSeconds(30), first);
        Assert.Equal([TestEvents.Seq(1)], Failures(first.WrittenMemory));

        // Second invocation: its own writes do not land, but the first one's land while it runs.
        sink.Throw = sink.LandingEarlierWrites(2, thenThrow: true);
        var second = new ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build([Good(3, "c", 3), Good(4, "d", 4)]), DateTimeOffset.UtcNow.AddSeconds(30), second);
        Assert.Equal([TestEvents.Seq(3)], Failures(second.WrittenMemory));
        Assert.Equal(0, summary.AggregatesWritten);
    }

    // The same for a window's flush, which has a pooled batch of its own: a flush whose call ended with pairs unmarked
    // leaves its writes running, and they must not mark the next window's aggregates (that window's invocation would
    // then succeed and its state be dropped, its records in no durable aggregate).
    [Theory]
    [InlineData(true, false)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public async Task WritesLeftRunningByAWindowFlushThatFailed_DoNotMarkTheNextWindowsAggregates(bool threw, bool atOnce)
    {
        var sink = new StragglingAggregateSink { Throw = _ => threw, ThrowAtOnce = atOnce };
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        AggregateBatch pooled = processor.PooledBatch;

        // First window: its flush lands nothing in time; the invocation fails whole.
        await Assert.ThrowsAsync<BatchFailedException>(() => processor.ProcessAsync(
            WindowEvent([Good(1, "a", 1), Good(2, "b", 2)], "{}", final: true), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>()));

        // Second window: its own writes do not land, but the first flush's land while it runs.
        sink.Throw = sink.LandingEarlierWrites(2, thenThrow: threw);
        BatchFailedException e = await Assert.ThrowsAsync<BatchFailedException>(() => processor.ProcessAsync(
            WindowEvent([Good(3, "c", 3), Good(4, "d", 4)], "{}", final: true), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>()));
        Assert.Contains("0 of 2", e.Message, StringComparison.Ordinal);

        // The plain batch was never given up by the failed flushes: only the flush's batch was.
        sink.Throw = batch => { batch.MarkAllDurable(); return false; };
        await processor.ProcessAsync(TestEvents.Build([Good(5, "e", 5)]), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
        Assert.Same(pooled, processor.PooledBatch);
    }

    // The pooled batch stays for calls that end well: a successful invocation allocates no batch.
    [Fact]
    public async Task ACallThatMarksEveryPair_KeepsThePooledBatch()
    {
        var seen = new List<AggregateBatch>();
        var sink = new StragglingAggregateSink { Throw = batch => { seen.Add(batch); batch.MarkAllDurable(); return false; } };
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        await processor.ProcessAsync(TestEvents.Build([Good(1, "a", 1)]), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
        await processor.ProcessAsync(TestEvents.Build([Good(2, "a", 2)]), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
        Assert.Equal(2, seen.Count);
        Assert.Same(seen[0], seen[1]);
    }

    // Found by review: a custom sink whose call for an old state's flush (a redeploy changed the aggregator options)
    // marks everything and then throws leaves the flush batch to be given up; the window's own flush failing too in the
    // same invocation must not undo that (two give-ups toggling a flag kept the batch the failed call may still use).
    [Fact]
    public async Task TwoFailedFlushCallsInOneInvocation_StillGiveUpTheFlushBatch()
    {
        using var oldFunction = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default);
        string state = (await TestEvents.RunAsync(oldFunction, WindowEvent([Good(1, "a", 1), Good(2, "b", 2)], "{}", final: false))).GetProperty("state").GetRawText();
        var seen = new List<AggregateBatch>();
        var sink = new StragglingAggregateSink
        {
            Throw = batch =>
            {
                seen.Add(batch);
                if (seen.Count != 2)
                {
                    batch.MarkAllDurable(); // the old state's flush, and the next window's
                }

                return seen.Count <= 2;
            },
        };
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default with { Aggregator = WindowHardeningTests.Changed(AggregatorOptions.Default, "window") });

        await Assert.ThrowsAsync<BatchFailedException>(() => processor.ProcessAsync(WindowEvent([Good(3, "c", 3)], state, final: true), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>()));
        Assert.Equal(2, seen.Count);
        await processor.ProcessAsync(WindowEvent([Good(4, "d", 4)], "{}", final: true), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());

        Assert.Equal(3, seen.Count);
        Assert.NotSame(seen[1], seen[2]);
    }

    // A batch given up is replaced once: the invocations after the one that gave it up share the new one again (the
    // plain batch and a window flush's batch each), or every invocation after a single failure allocated its batch.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AfterABatchIsGivenUp_TheNextInvocationsShareTheNewOne(bool windowFlush)
    {
        var seen = new List<AggregateBatch>();
        bool fail = true;
        var sink = new StragglingAggregateSink
        {
            Throw = batch =>
            {
                seen.Add(batch);
                if (!fail)
                {
                    batch.MarkAllDurable();
                }

                return fail;
            },
        };
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        async Task Invoke(int n)
        {
            if (windowFlush)
            {
                await processor.ProcessAsync(WindowEvent([Good(n, "a", n)], "{}", final: true), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
            }
            else
            {
                await processor.ProcessAsync(TestEvents.Build([Good(n, "a", n)]), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
            }
        }

        if (windowFlush)
        {
            await Assert.ThrowsAsync<BatchFailedException>(() => Invoke(1));
        }
        else
        {
            await Invoke(1);
        }

        fail = false;
        await Invoke(2);
        await Invoke(3);

        Assert.Equal(3, seen.Count);
        Assert.NotSame(seen[0], seen[1]);
        Assert.Same(seen[1], seen[2]);
    }

    // The review of that change: giving up the batch rebuilt megabytes on every failed invocation, also for the library's
    // own sinks, which settle every write before their task faults (a throttled shard's invocations, the incident's
    // case). A failed call of the library's sinks (DynamoDB, JSON Lines) keeps the pooled batch; a custom sink's gives
    // it up.
    [Fact]
    public async Task AFailedCallOfTheLibrarysSink_KeepsThePooledBatch_ACustomSinksDoesNot()
    {
        using var client = new Amazon.DynamoDBv2.AmazonDynamoDBClient(
            new Amazon.Runtime.BasicAWSCredentials("test", "test"),
            new Amazon.DynamoDBv2.AmazonDynamoDBConfig { ServiceURL = "http://127.0.0.1:9", AuthenticationRegion = "us-east-1", MaxErrorRetry = 0 });
        var library = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = "metrics", Retry = AwsRetryOptions.Default with { MaxAttempts = 1 } });
        var custom = new StragglingAggregateSink { Throw = _ => true };
        // The core library's own sink too: its file's folder is a file, so every append fails.
        string notAFolder = Path.GetTempFileName();
        var jsonLines = new JsonLinesAggregateSink(Path.Combine(notAFolder, "aggregates.jsonl"));
        foreach ((IAggregateSink sink, bool kept) in new (IAggregateSink, bool)[] { (library, true), (jsonLines, true), (custom, false) })
        {
            using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
            AggregateBatch before = processor.PooledBatch;
            var response = new ArrayBufferWriter<byte>();
            BatchSummary summary = await processor.ProcessAsync(TestEvents.Build([Good(1, "a", 1)]), DateTimeOffset.UtcNow.AddSeconds(30), response);
            Assert.Equal(SinkOutcome.Failed, summary.AggregateSinkOutcome);
            Assert.Equal([TestEvents.Seq(1)], Failures(response.WrittenMemory));
            Assert.Equal(kept, ReferenceEquals(before, processor.PooledBatch));
        }

        File.Delete(notAFolder);
    }

    /// <summary>An aggregate sink that waits until released, so that an invocation is still running.</summary>
    private sealed class GatedAggregateSink : IAggregateSink
    {
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            Entered.TrySetResult();
            await Release.Task;
            batch.MarkAllDurable();
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ASecondEventWhileOneIsProcessed_IsRefused_AndTheFirstIsUntouched(bool asStream)
    {
        // Two events at once on one processor shared its batch and response: the first's response named the second's
        // records. Now the second call is refused with the rule, and the first ends as if alone.
        var sink = new GatedAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        var firstResponse = new ArrayBufferWriter<byte>();
        Task<BatchSummary> first = processor.ProcessAsync(TestEvents.Build([Good(1, "a", 1), Good(2, "b", 2)]), DateTimeOffset.UtcNow.AddSeconds(30), firstResponse);
        await sink.Entered.Task.WaitAsync(TimeSpan.FromSeconds(10));

        byte[] second = TestEvents.Build([Good(3, "a", 3), Poison(4)]);
        InvalidOperationException refused = asStream
            ? await Assert.ThrowsAsync<InvalidOperationException>(() => processor.ProcessAsync(new MemoryStream(second), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>()))
            : await Assert.ThrowsAsync<InvalidOperationException>(() => processor.ProcessAsync(second, DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>()));
        Assert.Contains("one at a time", refused.Message, StringComparison.Ordinal);
        Assert.Contains("give each concurrent caller its own processor", refused.Message, StringComparison.Ordinal);

        sink.Release.SetResult();
        BatchSummary done = await first.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal((2, 0, 2), (done.Records, done.PoisonRecords, done.AggregatesWritten));
        Assert.Empty(Failures(firstResponse.WrittenMemory));

        // Free again once the first returned.
        BatchSummary next = await processor.ProcessAsync(second, DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
        Assert.Equal(1, next.PoisonRecords);
    }

    /// <summary>
    /// An event read from a stream is held in an array rented from the shared pool, which the processor keeps for the
    /// next event and gives back when disposed: a function that builds a processor per invocation and disposes it does
    /// not leave a 6 MB array behind each time.
    /// </summary>
    [Fact]
    public async Task AnEventReadFromAStream_IsHeldInAPooledArray_ReturnedOnDispose()
    {
        var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default);
        Assert.Equal(0, processor.EventBufferCapacity);
        byte[] utf8Event = TestEvents.Build([.. Enumerable.Range(1, 50).Select(i => Good(i, "k" + i, i))]);

        await processor.ProcessAsync(new MemoryStream(utf8Event), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
        int held = processor.EventBufferCapacity;
        Assert.InRange(held, utf8Event.Length, int.MaxValue);
        await processor.ProcessAsync(new MemoryStream(utf8Event), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
        Assert.Equal(held, processor.EventBufferCapacity);

        processor.Dispose();
        Assert.Equal(0, processor.EventBufferCapacity);
    }

    /// <summary>A stream whose read fails, as a Runtime API connection that drops mid-body.</summary>
    private sealed class BrokenStream : MemoryStream
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromException<int>(new IOException("connection reset"));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Task.FromException<int>(new IOException("connection reset"));

        public override int Read(byte[] buffer, int offset, int count) => throw new IOException("connection reset");
    }

    /// <summary>
    /// Whichever way an event fails (its JSON, its stream, a refused argument, a deadline from another clock), the
    /// processor is free for the next one, and the failure is in the returned task, not thrown at the call: the claim
    /// on the processor is released by the one async method that processes the event, so each way out is checked.
    /// </summary>
    [Theory]
    [InlineData("format", typeof(KinesisEventFormatException))]
    [InlineData("stream", typeof(IOException))]
    [InlineData("null response", typeof(ArgumentNullException))]
    [InlineData("null stream", typeof(ArgumentNullException))]
    [InlineData("deadline", typeof(ArgumentOutOfRangeException))]
    public async Task AFailedEvent_LeavesTheProcessorFree_AndFailsInItsTask(string how, Type expected)
    {
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default);
        DateTimeOffset deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        Task<BatchSummary> failed = how switch
        {
            "format" => processor.ProcessAsync("{\"Records\":[{\"kinesis\":1}]}"u8.ToArray(), deadline, new ArrayBufferWriter<byte>()),
            "stream" => processor.ProcessAsync(new BrokenStream(), deadline, new ArrayBufferWriter<byte>()),
            "null response" => processor.ProcessAsync(TestEvents.Build([Good(1, "a", 1)]), deadline, null!),
            "null stream" => processor.ProcessAsync((Stream)null!, deadline, new ArrayBufferWriter<byte>()),
            _ => processor.ProcessAsync(TestEvents.Build([Good(1, "a", 1)]), DateTimeOffset.UtcNow.AddHours(-1), new ArrayBufferWriter<byte>()),
        };
        Exception e = await Assert.ThrowsAnyAsync<Exception>(() => failed);
        Assert.IsType(expected, e);

        var response = new ArrayBufferWriter<byte>();
        BatchSummary next = await processor.ProcessAsync(TestEvents.Build([Good(2, "a", 2), Poison(3)]), deadline, response);
        Assert.Equal((2, 1, 1), (next.Records, next.PoisonRecords, next.AggregatesWritten));
        Assert.Empty(Failures(response.WrittenMemory)); // the poison record quarantined, the aggregate written
    }

    [Fact]
    public async Task ADisposedProcessor_RefusesAnEvent()
    {
        var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default);
        processor.Dispose();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => processor.ProcessAsync(TestEvents.Build([Good(1, "a", 1)]), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>()));
    }

    [Fact]
    public async Task PlainBatches_OnOneProcessor_EachNeedsItsOwnDurableMarks()
    {
        var sink = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        await processor.ProcessAsync(TestEvents.Build([Good(1, "a", 1), Good(2, "b", 1), Good(3, "c", 1)]), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());

        sink.Durable = pair => pair == 0;
        var output = new ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build([Good(4, "a", 1), Good(5, "b", 1), Good(6, "c", 1)]), DateTimeOffset.UtcNow.AddSeconds(30), output);
        Assert.Equal([TestEvents.Seq(5)], Failures(output.WrittenMemory));
        Assert.Equal(1, summary.AggregatesWritten);
    }

    /// <summary>
    /// Sinks whose first call ignores cancellation: it holds on to what it was given until released, then marks
    /// every pair durable and copies out the poison records it holds, as a slow real sink would.
    /// </summary>
    private sealed class AbandonedFirstCallSinks : IAggregateSink, IQuarantineSink
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _aggregateDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource<string[]> _quarantineDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _aggregateCalls;
        private int _quarantineCalls;

        /// <summary>What the abandoned quarantine call found in its list once it got to read it.</summary>
        public Task<string[]> AbandonedQuarantineSaw => _quarantineDone.Task;

        public async Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            if (Interlocked.Increment(ref _aggregateCalls) == 1)
            {
                await _release.Task;
                for (int i = 0; i < batch.Count; i++)
                {
                    batch.MarkDurable(i);
                }

                _aggregateDone.SetResult();
                return;
            }

            // The next invocation: let the abandoned call finish first, then write nothing durable.
            _release.TrySetResult();
            await _aggregateDone.Task.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
            await _quarantineDone.Task.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        }

        public async Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken)
        {
            if (Interlocked.Increment(ref _quarantineCalls) == 1)
            {
                await _release.Task;
                _quarantineDone.SetResult([.. records.Select(r => r.SequenceNumber)]);
                return records.Count;
            }

            return records.Count;
        }
    }

    [Fact]
    public async Task SinkCallGivenUp_DoesNotShareItsBatchOrPoisonListWithTheNextInvocation()
    {
        var sinks = new AbandonedFirstCallSinks();
        using var processor = new KinesisBatchProcessor(sinks, sinks, ProcessorOptions.Default with { MinSafetyMargin = TimeSpan.FromSeconds(1) });

        // 1.5 s budget: the sinks get about half a second, then the pipeline gives up on them and answers.
        var first = new ArrayBufferWriter<byte>();
        await processor.ProcessAsync(TestEvents.Build([Good(1, "a", 1), Poison(2)]), DateTimeOffset.UtcNow.AddSeconds(1.5), first);
        Assert.Equal([TestEvents.Seq(1)], Failures(first.WrittenMemory));

        // The next invocation's aggregate sink releases the abandoned calls, waits until they have marked "their"
        // batch and read "their" poison list, then returns without marking anything: its pair is not durable.
        var second = new ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build([Good(7, "z", 1), Poison(8)]), DateTimeOffset.UtcNow.AddSeconds(30), second);

        Assert.Equal([TestEvents.Seq(7)], Failures(second.WrittenMemory));
        Assert.Equal(0, summary.AggregatesWritten);
        Assert.Equal([TestEvents.Seq(2)], await sinks.AbandonedQuarantineSaw);
    }

    /// <summary>Everything a sink and the summary saw of one invocation, as comparable text.</summary>
    private static async Task<string> RunAndDescribe(Func<KinesisBatchProcessor, ArrayBufferWriter<byte>, Task<BatchSummary>> run)
    {
        var aggregates = new RecordingAggregateSink { Durable = pair => pair % 3 != 2 };
        var quarantine = new RecordingQuarantineSink();
        using var processor = new KinesisBatchProcessor(aggregates, quarantine, ProcessorOptions.Default);
        var output = new ArrayBufferWriter<byte>();
        BatchSummary s = await run(processor, output);
        return string.Join("\n",
        [
            System.Text.Encoding.UTF8.GetString(output.WrittenSpan),
            string.Join("|", aggregates.Seen),
            string.Join("|", quarantine.Records.Select(r => $"{r.SequenceNumber} {r.Reason} {r.PartitionKey} {r.Data} {r.ShardId} {r.EventSourceArn}")),
            $"{s.ShardId} {s.EventSourceArn} {s.Records} {s.RecordsProcessed} {s.ValidRecords} {s.PoisonRecords} {s.Samples} {s.AggregatesWritten} {s.Quarantined}",
            $"{s.FirstSequenceNumber} {s.LastSequenceNumber} {s.ReportedFailure} {s.DeadlineReached} {s.Flushed} {s.IsWindowInvocation}",
        ]);
    }

    [Fact]
    public async Task Stream_GivesTheSameEffectsAsBytes()
    {
        // Large enough (about 1 MB) to need more than one read of the stream.
        var records = new List<TestRecord>();
        for (int i = 1; i <= 3000; i++)
        {
            records.Add(i % 97 == 0 ? Poison(i) : Good(i, "m" + (i % 11), i));
        }

        byte[] evt = TestEvents.Build(records);
        Assert.True(evt.Length > 1_000_000, $"{evt.Length} bytes");

        string fromBytes = await RunAndDescribe((p, o) => p.ProcessAsync(evt, DateTimeOffset.UtcNow.AddSeconds(30), o));
        string fromStream = await RunAndDescribe((p, o) => p.ProcessAsync(new MemoryStream(evt), DateTimeOffset.UtcNow.AddSeconds(30), o));

        Assert.Equal(fromBytes, fromStream);
        Assert.Contains(TestEvents.Seq(97), fromBytes, StringComparison.Ordinal); // the description holds the poison records
        Assert.Contains("\"itemIdentifier\"", fromBytes, StringComparison.Ordinal); // and a reported failure
    }
}
