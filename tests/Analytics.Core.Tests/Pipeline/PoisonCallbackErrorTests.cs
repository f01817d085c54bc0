using System.Buffers;
using System.Text;
using System.Text.Json;
using FsCheck.Xunit;

namespace Analytics.Core.Tests.Pipeline;

/// <summary>
/// Found by a hostile-producer review (2026-12-07): an <see cref="ProcessorOptions.OnPoison"/> callback that threw
/// failed the whole batch, before any sink ran; every retry met the same record, so the poison record blocked its shard,
/// and through <see cref="KinesisFunction"/> the callback's message (the callback is given the record's data) became
/// Lambda's error. A callback is for logging: what it throws is counted, its type kept, and the record quarantined.
/// </summary>
public class PoisonCallbackErrorTests
{
    private static TestRecord Good(int n) => new(TestEvents.Seq(n), TestEvents.Utf8(TestEvents.Sample("m", n, TestEvents.Arrival - 1000)), TestEvents.Arrival);

    private static TestRecord Poison(int n, string text) => new(TestEvents.Seq(n), TestEvents.Utf8(text), TestEvents.Arrival);

    private static string[] Failures(ReadOnlySpan<byte> response)
    {
        using JsonDocument doc = JsonDocument.Parse(response.ToArray());
        return [.. doc.RootElement.GetProperty("batchItemFailures").EnumerateArray().Select(f => f.GetProperty("itemIdentifier").GetString()!)];
    }

    /// <summary>
    /// Any batch of valid and poison records, a callback that throws on any subset of its calls, any bound on the calls:
    /// every poison record is quarantined, every valid one aggregated, nothing is reported failed, and the summary counts
    /// exactly the calls that threw (computed here from the pattern, independently of the processor).
    /// </summary>
    [Property(MaxTest = 100)]
    public async Task AnyCallbackFailures_TheBatchCompletes_AndTheFailuresAreCounted(int seed)
    {
        var random = new Random(seed);
        int count = random.Next(1, 60);
        bool[] poison = [.. Enumerable.Range(0, count).Select(_ => random.Next(3) == 0)];
        int maxCallbacks = random.Next(0, 8);
        var throwsOnCall = new HashSet<int>(Enumerable.Range(0, count).Where(_ => random.Next(2) == 0));
        TestRecord[] records = [.. Enumerable.Range(0, count).Select(i => poison[i] ? Poison(i + 1, "{\"secret\":" + i) : Good(i + 1))];

        int calls = 0;
        var aggregates = new RecordingAggregateSink();
        var quarantine = new RecordingQuarantineSink();
        using var processor = new KinesisBatchProcessor(aggregates, quarantine, ProcessorOptions.Default with
        {
            MaxPoisonCallbacks = maxCallbacks,
            OnPoison = _ =>
            {
                int call = calls++;
                if (throwsOnCall.Contains(call))
                {
                    throw call % 2 == 0 ? new InvalidOperationException("logger broke") : new FormatException("bad");
                }
            },
        });
        var response = new ArrayBufferWriter<byte>();

        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build(records), DateTimeOffset.UtcNow.AddSeconds(30), response);

        int poisonCount = poison.Count(p => p);
        int called = Math.Min(poisonCount, maxCallbacks);
        int[] thrown = [.. Enumerable.Range(0, called).Where(throwsOnCall.Contains)];
        Assert.Empty(Failures(response.WrittenSpan));
        Assert.Equal(poisonCount, quarantine.Records.Count);
        Assert.Equal(poisonCount, summary.Quarantined);
        Assert.Equal(count - poisonCount, summary.ValidRecords);
        Assert.Equal(called, calls);
        Assert.Equal(thrown.Length, summary.PoisonCallbackErrors);
        string? firstType = thrown.Length == 0 ? null : thrown[0] % 2 == 0 ? typeof(InvalidOperationException).FullName : typeof(FormatException).FullName;
        Assert.Equal(firstType, summary.PoisonCallbackError);
    }

    [Fact]
    public async Task ThroughKinesisFunction_TheLineSaysTheCallbackFailed_WithItsTypeOnly_AndNoPayload()
    {
        const string Payload = "{\"customer\":\"4111-1111-1111-1111\"";
        var output = new MemoryStream();
        var quarantine = new RecordingQuarantineSink();
        using var function = new KinesisFunction(new RecordingAggregateSink(), quarantine, KinesisFunctionOptions.Default with
        {
            Output = output,
            Processor = ProcessorOptions.Default with { OnPoison = r => throw new FormatException("could not read " + Encoding.UTF8.GetString(Convert.FromBase64String(r.Data))) },
        });

        Stream response = await function.HandleAsync(new MemoryStream(TestEvents.Build([Good(1), Poison(2, Payload), Good(3), Poison(4, Payload)])), TimeSpan.FromSeconds(30));

        Assert.Empty(Failures(new BinaryReader(response).ReadBytes((int)response.Length)));
        Assert.Equal(2, quarantine.Records.Count);
        string text = Encoding.UTF8.GetString(output.ToArray());
        Assert.DoesNotContain("4111", text, StringComparison.Ordinal);
        Assert.DoesNotContain("could not read", text, StringComparison.Ordinal);
        JsonElement invocation = text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement.Clone())
            .Single(l => l.TryGetProperty("message", out JsonElement m) && m.GetString() == "invocation");
        Assert.Equal("Warn", invocation.GetProperty("level").GetString());
        Assert.Equal(2, invocation.GetProperty("poisonCallbackErrors").GetInt32());
        Assert.Equal("System.FormatException", invocation.GetProperty("poisonCallbackError").GetString());
        Assert.Equal(2, invocation.GetProperty("quarantined").GetInt32());
    }

    [Fact]
    public async Task ACallbackThatDoesNotThrow_LeavesTheLineAtInfo_WithNoError()
    {
        var output = new MemoryStream();
        int calls = 0;
        using var function = new KinesisFunction(new RecordingAggregateSink(), new RecordingQuarantineSink(), KinesisFunctionOptions.Default with
        {
            Output = output,
            Processor = ProcessorOptions.Default with { OnPoison = _ => calls++ },
        });

        await function.HandleAsync(new MemoryStream(TestEvents.Build([Good(1), Poison(2, "{")])), TimeSpan.FromSeconds(30));

        JsonElement invocation = Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement.Clone())
            .Single(l => l.TryGetProperty("message", out JsonElement m) && m.GetString() == "invocation");
        Assert.Equal(1, calls);
        Assert.Equal("Info", invocation.GetProperty("level").GetString());
        Assert.Equal(0, invocation.GetProperty("poisonCallbackErrors").GetInt32());
        Assert.Equal(JsonValueKind.Null, invocation.GetProperty("poisonCallbackError").ValueKind);
    }
}
