using Analytics.Core.Tests;
using Analytics.Tools;
using static Analytics.Core.Testing.Tests.RedriveObjects;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// A destination object's <c>redrive/destination/&lt;key&gt;.json</c> marker edited or broken by hand between runs (the
/// undecided pairs are decided by the operator, who may edit the marker instead of deleting it). One bad marker stopped
/// the whole destination phase with an exception's type and a message naming no object ("Requested value 'undecided'
/// was not found", "Value cannot be null"), every other object unredriven. Now the marker's object is reported on its
/// own line with the marker's key, and the run goes on to the other objects, exits 1, and prints no byte of the marker.
/// </summary>
[Collection(LocalServersCollection.Second)]
public sealed class RedriveMarkerEditTests(LocalServersFixture servers)
{
    private const string Secret = "Q7secret";

    public static TheoryData<string, string> BrokenMarkers => new()
    {
        { "empty", string.Empty },
        { "not JSON", Secret + " {" },
        { "no cases", "{\"Key\":\"k\",\"ShardId\":\"shardId-000000000000\",\"Records\":1,\"Applied\":1,\"AlreadyApplied\":0}" },
        { "unknown status", "{\"Key\":\"k\",\"ShardId\":\"shardId-000000000000\",\"Records\":1,\"Applied\":0,\"AlreadyApplied\":0,\"Cases\":[{\"SequenceNumber\":\"1\",\"PartitionKey\":\"" + Secret + "\",\"ItemPk\":\"" + Secret + "\",\"ItemSk\":\"s\",\"Status\":\"accepted\",\"Reason\":\"r\"}]}" },
    };

    [Theory]
    [MemberData(nameof(BrokenMarkers))]
    public async Task ABrokenMarker_IsReportedWithItsKey_AndTheRunGoesOn(string what, string marker)
    {
        _ = what;
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "marker");
        string marked = DestinationKey(0, "a");
        string other = DestinationKey(1, "b");
        await scene.PutDestinationAsync(marked, InvocationRecord(0, [Record(0, 1, "k", "a", 1)]));
        await scene.PutDestinationAsync("redrive/destination/" + marked + ".json", marker);
        await scene.PutDestinationAsync(other, InvocationRecord(1, [Record(1, 1, "k", "b", 2)]));

        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = await ToolsCommand.RunAsync(
            ["redrive", "--table", scene.Table, "--spill-bucket", scene.Spill, "--failure-bucket", scene.Failure, "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--s3-endpoint", servers.S3Url.ToString()],
            stdout,
            stderr);

        Assert.Equal(1, exit);
        Assert.Equal(string.Empty, stderr.ToString());
        string[] lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string line = Assert.Single(lines, l => l.StartsWith($"object {marked} ", StringComparison.Ordinal));
        Assert.Contains($" error: its redrive marker redrive/destination/{marked}.json ", line, StringComparison.Ordinal);
        Assert.Single(lines, l => l.StartsWith($"object {other} shard={ShardId(1)} records=1 applied=1 alreadyApplied=0 undecided=0 left=0", StringComparison.Ordinal));
        Assert.Contains("destination: 2 object(s): 1 complete, 0 held back, 1 with something undecided or left", stdout.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("Q7", stdout.ToString(), StringComparison.Ordinal);
    }

    /// <summary>
    /// The status as the report prints it (lower case: "undecided shard=..."), written into the marker by hand, is read as
    /// that status: the object is reported from its marker, undecided, exit 1, not stopped with "not found".
    /// </summary>
    [Fact]
    public async Task AStatusInTheReportsSpelling_IsRead()
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "marker");
        string marked = DestinationKey(0, "a");
        string marker = "{\"Key\":\"" + marked + "\",\"ShardId\":\"" + ShardId(0) + "\",\"Records\":1,\"Applied\":0,\"AlreadyApplied\":0,\"Cases\":[{\"SequenceNumber\":\"" + Sequence(1) + "\",\"PartitionKey\":\"k\",\"ItemPk\":\"a|region=r\",\"ItemSk\":\"2025-01-01T00:00:00.000Z\",\"Status\":\"undecided\",\"Reason\":\"r\"}]}";
        await scene.PutDestinationAsync(marked, InvocationRecord(0, [Record(0, 1, "k", "a", 1)]));
        await scene.PutDestinationAsync("redrive/destination/" + marked + ".json", marker);

        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = await ToolsCommand.RunAsync(
            ["redrive", "--table", scene.Table, "--spill-bucket", scene.Spill, "--failure-bucket", scene.Failure, "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--s3-endpoint", servers.S3Url.ToString()],
            stdout,
            stderr);

        Assert.Equal((1, string.Empty), (exit, stderr.ToString()));
        Assert.Contains($"object {marked} shard={ShardId(0)} records=1 applied=0 alreadyApplied=0 undecided=1 left=0 (done by an earlier run)", stdout.ToString(), StringComparison.Ordinal);
    }
}
