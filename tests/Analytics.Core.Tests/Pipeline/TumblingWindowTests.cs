using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Analytics.Core.Tests.Pipeline;

public class TumblingWindowTests
{
    private static byte[] WindowEvent(IEnumerable<TestRecord> records, string stateJson, bool final = false, bool terminatedEarly = false) =>
        TestEvents.BuildWindow(records, stateJson, final, terminatedEarly);

    private static TestRecord Good(int n, double value) =>
        new(TestEvents.Seq(n), TestEvents.Utf8(TestEvents.Sample("m", value, TestEvents.Arrival - 1000, ("k", "v"))), TestEvents.Arrival);

    private static async Task<JsonElement> Run(KinesisBatchProcessor processor, byte[] evt)
    {
        var output = new ArrayBufferWriter<byte>();
        await processor.ProcessAsync(evt, DateTimeOffset.UtcNow.AddSeconds(30), output);
        return JsonDocument.Parse(output.WrittenMemory).RootElement.Clone();
    }

    [Fact]
    public async Task State_TravelsAcrossInvocations_AndIsFlushedOnTheFinalOne()
    {
        var sink = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);

        JsonElement first = await Run(processor, WindowEvent([Good(1, 1), Good(2, 2)], """{"1":282,"2":"715"}"""));
        Assert.Equal(0, sink.Calls);
        JsonElement state = first.GetProperty("state");
        Assert.Equal(282, state.GetProperty("1").GetInt32());     // foreign numeric state passes through
        Assert.Equal("715", state.GetProperty("2").GetString());  // foreign string state passes through
        Assert.Equal(0, first.GetProperty("batchItemFailures").GetArrayLength());

        JsonElement second = await Run(processor, WindowEvent([Good(3, 3)], state.GetRawText()));
        Assert.Equal(0, sink.Calls);

        JsonElement last = await Run(processor, WindowEvent([Good(4, 10)], second.GetProperty("state").GetRawText(), final: true));
        Assert.Equal(1, sink.Calls);
        SeenAggregate seen = Assert.Single(sink.Seen);
        Assert.Equal((4L, 16.0, 1.0, 10.0), (seen.Count, seen.Sum, seen.Min, seen.Max));
        Assert.Equal(TestEvents.Seq(1), seen.FirstSequenceNumber); // the window's whole range, kept in the state
        Assert.Equal(TestEvents.Seq(4), seen.LastSequenceNumber);
        Assert.False(last.GetProperty("state").TryGetProperty(ProcessorOptions.Default.StateKey, out _));
        Assert.Equal(282, last.GetProperty("state").GetProperty("1").GetInt32());
    }

    [Fact]
    public async Task WindowTerminatedEarly_Flushes()
    {
        var sink = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        await Run(processor, WindowEvent([Good(1, 1)], "{}", terminatedEarly: true));
        Assert.Equal(1, Assert.Single(sink.Seen).Count);
    }

    [Fact]
    public async Task StateTooLarge_FlushesEarly_AndStartsAFreshRange()
    {
        var sink = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default with { MaxStateBytes = 64 });
        JsonElement response = await Run(processor, WindowEvent([Good(1, 1), Good(2, 2)], "{}"));
        Assert.Equal(2, Assert.Single(sink.Seen).Count);
        Assert.False(response.GetProperty("state").TryGetProperty(ProcessorOptions.Default.StateKey, out _));
    }

    [Fact]
    public async Task UndecodableStateOfOurs_Throws_NeverResetsSilently()
    {
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default);
        string key = ProcessorOptions.Default.StateKey;
        await Assert.ThrowsAsync<WindowStateFormatException>(() => Run(processor, WindowEvent([Good(1, 1)], $$"""{"{{key}}":42}""")));
        await Assert.ThrowsAsync<WindowStateFormatException>(() => Run(processor, WindowEvent([Good(1, 1)], $$"""{"{{key}}":"bm90IG91cnM="}""")));
    }

    [Fact]
    public async Task FlushFailure_FailsTheInvocation()
    {
        var sink = new RecordingAggregateSink { Throw = new IOException("down"), Durable = _ => false };
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        await Assert.ThrowsAsync<BatchFailedException>(() => Run(processor, WindowEvent([Good(1, 1)], "{}", final: true)));
    }

    [Fact]
    public async Task WindowResponse_AlwaysCarriesState()
    {
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default);
        JsonElement response = await Run(processor, WindowEvent([], "{}"));
        Assert.Equal(JsonValueKind.Object, response.GetProperty("state").ValueKind);
        Assert.Equal(0, response.GetProperty("batchItemFailures").GetArrayLength());
    }
}
