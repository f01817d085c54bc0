using System.Globalization;
using System.Text;
using Amazon.DynamoDBv2.Model;
using Analytics.Core.Tests;
using Analytics.Tools;
using Analytics.Tools.Redrive;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using static Analytics.Core.Testing.Tests.RedriveObjects;
using static Analytics.Core.Testing.Tests.RedriveTool;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// A batch in both places (its spill written, then given up), its destination object redriven first by a run given a
/// <c>--spill-bucket</c> without its spill (so nothing held it back), then the spill redriven by a run given the right
/// spill bucket and no <c>--failure-bucket</c>: that run cannot read which destination objects were finished, so only the
/// item can say which records the destination redrive applied.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class RedriveDestinationMarkTests(LocalServersFixture servers)
{
    [Fact]
    public async Task ASpillWhoseRecordsTheDestinationRedriveApplied_WithoutFailureBucket_IsNotCountedTwice()
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "nofail");
        await scene.PutSpillAsync(SpillKey(0), SpillBody(0, "a", "k", [1]));
        await scene.PutDestinationAsync(DestinationKey(0, "o"), InvocationRecord(0, [Record(0, 1, "k", "a", 1)]));

        (int wrongExit, _) = await scene.RedriveAsync(scene.Empty, scene.Failure);
        (int exit, string stdout) = await scene.RedriveAsync(scene.Spill, failure: null);

        Assert.Equal(0, wrongExit);
        Dictionary<string, AttributeValue> item = Assert.Single((await scene.DynamoDb.ScanAsync(new ScanRequest { TableName = scene.Table })).Items);
        Assert.Equal("1", item["count"].N);
        Assert.Equal(0, exit);
        Assert.Contains("spills: 1 spill objects, 0 samples applied, 1 already in the table", stdout, StringComparison.Ordinal);
        Assert.Equal(0, await scene.CountAsync(scene.Spill, "spill/"));
    }

    /// <summary>
    /// An earlier batch of the same key, spilled only (records 1 and 2), below the batch in both places (record 3): the
    /// destination redrive's mark must not pass records it did not apply (a redrive mark moved to 3 would have the spill
    /// redrive skip 1 and 2: lost). Then a live re-delivery of 3 with a new record 4, and a later spill of 5, each once.
    /// </summary>
    [Fact]
    public async Task AnEarlierSpillOfTheKey_IsStillApplied_AndLaterBatchesApplyOnce()
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "earlier");
        await PutSpillAsync(scene, [1, 2]);
        await PutSpillAsync(scene, [3]);
        await scene.PutDestinationAsync(DestinationKey(0, "o"), InvocationRecord(0, 3, [Record(0, 3, "k", "a", 3)]));

        (int wrongExit, _) = await scene.RedriveAsync(scene.Empty, scene.Failure);
        Dictionary<string, AttributeValue> afterDestination = await scene.ItemAsync();
        Assert.Equal($"{Sequence(3)}:{Sequence(3)}", Assert.Single(afterDestination["dr"].M[ShardId(0)].M["k"].L).S);
        Assert.False(afterDestination.ContainsKey("rk"));
        (int exit, string stdout) = await scene.RedriveAsync(scene.Spill, failure: null);

        Assert.Equal((0, 0), (wrongExit, exit));
        Assert.Contains("spills: 2 spill objects, 2 samples applied, 1 already in the table", stdout, StringComparison.Ordinal);
        Dictionary<string, AttributeValue> item = await scene.ItemAsync();
        Assert.Equal(("3", "6"), (item["count"].N, item["sum"].N));
        Assert.Equal(Sequence(3), item["rk"].M[ShardId(0)].M["k"].S);
        // Kept, though the redrive mark passed it: rk says nothing of records below it that no spill held.
        Assert.Equal($"{Sequence(3)}:{Sequence(3)}", Assert.Single(item["dr"].M[ShardId(0)].M["k"].L).S);

        Assert.Null((await ApplyLiveAsync(scene.DynamoDb, scene.S3, scene.Table, scene.Spill, [Record(0, 3, "k", "a", 3), Record(0, 4, "k", "a", 4)])).ReportedFailure);
        await PutSpillAsync(scene, [5]);
        (int later, string laterOut) = await scene.RedriveAsync(scene.Spill, scene.Failure);

        Assert.Equal(0, later);
        Assert.Contains("spills: 1 spill objects, 1 samples applied, 0 already in the table", laterOut, StringComparison.Ordinal);
        item = await scene.ItemAsync();
        Assert.Equal(("5", "15"), (item["count"].N, item["sum"].N));
    }

    /// <summary>
    /// Two destination objects of one key (records 1 and 3) with a batch spilled only between them (record 2): run in one
    /// event, the write's range would be 1 to 3 and take record 2 for applied. The events are cut between the objects,
    /// so the ranges are 1 and 3, and record 2 is applied by the spill redrive.
    /// </summary>
    [Fact]
    public async Task TwoDestinationObjectsOfAKey_AroundASpillOnlyBatch_KeepTwoRanges()
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "around");
        foreach (int n in (int[])[1, 2, 3])
        {
            await PutSpillAsync(scene, [n]);
        }

        await scene.PutDestinationAsync(DestinationKey(0, "a"), InvocationRecord(0, 1, [Record(0, 1, "k", "a", 1)]));
        await scene.PutDestinationAsync(DestinationKey(0, "b"), InvocationRecord(0, 3, [Record(0, 3, "k", "a", 3)]));

        (int wrongExit, _) = await scene.RedriveAsync(scene.Empty, scene.Failure);
        Assert.Equal(
            [$"{Sequence(1)}:{Sequence(1)}", $"{Sequence(3)}:{Sequence(3)}"],
            (await scene.ItemAsync())["dr"].M[ShardId(0)].M["k"].L.Select(e => e.S).ToArray());
        (int exit, _) = await scene.RedriveAsync(scene.Spill, failure: null);

        Assert.Equal((0, 0), (wrongExit, exit));
        Dictionary<string, AttributeValue> item = await scene.ItemAsync();
        Assert.Equal(("3", "6"), (item["count"].N, item["sum"].N));
    }

    /// <summary>
    /// A destination object an earlier run finished whose item keeps no range for it (a redrive before the ranges
    /// existed): a later run given <c>--failure-bucket</c> leaves the spill naming that object, and nothing is doubled.
    /// The same when the object's records do not name their stream (no <c>eventSourceARN</c>): a record of the spill's
    /// shard and sequence number is then taken as the spill's, whatever the spill's stream.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AFinishedDestinationObjectTheItemKeepsNoRangeOf_LeavesTheSpill(bool recordsNameTheirStream)
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "norange");
        string destination = DestinationKey(0, "o");
        await scene.PutSpillAsync(SpillKey(0), SpillBody(0, "a", "k", [1]));
        string record = Record(0, 1, "k", "a", 1);
        await scene.PutDestinationAsync(destination, InvocationRecord(0, [recordsNameTheirStream ? record : record.Replace(",\"eventSourceARN\":\"arn:aws:kinesis:us-east-1:123456789012:stream/s\"", string.Empty, StringComparison.Ordinal)]));
        (int wrongExit, _) = await scene.RedriveAsync(scene.Empty, scene.Failure);
        Dictionary<string, AttributeValue> written = await scene.ItemAsync();
        await scene.DynamoDb.UpdateItemAsync(new UpdateItemRequest
        {
            TableName = scene.Table,
            Key = new() { ["pk"] = written["pk"], ["sk"] = written["sk"] },
            UpdateExpression = "REMOVE dr",
        });

        (int exit, string stdout) = await scene.RedriveAsync(scene.Spill, scene.Failure);

        Assert.Equal((0, 1), (wrongExit, exit));
        Assert.Contains($"left {SpillKey(0)}: ", stdout, StringComparison.Ordinal);
        Assert.Contains($"its records were redriven from the on-failure destination object {destination} by an earlier run", stdout, StringComparison.Ordinal);
        Assert.Equal("1", (await scene.ItemAsync())["count"].N);
        Assert.Equal(1, await scene.CountAsync(scene.Spill, "spill/"));
    }

    /// <summary>
    /// Any split of one key's records 1..n into consecutive batches, each spilled only or both spilled and given up: a run
    /// given another spill bucket applies the destination objects, then a run given the function's spill bucket and no
    /// <c>--failure-bucket</c> the spills. The item ends with every record exactly once, and no range the destination
    /// redrive kept ever covered a record it did not apply (a batch spilled only).
    /// </summary>
    [Property(MaxTest = 12)]
    public Property AnySplitIntoSpilledAndGivenUpBatches_EndsExactlyOnce(PositiveInt[] sizes, bool[] givenUp)
    {
        List<int> batches = [.. sizes.Take(5).Select(s => 1 + (s.Get % 3))];
        if (batches.Count == 0)
        {
            return true.ToProperty();
        }

        return Check().GetAwaiter().GetResult().Label($"batches {string.Join(",", batches)}, given up {string.Join(",", givenUp.Take(batches.Count))}");

        async Task<bool> Check()
        {
            using RedriveScene scene = await RedriveScene.CreateAsync(servers, "split");
            var spilledOnly = new HashSet<int>();
            int next = 1;
            for (int b = 0; b < batches.Count; b++)
            {
                int[] records = [.. Enumerable.Range(next, batches[b])];
                next += batches[b];
                await PutSpillAsync(scene, records);
                if (b < givenUp.Length && givenUp[b])
                {
                    await scene.PutDestinationAsync(DestinationKey(0, "b" + b.ToString(CultureInfo.InvariantCulture)), InvocationRecord(0, records[0], [.. records.Select(n => Record(0, n, "k", "a", n))]));
                }
                else
                {
                    spilledOnly.UnionWith(records);
                }
            }

            (int first, _) = await scene.RedriveAsync(scene.Empty, scene.Failure);
            List<Dictionary<string, AttributeValue>> items = (await scene.DynamoDb.ScanAsync(new ScanRequest { TableName = scene.Table })).Items;
            bool rangesExact = items.All(i => !i.TryGetValue("dr", out AttributeValue? dr) || dr.M[ShardId(0)].M["k"].L.All(e =>
                spilledOnly.All(n => SequenceNumber.Compare(Sequence(n), e.S[..e.S.IndexOf(':', StringComparison.Ordinal)]) < 0 || SequenceNumber.Compare(Sequence(n), e.S[(e.S.IndexOf(':', StringComparison.Ordinal) + 1)..]) > 0)));
            (int second, _) = await scene.RedriveAsync(scene.Spill, failure: null);
            int total = next - 1;
            Dictionary<string, AttributeValue> item = await scene.ItemAsync();
            return first == 0 && second == 0 && rangesExact &&
                item["count"].N == total.ToString(CultureInfo.InvariantCulture) &&
                item["sum"].N == (total * (total + 1) / 2).ToString(CultureInfo.InvariantCulture);
        }
    }

    /// <summary>
    /// The events a destination redrive runs hold, per partition key, records of one object only, at most the bound
    /// each, and together every record once, in order.
    /// </summary>
    [Property(MaxTest = 300)]
    public Property Events_HoldPerKeyOneObject_EveryRecordOnceInOrder(byte[] keys, byte[] objects, PositiveInt perEvent)
    {
        int bound = 1 + (perEvent.Get % 6);
        List<DestinationRedrive.DestinationRecordEntry> run = [.. keys.Select((k, i) => new DestinationRedrive.DestinationRecordEntry(
            "o" + (i < objects.Length ? objects[i] % 3 : 0).ToString(CultureInfo.InvariantCulture),
            Sequence(i + 1),
            "k" + (k % 4).ToString(CultureInfo.InvariantCulture),
            "{}"))];
        List<List<DestinationRedrive.DestinationRecordEntry>> events = [.. DestinationRedrive.Events(run, bound)];
        bool oneObject = events.All(e => e.GroupBy(r => r.PartitionKey).All(g => g.Select(r => r.ObjectKey).Distinct().Count() == 1));
        bool bounded = events.All(e => e.Count >= 1 && e.Count <= bound);
        bool same = events.SelectMany(e => e).SequenceEqual(run);
        return (oneObject && bounded && same).ToProperty();
    }

    private static Task PutSpillAsync(RedriveScene scene, int[] records) =>
        scene.PutSpillAsync($"spill/s/{ShardId(0)}/{Sequence(records[0])}.json", SpillObject(0, records[0], [("a", records.Select(n => (n, "k", (double)n)))]));
}
