using System.Globalization;
using System.Numerics;
using System.Text;
using Analytics.Core.Tests;

namespace Analytics.Core.Testing.Tests;

/// <summary>One record of a test event: its partition key, sequence number and raw data (a metric record or poison).</summary>
internal sealed record TestRecord(string PartitionKey, string SequenceNumber, byte[] Data, bool Poison);

/// <summary>Kinesis events shaped as Lambda delivers them, with metric records and a few poison ones, from a seed.</summary>
internal static class KinesisEventBuilder
{
    public const string ShardId = TestEvents.ShardId;
    public const string StreamArn = TestEvents.StreamArn;
    private const long BaseMs = 1_714_564_800_000; // 2024-05-01T12:00:00Z

    private static readonly string[] s_metrics = ["api.latency_ms", "api.bytes_out", "queue.depth"];
    private static readonly string[] s_services = ["checkout", "search", "cart"];

    /// <summary>Records of one shard in sequence order; about one in twelve is poison (bad base64 text or bad JSON).</summary>
    public static TestRecord[] Generate(int seed, int count)
    {
        var random = new Random(seed);
        BigInteger sequence = BigInteger.Parse("49659185302958231829457386524915989896782222675847119050", CultureInfo.InvariantCulture);
        var records = new TestRecord[count];
        for (int i = 0; i < count; i++)
        {
            sequence += random.Next(1, 100_000);
            string partitionKey = "pk-" + random.Next(8).ToString(CultureInfo.InvariantCulture);
            bool poison = random.Next(12) == 0;
            byte[] data;
            if (poison)
            {
                data = Encoding.UTF8.GetBytes("{\"metric\":\"api.latency_ms\",\"value\":");
            }
            else
            {
                string metric = s_metrics[random.Next(s_metrics.Length)];
                string service = s_services[random.Next(s_services.Length)];
                double value = Math.Round(random.NextDouble() * 500, 3);
                long timestamp = BaseMs + random.Next(0, 3 * 60_000);
                data = Encoding.UTF8.GetBytes(string.Create(
                    CultureInfo.InvariantCulture,
                    $"{{\"metric\":\"{metric}\",\"value\":{value},\"timestamp\":{timestamp},\"dimensions\":{{\"service\":\"{service}\"}}}}"));
            }

            records[i] = new TestRecord(partitionKey, sequence.ToString(CultureInfo.InvariantCulture), data, poison);
        }

        return records;
    }

    /// <summary>The event Lambda would send for these records (the core tests' builder; arrivals one second apart).</summary>
    public static byte[] Event(IEnumerable<TestRecord> records) =>
        TestEvents.Build(records.Select((r, i) => new Analytics.Core.Tests.TestRecord(r.SequenceNumber, r.Data, BaseMs + 500 + (i * 1000L), r.PartitionKey)));
}
