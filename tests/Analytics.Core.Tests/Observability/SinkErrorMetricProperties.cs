using System.Buffers;
using System.Text;
using System.Text.Json;
using Analytics.Core.Tests.Pipeline;
using FsCheck.Xunit;

namespace Analytics.Core.Tests.Observability;

/// <summary>
/// A sink failure is seen both where operators alarm: the invocation line at <c>Error</c> and the EMF line's
/// <c>SinkErrors</c>. Found by review: a short quarantine write was "Completed", and a failure with nothing to re-deliver
/// moved no metric.
/// </summary>
public class SinkErrorMetricProperties
{
    private enum AggregateBehaviour
    {
        MarksAll,
        MarksSome,
        Throws,
        MarksAllThenThrows,
    }

    private enum QuarantineBehaviour
    {
        StoresAll,
        StoresFewer,
        Throws,
    }

    private static TestRecord Good(int n) => new(TestEvents.Seq(n), TestEvents.Utf8(TestEvents.Sample("m" + (n % 3), n, TestEvents.Arrival - 1000)), TestEvents.Arrival);

    private static TestRecord Poison(int n) => new(TestEvents.Seq(n), TestEvents.Utf8("not json " + n), TestEvents.Arrival);

    /// <summary>
    /// Any batch of valid and poison records, any way each sink ends (with time left), a poison callback that throws or
    /// not: the EMF line's <c>SinkErrors</c> is the number of sinks that failed, computed here from the behaviours drawn
    /// (the aggregate sink threw, whatever it marked first; the quarantine sink threw or stored fewer than it was given),
    /// present only when not 0 and declared in the metrics directive exactly then; <c>PoisonCallbackErrors</c> likewise
    /// (each poison record's callback throws once); and the invocation line is at <c>Error</c> exactly when a sink failed.
    /// </summary>
    [Property(MaxTest = 200)]
    public async Task SinkErrors_CountsTheSinksThatFailed_AndOnlyThen(int seed)
    {
        var random = new Random(seed);
        int count = random.Next(1, 12);
        bool[] poison = [.. Enumerable.Range(0, count).Select(_ => random.Next(3) == 0)];
        var aggregate = (AggregateBehaviour)random.Next(4);
        var quarantine = (QuarantineBehaviour)random.Next(3);
        bool callbackThrows = random.Next(2) == 0;
        int poisonCount = poison.Count(p => p), validCount = count - poisonCount;

        var aggregates = new RecordingAggregateSink
        {
            Durable = aggregate == AggregateBehaviour.MarksSome ? i => i % 2 == 0 : null,
            Throw = aggregate is AggregateBehaviour.Throws or AggregateBehaviour.MarksAllThenThrows ? new IOException("disk gone") : null,
        };
        if (aggregate == AggregateBehaviour.Throws)
        {
            aggregates.Durable = _ => false;
        }

        var quarantined = new RecordingQuarantineSink
        {
            DurableCount = quarantine == QuarantineBehaviour.StoresFewer ? Math.Max(0, poisonCount - 1 - random.Next(Math.Max(1, poisonCount))) : null,
            Throw = quarantine == QuarantineBehaviour.Throws ? new IOException("bucket gone") : null,
        };
        using var processor = new KinesisBatchProcessor(aggregates, quarantined, ProcessorOptions.Default with
        {
            OnPoison = callbackThrows ? _ => throw new FormatException("callback broke") : null,
        });
        TestRecord[] records = [.. Enumerable.Range(0, count).Select(i => poison[i] ? Poison(i + 1) : Good(i + 1))];

        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build(records), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
        var lines = new ArrayBufferWriter<byte>();
        JsonLog.WriteInvocation(summary, JsonLogOptions.Default, lines);
        EmfMetrics.Write(summary, EmfOptions.Default, lines);
        string[] text = Encoding.UTF8.GetString(lines.WrittenSpan).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        // A sink is called only when it has something to write; with a poison record not stored, the aggregate sink still runs.
        int expectedSinkErrors =
            (validCount > 0 && aggregate is AggregateBehaviour.Throws or AggregateBehaviour.MarksAllThenThrows ? 1 : 0)
            + (poisonCount > 0 && quarantine is QuarantineBehaviour.Throws or QuarantineBehaviour.StoresFewer ? 1 : 0);
        int expectedCallbackErrors = callbackThrows ? poisonCount : 0;

        using JsonDocument line = JsonDocument.Parse(text[0]);
        using JsonDocument emf = JsonDocument.Parse(text.Single(l => l.StartsWith("{\"_aws\"", StringComparison.Ordinal)));
        string[] declared = [.. emf.RootElement.GetProperty("_aws").GetProperty("CloudWatchMetrics")[0].GetProperty("Metrics").EnumerateArray().Select(m => m.GetProperty("Name").GetString()!)];
        string describe = $"valid={validCount} poison={poisonCount} aggregate={aggregate} quarantine={quarantine} callbackThrows={callbackThrows}: {text[0]}";

        Assert.True(expectedSinkErrors == summary.FailedSinks, describe);
        AssertCount(emf.RootElement, declared, "SinkErrors", expectedSinkErrors, describe);
        AssertCount(emf.RootElement, declared, "PoisonCallbackErrors", expectedCallbackErrors, describe);
        Assert.True((line.RootElement.GetProperty("level").GetString() == "Error") == (expectedSinkErrors > 0), describe);
        if (quarantine == QuarantineBehaviour.StoresFewer && poisonCount > 0)
        {
            Assert.True(summary.QuarantineSinkOutcome == SinkOutcome.Failed, describe);
            Assert.StartsWith("The quarantine sink returned with ", summary.QuarantineSinkError, StringComparison.Ordinal);
        }
    }

    private enum SpillBehaviour
    {
        Stores,
        NotStored,
        WriteThrows,
        RemovalThrows,
    }

    /// <summary>
    /// The same with a spill sink and batches old enough to spill (their first record ten minutes old): the spill sink is
    /// counted when its removal of an unconfirmed spill threw (the aggregate sink is then not called, and the pairs go to
    /// the spill), or when it was asked to store the pairs left and answered "not stored" or threw; computed here from the behaviours
    /// drawn and the pairs the batch makes (one per metric name among the valid records).
    /// </summary>
    [Property(MaxTest = 200)]
    public async Task SinkErrors_CountsTheSpillSink_WhenItFailed(int seed)
    {
        var random = new Random(seed);
        int count = random.Next(1, 12);
        bool[] poison = [.. Enumerable.Range(0, count).Select(_ => random.Next(3) == 0)];
        var aggregate = (AggregateBehaviour)random.Next(4);
        var quarantine = (QuarantineBehaviour)random.Next(3);
        var spillBehaviour = (SpillBehaviour)random.Next(4);
        int poisonCount = poison.Count(p => p), validCount = count - poisonCount;
        int pairs = Enumerable.Range(1, count).Where(n => !poison[n - 1]).Select(n => n % 3).Distinct().Count();

        var aggregates = new RecordingAggregateSink
        {
            Durable = aggregate switch { AggregateBehaviour.MarksSome => i => i % 2 == 0, AggregateBehaviour.Throws => _ => false, _ => null },
            Throw = aggregate is AggregateBehaviour.Throws or AggregateBehaviour.MarksAllThenThrows ? new IOException("disk gone") : null,
        };
        var quarantined = new RecordingQuarantineSink
        {
            DurableCount = quarantine == QuarantineBehaviour.StoresFewer ? Math.Max(0, poisonCount - 1) : null,
            Throw = quarantine == QuarantineBehaviour.Throws ? new IOException("bucket gone") : null,
        };
        var spill = new TestSpillSink
        {
            Remove = spillBehaviour == SpillBehaviour.RemovalThrows ? SpillCall.Fault : SpillCall.Result,
            Write = spillBehaviour == SpillBehaviour.WriteThrows ? SpillCall.Fault : SpillCall.Result,
            WriteResult = spillBehaviour != SpillBehaviour.NotStored,
            Throw = new IOException("spill bucket gone"),
        };
        var clock = new ManualTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival) + TimeSpan.FromMinutes(10));
        using var processor = new KinesisBatchProcessor(aggregates, quarantined, ProcessorOptions.Default with { TimeProvider = clock, SpillSink = spill });
        TestRecord[] records = [.. Enumerable.Range(0, count).Select(i => poison[i] ? Poison(i + 1) : Good(i + 1))];

        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build(records), clock.GetUtcNow() + TimeSpan.FromSeconds(30), new ArrayBufferWriter<byte>()).WaitAsync(TimeSpan.FromSeconds(30));
        var lines = new ArrayBufferWriter<byte>();
        JsonLog.WriteInvocation(summary, JsonLogOptions.Default, lines);
        EmfMetrics.Write(summary, EmfOptions.Default, lines);
        string[] text = Encoding.UTF8.GetString(lines.WrittenSpan).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        bool quarantineFailed = poisonCount > 0 && quarantine is QuarantineBehaviour.Throws or QuarantineBehaviour.StoresFewer;
        bool removalFailed = validCount > 0 && spillBehaviour == SpillBehaviour.RemovalThrows;
        bool aggregateCalled = validCount > 0 && !removalFailed;
        // Pairs left for a spill: all of them when the removal failed (the aggregate sink not called), else those it left.
        bool pairsLeft = removalFailed || (aggregateCalled && (aggregate == AggregateBehaviour.Throws || (aggregate == AggregateBehaviour.MarksSome && pairs > 1)));
        bool spillAsked = pairsLeft && !quarantineFailed;
        int expected =
            (aggregateCalled && aggregate is AggregateBehaviour.Throws or AggregateBehaviour.MarksAllThenThrows ? 1 : 0)
            + (quarantineFailed ? 1 : 0)
            + (removalFailed || (spillAsked && spillBehaviour is SpillBehaviour.NotStored or SpillBehaviour.WriteThrows) ? 1 : 0);

        using JsonDocument line = JsonDocument.Parse(text[0]);
        using JsonDocument emf = JsonDocument.Parse(text.Single(l => l.StartsWith("{\"_aws\"", StringComparison.Ordinal)));
        string[] declared = [.. emf.RootElement.GetProperty("_aws").GetProperty("CloudWatchMetrics")[0].GetProperty("Metrics").EnumerateArray().Select(m => m.GetProperty("Name").GetString()!)];
        string describe = $"valid={validCount} pairs={pairs} poison={poisonCount} aggregate={aggregate} quarantine={quarantine} spill={spillBehaviour} spillWrites={spill.Writes.Count}: {text[0]}";

        Assert.True(spillAsked == (spill.Writes.Count == 1), describe);
        AssertCount(emf.RootElement, declared, "SinkErrors", expected, describe);
        Assert.True((line.RootElement.GetProperty("level").GetString() == "Error") == (expected > 0), describe);
    }

    private static void AssertCount(JsonElement emf, string[] declared, string name, int expected, string describe)
    {
        if (expected == 0)
        {
            Assert.False(emf.TryGetProperty(name, out _), describe);
            Assert.DoesNotContain(name, declared);
        }
        else
        {
            Assert.True(emf.TryGetProperty(name, out JsonElement value) && value.GetInt32() == expected, $"{name} should be {expected}; {describe}");
            Assert.Contains(name, declared);
        }
    }
}
