using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Amazon.DynamoDBv2.Model;
using Analytics.Replay;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Records that are valid but at every edge the docs draw (docs/validation.md), and their poison neighbours one step
/// past it, at the stream level under the faults of <see cref="ExactlyOnceStreamProperties"/>: a 255-byte metric name of
/// two-byte characters, 30 dimensions with 255-byte keys and 1,024-byte values (a series key far past DynamoDB's
/// 2,048-byte partition key, stored under its hash), values at double's limits and at the edges of DynamoDB's number
/// range, timestamps exactly 5 minutes after and 24 hours before the record's arrival, and on the first and last
/// millisecond of a window. The stream must drain (valid data never blocks a shard), every item must equal the truth,
/// and every poison record must be in the quarantine once with the reason its edge names. The truth is decided by the
/// generator from what it wrote and from each record's arrival time as the emulator recorded it; the table is read by
/// its <c>metric</c> and <c>dimensions</c> attributes, not its key. Some records are put twice, as a producer's retry
/// does: two sequence numbers, two records, both counted (the README's exactly once is per record).
/// </summary>
public class PathologicalRecordStreamProperties
{
    private const long WindowMs = 60_000;
    private const long FiveMinutesMs = 5 * 60_000;
    private const long DayMs = 24 * 3_600_000;

    /// <summary>What the generator wrote into one record: a sample, or a poison reason; a timestamp relative to the arrival is decided later.</summary>
    private sealed record Written(string Series, long Timestamp, double Value, string? Reason, long? OffsetFromPut);

    private static readonly string s_longMetric = new string('\u00e9', 127) + "x"; // 255 UTF-8 bytes
    private static readonly string s_tooLongMetric = new string('\u00e9', 128); // 256

    // Values at double's limits and at the edges of DynamoDB's range (1E-130 to below 1E+126 in magnitude).
    private static readonly double[] s_extremes =
    [
        double.MaxValue, -double.MaxValue, double.Epsilon, -double.Epsilon, -0.0, 0.0, 1e-300, 1e-130, 9.99e125, 9.995e125, -9.99999999999999e125, 1e126, -1e126,
        2.2250738585072014e-308, 123456789012345678901234567890.0, 0.1,
    ];

    [Fact]
    public void RecordsAtEveryEdge_NeverBlockTheShard_TheTableEqualsTheTruth_PoisonQuarantinedWithItsReason()
    {
        int cases = int.TryParse(Environment.GetEnvironmentVariable("TESTS_SOAK_CASES"), out int n) && n > 0 ? n : 5;
        Prop.ForAll(ExactlyOnceStreamProperties.AnyCase(1, 10), c =>
            {
                (bool holds, string detail) = Check(c);
                return holds.Label(detail);
            })
            .Check(Config.QuickThrowOnFailure.WithMaxTest(cases).WithQuietOnSuccess(true));
    }

    [Fact]
    public void RecordsAtEveryEdge_WithoutFaults()
    {
        (bool holds, string detail) = Check(new ExactlyOnceStreamProperties.StreamCase(Seed: 3, Shards: 1, PartitionKeys: 20, Factor: 2, Bisect: true, Adversarial: false, ThrottlePercent: 0, Outage: false, Timeouts: false, BatchSize: 100));
        Assert.True(holds, detail);
        Assert.DoesNotContain("(0 put again)", detail, StringComparison.Ordinal);
    }

    /// <summary>
    /// The same records in tumbling-window mode at ParallelizationFactor 1, retries unbounded: series keys of 38 KB make the
    /// state pass <c>MaxStateBytes</c> within a few records, so windows flush early again and again. An early flush that
    /// lands in an invocation that then fails, retried by halves, is a documented limit (docs/dynamodb.md), so with
    /// bisection the faults are S3's alone, as in <see cref="ExactlyOnceStreamProperties"/>.
    /// </summary>
    [Fact]
    public void RecordsAtEveryEdge_InTumblingWindows_NeverBlockTheShard_TheTableEqualsTheTruth()
    {
        int cases = int.TryParse(Environment.GetEnvironmentVariable("TESTS_SOAK_CASES"), out int n) && n > 0 ? n : 4;
        Gen<ExactlyOnceStreamProperties.StreamCase> gen =
            from c in ExactlyOnceStreamProperties.AnyCase(1, 1).Generator
            select c with { Shards = Math.Min(c.Shards, 2), Adversarial = false, DynamoDbFaults = !c.Bisect, Timeouts = c.Timeouts && !c.Bisect };
        Prop.ForAll(ExactlyOnceStreamProperties.ShrinkingCase(gen, c => c, (_, c) => c), c =>
            {
                (bool holds, string detail) = Check(c, s => s with { Mapping = s.Mapping with { TumblingWindowInSeconds = 15 } });
                return holds.Label(detail);
            })
            .Check(Config.QuickThrowOnFailure.WithMaxTest(cases).WithQuietOnSuccess(true));
    }

    internal static (bool Holds, string Detail) Check(ExactlyOnceStreamProperties.StreamCase c, Func<EmulatorScenario, EmulatorScenario>? change = null)
    {
        var written = new ConcurrentDictionary<string, Written>(StringComparer.Ordinal);
        var lastOfKey = new ConcurrentDictionary<string, byte[]>(StringComparer.Ordinal);
        byte[] Generate(long index, string partitionKey, DateTimeOffset time, Random random)
        {
            if (random.Next(12) == 0 && lastOfKey.TryGetValue(partitionKey, out byte[]? again))
            {
                // A producer's retry: the same bytes under the same key, a new sequence number, a later arrival. Both count
                // (or both are poison); a timestamp at a bound is judged against each one's own arrival.
                return again;
            }

            byte[] data = GenerateNew(index, time, random);
            lastOfKey[partitionKey] = data;
            return data;
        }

        byte[] GenerateNew(long index, DateTimeOffset time, Random random)
        {
            long put = time.ToUnixTimeMilliseconds();
            long ts = put - random.Next(0, 60_000);
            string region = "r" + random.Next(2);
            string metric = "m";
            var dimensions = new List<(string Key, string Value)> { ("region", region) };
            double value = random.Next(-100, 100);
            string valueText = value.ToString(CultureInfo.InvariantCulture);
            string? reason = null;
            long? offset = null;
            switch (random.Next(14))
            {
                case 0:
                    metric = s_longMetric;
                    break;
                case 1:
                    metric = s_tooLongMetric;
                    reason = nameof(PoisonReason.InvalidMetricName);
                    break;
                case 2:
                case 3:
                    dimensions = ManyDimensions(30, random.Next(2), 1_024);
                    break;
                case 4:
                    dimensions = ManyDimensions(31, 0, 8);
                    reason = nameof(PoisonReason.TooManyDimensions);
                    break;
                case 5:
                    dimensions = [("region", new string('v', 1_025))];
                    reason = nameof(PoisonReason.DimensionTooLong);
                    break;
                case 6:
                case 7:
                    value = s_extremes[random.Next(s_extremes.Length)];
                    valueText = value.ToString("R", CultureInfo.InvariantCulture);
                    break;
                case 8:
                    valueText = "1.8e308";
                    reason = nameof(PoisonReason.NonFiniteValue);
                    break;
                case 9:
                    // Exactly at a bound, or one millisecond past it: decided from the recorded arrival below.
                    offset = random.Next(4) switch { 0 => FiveMinutesMs, 1 => FiveMinutesMs + 1, 2 => -DayMs, _ => -DayMs - 1 };
                    ts = put + offset.Value;
                    break;
                case 10:
                    // The first or the last millisecond of a window.
                    ts = (put / WindowMs * WindowMs) - random.Next(2);
                    break;
                default:
                    break;
            }

            var json = new StringBuilder();
            json.Append("{\"metric\":").Append(JsonSerializer.Serialize(metric)).Append(",\"value\":").Append(valueText)
                .Append(",\"timestamp\":").Append(ts.ToString(CultureInfo.InvariantCulture)).Append(",\"dimensions\":{");
            json.AppendJoin(',', dimensions.Select(d => JsonSerializer.Serialize(d.Key) + ":" + JsonSerializer.Serialize(d.Value)));
            json.Append("},\"n\":").Append(index.ToString(CultureInfo.InvariantCulture)).Append('}');
            byte[] data = Encoding.UTF8.GetBytes(json.ToString());
            written[Convert.ToBase64String(data)] = new Written(Series(metric, dimensions), ts, value, reason, offset);
            return data;
        }

        EmulatorScenario scenario = ExactlyOnceStreamProperties.Scenario(c);
        scenario = scenario with { Producers = [scenario.Producers[0] with { Generator = Generate, RatePerSecond = 20 }] };
        scenario = change is null ? scenario : change(scenario);
        using (ExactlyOnceStreamProperties.StreamRun run = ExactlyOnceStreamProperties.Run(c, scenario))
        {
            List<string> problems = run.DrainProblems();

            var truth = new Dictionary<(string, long), List<double>>();
            var poison = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (StreamRecord record in run.Recording.Records)
            {
                Written w = written[Convert.ToBase64String(record.Data.ToArray())];
                string? reason = w.Reason;
                if (w.OffsetFromPut is not null)
                {
                    long arrival = record.Arrival.ToUnixTimeMilliseconds();
                    reason = w.Timestamp > arrival + FiveMinutesMs ? nameof(PoisonReason.TimestampInFuture)
                        : w.Timestamp < arrival - DayMs ? nameof(PoisonReason.TimestampTooOld)
                        : null;
                }

                if (reason is not null)
                {
                    poison[record.SequenceNumber] = reason;
                    continue;
                }

                (string, long) item = (w.Series, w.Timestamp - (((w.Timestamp % WindowMs) + WindowMs) % WindowMs));
                if (!truth.TryGetValue(item, out List<double>? values))
                {
                    truth[item] = values = [];
                }

                values.Add(w.Value);
            }

            var table = new Dictionary<(string, long), Dictionary<string, AttributeValue>>();
            foreach (Dictionary<string, AttributeValue> stored in run.Downstream.DynamoDb.GetItems(SampleDownstream.TableName))
            {
                var dims = stored.TryGetValue("dimensions", out AttributeValue? m) ? m.M.Select(kv => (kv.Key, kv.Value.S)).ToList() : [];
                long window = DateTimeOffset.Parse(stored["windowStart"].S, CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();
                table[(Series(stored["metric"].S, dims), window)] = stored;
            }

            foreach (((string series, long window), List<double> values) in truth)
            {
                string name = series.Length > 60 ? series[..60] + "..." : series;
                if (!table.TryGetValue((series, window), out Dictionary<string, AttributeValue>? item))
                {
                    problems.Add($"missing {name}@{window}: expected count {values.Count}");
                    continue;
                }

                long count = long.Parse(item["count"].N, CultureInfo.InvariantCulture);
                if (count != values.Count)
                {
                    problems.Add($"{name}@{window}: count {count}, expected {values.Count}");
                }

                CheckReadable(problems, name, window, item, "min", values.Min());
                CheckReadable(problems, name, window, item, "max", values.Max());
                double sum = values.Sum();
                if (double.IsFinite(sum) && values.All(v => Math.Abs(v) < 1e300))
                {
                    // Sums of values this far apart lose the small ones in either order; allow the rounding of the largest.
                    double tolerance = 1e-12 * Math.Max(1, values.Max(Math.Abs));
                    if (item.TryGetValue("sum", out AttributeValue? s) ? Math.Abs(double.Parse(s.N, CultureInfo.InvariantCulture) - sum) > tolerance : InDynamoDbRange(sum))
                    {
                        problems.Add($"{name}@{window}: sum {s?.N ?? "absent"}, expected {sum.ToString("R", CultureInfo.InvariantCulture)}");
                    }
                }
            }

            problems.AddRange(table.Keys.Where(k => !truth.ContainsKey(k)).Select(k => $"unexpected item {k.Item1[..Math.Min(60, k.Item1.Length)]}@{k.Item2}"));

            var quarantined = new Dictionary<string, List<string>>(StringComparer.Ordinal);
            foreach (S3ModelObject o in run.Downstream.QuarantineObjects())
            {
                JsonElement body = JsonDocument.Parse(o.Body).RootElement;
                string sequence = body.GetProperty("sequenceNumber").GetString()!;
                if (!quarantined.TryGetValue(sequence, out List<string>? reasons))
                {
                    quarantined[sequence] = reasons = [];
                }

                reasons.Add(body.GetProperty("reason").GetString()!);
            }

            foreach ((string sequence, string reason) in poison)
            {
                if (!quarantined.TryGetValue(sequence, out List<string>? reasons) || reasons.Count != 1 || reasons[0] != reason)
                {
                    problems.Add($"poison {sequence} ({reason}) quarantined as [{string.Join(",", reasons ?? [])}]");
                }
            }

            problems.AddRange(quarantined.Keys.Where(s => !poison.ContainsKey(s)).Select(s => $"{s} quarantined ({string.Join(",", quarantined[s])}) but valid"));
            int duplicates = run.Recording.Records.Count - run.Recording.Records.Select(r => Convert.ToBase64String(r.Data.ToArray())).Distinct(StringComparer.Ordinal).Count();
            string detail = $"{c}: {run.Recording.Records.Count} records ({duplicates} put again), {poison.Count} poison, {truth.Count} items, {run.Summary.Invocations} invocations ({run.Summary.Timeouts} timeouts, {run.Summary.Errors} errors), {run.Summary.ThrottledPuts} puts throttled; {string.Join("; ", problems.Take(5))}";
            // Copies put again need a key that repeats: with thousands of keys a case may have none (about one in five at
            // 9,864 keys), so the fixed case with 20 keys is the one required to hold some.
            return (problems.Count == 0 && truth.Count > 0 && poison.Count > 0, detail);
        }
    }

    // The readable copy is there exactly when the value is in DynamoDB's range, and then it is the value.
    private static void CheckReadable(List<string> problems, string name, long window, Dictionary<string, AttributeValue> item, string attribute, double expected)
    {
        bool present = item.TryGetValue(attribute, out AttributeValue? a);
        bool wrong = present ? !double.Parse(a!.N, CultureInfo.InvariantCulture).Equals(expected) || !InDynamoDbRange(expected) : InDynamoDbRange(expected);
        if (wrong)
        {
            problems.Add($"{name}@{window}: {attribute} {(present ? a!.N : "absent")}, expected {expected.ToString("R", CultureInfo.InvariantCulture)}");
        }
    }

    private static bool InDynamoDbRange(double v) => v == 0 || (Math.Abs(v) >= 1e-130 && Math.Abs(v) < 1e126);

    private static List<(string Key, string Value)> ManyDimensions(int count, int variant, int valueBytes) =>
        [.. Enumerable.Range(0, count).Select(i => (i.ToString("D3", CultureInfo.InvariantCulture) + new string('k', 252), new string((char)('a' + variant + (i % 3)), valueBytes)))];

    // The series as the truth names it: the metric, then the dimensions sorted by the UTF-8 bytes of their keys.
    private static string Series(string metric, IEnumerable<(string Key, string Value)> dimensions) =>
        metric + string.Concat(dimensions.OrderBy(d => d.Key, StringComparer.Ordinal).Select(d => "|" + d.Key + "=" + d.Value));
}
