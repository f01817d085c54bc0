using System.Text;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The emulator builds events in arrays it reuses after a successful invocation. What a handler was sent and what an
/// S3 destination record carries as its payload must be unaffected: checked against copies the handler took of every
/// event it was sent.
/// </summary>
public class EventReuseTests
{
    // Records r0, r1, ... on a few keys; every `every`-th record fails its batch (raise) or is reported (partial).
    private static EmulatorScenario Scenario(int seed, bool bisect, bool report, int retries, int batchSize) => new()
    {
        Seed = seed,
        StartTime = Emulate.Start,
        DurationSeconds = 90,
        Producers = [new() { RatePerSecond = 40, Schedule = [new RateStep(30, 0)], PartitionKeys = 5, Generator = RecordGenerators.Text("r{n}") }],
        Mapping = new()
        {
            BatchSize = batchSize,
            ReportBatchItemFailures = report,
            BisectBatchOnFunctionError = bisect,
            MaximumRetryAttempts = retries,
            MaximumRecordAgeInSeconds = 60,
            OnFailure = OnFailureDestination.S3,
        },
        Function = new() { ComputeMsPerRecord = 40, TimeoutSeconds = 30 },
    };

    /// <summary>
    /// Every S3 destination record of invoked records carries, byte for byte, the last event its records were sent in
    /// (found among the copies), whatever failed, was retried, bisected or succeeded in between.
    /// </summary>
    [Property(MaxTest = 25)]
    public Property S3Payloads_AreTheEventsTheRecordsWereLastSentIn(int seed, bool bisect, bool report, byte retries, byte batch, byte every)
    {
        int failEvery = 3 + (every % 9);
        EmulatorScenario scenario = Scenario(seed, bisect, report, retries % 3, 2 + (batch % 12));
        var sent = new List<(string Json, HashSet<string> Sequences)>();
        EmulationRecording run = Emulate.Run(scenario, clock => new DelegateHandler(async (e, _, _) =>
        {
            string json = Encoding.UTF8.GetString(e.Span); // a copy: the event's bytes are valid only until this task completes
            using JsonDocument document = JsonDocument.Parse(json);
            var sequences = new HashSet<string>(StringComparer.Ordinal);
            var failures = new List<string>();
            foreach (JsonElement record in document.RootElement.GetProperty("Records").EnumerateArray())
            {
                JsonElement kinesis = record.GetProperty("kinesis");
                string sequence = kinesis.GetProperty("sequenceNumber").GetString()!;
                sequences.Add(sequence);
                if (int.Parse(Encoding.UTF8.GetString(kinesis.GetProperty("data").GetBytesFromBase64()).AsSpan(1)) % failEvery == 0)
                {
                    failures.Add(sequence);
                }
            }

            sent.Add((json, sequences));
            await Task.Delay(TimeSpan.FromMilliseconds(40 * sequences.Count), clock);
            if (failures.Count > 0 && !report)
            {
                throw new InvalidOperationException("a failing record");
            }

            return Encoding.UTF8.GetBytes("{\"batchItemFailures\":[" + string.Join(",", failures.Select(f => $"{{\"itemIdentifier\":\"{f}\"}}")) + "]}");
        }));

        int checkedRecords = 0;
        foreach (DestinationRecord record in run.Destination)
        {
            using JsonDocument document = JsonDocument.Parse(record.Json);
            string payload = document.RootElement.GetProperty("payload").GetString()!;
            if (!sent.Any(s => record.SequenceNumbers.All(s.Sequences.Contains)))
            {
                // Never sent (expired before their first invocation; AWS still counts 1 invocation): the payload is the
                // event they would have been sent in, built for the record.
                Assert.Equal("RecordAgeExceeded", record.Condition);
                continue;
            }

            (string Json, HashSet<string> Sequences) last = sent.Last(s => record.SequenceNumbers.All(s.Sequences.Contains));
            if (payload != last.Json)
            {
                return false.Label($"the payload for {record.SequenceNumbers[0]}.. is not the last event they were sent in");
            }

            checkedRecords++;
        }

        // Enough runs give records up after being sent, for the property to say something.
        return true.Label($"{checkedRecords} records checked").Collect(checkedRecords > 0 ? "some given up" : "none given up");
    }

    /// <summary>
    /// A bisected batch's upper half waits while the lower half is retried and split again, and expires before it is
    /// sent: its payload is the event from before the split, though later events were built (and buffers reused) since.
    /// </summary>
    [Fact]
    public void AHalfThatExpiredWaiting_CarriesTheEventFromBeforeTheSplit()
    {
        EmulatorScenario scenario = new()
        {
            StartTime = Emulate.Start,
            DurationSeconds = 400,
            Records = [ExplicitRecord.Text("k", "a", 0), ExplicitRecord.Text("k", "bad", 0), ExplicitRecord.Text("k", "c", 0), ExplicitRecord.Text("k", "d", 0)],
            Mapping = new() { BatchSize = 4, BisectBatchOnFunctionError = true, MaximumRetryAttempts = 5, MaximumRecordAgeInSeconds = 60, OnFailure = OnFailureDestination.S3 },
            Function = new() { TimeoutSeconds = 900 },
        };
        var sent = new List<string>();
        EmulationRecording run = Emulate.Run(scenario, clock =>
        {
            var script = new ScriptedHandler(clock, [new ScriptRule(ScriptAction.SleepMs, WhenData: "bad", Ms: 25_000), new ScriptRule(ScriptAction.Raise, WhenData: "bad")]);
            return new DelegateHandler(async (e, deadline, token) =>
            {
                sent.Add(Encoding.UTF8.GetString(e.Span));
                return await script.InvokeAsync(e, deadline, token);
            });
        });

        // [a bad c d] fails at 25 s and is split; [a bad] fails at 50 s and is split; [a] succeeds; [c d], waiting since
        // the first split, is past 60 s before it is sent.
        DestinationRecord upper = Assert.Single(run.Destination, d => d.SequenceNumbers.SequenceEqual(run.Records.Skip(2).Select(r => r.SequenceNumber)));
        Assert.Equal("RecordAgeExceeded", upper.Condition);
        using JsonDocument record = JsonDocument.Parse(upper.Json);
        using JsonDocument first = JsonDocument.Parse(sent[0]);
        Assert.Equal(["a", "bad", "c", "d"], Emulate.Texts(first.RootElement));
        Assert.True(sent.Count > 2, "later events were built before the half expired");
        Assert.Equal(sent[0], record.RootElement.GetProperty("payload").GetString());
    }

    /// <summary>
    /// A retry of the same records is sent the same bytes; without a tumbling window, the very event built for the first
    /// try, not one built again (an hour of a failing stream retries its batches thousands of times, and each event is
    /// up to 6 MB). A window's event carries the state and is built for each invocation: only its bytes are compared.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(30)]
    public void ARetryOfTheSameRecords_IsSentTheSameBytes_BuiltOnceWithoutAWindow(int tumblingWindowSeconds)
    {
        EmulatorScenario scenario = Emulate.Texts("a", "b") with
        {
            Mapping = new() { MaximumRetryAttempts = 2, TumblingWindowInSeconds = tumblingWindowSeconds },
        };
        var sent = new List<ReadOnlyMemory<byte>>();
        var copies = new List<byte[]>();
        EmulationRecording run = Emulate.Run(scenario, _ => new DelegateHandler((e, _, _) =>
        {
            sent.Add(e);
            copies.Add(e.ToArray());
            return sent.Count < 3 ? throw new InvalidOperationException("fail") : Task.FromResult<ReadOnlyMemory<byte>>("{\"state\":{}}"u8.ToArray());
        }));

        Assert.Equal(
            [InvocationOutcome.Error, InvocationOutcome.Error, InvocationOutcome.Success],
            run.Invocations.Take(3).Select(i => i.Outcome));
        Assert.All(copies.Skip(1).Take(2), c => Assert.Equal(copies[0], c));
        if (tumblingWindowSeconds == 0)
        {
            Assert.All(sent.Skip(1).Take(2), e => Assert.True(e.Equals(sent[0]), "the retry's event was built again"));
        }
    }

    [Fact]
    public void ABuffer_GivenBack_IsRentedAgain_ForAnEventOfItsSize()
    {
        var buffers = new EventBuffers();
        byte[] first = buffers.Rent(5000);
        Assert.Equal(8192, first.Length);
        buffers.Return(first.AsMemory(0, 5000));

        Assert.Same(first, buffers.Rent(7000));
        Assert.NotSame(first, buffers.Rent(7000)); // taken: a new one
        Assert.Equal(16384, buffers.Rent(8193).Length);
    }

    [Fact]
    public void AnArrayNotOfAPooledSize_IsNotKept()
    {
        var buffers = new EventBuffers();
        buffers.Return(new byte[5000]);
        buffers.Return(new byte[EventBuffers.MaxPooledBytes * 2]);
        byte[] big = buffers.Rent(EventBuffers.MaxPooledBytes + 1);
        Assert.Equal(EventBuffers.MaxPooledBytes + 1, big.Length); // above the largest size: exact, and never kept
        buffers.Return(big);

        Assert.Equal(8192, buffers.Rent(5000).Length);
        Assert.NotSame(big, buffers.Rent(EventBuffers.MaxPooledBytes + 1));
    }

    [Fact]
    public void AtMostMaxPerSize_AreKept()
    {
        var buffers = new EventBuffers();
        byte[][] arrays = Enumerable.Range(0, EventBuffers.MaxPerSize + 1).Select(_ => buffers.Rent(4096)).ToArray();
        foreach (byte[] array in arrays)
        {
            buffers.Return(array);
        }

        var rented = new HashSet<byte[]>(Enumerable.Range(0, EventBuffers.MaxPerSize + 1).Select(_ => buffers.Rent(4096)), ReferenceEqualityComparer.Instance);
        Assert.Equal(EventBuffers.MaxPerSize, rented.Count(arrays.Contains));
    }
}
