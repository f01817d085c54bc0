using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Analytics.Replay;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// A small cap on pairs (<c>MaxPairs</c>, which docs/aggregation.md advises lowering for tumbling windows and the sample
/// reads from <c>ANALYTICS_MAX_PAIRS</c>) at the stream level, under the faults of
/// <see cref="ExactlyOnceStreamProperties"/>: records of one to six NDJSON lines over two windows make batches reach
/// the cap, which splits them (a checkpoint at the record that would pass it), and some records pass it alone
/// (<c>CardinalityLimit</c>). No stream-level test ran below the default cap. The truth is the generator's own:
/// a record with more distinct (series, window) pairs than the cap is poison, the others count in full.
/// </summary>
public class PairCapStreamProperties
{
    private const long WindowMs = 60_000;

    [Fact]
    public void ASmallPairCap_SplitsBatches_QuarantinesRecordsPastItAlone_TheTableEqualsTheTruth()
    {
        Gen<(ExactlyOnceStreamProperties.StreamCase Case, int Cap)> gen =
            from c in ExactlyOnceStreamProperties.AnyCase(1, 10).Generator
            from cap in Gen.Elements(3, 5, 8, 30)
            select (c with { Timeouts = c.Timeouts && cap >= 30 }, cap);
        Prop.ForAll(ExactlyOnceStreamProperties.ShrinkingCase(gen, x => x.Case, (x, c) => x with { Case = c }), x =>
            {
                (bool holds, string detail) = Check(x.Case, x.Cap, window: false);
                return holds.Label(detail);
            })
            .Check(Config.QuickThrowOnFailure.WithMaxTest(Cases).WithQuietOnSuccess(true));
    }

    /// <summary>Tumbling-window mode at ParallelizationFactor 1: the cap never splits a window batch, but a record past it alone is still poison.</summary>
    [Fact]
    public void ASmallPairCap_InTumblingWindows_QuarantinesRecordsPastItAlone_TheTableEqualsTheTruth()
    {
        Gen<(ExactlyOnceStreamProperties.StreamCase Case, int Cap)> gen =
            from c in ExactlyOnceStreamProperties.AnyCase(1, 1).Generator
            from cap in Gen.Elements(3, 5, 8, 30)
            select (c with { Shards = Math.Min(c.Shards, 2), Adversarial = false }, cap);
        Prop.ForAll(ExactlyOnceStreamProperties.ShrinkingCase(gen, x => x.Case, (x, c) => x with { Case = c }), x =>
            {
                (bool holds, string detail) = Check(x.Case, x.Cap, window: true);
                return holds.Label(detail);
            })
            .Check(Config.QuickThrowOnFailure.WithMaxTest(Cases).WithQuietOnSuccess(true));
    }

    private static int Cases => int.TryParse(Environment.GetEnvironmentVariable("TESTS_SOAK_CASES"), out int n) && n > 0 ? n : 5;

    internal static (bool Holds, string Detail) Check(ExactlyOnceStreamProperties.StreamCase c, int cap, bool window)
    {
        var written = new ConcurrentDictionary<string, List<(string Series, long Window, double Value)>>(StringComparer.Ordinal);
        byte[] Generate(long index, string partitionKey, DateTimeOffset time, Random random)
        {
            int count = random.Next(1, 7);
            var samples = new List<(string, long, double)>(count);
            var lines = new List<string>(count);
            for (int i = 0; i < count; i++)
            {
                string metric = "m" + random.Next(2);
                string region = "r" + random.Next(3);
                int value = random.Next(-500, 1000);
                long timestamp = time.ToUnixTimeMilliseconds() - (random.Next(3) == 0 ? WindowMs : 0);
                samples.Add((metric + "|region=" + region, timestamp - (timestamp % WindowMs), value));
                lines.Add(string.Create(CultureInfo.InvariantCulture, $"{{\"metric\":\"{metric}\",\"value\":{value},\"timestamp\":{timestamp},\"dimensions\":{{\"region\":\"{region}\"}},\"n\":{index}}}"));
            }

            byte[] data = Encoding.UTF8.GetBytes(string.Join('\n', lines));
            written[Convert.ToBase64String(data)] = samples;
            return data;
        }

        EmulatorScenario scenario = ExactlyOnceStreamProperties.Scenario(c);
        scenario = scenario with { Producers = [scenario.Producers[0] with { Generator = Generate, RatePerSecond = 20 }] };
        if (window)
        {
            scenario = scenario with { Mapping = scenario.Mapping with { TumblingWindowInSeconds = 15 } };
        }

        using (ExactlyOnceStreamProperties.StreamRun run = ExactlyOnceStreamProperties.Run(c, scenario, (d, clock) => new SampleHandler(d, clock, maxPairs: cap)))
        {
            List<string> problems = run.DrainProblems();

            var truth = new Dictionary<(string, long), Truth>();
            var poison = new HashSet<string>(StringComparer.Ordinal);
            foreach (StreamRecord record in run.Recording.Records)
            {
                List<(string Series, long Window, double Value)> samples = written[Convert.ToBase64String(record.Data.ToArray())];
                if (samples.Select(s => (s.Series, s.Window)).Distinct().Count() > cap)
                {
                    poison.Add(record.SequenceNumber);
                    continue;
                }

                ExactlyOnceStreamProperties.AddSamples(truth, samples);
            }

            ExactlyOnceStreamProperties.CompareTable(truth, run.Table(), problems);

            var quarantined = run.Downstream.QuarantineObjects()
                .Select(o => JsonDocument.Parse(o.Body).RootElement)
                .Select(b => (Sequence: b.GetProperty("sequenceNumber").GetString()!, Reason: b.GetProperty("reason").GetString()!))
                .ToList();
            problems.AddRange(poison.Where(p => quarantined.Count(q => q.Sequence == p) != 1).Select(p => $"poison {p} quarantined {quarantined.Count(q => q.Sequence == p)} times"));
            problems.AddRange(quarantined.Where(q => !poison.Contains(q.Sequence) || q.Reason != nameof(PoisonReason.CardinalityLimit)).Select(q => $"{q.Sequence} quarantined ({q.Reason}) but {(poison.Contains(q.Sequence) ? "past the cap" : "within it")}"));
            string detail = $"{c} cap={cap} window={window}: {run.Describe(truth)}, {poison.Count} records past the cap; {string.Join("; ", problems.Take(5))}";
            return (problems.Count == 0 && truth.Count > 0, detail);
        }
    }
}
