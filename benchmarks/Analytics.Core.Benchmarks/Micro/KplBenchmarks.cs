using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;

namespace Analytics.Core.Benchmarks.Micro;

/// <summary>
/// KPL de-aggregation: checksum, validation and enumeration of containers of 100 user records of 150 to 300 bytes.
/// One operation is one user record, so Mean is the time and Allocated the bytes per user record.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class KplBenchmarks
{
    public const int Containers = 10;
    public const int UserRecordsPerContainer = 100;
    private byte[][] _containers = [];

    /// <summary>Total container bytes (for MB/s: ContainerBytes / (Mean × 1,000)).</summary>
    public static int ContainerBytes { get; private set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        _containers = new byte[Containers][];
        for (int c = 0; c < Containers; c++)
        {
            var users = new List<(string, byte[])>(UserRecordsPerContainer);
            for (int i = 0; i < UserRecordsPerContainer; i++)
            {
                users.Add(("pk-" + random.Next(20), BenchmarkData.RecordData(i, random, out _)));
            }

            _containers[c] = KplEncoder.Aggregate(users);
        }

        ContainerBytes = _containers.Sum(c => c.Length);
        if (Deaggregate() == 0)
        {
            throw new InvalidOperationException("No user record read.");
        }
    }

    [Benchmark(OperationsPerInvoke = Containers * UserRecordsPerContainer)]
    public long Deaggregate()
    {
        long bytes = 0;
        foreach (byte[] container in _containers)
        {
            if (!KplAggregate.IsAggregated(container) || !KplAggregate.TryRead(container, out KplRecordReader reader, out _, out _))
            {
                throw new InvalidOperationException("Bad container.");
            }

            foreach (KplUserRecord user in reader)
            {
                bytes += user.Data.Length + user.PartitionKey.Length;
            }
        }

        return bytes;
    }

    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(StatisticColumn.OperationsPerSecond);
    }
}
