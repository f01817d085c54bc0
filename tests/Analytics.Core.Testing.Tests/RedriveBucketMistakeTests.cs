using Amazon.DynamoDBv2.Model;
using Analytics.Core.Tests;
using Analytics.Tools;
using static Analytics.Core.Testing.Tests.RedriveObjects;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// <c>redrive</c> given the wrong buckets, on the local DynamoDB and S3 servers: a bucket name that does not exist, and
/// the spill bucket and the on-failure destination bucket swapped. Each must end in one <c>error:</c> line naming the
/// flag and the bucket, exit 1, and nothing done; never "done, nothing left" while the objects wait elsewhere.
/// </summary>
[Collection(LocalServersCollection.Second)]
public sealed class RedriveBucketMistakeTests(LocalServersFixture servers)
{
    /// <summary>
    /// A bucket that does not exist, for each flag that names one. The error names the flag and the name given (S3's own
    /// message names neither), and the run does nothing: no spill phase before a mistyped <c>--failure-bucket</c> fails.
    /// </summary>
    [Theory]
    [InlineData("--spill-bucket")]
    [InlineData("--failure-bucket")]
    [InlineData("--quarantine-bucket")]
    public async Task ABucketThatDoesNotExist_IsOneErrorLineNamingTheFlag_NothingDone(string flag)
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "nobucket");
        string missing = "no-such-bucket-" + Guid.NewGuid().ToString("N")[..8];
        string[] args = flag switch
        {
            "--spill-bucket" => ["--spill-bucket", missing, "--failure-bucket", scene.Failure],
            "--failure-bucket" => ["--spill-bucket", scene.Spill, "--failure-bucket", missing],
            _ => ["--spill-bucket", scene.Spill, "--failure-bucket", scene.Failure, "--quarantine-bucket", missing],
        };

        (int exit, string stdout, string stderr) = await RunAsync(["--table", scene.Table, .. args]);

        Assert.Equal(1, exit);
        string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: ", line, StringComparison.Ordinal);
        Assert.Contains($"{flag} '{missing}'", line, StringComparison.Ordinal);
        Assert.Equal(string.Empty, stdout);
    }

    /// <summary>
    /// The spill bucket given as <c>--failure-bucket</c> and the on-failure destination bucket as <c>--spill-bucket</c>.
    /// The run found no spill under <c>spill/</c> of the one and no object under <c>aws/lambda/</c> of the other, and said
    /// "redrive: done, nothing left" with exit 0, while both objects waited. Now it names both flags, exits 1, and
    /// touches nothing: the spill object is still there and the table is empty.
    /// </summary>
    [Fact]
    public async Task SwappedBuckets_AreRefusedNamingBothFlags_NotReportedDone()
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "swapped");
        await scene.PutSpillAsync(SpillKey(0), SpillBody(0, "a", "k", [1]));
        await scene.PutDestinationAsync(DestinationKey(0, "o"), InvocationRecord(0, [Record(0, 1, "k", "a", 1)]));

        (int exit, string stdout, string stderr) = await RunAsync(["--table", scene.Table, "--spill-bucket", scene.Failure, "--failure-bucket", scene.Spill, "--min-age-minutes", "0"]);

        Assert.Equal(1, exit);
        Assert.DoesNotContain("done, nothing left", stdout, StringComparison.Ordinal);
        string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: ", line, StringComparison.Ordinal);
        Assert.Contains($"--failure-bucket '{scene.Spill}'", line, StringComparison.Ordinal);
        Assert.Contains($"--spill-bucket '{scene.Failure}'", line, StringComparison.Ordinal);
        Assert.Equal(string.Empty, stdout);
        Assert.Equal(1, await scene.CountAsync(scene.Spill, string.Empty));
        Assert.Equal(0, (await scene.DynamoDb.ScanAsync(new ScanRequest { TableName = scene.Table })).Count);
    }

    /// <summary>
    /// The buckets right way round (the same objects as above) are still redriven: the spill is applied and deleted, the
    /// destination object waits for nothing and is applied, exit 0. The check above must not refuse a correct run.
    /// </summary>
    [Fact]
    public async Task TheSameBucketsTheRightWayRound_AreRedriven()
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "rightway");
        await scene.PutSpillAsync(SpillKey(0), SpillBody(0, "a", "k", [1]));
        await scene.PutDestinationAsync(DestinationKey(1, "o"), InvocationRecord(1, [Record(1, 1, "k", "b", 2)]));

        (int exit, string stdout, string stderr) = await RunAsync(["--table", scene.Table, "--spill-bucket", scene.Spill, "--failure-bucket", scene.Failure, "--min-age-minutes", "0"]);

        Assert.Equal((0, string.Empty), (exit, stderr));
        Assert.Contains("redrive: done, nothing left", stdout, StringComparison.Ordinal);
        Assert.Equal(0, await scene.CountAsync(scene.Spill, "spill/"));
        Assert.Equal(2, (await scene.DynamoDb.ScanAsync(new ScanRequest { TableName = scene.Table })).Count);
    }

    private async Task<(int Exit, string Stdout, string Stderr)> RunAsync(string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = await ToolsCommand.RunAsync(
            ["redrive", .. args, "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--s3-endpoint", servers.S3Url.ToString()],
            stdout,
            stderr);
        return (exit, stdout.ToString(), stderr.ToString());
    }
}

/// <summary>
/// <c>--spill-prefix</c> mistyped (<c>spills</c> for the function's <c>spill</c>): the spill phase found nothing, no shard
/// was held back, and the destination object of a shard whose spill waited under <c>spill/</c> was applied first, exit
/// 0, "done, nothing left"; the run with the right prefix then applies the spill after it, the one order that is not
/// exact. Now the run names the prefix the spill objects are under and does nothing.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class RedriveSpillPrefixMistakeTests(LocalServersFixture servers)
{
    [Theory]
    [InlineData("spills")]
    [InlineData("/Spill/")]
    public async Task SpillObjectsUnderAnotherPrefix_AreNamed_NothingApplied(string prefix)
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "prefix");
        await scene.PutSpillAsync(SpillKey(0), SpillBody(0, "a", "k", [1]));
        await scene.PutSpillAsync("quarantine/s/" + ShardId(0) + "/" + Sequence(9) + ".json", "{\"not\":\"a spill\"}");
        await scene.PutDestinationAsync(DestinationKey(0, "o"), InvocationRecord(0, 2, [Record(0, 2, "k", "a", 2)]));
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        int exit = await ToolsCommand.RunAsync(
            ["redrive", "--table", scene.Table, "--spill-bucket", scene.Spill, "--spill-prefix", prefix, "--failure-bucket", scene.Failure, "--min-age-minutes", "0", "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--s3-endpoint", servers.S3Url.ToString()],
            stdout,
            stderr);

        Assert.Equal(1, exit);
        Assert.Equal(string.Empty, stdout.ToString());
        string line = Assert.Single(stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"error: --spill-bucket '{scene.Spill}' holds spill objects under spill/ (e.g. {SpillKey(0)}), and --spill-prefix is '{prefix}'", line, StringComparison.Ordinal);
        Assert.Equal(0, (await scene.DynamoDb.ScanAsync(new ScanRequest { TableName = scene.Table })).Count);
    }

    /// <summary>
    /// The stream's folder mistyped under the right top-level folder (the stream is <c>s</c>): the top-level check took
    /// <c>spill/</c> for the prefix's own folder, and the run said "done, nothing left" without a word of the spill
    /// beside it (found by review). A mistyped folder cannot be told from a prefix narrowed to another stream with no
    /// spill (refusing those refused correct runs: review of the first fix), so the run goes on, applies nothing, and
    /// names the folders beside the prefix that hold spill objects in a note, and its last line says so.
    /// </summary>
    /// <remarks>
    /// The folder with the typo may be higher than the prefix's last (<c>spill/strem/shardId-...</c>: found by review, no
    /// note); the folders named are those beside it, under the deepest parent that holds anything.
    /// </remarks>
    [Theory]
    [InlineData("spill/t")]
    [InlineData("spill/S/")]
    [InlineData("spill/other-stream")]
    [InlineData("spill/strem/shardId-000000000000/")]
    public async Task NothingUnderANarrowedPrefix_NamesTheSpillsBesideIt(string prefix)
    {
        (RedriveScene created, int exit, StringWriter stdout, StringWriter stderr) = await RunAsync("stream", prefix, otherStream: true);
        using RedriveScene scene = created;

        Assert.Equal((0, string.Empty), (exit, stderr.ToString()));
        string[] lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal($"note: --spill-bucket '{scene.Spill}' holds no spill object under --spill-prefix '{prefix}', and holds spill objects under spill/s/, spill/u/: if one is this function's (a mistyped prefix), run again with it", lines[0]);
        Assert.Equal("redrive: done, nothing left under the prefixes given; the note above names objects beside them", lines[^1]);
        Assert.Equal(2, await scene.CountAsync(scene.Spill, "spill/"));
        Assert.Equal(0, (await scene.DynamoDb.ScanAsync(new ScanRequest { TableName = scene.Table })).Count);
    }

    /// <summary>
    /// A correct run with nothing to do under a nested prefix whose bucket holds the function's quarantine objects beside
    /// it (the sample's default: one bucket for both): quarantine objects are keyed like spill objects, so they are read,
    /// and no note is printed (found by review: a false "mistyped prefix" note).
    /// </summary>
    [Fact]
    public async Task QuarantineObjectsBesideANestedPrefix_AreNoNote()
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "quarbeside");
        await scene.PutSpillAsync("fn/quarantine/s/" + ShardId(0) + "/" + Sequence(9) + ".json", "{\"not\":\"a spill\"}");
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        int exit = await ToolsCommand.RunAsync(
            ["redrive", "--table", scene.Table, "--spill-bucket", scene.Spill, "--spill-prefix", "fn/spill", "--min-age-minutes", "0", "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--s3-endpoint", servers.S3Url.ToString()],
            stdout,
            stderr);

        Assert.Equal((0, string.Empty), (exit, stderr.ToString()));
        Assert.DoesNotContain("note:", stdout.ToString(), StringComparison.Ordinal);
        Assert.EndsWith("redrive: done, nothing left" + Environment.NewLine, stdout.ToString(), StringComparison.Ordinal);
    }

    /// <summary>
    /// The folders beside a narrowed prefix are read past the listing's first page (1,000 keys): a folder of 1,000
    /// objects sorts before the stream's spill folder, so the first page holds nothing but it, and the note must still
    /// name the spill folder behind it. Before this test no test listed more than one page.
    /// </summary>
    [Fact]
    public async Task SiblingsPastTheListingsFirstPage_AreStillNamed()
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "pages");
        await scene.PutSpillAsync(SpillKey(0), SpillBody(0, "a", "k", [1]));
        const int Filler = 1000; // S3's page size: the spill folder starts the second page
        for (int start = 0; start < Filler; start += 50)
        {
            await Task.WhenAll(Enumerable.Range(start, 50).Select(i => scene.PutSpillAsync($"spill/a/{i:D4}.bin", "x")));
        }

        (int exit, StringWriter stdout, StringWriter stderr) = await RedriveOn.RunAsync(servers, scene, "--spill-prefix", "spill/t");

        Assert.Equal((0, string.Empty), (exit, stderr.ToString()));
        string[] lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal($"note: --spill-bucket '{scene.Spill}' holds no spill object under --spill-prefix 'spill/t', and holds spill objects under spill/s/: if one is this function's (a mistyped prefix), run again with it", lines[0]);
        Assert.Equal(1, await scene.CountAsync(scene.Spill, "spill/s/"));
        Assert.Equal(0, (await scene.DynamoDb.ScanAsync(new ScanRequest { TableName = scene.Table })).Count);
    }

    /// <summary>The prefix narrowed to the stream that holds the spill, beside another's: no note, the spill is applied and deleted.</summary>
    [Fact]
    public async Task TheStreamsOwnPrefix_HasNoNote_AndIsRedriven()
    {
        (RedriveScene created, int exit, StringWriter stdout, StringWriter stderr) = await RunAsync("ownstream", "spill/s", otherStream: true);
        using RedriveScene scene = created;

        Assert.Equal((0, string.Empty), (exit, stderr.ToString()));
        Assert.DoesNotContain("note:", stdout.ToString(), StringComparison.Ordinal);
        Assert.Contains("redrive: done, nothing left" + Environment.NewLine, stdout.ToString(), StringComparison.Ordinal);
        Assert.Equal(0, await scene.CountAsync(scene.Spill, "spill/s/"));
        Assert.Single((await scene.DynamoDb.ScanAsync(new ScanRequest { TableName = scene.Table })).Items);
    }

    /// <summary>
    /// A scene with one spill object of stream <c>s</c>, shard 0 (and with <paramref name="otherStream"/> one under
    /// <c>spill/u/</c>, another stream's folder), and a redrive with <paramref name="prefix"/>.
    /// </summary>
    private async Task<(RedriveScene Scene, int Exit, StringWriter Stdout, StringWriter Stderr)> RunAsync(string name, string prefix, bool otherStream = false)
    {
        RedriveScene scene = await RedriveScene.CreateAsync(servers, name);
        await scene.PutSpillAsync(SpillKey(0), SpillBody(0, "a", "k", [1]));
        if (otherStream)
        {
            await scene.PutSpillAsync(SpillKey(0).Replace("spill/s/", "spill/u/", StringComparison.Ordinal), SpillBody(0, "a", "k", [1]));
        }

        (int exit, StringWriter stdout, StringWriter stderr) = await RedriveOn.RunAsync(servers, scene, "--spill-prefix", prefix);
        return (scene, exit, stdout, stderr);
    }
}

/// <summary>
/// <c>--failure-prefix</c> mistyped: the destination phase found nothing and the run said "done, nothing left", exit 0,
/// while the batches Lambda gave up on waited under <c>aws/lambda/</c> (found by review). Now it names where they are.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class RedriveFailurePrefixMistakeTests(LocalServersFixture servers)
{
    [Theory]
    [InlineData("aws/lamda/", "aws/lambda/")]
    [InlineData("/aws/lambda/", "aws/lambda/")]
    [InlineData("lambda/", "aws/lambda/")]
    public async Task APrefixOutsideWhereLambdaWrites_IsRefused_NamingWhereTheObjectsAre(string prefix, string folder)
    {
        (RedriveScene created, int exit, StringWriter stdout, StringWriter stderr) = await RunAsync("failprefix", prefix);
        using RedriveScene scene = created;

        Assert.Equal((1, string.Empty), (exit, stdout.ToString()));
        string line = Assert.Single(stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"error: --failure-bucket '{scene.Failure}' holds on-failure destination objects under {folder} (e.g. {DestinationKey(0, "o")}), and --failure-prefix is '{prefix}'", line, StringComparison.Ordinal);
        Assert.Equal(0, (await scene.DynamoDb.ScanAsync(new ScanRequest { TableName = scene.Table })).Count);
    }

    /// <summary>
    /// Nothing under a prefix narrowed to another mapping's, shard's or day's folder under <c>aws/lambda/</c>: a typo
    /// cannot be told from a correct narrowing, so the run goes on, applies nothing, and names the folders beside it
    /// that hold objects.
    /// </summary>
    [Theory]
    [InlineData("aws/lambda/0f8b6c2e-1111-4222-8333-444455556667/", "aws/lambda/0f8b6c2e-1111-4222-8333-444455556666/")]
    [InlineData("aws/lambda/0f8b6c2e-1111-4222-8333-444455556666/shardId-000000000001/", "aws/lambda/0f8b6c2e-1111-4222-8333-444455556666/shardId-000000000000/")]
    [InlineData("aws/lambda/0f8b6c2e-1111-4222-8333-444455556667/shardId-000000000000/2025/01/01/", "aws/lambda/0f8b6c2e-1111-4222-8333-444455556666/")]
    public async Task NothingUnderANarrowedPrefix_NamesTheObjectsBesideIt(string prefix, string folder)
    {
        (RedriveScene created, int exit, StringWriter stdout, StringWriter stderr) = await RunAsync("failnarrow", prefix);
        using RedriveScene scene = created;

        Assert.Equal((0, string.Empty), (exit, stderr.ToString()));
        string[] lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains($"note: --failure-bucket '{scene.Failure}' holds nothing under --failure-prefix '{prefix}', and holds objects under {folder}: if one is this mapping's (a mistyped prefix), run again with it", lines);
        Assert.Equal("redrive: done, nothing left under the prefixes given; the note above names objects beside them", lines[^1]);
        Assert.Equal(0, (await scene.DynamoDb.ScanAsync(new ScanRequest { TableName = scene.Table })).Count);
    }

    /// <summary>The prefix narrowed to the mapping's folder that holds the object is not refused: the object is applied.</summary>
    [Fact]
    public async Task TheMappingsOwnFolder_IsRedriven()
    {
        (RedriveScene created, int exit, StringWriter stdout, StringWriter stderr) = await RunAsync("failright", "aws/lambda/0f8b6c2e-1111-4222-8333-444455556666/");
        using RedriveScene scene = created;

        Assert.Equal((0, string.Empty), (exit, stderr.ToString()));
        Assert.Equal(1, (await scene.DynamoDb.ScanAsync(new ScanRequest { TableName = scene.Table })).Count);
    }

    /// <summary>A scene with one destination object of shard 0 under the mapping's folder, and a redrive of it with <paramref name="prefix"/>.</summary>
    private async Task<(RedriveScene Scene, int Exit, StringWriter Stdout, StringWriter Stderr)> RunAsync(string name, string prefix)
    {
        RedriveScene scene = await RedriveScene.CreateAsync(servers, name);
        await scene.PutDestinationAsync(DestinationKey(0, "o"), InvocationRecord(0, [Record(0, 1, "k", "a", 1)]));
        (int exit, StringWriter stdout, StringWriter stderr) = await RedriveOn.RunAsync(servers, scene, "--failure-bucket", scene.Failure, "--failure-prefix", prefix);
        return (scene, exit, stdout, stderr);
    }
}

/// <summary>
/// A <c>--table</c> that exists but is not an aggregate table: the run failed half way with DynamoDB's "The provided key
/// element does not match the schema", naming neither the table nor the flag (found by review). Now one error line
/// before anything is read or written.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class RedriveTableMistakeTests(LocalServersFixture servers)
{
    [Theory]
    [InlineData("id", "S", null, null, "id (S, HASH)")]
    [InlineData("pk", "S", null, null, "pk (S, HASH)")]
    [InlineData("pk", "S", "sk", "N", "pk (S, HASH) and sk (N, RANGE)")]
    [InlineData("pk", "N", "sk", "S", "pk (N, HASH) and sk (S, RANGE)")]
    public async Task ATableWithAnotherKey_IsOneErrorNamingTheFlag_NothingDone(string hash, string hashType, string? range, string? rangeType, string described)
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "schema");
        await scene.PutSpillAsync(SpillKey(0), SpillBody(0, "a", "k", [1]));
        string table = "other-" + Guid.NewGuid().ToString("N")[..8];
        var request = new CreateTableRequest
        {
            TableName = table,
            BillingMode = Amazon.DynamoDBv2.BillingMode.PAY_PER_REQUEST,
            KeySchema = [new KeySchemaElement(hash, Amazon.DynamoDBv2.KeyType.HASH)],
            AttributeDefinitions = [new AttributeDefinition(hash, hashType)],
        };
        if (range is not null)
        {
            request.KeySchema.Add(new KeySchemaElement(range, Amazon.DynamoDBv2.KeyType.RANGE));
            request.AttributeDefinitions.Add(new AttributeDefinition(range, rangeType));
        }

        await scene.DynamoDb.CreateTableAsync(request);
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        int exit = await ToolsCommand.RunAsync(
            ["redrive", "--table", table, "--spill-bucket", scene.Spill, "--min-age-minutes", "0", "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--s3-endpoint", servers.S3Url.ToString()],
            stdout,
            stderr);

        Assert.Equal((1, string.Empty), (exit, stdout.ToString()));
        Assert.Equal(
            $"error: the table '{table}' is not an aggregate table: its key is {described}, and the sink's is pk (S, HASH) and sk (S, RANGE): check --table; nothing done",
            Assert.Single(stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.Equal(1, await scene.CountAsync(scene.Spill, "spill/"));
    }
}

/// <summary>Runs <c>redrive</c> on a scene's table and spill bucket, no minimum age, against the local servers, with <c>args</c> added.</summary>
internal static class RedriveOn
{
    public static async Task<(int Exit, StringWriter Stdout, StringWriter Stderr)> RunAsync(LocalServersFixture servers, RedriveScene scene, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = await ToolsCommand.RunAsync(
            ["redrive", "--table", scene.Table, "--spill-bucket", scene.Spill, "--min-age-minutes", "0", .. args, "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--s3-endpoint", servers.S3Url.ToString()],
            stdout,
            stderr);
        return (exit, stdout, stderr);
    }
}
