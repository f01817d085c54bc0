using System.Buffers;
using System.Text.Json;

namespace Analytics.Core.Benchmarks;

/// <summary>
/// What a function written today does with the same event: System.Text.Json (source generated) into POCOs shaped
/// like Amazon.Lambda.KinesisEvents, one JsonSerializer call per sample, a string-keyed dictionary of
/// (metric, sorted dimensions, window) with a list of values per key, sorted at the end for p50/p90/p95/p99.
/// </summary>
public sealed class BaselineProcessor
{
    private const long WindowMs = 60_000;
    private const long MaxFutureSkewMs = 5 * 60_000;
    private const long MaxAgeMs = 24 * 3_600_000;

    /// <summary>The aggregates of the last call, as a sink would receive them.</summary>
    public Dictionary<string, BaselineAggregate> Aggregates { get; private set; } = [];

    /// <summary>Processes the event; returns the number of valid samples.</summary>
    public int Process(byte[] utf8Event, IBufferWriter<byte> response)
    {
        KinesisEvent evt = JsonSerializer.Deserialize(utf8Event, BaselineJson.Default.KinesisEvent)!;
        var groups = new Dictionary<string, BaselineAggregate>(StringComparer.Ordinal);
        var failures = new BatchResponse();
        int samples = 0;
        foreach (KinesisEventRecord record in evt.Records)
        {
            long arrivalMs = new DateTimeOffset(record.Kinesis.ApproximateArrivalTimestamp, TimeSpan.Zero).ToUnixTimeMilliseconds();
            // The stream's buffer is not exposed (it wraps Convert.FromBase64String's array): users call ToArray.
            ReadOnlySpan<byte> data = record.Kinesis.Data.ToArray();
            var valid = new List<MetricPoco>();
            bool poison = false;
            while (!data.IsEmpty)
            {
                int newline = data.IndexOf((byte)'\n');
                ReadOnlySpan<byte> line = newline < 0 ? data : data.Slice(0, newline);
                data = newline < 0 ? default : data.Slice(newline + 1);
                if (line.Trim((byte)'\r').IsEmpty)
                {
                    continue;
                }

                MetricPoco? sample;
                try
                {
                    sample = JsonSerializer.Deserialize(line, BaselineJson.Default.MetricPoco);
                }
                catch (JsonException)
                {
                    poison = true;
                    break;
                }

                if (sample is null || string.IsNullOrEmpty(sample.Metric) || !double.IsFinite(sample.Value)
                    || sample.Timestamp > arrivalMs + MaxFutureSkewMs || sample.Timestamp < arrivalMs - MaxAgeMs)
                {
                    poison = true;
                    break;
                }

                valid.Add(sample);
            }

            if (poison)
            {
                continue; // a real function would quarantine it; the benchmark events have no poison
            }

            foreach (MetricPoco sample in valid)
            {
                string dims = sample.Dimensions is null
                    ? string.Empty
                    : string.Join(",", sample.Dimensions.OrderBy(d => d.Key, StringComparer.Ordinal).Select(d => d.Key + "=" + d.Value));
                long window = sample.Timestamp - (sample.Timestamp % WindowMs);
                string key = sample.Metric + "|" + dims + "|" + window;
                if (!groups.TryGetValue(key, out BaselineAggregate? aggregate))
                {
                    aggregate = new BaselineAggregate();
                    groups.Add(key, aggregate);
                }

                aggregate.Values.Add(sample.Value);
                aggregate.Sum += sample.Value;
                aggregate.Min = Math.Min(aggregate.Min, sample.Value);
                aggregate.Max = Math.Max(aggregate.Max, sample.Value);
                samples++;
            }
        }

        foreach (BaselineAggregate aggregate in groups.Values)
        {
            aggregate.Values.Sort();
            aggregate.P50 = Quantile(aggregate.Values, 0.50);
            aggregate.P90 = Quantile(aggregate.Values, 0.90);
            aggregate.P95 = Quantile(aggregate.Values, 0.95);
            aggregate.P99 = Quantile(aggregate.Values, 0.99);
        }

        Aggregates = groups;
        using var writer = new Utf8JsonWriter(response);
        JsonSerializer.Serialize(writer, failures, BaselineJson.Default.BatchResponse);
        return samples;
    }

    private static double Quantile(List<double> sorted, double q) => sorted[(int)Math.Floor(q * (sorted.Count - 1))];
}
