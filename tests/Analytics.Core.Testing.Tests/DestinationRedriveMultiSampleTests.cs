using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Analytics.Core.Tests;
using FsCheck;
using FsCheck.Fluent;
using Xunit.Abstractions;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Batches Lambda gave up on, redriven, when their records hold several samples (NDJSON records, KPL containers).
/// <see cref="DestinationRedriveTests"/> gives up only records of one sample: here a record may put two samples into one
/// item, and a crash in the middle of the flush may leave a record durable in one item and not in another. The truth is the generator's
/// own account of what it wrote into each record, kept by the record's bytes. The checks are those of
/// <see cref="DestinationRedriveTests"/> (nothing above the truth, nothing short of it but what is reported undecided,
/// a rerun changes nothing), with undecided pairs counted in samples and each poison record quarantined exactly once.
/// </summary>
public class DestinationRedriveMultiSampleTests(ITestOutputHelper output)
{
    private const long WindowMs = 60_000;

    /// <summary>
    /// KPL containers that mix valid and poison user records (and some whose MD5 is broken), given up and redriven: the
    /// redrive must quarantine each poison container again under the same key while it applies only the valid user
    /// records the failed attempts had not. A container whose valid user records are all already applied or undecided is
    /// left out of the redrive's pipeline run, and with it the quarantine of its poison user records
    /// (<see cref="DestinationRedriveKplPoisonTests"/>): this fails on "poison ... not quarantined", and on nothing else
    /// in 25 cases with that check left out.
    /// </summary>
    [Fact]
    public void GivenUpBatchesOfKplContainersWithPoisonUserRecords_NothingDoubled_EveryShortfallReportedUndecided()
    {
        Prop.ForAll(Cases(), c =>
            {
                DestinationRedriveTests.Outcome outcome = DestinationRedriveTests.Check(c, kind: Kind(kpl: true));
                output.WriteLine(outcome.Detail);
                return outcome.Holds.Label(outcome.Detail);
            })
            .Check(Config.QuickThrowOnFailure.WithMaxTest(CaseCount).WithQuietOnSuccess(true));
    }

    /// <summary>A case of the property above: undecided pairs of containers whose poison user records no attempt quarantined.</summary>
    [Fact]
    public void GivenUpKplContainers_WithUndecidedPairs_AreStillQuarantined()
    {
        DestinationRedriveTests.Outcome outcome = DestinationRedriveTests.Check(
            new DestinationRedriveTests.GiveUpCase(Seed: 141700, Factor: 4, Bisect: true, Retries: 0, BatchSize: 20, CrashPercent: 30, PartitionKeys: 88, MaxAgeSeconds: 60, OutageSeconds: 45, Timeouts: true),
            kind: Kind(kpl: true));
        Assert.True(outcome.Holds, outcome.Detail);
    }

    [Fact]
    public void GivenUpBatchesOfNdjsonRecords_NothingDoubled_EveryShortfallReportedUndecided()
    {
        Prop.ForAll(Cases(), c =>
            {
                DestinationRedriveTests.Outcome outcome = DestinationRedriveTests.Check(c, kind: Kind(kpl: false));
                output.WriteLine(outcome.Detail);
                return outcome.Holds.Label(outcome.Detail);
            })
            .Check(Config.QuickThrowOnFailure.WithMaxTest(CaseCount).WithQuietOnSuccess(true));
    }

    private static int CaseCount => int.TryParse(Environment.GetEnvironmentVariable("TESTS_SOAK_CASES"), out int n) && n > 0 ? n : 4;

    // The give-up schedules of DestinationRedriveTests' property under faults, always with a way to give up.
    private static Arbitrary<DestinationRedriveTests.GiveUpCase> Cases() => Arb.From(
        from seed in Gen.Choose(1, 1_000_000)
        from factor in Gen.Choose(1, 4)
        from bisect in ArbMap.Default.GeneratorFor<bool>()
        from retries in Gen.Elements(0, 1, 2)
        from batch in Gen.Elements(5, 20)
        from crash in Gen.Elements(10, 30, 50)
        from keys in Gen.OneOf(Gen.Choose(1, 20), Gen.Choose(21, 300))
        from maxAge in Gen.Elements(-1, 60)
        from outage in Gen.Elements(0, 45)
        from unanswered in ArbMap.Default.GeneratorFor<bool>()
        from timeouts in ArbMap.Default.GeneratorFor<bool>()
        select new DestinationRedriveTests.GiveUpCase(seed, factor, bisect, retries, batch, crash, keys, MaxAgeSeconds: maxAge, OutageSeconds: outage, Unanswered: unanswered && outage > 0, Timeouts: timeouts));

    /// <summary>Records of one to four samples of two metrics and three regions, some in the window before; in KPL containers with poison user records, or as NDJSON.</summary>
    internal static DestinationRedriveTests.RecordKind Kind(bool kpl)
    {
        var written = new ConcurrentDictionary<string, (List<(string Series, long Window, double Value)> Samples, bool Poison)>(StringComparer.Ordinal);
        byte[] Generate(long index, string partitionKey, DateTimeOffset time, Random random)
        {
            int count = random.Next(1, 5);
            var samples = new List<(string, long, double)>(count);
            var lines = new List<byte[]>(count);
            bool poison = false;
            for (int i = 0; i < count; i++)
            {
                string metric = "m" + random.Next(2);
                string region = "r" + random.Next(3);
                int value = random.Next(-500, 1000);
                long timestamp = time.ToUnixTimeMilliseconds() - (random.Next(4) == 0 ? WindowMs : 0);
                if (kpl && random.Next(8) == 0)
                {
                    lines.Add(Encoding.UTF8.GetBytes("{\"metric\":\"" + metric + "\",\"value\":"));
                    poison = true;
                    continue;
                }

                samples.Add((metric + "|region=" + region, timestamp - (timestamp % WindowMs), value));
                lines.Add(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{{\"metric\":\"{metric}\",\"value\":{value},\"timestamp\":{timestamp},\"dimensions\":{{\"region\":\"{region}\"}},\"n\":{index}}}")));
            }

            byte[] data;
            if (kpl)
            {
                data = KplTestEncoder.Aggregate([.. lines.Select(l => new KplTestUserRecord(partitionKey, null, l, []))]);
                if (random.Next(30) == 0)
                {
                    data[^1] ^= 0x5A; // the MD5 no longer matches: poison whole
                    samples.Clear();
                    poison = true;
                }
            }
            else
            {
                data = [.. lines.SelectMany(l => l.Append((byte)'\n'))];
            }

            written[Convert.ToBase64String(data)] = (samples, poison);
            return data;
        }

        return new DestinationRedriveTests.RecordKind(Generate, records =>
        {
            var truth = new Dictionary<(string Series, long Window), List<(string SequenceNumber, double Value)>>();
            var poison = new HashSet<string>(StringComparer.Ordinal);
            foreach (StreamRecord record in records)
            {
                (List<(string Series, long Window, double Value)> samples, bool isPoison) = written[Convert.ToBase64String(record.Data.ToArray())];
                if (isPoison)
                {
                    poison.Add(record.SequenceNumber);
                }

                foreach ((string series, long window, double value) in samples)
                {
                    if (!truth.TryGetValue((series, window), out List<(string, double)>? list))
                    {
                        truth[(series, window)] = list = [];
                    }

                    list.Add((record.SequenceNumber, value));
                }
            }

            return (truth, poison);
        });
    }
}
