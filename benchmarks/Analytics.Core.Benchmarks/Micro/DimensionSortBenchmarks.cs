using System.Text;
using BenchmarkDotNet.Attributes;

namespace Analytics.Core.Benchmarks.Micro;

/// <summary>
/// The record parser's insertion sort of dimension keys as it reads them, on the 30 keys a TooManyDimensions record of
/// PoisonBenchmarks holds before it is refused (<c>k0</c> to <c>k29</c>) and on the 3 keys of a benchmark record: with
/// <see cref="MemoryExtensions.SequenceCompareTo{T}(ReadOnlySpan{T}, ReadOnlySpan{T})"/> (before) and with the parser's
/// <c>CompareKeys</c>, which compares the first bytes inline.
/// </summary>
[MemoryDiagnoser]
public class DimensionSortBenchmarks
{
    private byte[][] _keys = [];
    private readonly int[] _order = new int[32];

    [Params(3, 30)]
    public int Keys { get; set; }

    [GlobalSetup]
    public void Setup() =>
        _keys = Keys == 3
            ? [.. new[] { "service", "region", "zone" }.Select(Encoding.UTF8.GetBytes)]
            : [.. Enumerable.Range(0, Keys).Select(k => Encoding.UTF8.GetBytes("k" + k))];

    /// <summary>Sorts the keys' indices; returns the first one (or -1 at a duplicate).</summary>
    [Benchmark(Baseline = true)]
    public int SequenceCompareTo()
    {
        for (int count = 0; count < _keys.Length; count++)
        {
            ReadOnlySpan<byte> key = _keys[count];
            int i = count;
            while (i > 0)
            {
                int c = key.SequenceCompareTo(_keys[_order[i - 1]]);
                if (c == 0)
                {
                    return -1;
                }

                if (c > 0)
                {
                    break;
                }

                _order[i] = _order[i - 1];
                i--;
            }

            _order[i] = count;
        }

        return _order[0];
    }

    /// <summary>The same with the parser's comparison.</summary>
    [Benchmark]
    public int CompareKeys()
    {
        for (int count = 0; count < _keys.Length; count++)
        {
            ReadOnlySpan<byte> key = _keys[count];
            int i = count;
            while (i > 0)
            {
                int c = MetricRecordParser.CompareKeys(key, _keys[_order[i - 1]]);
                if (c == 0)
                {
                    return -1;
                }

                if (c > 0)
                {
                    break;
                }

                _order[i] = _order[i - 1];
                i--;
            }

            _order[i] = count;
        }

        return _order[0];
    }
}
