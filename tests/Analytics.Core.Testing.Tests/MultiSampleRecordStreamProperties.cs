using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Analytics.Core.Tests;
using Analytics.Replay;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Exactly once at the stream level for records that carry several samples, in several items: KPL-aggregated records
/// (a container of 1 to 6 user records) and NDJSON records (1 to 6 lines). The other stream-level properties produce one
/// sample per record, so a record is never durable in one item and not in another; here a failure can land between the
/// items of one record, and its retry must add only what the table lacks. The truth is what the generator wrote into
/// each record, kept by the record's bytes (never read back through the library's readers).
/// </summary>
public class MultiSampleRecordStreamProperties
{
    private const long WindowMs = 60_000;

    [Fact]
    public void RecordsOfSeveralSamples_TheTableEqualsTheTrueAggregates()
    {
        // User records with partition keys of their own only at ParallelizationFactor 1: AWS says a factor above 1 "will
        // not work" with KPL-aggregated records.
        Gen<(ExactlyOnceStreamProperties.StreamCase Case, bool Kpl, bool SubKeys)> gen =
            from c in ExactlyOnceStreamProperties.AnyCase(1, 10).Generator
            from kpl in ArbMap.Default.GeneratorFor<bool>()
            from subKeys in ArbMap.Default.GeneratorFor<bool>()
            select (subKeys && kpl ? c with { Factor = 1 } : c, kpl, subKeys && kpl);
        int cases = int.TryParse(Environment.GetEnvironmentVariable("TESTS_SOAK_CASES"), out int n) && n > 0 ? n : 6;
        Prop.ForAll(ExactlyOnceStreamProperties.ShrinkingCase(gen, x => x.Case, (x, c) => x with { Case = c }), x =>
            {
                (bool holds, string detail) = Check(x.Case, x.Kpl, x.SubKeys);
                return holds.Label(detail);
            })
            .Check(Config.QuickThrowOnFailure.WithMaxTest(cases).WithQuietOnSuccess(true));
    }

    /// <param name="subKeys">KPL user records with partition keys of their own (drawn from 50), not the container's.</param>
    internal static (bool Holds, string Detail) Check(ExactlyOnceStreamProperties.StreamCase c, bool kpl, bool subKeys)
    {
        // What each record holds, by its bytes: the generator's own account of its samples.
        var written = new ConcurrentDictionary<string, List<(string Series, long Window, double Value)>>(StringComparer.Ordinal);
        byte[] Generate(long index, string partitionKey, DateTimeOffset time, Random random)
        {
            int count = random.Next(1, 7);
            var samples = new List<(string, long, double)>(count);
            var lines = new List<byte[]>(count);
            for (int i = 0; i < count; i++)
            {
                string metric = "m" + random.Next(2);
                string region = "r" + random.Next(3);
                int value = random.Next(-500, 1000);
                long timestamp = time.ToUnixTimeMilliseconds() - random.Next(0, 90_000); // some samples in the window before
                samples.Add((metric + "|region=" + region, timestamp - (timestamp % WindowMs), value));
                lines.Add(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{{\"metric\":\"{metric}\",\"value\":{value},\"timestamp\":{timestamp},\"dimensions\":{{\"region\":\"{region}\"}},\"n\":{index}}}")));
            }

            byte[] data = kpl
                ? KplTestEncoder.Aggregate([.. lines.Select(l => new KplTestUserRecord(subKeys ? "sub-" + random.Next(50).ToString(CultureInfo.InvariantCulture) : partitionKey, null, l, []))])
                : [.. lines.SelectMany(l => l.Append((byte)'\n'))];
            written[Convert.ToBase64String(data)] = samples;
            return data;
        }

        EmulatorScenario scenario = ExactlyOnceStreamProperties.Scenario(c);
        scenario = scenario with { Producers = [scenario.Producers[0] with { Generator = Generate }] };
        using (ExactlyOnceStreamProperties.StreamRun run = ExactlyOnceStreamProperties.Run(c, scenario))
        {
            List<string> problems = run.DrainProblems();

            var truth = new Dictionary<(string, long), Truth>();
            foreach (StreamRecord record in run.Recording.Records)
            {
                ExactlyOnceStreamProperties.AddSamples(truth, written[Convert.ToBase64String(record.Data.ToArray())]);
            }

            ExactlyOnceStreamProperties.CompareTable(truth, run.Table(), problems);
            string detail = $"{c} kpl={kpl} subKeys={subKeys}: {run.Describe(truth)}; {string.Join("; ", problems.Take(5))}";
            return (problems.Count == 0 && truth.Count > 0, detail);
        }
    }
}
