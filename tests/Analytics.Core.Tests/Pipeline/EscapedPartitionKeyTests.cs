using System.Buffers;
using System.Text;

namespace Analytics.Core.Tests.Pipeline;

/// <summary>The partition keys a sink sees are the producer's keys, whether or not the event escapes them.</summary>
public class EscapedPartitionKeyTests
{
    private sealed class KeyCapturingSink : IAggregateSink
    {
        public List<string> Keys { get; } = [];

        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            for (int pair = 0; pair < batch.Count; pair++)
            {
                for (int k = 0; k < batch.GetPartitionKeyCount(pair); k++)
                {
                    Keys.Add(Encoding.UTF8.GetString(batch.GetPartitionKey(pair, k)));
                }
            }

            batch.MarkAllDurable();
            return Task.CompletedTask;
        }
    }

    [Fact]
    public async Task EscapedKeys_ReachTheSinkUnescaped_AndAnEscapedAndAPlainSpellingAreOneKey()
    {
        // Utf8JsonWriter escapes non-ASCII and quotes, so "ké" and "k\"q" arrive escaped; "plain" arrives as it is.
        string[] producerKeys = ["ké", "k\"q", "plain", "ké"];
        TestRecord[] records = producerKeys.Select((key, i) => new TestRecord(
            TestEvents.Seq(i + 1), TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival)), TestEvents.Arrival, key)).ToArray();
        byte[] evt = TestEvents.Build(records);
        Assert.True(evt.AsSpan().IndexOf("\"k\\u00E9\""u8) >= 0 && evt.AsSpan().IndexOf("\"k\\u0022q\""u8) >= 0, "the event must carry the keys escaped");

        var sink = new KeyCapturingSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        await processor.ProcessAsync(evt, DateTimeOffset.UtcNow + TimeSpan.FromSeconds(30), new ArrayBufferWriter<byte>());

        Assert.Equal(producerKeys.Distinct().Order(StringComparer.Ordinal), sink.Keys.Order(StringComparer.Ordinal));
    }
}
