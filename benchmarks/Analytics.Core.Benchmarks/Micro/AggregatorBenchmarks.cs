using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;

namespace Analytics.Core.Benchmarks.Micro;

/// <summary>
/// The windowed aggregator alone: 100,000 samples over the 1,000 series of the event benchmarks and two
/// one-minute windows (about 2,000 pairs). One operation is one sample (Op/s = samples per second).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class AggregatorBenchmarks
{
    public const int Samples = 100_000;
    private byte[][] _keys = [];
    private int[] _series = [];
    private long[] _timestamps = [];
    private double[] _values = [];
    private MetricAggregator _aggregator = null!;

    [GlobalSetup]
    public void Setup()
    {
        _keys = new byte[1000][];
        for (int s = 0; s < _keys.Length; s++)
        {
            _keys[s] = SeriesKey.Encode(BenchmarkData.Metric(s), BenchmarkData.Dimensions(s).Select(d => KeyValuePair.Create(d.Key, d.Value)));
        }

        var random = new Random(7);
        _series = new int[Samples];
        _timestamps = new long[Samples];
        _values = new double[Samples];
        for (int i = 0; i < Samples; i++)
        {
            _series[i] = random.Next(_keys.Length);
            _timestamps[i] = BenchmarkData.ArrivalMs - random.Next(0, 90_000);
            _values[i] = BenchmarkData.NextValue(random);
        }

        _aggregator = new MetricAggregator(AggregatorOptions.Default);
        AddSamples();
        if (_aggregator.PairCount < 1000)
        {
            throw new InvalidOperationException("Expected about 2,000 pairs.");
        }
    }

    /// <summary>Samples into an aggregator cleared first (storage kept, as the pipeline reuses it per batch).</summary>
    [Benchmark(OperationsPerInvoke = Samples)]
    public int AddSamples()
    {
        MetricAggregator aggregator = _aggregator;
        aggregator.Clear();
        for (int i = 0; i < _series.Length; i++)
        {
            aggregator.TryAdd(SeriesKey.FromTrusted(_keys[_series[i]]), _timestamps[i], _values[i]);
        }

        return aggregator.PairCount;
    }

    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(StatisticColumn.OperationsPerSecond);
    }
}
