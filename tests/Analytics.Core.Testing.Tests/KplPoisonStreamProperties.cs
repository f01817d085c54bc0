using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Analytics.Core.Tests;
using Analytics.Replay;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// KPL containers that mix valid and poison user records, at the stream level, under the faults of
/// <see cref="ExactlyOnceStreamProperties"/> (throttling, outages of both stores, late answers, bisection,
/// ParallelizationFactor 1 to 10). <see cref="MultiSampleRecordStreamProperties"/> covers containers of valid user
/// records only; here a container's valid user records go to the table while the container goes to the quarantine, and a
/// failure between the two must neither drop the valid ones nor quarantine the container twice or under another key.
/// The truth is what the generator put into each container, decided when it wrote the bytes: which user records are
/// valid (and their samples), which are poison, and which containers are broken as a whole (a bad MD5).
/// </summary>
public class KplPoisonStreamProperties
{
    private const long WindowMs = 60_000;

    /// <summary>What the generator wrote into one Kinesis record.</summary>
    private sealed record Written(List<(string Series, long Window, double Value)> Samples, List<int> PoisonSubs, bool BrokenContainer);

    [Fact]
    public void ContainersWithPoisonUserRecords_ValidOnesInTheTableOnce_EachContainerQuarantinedOnceUnderItsKey()
    {
        Gen<(ExactlyOnceStreamProperties.StreamCase Case, bool SubKeys)> gen =
            from c in ExactlyOnceStreamProperties.AnyCase(1, 10).Generator
            from subKeys in ArbMap.Default.GeneratorFor<bool>()
            select (subKeys ? c with { Factor = 1 } : c, subKeys);
        int cases = int.TryParse(Environment.GetEnvironmentVariable("TESTS_SOAK_CASES"), out int n) && n > 0 ? n : 6;
        Prop.ForAll(ExactlyOnceStreamProperties.ShrinkingCase(gen, x => x.Case, (x, c) => x with { Case = c }), x =>
            {
                (bool holds, string detail) = Check(x.Case, x.SubKeys);
                return holds.Label(detail);
            })
            .Check(Config.QuickThrowOnFailure.WithMaxTest(cases).WithQuietOnSuccess(true));
    }

    /// <summary>One case with every fault at once, so that the combination runs on every build whatever the property draws.</summary>
    [Fact]
    public void ContainersWithPoisonUserRecords_ThroughAnOutageOfBothStores_WithBisectionAndLateAnswers()
    {
        (bool holds, string detail) = Check(
            new ExactlyOnceStreamProperties.StreamCase(Seed: 77, Shards: 2, PartitionKeys: 40, Factor: 1, Bisect: true, Adversarial: false, ThrottlePercent: 10, Outage: true, Timeouts: true, BatchSize: 20),
            subKeys: true);
        Assert.True(holds, detail);
    }

    /// <summary>
    /// The same in tumbling-window mode (ParallelizationFactor 1, retries unbounded, as docs/dynamodb.md asks): the valid
    /// user records travel in the window state and reach the table in the window's flush, while their container is
    /// quarantined in the invocation that read it; a failed attempt is retried whole with the previous state.
    /// </summary>
    [Fact]
    public void ContainersWithPoisonUserRecords_InTumblingWindows_ValidOnesInTheTableOnce_EachContainerQuarantinedOnce()
    {
        Gen<(ExactlyOnceStreamProperties.StreamCase Case, bool SubKeys)> gen =
            from c in ExactlyOnceStreamProperties.AnyCase(1, 1).Generator
            from subKeys in ArbMap.Default.GeneratorFor<bool>()
            select (c with { Shards = Math.Min(c.Shards, 2), Adversarial = false }, subKeys);
        int cases = int.TryParse(Environment.GetEnvironmentVariable("TESTS_SOAK_CASES"), out int n) && n > 0 ? n : 5;
        Prop.ForAll(ExactlyOnceStreamProperties.ShrinkingCase(gen, x => x.Case, (x, c) => x with { Case = c }), x =>
            {
                (bool holds, string detail) = Check(x.Case, x.SubKeys, s => s with { Mapping = s.Mapping with { TumblingWindowInSeconds = 15 } });
                return holds.Label(detail);
            })
            .Check(Config.QuickThrowOnFailure.WithMaxTest(cases).WithQuietOnSuccess(true));
    }

    internal static (bool Holds, string Detail) Check(ExactlyOnceStreamProperties.StreamCase c, bool subKeys, Func<EmulatorScenario, EmulatorScenario>? change = null)
    {
        var written = new ConcurrentDictionary<string, Written>(StringComparer.Ordinal);
        byte[] Generate(long index, string partitionKey, DateTimeOffset time, Random random)
        {
            int count = random.Next(1, 6);
            var samples = new List<(string, long, double)>();
            var poisonSubs = new List<int>();
            var users = new List<KplTestUserRecord>(count);
            for (int i = 0; i < count; i++)
            {
                string metric = "m" + random.Next(2);
                string region = "r" + random.Next(3);
                int value = random.Next(-500, 1000);
                long timestamp = time.ToUnixTimeMilliseconds() - random.Next(0, 90_000);
                string json = string.Create(CultureInfo.InvariantCulture, $"{{\"metric\":\"{metric}\",\"value\":{value},\"timestamp\":{timestamp},\"dimensions\":{{\"region\":\"{region}\"}},\"n\":{index}}}");
                if (random.Next(5) == 0)
                {
                    // Poison of several kinds, each far from any bound the arrival time decides.
                    json = random.Next(5) switch
                    {
                        0 => "{\"metric\":\"m0\",\"value\":",
                        1 => string.Create(CultureInfo.InvariantCulture, $"{{\"metric\":\"{metric}\",\"timestamp\":{timestamp}}}"),
                        2 => string.Create(CultureInfo.InvariantCulture, $"{{\"metric\":\"{metric}\",\"value\":1e400,\"timestamp\":{timestamp}}}"),
                        3 => string.Create(CultureInfo.InvariantCulture, $"{{\"metric\":\"{metric}\",\"value\":1,\"timestamp\":{time.ToUnixTimeMilliseconds() + 3_600_000}}}"),
                        _ => string.Create(CultureInfo.InvariantCulture, $"{{\"metric\":\"\",\"value\":1,\"timestamp\":{timestamp}}}"),
                    };
                    poisonSubs.Add(i);
                }
                else
                {
                    samples.Add((metric + "|region=" + region, timestamp - (timestamp % WindowMs), value));
                }

                string key = subKeys ? "sub-" + random.Next(50).ToString(CultureInfo.InvariantCulture) : partitionKey;
                users.Add(new KplTestUserRecord(key, null, Encoding.UTF8.GetBytes(json), []));
            }

            byte[] data = KplTestEncoder.Aggregate(users);
            bool broken = random.Next(25) == 0;
            if (broken)
            {
                // The MD5 no longer matches: poison as a whole, none of its user records is read.
                data[^1] ^= 0x5A;
                samples.Clear();
                poisonSubs.Clear();
            }

            written[Convert.ToBase64String(data)] = new Written(samples, poisonSubs, broken);
            return data;
        }

        EmulatorScenario scenario = ExactlyOnceStreamProperties.Scenario(c);
        scenario = scenario with { Producers = [scenario.Producers[0] with { Generator = Generate }] };
        scenario = change is null ? scenario : change(scenario);
        using (ExactlyOnceStreamProperties.StreamRun run = ExactlyOnceStreamProperties.Run(c, scenario))
        {
            List<string> problems = run.DrainProblems();

            var truth = new Dictionary<(string, long), Truth>();
            var expectedQuarantine = new Dictionary<string, Written>(StringComparer.Ordinal);
            foreach (StreamRecord record in run.Recording.Records)
            {
                Written w = written[Convert.ToBase64String(record.Data.ToArray())];
                ExactlyOnceStreamProperties.AddSamples(truth, w.Samples);

                if (w.BrokenContainer || w.PoisonSubs.Count > 0)
                {
                    expectedQuarantine[record.SequenceNumber] = w;
                }
            }

            ExactlyOnceStreamProperties.CompareTable(truth, run.Table(), problems);

            // Each poison container exactly once, under the key of its first poison user record (or its own when it is
            // broken as a whole), naming every poison user record, with a reason and a detail.
            var objects = run.Downstream.QuarantineObjects().ToList();
            var bySequence = new Dictionary<string, List<(string Key, JsonElement Body)>>(StringComparer.Ordinal);
            foreach (S3ModelObject o in objects)
            {
                JsonElement body = JsonDocument.Parse(o.Body).RootElement.Clone();
                string sequence = body.GetProperty("sequenceNumber").GetString()!;
                if (!bySequence.TryGetValue(sequence, out List<(string, JsonElement)>? list))
                {
                    bySequence[sequence] = list = [];
                }

                list.Add((o.Key, body));
            }

            foreach ((string sequence, Written w) in expectedQuarantine)
            {
                if (!bySequence.TryGetValue(sequence, out List<(string Key, JsonElement Body)>? found))
                {
                    problems.Add($"container {sequence} (poison subs [{string.Join(",", w.PoisonSubs)}], broken={w.BrokenContainer}) not quarantined");
                    continue;
                }

                if (found.Count != 1)
                {
                    problems.Add($"container {sequence} quarantined {found.Count} times: {string.Join(", ", found.Select(f => f.Key))}");
                    continue;
                }

                (string key, JsonElement body) = found[0];
                string reason = body.GetProperty("reason").GetString()!;
                string detail = body.GetProperty("detail").GetString()!;
                if (reason.Length == 0 || detail.Length == 0)
                {
                    problems.Add($"container {sequence}: reason '{reason}', detail '{detail}'");
                }

                int? sub = body.TryGetProperty("subSequenceNumber", out JsonElement s) ? s.GetInt32() : null;
                List<int> subs = body.TryGetProperty("poisonSubSequenceNumbers", out JsonElement all) ? [.. all.EnumerateArray().Select(e => e.GetInt32())] : sub is int one ? [one] : [];
                if (w.BrokenContainer)
                {
                    if (sub is not null || reason != nameof(PoisonReason.AggregateChecksumMismatch) || !key.EndsWith("/" + sequence + ".json", StringComparison.Ordinal))
                    {
                        problems.Add($"broken container {sequence}: key {key}, sub {sub}, reason {reason}");
                    }
                }
                else if (sub != w.PoisonSubs[0] || !subs.SequenceEqual(w.PoisonSubs) ||
                    !key.EndsWith("/" + sequence + "-" + w.PoisonSubs[0].ToString(CultureInfo.InvariantCulture) + ".json", StringComparison.Ordinal))
                {
                    problems.Add($"container {sequence}: poison subs [{string.Join(",", w.PoisonSubs)}], quarantined as {key} sub {sub} subs [{string.Join(",", subs)}]");
                }
            }

            problems.AddRange(bySequence.Keys.Where(s => !expectedQuarantine.ContainsKey(s)).Select(s => $"{s} quarantined but holds no poison"));
            string text = $"{c} subKeys={subKeys}: {run.Describe(truth)}, {expectedQuarantine.Count} poison containers; {string.Join("; ", problems.Take(5))}";
            return (problems.Count == 0 && truth.Count > 0 && expectedQuarantine.Count > 0, text);
        }
    }
}
