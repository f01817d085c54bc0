using System.Globalization;
using System.Text.Json;
using Amazon.DynamoDBv2.Model;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// One item's aggregate as the tests compare it: count, sum, min and max (the readable attributes; not the sketch).
/// Equality is exact; <see cref="EqualsWithinRounding"/> allows the sum's rounding where the table added the samples in
/// another order than the records.
/// </summary>
internal sealed record Truth(long Count, double Sum, double Min, double Max)
{
    /// <summary>The truth of one sample.</summary>
    public static Truth Of(double value) => new(1, value, value, value);

    /// <summary>The truth of samples, added in the order given.</summary>
    public static Truth Of(IEnumerable<double> values)
    {
        Truth? truth = null;
        foreach (double value in values)
        {
            truth = truth is null ? Of(value) : truth.Add(value);
        }

        return truth ?? throw new ArgumentException("no sample", nameof(values));
    }

    /// <summary>This truth and one more sample.</summary>
    public Truth Add(double value) => new(Count + 1, Sum + value, Math.Min(Min, value), Math.Max(Max, value));

    /// <summary>Equal, but for a relative difference of the sums of at most 1e-9.</summary>
    public bool EqualsWithinRounding(Truth? other) =>
        other is not null && Count == other.Count && Min.Equals(other.Min) && Max.Equals(other.Max) && Math.Abs(Sum - other.Sum) <= 1e-9 * Math.Max(1, Math.Abs(Sum));

    /// <summary>Whether a stored aggregate holds something <paramref name="truth"/> does not: more samples, or a value outside its range (a sample counted twice, or one that does not belong).</summary>
    public bool Exceeds(Truth truth) => Count > truth.Count || Min < truth.Min || Max > truth.Max;
}

/// <summary>
/// The true aggregates, computed from the records produced alone (never from what the pipeline did), and the table's
/// aggregates read from the DynamoDB model, keyed alike: (series, window start in epoch milliseconds). One definition
/// for every test that compares a table with the truth.
/// </summary>
internal static class TrueAggregates
{
    /// <summary>
    /// Every valid record's sample, with its sequence number, per item. A record is valid when it is the JSON the
    /// generators write (<c>metric</c>, <c>value</c>, <c>timestamp</c> in epoch ms, at most one dimension); one that is
    /// not JSON is poison. The series is the metric, then <c>|name=value</c> of the dimension: the table's <c>pk</c>.
    /// </summary>
    /// <param name="records">The records produced.</param>
    /// <param name="windowMs">The window size of the function.</param>
    /// <param name="poison">The sequence numbers of the records that are not JSON.</param>
    /// <returns>Per item, its samples in record order.</returns>
    public static Dictionary<(string Series, long Window), List<(string SequenceNumber, double Value)>> SamplesOf(IEnumerable<StreamRecord> records, long windowMs, out HashSet<string> poison)
    {
        var samples = new Dictionary<(string, long), List<(string, double)>>();
        poison = [];
        foreach (StreamRecord record in records)
        {
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(record.Data);
            }
            catch (JsonException)
            {
                poison.Add(record.SequenceNumber);
                continue;
            }

            using (document)
            {
                JsonElement root = document.RootElement;
                string series = root.GetProperty("metric").GetString()!;
                if (root.TryGetProperty("dimensions", out JsonElement dimensions))
                {
                    JsonProperty[] all = [.. dimensions.EnumerateObject()];
                    if (all.Length > 1)
                    {
                        throw new InvalidOperationException("the truth knows series of at most one dimension");
                    }

                    series += all.Length == 1 ? "|" + all[0].Name + "=" + all[0].Value.GetString() : string.Empty;
                }

                long timestamp = root.GetProperty("timestamp").GetInt64();
                (string, long) item = (series, timestamp - (timestamp % windowMs));
                if (!samples.TryGetValue(item, out List<(string, double)>? list))
                {
                    samples[item] = list = [];
                }

                list.Add((record.SequenceNumber, root.GetProperty("value").GetDouble()));
            }
        }

        return samples;
    }

    /// <summary>The true aggregate of every item (<see cref="SamplesOf"/>).</summary>
    public static Dictionary<(string Series, long Window), Truth> Of(IEnumerable<StreamRecord> records, long windowMs, out HashSet<string> poison) =>
        SamplesOf(records, windowMs, out poison).ToDictionary(s => s.Key, s => Truth.Of(s.Value.Select(v => v.Value)));

    /// <summary>The table's aggregates: count, sum, min, max of every item, keyed by <c>pk</c> and window start.</summary>
    public static Dictionary<(string Series, long Window), Truth> Stored(DynamoDbModel model, string table)
    {
        var stored = new Dictionary<(string, long), Truth>();
        foreach (Dictionary<string, AttributeValue> item in model.GetItems(table))
        {
            long window = DateTimeOffset.Parse(item["windowStart"].S, CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();
            stored[(item["pk"].S, window)] = new Truth(
                long.Parse(item["count"].N, CultureInfo.InvariantCulture),
                double.Parse(item["sum"].N, CultureInfo.InvariantCulture),
                double.Parse(item["min"].N, CultureInfo.InvariantCulture),
                double.Parse(item["max"].N, CultureInfo.InvariantCulture));
        }

        return stored;
    }
}
