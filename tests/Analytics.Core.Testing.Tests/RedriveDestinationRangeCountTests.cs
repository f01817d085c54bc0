using System.Globalization;
using Amazon.DynamoDBv2.Model;
using Analytics.Core.Tests;
using Analytics.Tools;
using Analytics.Tools.Redrive;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using static Analytics.Core.Testing.Tests.RedriveObjects;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// How many ranges (<c>dr</c>) the destination phase keeps: its events are cut every <c>RecordsPerEvent</c> records, and
/// each write of a key kept a range of its own, so one object's records of a key in one item took one range per event
/// (a 10,000-record batch run 500 at a time: 20), growing the item toward its bound for nothing. One object's records
/// are contiguous in the shard, so a write that continues the key's last range in the same object extends it instead.
/// </summary>
[Collection(LocalServersCollection.Second)]
public sealed class RedriveDestinationRangeCountTests(LocalServersFixture servers)
{
    /// <summary>
    /// Records 1..n of a shard, two partition keys and two series interleaved, split into consecutive batches, each spilled
    /// only or both spilled and given up; the destination objects run first (another spill bucket) with any event size,
    /// then the spills without <c>--failure-bucket</c>. Every item ends exact, no range covers a record of its key and
    /// item that was only spilled, and per (item, key) there is at most one range per destination object.
    /// </summary>
    [Property(MaxTest = 10)]
    public Property AnySplit_AnyEventSize_OneRangePerObject_AndExactlyOnce(PositiveInt[] sizes, bool[] givenUp, PositiveInt perEvent)
    {
        List<int> batches = [.. sizes.Take(4).Select(s => 2 + (s.Get % 4))];
        int recordsPerEvent = 1 + (perEvent.Get % 3);
        if (batches.Count == 0)
        {
            return true.ToProperty();
        }

        return Check().GetAwaiter().GetResult().Label($"batches {string.Join(",", batches)}, given up {string.Join(",", givenUp.Take(batches.Count))}, per event {recordsPerEvent}");

        async Task<bool> Check()
        {
            using RedriveScene scene = await RedriveScene.CreateAsync(servers, "count");
            var spilledOnly = new HashSet<int>();
            var objectsOf = new Dictionary<(string Metric, string Key), int>();
            int next = 1;
            for (int b = 0; b < batches.Count; b++)
            {
                int[] records = [.. Enumerable.Range(next, batches[b])];
                next += batches[b];
                await scene.PutSpillAsync($"spill/s/{ShardId(0)}/{Sequence(records[0])}.json", SpillOf(records));
                if (b < givenUp.Length && givenUp[b])
                {
                    await scene.PutDestinationAsync(DestinationKey(0, "b" + b.ToString(CultureInfo.InvariantCulture)), InvocationRecord(0, records[0], [.. records.Select(n => Record(0, n, KeyOf(n), MetricOf(n), n))]));
                    foreach ((string, string) id in records.Select(n => (MetricOf(n), KeyOf(n))).Distinct())
                    {
                        objectsOf[id] = objectsOf.GetValueOrDefault(id) + 1;
                    }
                }
                else
                {
                    spilledOnly.UnionWith(records);
                }
            }

            var options = new RedriveRunOptions(scene.Table, scene.Empty, "spill", TimeSpan.Zero, scene.Failure, "aws/lambda/", scene.Empty, ProcessorOptions.Default) { RecordsPerEvent = recordsPerEvent };
            RedriveRunReport destination = await RedriveRun.RunAsync(options, scene.S3, scene.DynamoDb, TextWriter.Null, CancellationToken.None);
            List<Dictionary<string, AttributeValue>> items = (await scene.DynamoDb.ScanAsync(new ScanRequest { TableName = scene.Table, ConsistentRead = true })).Items;
            string counts = string.Join("; ", items.Where(i => i.ContainsKey("dr")).Select(i => i["metric"].S + ": " + string.Join(",", i["dr"].M[ShardId(0)].M.Select(k => k.Key + "=" + k.Value.L.Count.ToString(CultureInfo.InvariantCulture)))));
            bool bounded = true, rangesExact = true;
            foreach (Dictionary<string, AttributeValue> item in items.Where(i => i.ContainsKey("dr")))
            {
                string metric = item["metric"].S;
                foreach ((string key, AttributeValue list) in item["dr"].M[ShardId(0)].M)
                {
                    bounded &= list.L.Count <= objectsOf.GetValueOrDefault((metric, key));
                    rangesExact &= list.L.All(e => spilledOnly.Where(n => MetricOf(n) == metric && KeyOf(n) == key).All(n =>
                        SequenceNumber.Compare(Sequence(n), e.S[..e.S.IndexOf(':', StringComparison.Ordinal)]) < 0 ||
                        SequenceNumber.Compare(Sequence(n), e.S[(e.S.IndexOf(':', StringComparison.Ordinal) + 1)..]) > 0));
                }
            }

            var stdout = new StringWriter(CultureInfo.InvariantCulture);
            int second = await ToolsCommand.RunAsync(["redrive", "--table", scene.Table, "--spill-bucket", scene.Spill, "--min-age-minutes", "0", "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--s3-endpoint", servers.S3Url.ToString()], stdout, TextWriter.Null);
            items = (await scene.DynamoDb.ScanAsync(new ScanRequest { TableName = scene.Table, ConsistentRead = true })).Items;
            bool exact = true;
            foreach (string metric in (string[])["a", "b"])
            {
                int[] truth = [.. Enumerable.Range(1, next - 1).Where(n => MetricOf(n) == metric)];
                Dictionary<string, AttributeValue>? item = items.SingleOrDefault(i => i.TryGetValue("metric", out AttributeValue? m) && m.S == metric);
                exact &= truth.Length == 0 ? item is null : item is not null &&
                    item["count"].N == truth.Length.ToString(CultureInfo.InvariantCulture) &&
                    item["sum"].N == truth.Sum().ToString(CultureInfo.InvariantCulture);
            }

            Assert.True(destination.Done, "destination phase left something");
            Assert.True(second == 0, stdout.ToString());
            Assert.True(rangesExact, "a range covers a record that was only spilled");
            Assert.True(exact, "an item is not exact");
            Assert.True(bounded, "more ranges than objects for an (item, key): " + counts);
            return true;
        }
    }

    private static string KeyOf(int n) => n % 2 == 0 ? "j" : "k";

    private static string MetricOf(int n) => n % 3 == 0 ? "b" : "a";

    /// <summary>The spill of records <paramref name="records"/> (decided, one pair per series).</summary>
    private static string SpillOf(int[] records) =>
        SpillObject(0, records[0], records.GroupBy(MetricOf).Select(g => (g.Key, g.Select(n => (n, KeyOf(n), (double)n)))));
}
