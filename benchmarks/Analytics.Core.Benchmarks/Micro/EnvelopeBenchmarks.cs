using BenchmarkDotNet.Attributes;

namespace Analytics.Core.Benchmarks.Micro;

/// <summary>
/// Reading the envelope of the benchmark event (every record, nothing decoded): <see cref="KinesisEventReader"/>'s
/// scanner against <see cref="JsonKinesisEventReader"/>, the reader on Utf8JsonReader it replaced (now its fallback).
/// Both check the same things (field names, duplicates, sequence numbers, eventIDs, order, arrival times).
/// </summary>
[MemoryDiagnoser]
public class EnvelopeBenchmarks
{
    private byte[] _event = [];

    [Params(100, 10_000)]
    public int RecordCount { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _event = BenchmarkData.Event(BenchmarkData.Records(RecordCount, out _));
        var reader = new KinesisEventReader(_event);
        while (reader.Read())
        {
        }

        if (reader.UsesFallback || Utf8JsonReader() != Scanner())
        {
            throw new InvalidOperationException("The scanner fell back or the readers disagree.");
        }
    }

    /// <summary>The old reader: returns the sum of the records' data lengths, so nothing is optimized away.</summary>
    [Benchmark(Baseline = true)]
    public long Utf8JsonReader()
    {
        long sum = 0;
        var reader = new JsonKinesisEventReader(_event);
        while (reader.Read())
        {
            sum += reader.Current.RawBase64Data.Length + reader.Current.ApproximateArrivalTimestampMs;
        }

        return sum;
    }

    /// <summary>The scanner: the same sum.</summary>
    [Benchmark]
    public long Scanner()
    {
        long sum = 0;
        var reader = new KinesisEventReader(_event);
        while (reader.Read())
        {
            sum += reader.Current.RawBase64Data.Length + reader.Current.ApproximateArrivalTimestampMs;
        }

        return sum;
    }
}
