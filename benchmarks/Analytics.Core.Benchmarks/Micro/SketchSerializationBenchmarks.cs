using System.Buffers;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Analytics.Core.Benchmarks.Micro;

/// <summary>
/// Binary form of one aggregate (count, sum, min, max and the sketch's bins) for <see cref="Values"/> values of a
/// given <see cref="Distribution"/>: time to write and to read back, and the size (the Serialized column).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class SketchSerializationBenchmarks
{
    private readonly ArrayBufferWriter<byte> _buffer = new(64 * 1024);
    private MetricAggregate _aggregate = null!;
    private MetricAggregate _readBack = null!;
    private byte[] _bytes = [];

    [Params(1, 100, 10_000, 1_000_000)]
    public int Values { get; set; }

    /// <summary>Latency: log-normal around 20 ms. Wide: log-uniform over 1e-3 to 1e9 (12 decades).</summary>
    [Params("Latency", "Wide")]
    public string Distribution { get; set; } = "Latency";

    [GlobalSetup]
    public void Setup()
    {
        _aggregate = Build(Values, Distribution);
        _readBack = new MetricAggregate(AggregatorOptions.Default);
        _bytes = SerializedBytes(_aggregate);
    }

    [Benchmark]
    public int Serialize()
    {
        _buffer.ResetWrittenCount();
        _aggregate.WriteTo(_buffer);
        return _buffer.WrittenCount;
    }

    [Benchmark]
    public long Deserialize()
    {
        _readBack.Clear();
        if (!_readBack.TryReadFrom(_bytes, out _))
        {
            throw new InvalidOperationException("Round trip failed.");
        }

        return _readBack.Count;
    }

    internal static MetricAggregate Build(int values, string distribution)
    {
        var random = new Random(values);
        var aggregate = new MetricAggregate(AggregatorOptions.Default);
        for (int i = 0; i < values; i++)
        {
            aggregate.Add(distribution == "Wide" ? Math.Pow(10, -3 + (12 * random.NextDouble())) : BenchmarkData.NextValue(random));
        }

        return aggregate;
    }

    internal static byte[] SerializedBytes(MetricAggregate aggregate)
    {
        var writer = new ArrayBufferWriter<byte>();
        aggregate.WriteTo(writer);
        return writer.WrittenSpan.ToArray();
    }

    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new SerializedSizeColumn());
    }

    /// <summary>The size of the binary form for the row's parameters (deterministic: seeded values).</summary>
    private sealed class SerializedSizeColumn : IColumn
    {
        public string Id => nameof(SerializedSizeColumn);

        public string ColumnName => "Serialized";

        public bool AlwaysShow => true;

        public ColumnCategory Category => ColumnCategory.Custom;

        public int PriorityInCategory => 0;

        public bool IsNumeric => true;

        public UnitType UnitType => UnitType.Size;

        public string Legend => "Bytes of the aggregate's binary form (MetricAggregate.WriteTo) for these parameters";

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) =>
            SerializedBytes(Build((int)benchmarkCase.Parameters["Values"], (string)benchmarkCase.Parameters["Distribution"])).Length.ToString("N0", CultureInfo.InvariantCulture) + " B";

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

        public bool IsAvailable(Summary summary) => true;
    }
}
