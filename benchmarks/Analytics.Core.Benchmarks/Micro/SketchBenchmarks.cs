using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;

namespace Analytics.Core.Benchmarks.Micro;

/// <summary>
/// The quantile sketch alone (α = 1 %, 2,048 bins): inserts of log-normal latency values and merges of sketches of
/// 1,000 such values each. Op/s is inserts or merges per second.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class SketchBenchmarks
{
    public const int Inserts = 100_000;
    public const int Merges = 1_000;
    private double[] _values = [];
    private QuantileSketch _sketch = null!;
    private QuantileSketch[] _parts = [];

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(11);
        _values = new double[Inserts];
        for (int i = 0; i < _values.Length; i++)
        {
            _values[i] = BenchmarkData.NextValue(random);
        }

        _sketch = new QuantileSketch();
        _parts = new QuantileSketch[Merges];
        for (int p = 0; p < _parts.Length; p++)
        {
            _parts[p] = new QuantileSketch();
            for (int i = 0; i < 1_000; i++)
            {
                _parts[p].Add(BenchmarkData.NextValue(random));
            }
        }
    }

    [Benchmark(OperationsPerInvoke = Inserts)]
    public long Insert()
    {
        QuantileSketch sketch = _sketch;
        sketch.Clear();
        foreach (double value in _values)
        {
            sketch.Add(value);
        }

        return sketch.Count;
    }

    [Benchmark(OperationsPerInvoke = Merges)]
    public long Merge()
    {
        QuantileSketch sketch = _sketch;
        sketch.Clear();
        foreach (QuantileSketch part in _parts)
        {
            sketch.Merge(part);
        }

        return sketch.Count;
    }

    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(StatisticColumn.OperationsPerSecond);
    }
}
