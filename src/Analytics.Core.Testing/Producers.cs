using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;

namespace Analytics.Core.Testing;

/// <summary>Makes the data of one produced record.</summary>
/// <param name="index">The producer's running record number, from 0.</param>
/// <param name="partitionKey">The record's partition key.</param>
/// <param name="time">When the record is put.</param>
/// <param name="random">The run's seeded generator; the only source of randomness a generator may use.</param>
/// <returns>
/// The record's data (the blob, before base64): not <see langword="null"/>, and with the partition key at most 1 MiB,
/// as Kinesis requires (<see cref="StreamEmulator.Run"/> throws otherwise).
/// </returns>
public delegate byte[] RecordGenerator(long index, string partitionKey, DateTimeOffset time, Random random);

/// <summary>A step of a producer's rate schedule: from <see cref="FromSecond"/> on, <see cref="RatePerSecond"/>.</summary>
/// <param name="FromSecond">The virtual second (from the start) the rate takes effect.</param>
/// <param name="RatePerSecond">Records per second from then on.</param>
public readonly record struct RateStep(int FromSecond, double RatePerSecond);

/// <summary>A producer: puts records at a rate (constant or by schedule) over a number of partition keys.</summary>
public sealed record ProducerOptions
{
    /// <summary>Records per second from the start. Default 100.</summary>
    public double RatePerSecond { get; init; } = 100;

    /// <summary>Rate changes after the start, in order of <see cref="RateStep.FromSecond"/> (steps out of order, or two at one second, are refused). Default none.</summary>
    public IReadOnlyList<RateStep> Schedule { get; init; } = [];

    /// <summary>How many distinct partition keys (<c>{KeyPrefix}{n}</c>, n drawn from the seed). Default 16.</summary>
    public int PartitionKeys { get; init; } = 16;

    /// <summary>The partition keys' prefix. Default <c>pk-</c>.</summary>
    public string KeyPrefix { get; init; } = "pk-";

    /// <summary>The record data. Default <see cref="RecordGenerators.Metric"/>.</summary>
    public RecordGenerator Generator { get; init; } = RecordGenerators.Metric();

    /// <summary>The rate in effect at <paramref name="second"/>.</summary>
    /// <param name="second">Seconds from the start.</param>
    /// <returns>Records per second.</returns>
    public double RateAt(long second)
    {
        double rate = RatePerSecond;
        foreach (RateStep step in Schedule)
        {
            if (step.FromSecond <= second)
            {
                rate = step.RatePerSecond;
            }
        }

        return rate;
    }

    /// <summary>The name a rate's error gives: <c>RatePerSecond</c>, or step <paramref name="step"/>'s (<c>Schedule[0].RatePerSecond</c>); -1 for the producer's own.</summary>
    internal static string RateName(int step) =>
        step < 0 ? nameof(RatePerSecond) : string.Create(CultureInfo.InvariantCulture, $"{nameof(Schedule)}[{step}].{nameof(RateStep.RatePerSecond)}");

    internal void Validate()
    {
        ArgumentNullException.ThrowIfNull(Schedule);
        // A step's error names the step (found by review: it named the producer's own rate, which was valid).
        for (int i = -1; i < Schedule.Count; i++)
        {
            double rate = i < 0 ? RatePerSecond : Schedule[i].RatePerSecond;
            if (rate < 0 || double.IsNaN(rate))
            {
                throw new ArgumentOutOfRangeException(RateName(i), rate, "A rate must be 0 or more records per second.");
            }
        }

        if (Schedule.FirstOrDefault(s => s.FromSecond < 0) is { FromSecond: < 0 } early)
        {
            throw new ArgumentOutOfRangeException(nameof(Schedule), early.FromSecond, "A schedule step's FromSecond must be 0 or later (seconds from the run's start).");
        }

        // Out of order, a step listed after a later one never applied, and one second's rate was taken early: a consumer's
        // [(50 s, 10/s), (20 s, 5/s)] made 2,400 records instead of 2,650 without a word (found by review). replay's
        // scenario file refuses the same.
        for (int i = 1; i < Schedule.Count; i++)
        {
            if (Schedule[i].FromSecond <= Schedule[i - 1].FromSecond)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(Schedule),
                    Schedule[i].FromSecond,
                    string.Create(CultureInfo.InvariantCulture, $"Schedule[{i}].FromSecond must be after the step before it ({Schedule[i - 1].FromSecond}): list the steps in time order, one per second."));
            }
        }

        StreamOptions.Range(nameof(PartitionKeys), PartitionKeys, 1, int.MaxValue);
        ArgumentNullException.ThrowIfNull(KeyPrefix);
        int longest = KeyPrefix.Length + (PartitionKeys - 1).ToString(CultureInfo.InvariantCulture).Length;
        if (longest > 256)
        {
            // Kinesis refuses a PutRecord whose partition key is over 256 characters; explicit records are held to it too.
            throw new ArgumentOutOfRangeException(
                nameof(KeyPrefix),
                string.Create(CultureInfo.InvariantCulture, $"Partition keys ({{keyPrefix}}{{n}}) must be at most 256 characters, as Kinesis requires; with this keyPrefix ({KeyPrefix.Length} characters) and {PartitionKeys} keys the longest is {longest}."));
        }

        ArgumentNullException.ThrowIfNull(Generator);
    }
}

/// <summary>A record given explicitly: its key, data, and when it is put (ms after the start; negative: before).</summary>
/// <param name="PartitionKey">1 to 256 characters.</param>
/// <param name="Data">The blob.</param>
/// <param name="AtMs">Milliseconds after the scenario's start time.</param>
public sealed record ExplicitRecord(string PartitionKey, ReadOnlyMemory<byte> Data, long AtMs)
{
    /// <summary>A record whose data is <paramref name="text"/> in UTF-8.</summary>
    /// <param name="partitionKey">The partition key.</param>
    /// <param name="text">The data as text.</param>
    /// <param name="atMs">Milliseconds after the start.</param>
    /// <returns>The record.</returns>
    public static ExplicitRecord Text(string partitionKey, string text, long atMs) => new(partitionKey, Encoding.UTF8.GetBytes(text), atMs);
}

/// <summary>Ready-made record generators.</summary>
public static class RecordGenerators
{
    // What JSON requires escaped in a string: the quote, the backslash and the control characters U+0000 to U+001F.
    private static readonly SearchValues<char> s_escaped = SearchValues.Create([.. Enumerable.Range(0, 0x20).Select(c => (char)c), '"', '\\']);

    /// <summary>
    /// One metric sample per record, as the sample function reads it:
    /// <c>{"metric":..,"value":..,"timestamp":..,"dimensions":{"service":..}}</c>; the service is the partition key.
    /// </summary>
    /// <param name="metrics">How many metric names (<c>metric.0</c> ...), 1 or more. Default 4.</param>
    /// <returns>The generator.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="metrics"/> is below 1.</exception>
    public static RecordGenerator Metric(int metrics = 4)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(metrics, 1);
        return MetricRecord(metrics);
    }

    private static RecordGenerator MetricRecord(int metrics) => (index, key, time, random) =>
    {
        key = JsonStringContent(key);

        int metric = random.Next(metrics);
        int value = random.Next(1, 1000);
        Span<byte> utf8 = stackalloc byte[256];
        if (Utf8.TryWrite(
            utf8,
            CultureInfo.InvariantCulture,
            $"{{\"metric\":\"metric.{metric}\",\"value\":{value},\"timestamp\":{time.ToUnixTimeMilliseconds()},\"dimensions\":{{\"service\":\"{key}\"}}}}",
            out int written))
        {
            return utf8[..written].ToArray();
        }

        return Encoding.UTF8.GetBytes(string.Create(
            CultureInfo.InvariantCulture,
            $"{{\"metric\":\"metric.{metric}\",\"value\":{value},\"timestamp\":{time.ToUnixTimeMilliseconds()},\"dimensions\":{{\"service\":\"{key}\"}}}}"));
    };

    /// <summary>
    /// <paramref name="text"/> as it stands between the quotes of a JSON string: itself unless it holds a quote, a
    /// backslash or a control character (a key prefix may), which are escaped so that a record stays valid JSON.
    /// </summary>
    internal static string JsonStringContent(string text) =>
        text.AsSpan().IndexOfAny(s_escaped) >= 0 ? JsonEncodedText.Encode(text, JavaScriptEncoder.UnsafeRelaxedJsonEscaping).ToString() : text;

    /// <summary>Text from a template; <c>{n}</c> is the record number and <c>{key}</c> the partition key.</summary>
    /// <param name="template">The template.</param>
    /// <returns>The generator.</returns>
    public static RecordGenerator Text(string template) => (index, key, time, random) =>
        Encoding.UTF8.GetBytes(template.Replace("{n}", index.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal).Replace("{key}", key, StringComparison.Ordinal));

    /// <summary>Replaces a seeded fraction of <paramref name="inner"/>'s records with <paramref name="poison"/>.</summary>
    /// <param name="inner">The generator of good records.</param>
    /// <param name="fraction">The fraction, 0 to 1.</param>
    /// <param name="poison">The bad data. Default <c>not json</c>.</param>
    /// <returns>The generator.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="fraction"/> is not 0 to 1 (NaN included).</exception>
    public static RecordGenerator WithPoison(RecordGenerator inner, double fraction, string poison = "not json")
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (!(fraction is >= 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "The fraction of poison records must be 0 to 1.");
        }

        byte[] bad = Encoding.UTF8.GetBytes(poison);
        return (index, key, time, random) => random.NextDouble() < fraction ? (byte[])bad.Clone() : inner(index, key, time, random);
    }
}
