using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.S3;
using Amazon.S3.Model;
using Analytics.Core.Tests;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// One redrive test's resources on the local servers: a new table, the function's spill bucket, an empty bucket (a
/// <c>--spill-bucket</c> other than the function's, so that nothing holds a destination object back), the on-failure
/// destination bucket, a quarantine bucket for the function's poison records, and a client of each server; and what
/// the tests do with them.
/// </summary>
internal sealed class RedriveScene : IDisposable
{
    private readonly LocalServersFixture _servers;

    private RedriveScene(LocalServersFixture servers, string table, string spill, string empty, string failure, string quarantine)
    {
        _servers = servers;
        (Table, Spill, Empty, Failure, Quarantine) = (table, spill, empty, failure, quarantine);
        S3 = servers.CreateS3Client();
        DynamoDb = servers.CreateDynamoDbClient();
    }

    public string Table { get; }

    /// <summary>The function's spill bucket.</summary>
    public string Spill { get; }

    /// <summary>A bucket without spill objects: given as <c>--spill-bucket</c>, nothing holds a destination object back.</summary>
    public string Empty { get; }

    /// <summary>The on-failure destination bucket.</summary>
    public string Failure { get; }

    /// <summary>The function's quarantine bucket (for a live sink's poison records).</summary>
    public string Quarantine { get; }

    public AmazonS3Client S3 { get; }

    public AmazonDynamoDBClient DynamoDb { get; }

    /// <summary>A new table named after <paramref name="name"/> and four new buckets.</summary>
    public static async Task<RedriveScene> CreateAsync(LocalServersFixture servers, string name) =>
        new(
            servers,
            await servers.CreateTableAsync(name),
            await servers.CreateBucketAsync("spill"),
            await servers.CreateBucketAsync("empty"),
            await servers.CreateBucketAsync("failure"),
            await servers.CreateBucketAsync("quarantine"));

    /// <summary>Writes an object as its writer does (no chunked encoding, which the local S3 server does not take).</summary>
    public Task PutAsync(string bucket, string key, string body) =>
        S3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = key, ContentBody = body, UseChunkEncoding = false });

    /// <summary>A spill object in the function's spill bucket.</summary>
    public Task PutSpillAsync(string key, string body) => PutAsync(Spill, key, body);

    /// <summary>An object of the on-failure destination.</summary>
    public Task PutDestinationAsync(string key, string body) => PutAsync(Failure, key, body);

    /// <summary>Runs <c>redrive</c> on the table (see <see cref="RedriveTool.RunRedriveAsync"/>).</summary>
    public Task<(int Exit, string Output)> RedriveAsync(string spill, string? failure, bool errorsToo = false) =>
        RedriveTool.RunRedriveAsync(_servers, Table, spill, failure, errorsToo);

    /// <summary>The table's one aggregate item (see <see cref="RedriveTool.ItemAsync"/>).</summary>
    public Task<Dictionary<string, AttributeValue>> ItemAsync() => RedriveTool.ItemAsync(DynamoDb, Table);

    /// <summary>How many objects <paramref name="bucket"/> holds under <paramref name="prefix"/>.</summary>
    public async Task<int> CountAsync(string bucket, string prefix) =>
        (await S3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = prefix })).KeyCount ?? 0;

    public void Dispose()
    {
        S3.Dispose();
        DynamoDb.Dispose();
    }
}
