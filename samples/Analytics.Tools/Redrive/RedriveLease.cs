using System.Globalization;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;

namespace Analytics.Tools.Redrive;

/// <summary>
/// One <c>redrive</c> at a time per table: a lease item in the table itself (the one store both runs share that can
/// create an item only if it is absent), taken before anything is read, renewed while the run works, deleted at the end.
/// </summary>
/// <remarks>
/// <para>Without it, two redrives at once left the table exact (every write is conditional and exactly once), but both
/// reported the same destination pairs as applied by them and both counted the same spill objects as deleted: two
/// reports that together claimed twice what was done. Now the second run prints who holds the lease and until when,
/// does nothing, and exits 1.</para>
/// <para>The item is <c>pk = "#redrive"</c>, <c>sk = "lease"</c>: no aggregate has that sort key (an aggregate's is a
/// window start). It holds the owner (host, process, a random id), when it was taken and when it expires. A run that
/// dies leaves it until it expires (<see cref="Duration"/>); a run that is still working renews it well before. A run
/// stalled past the expiry loses it: its next renewal fails and it stops; the table stays exact either way.</para>
/// </remarks>
internal sealed class RedriveLease : IAsyncDisposable
{
    /// <summary>The lease item's partition key.</summary>
    public const string Pk = "#redrive";

    /// <summary>The lease item's sort key.</summary>
    public const string Sk = "lease";

    /// <summary>How long a lease lasts without renewal: longer than the longest single step (a destination event may take five minutes).</summary>
    public static readonly TimeSpan Duration = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How long the release may take, all attempts of the client together: an interrupted run must say what became of the
    /// lease well within the grace a signal gets (<see cref="ToolsCommand.InterruptGrace"/>). The client's own time-out and retry took 10 s against a DynamoDB
    /// that never answers, and over 20 s on a loaded machine, where the run was then ended without a word (exit 130).
    /// </summary>
    public static readonly TimeSpan ReleaseTimeout = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan s_renewAfter = TimeSpan.FromMinutes(2);

    private readonly IAmazonDynamoDB _dynamoDb;
    private readonly string _table;
    private readonly TimeProvider _time;
    private DateTimeOffset _renewed;

    private RedriveLease(IAmazonDynamoDB dynamoDb, string table, TimeProvider time, string owner)
    {
        _dynamoDb = dynamoDb;
        _table = table;
        _time = time;
        Owner = owner;
        _renewed = time.GetUtcNow();
    }

    /// <summary>Who holds it: host, process id, and a random id of the run.</summary>
    public string Owner { get; }

    /// <summary>Takes the table's lease, or says who holds it.</summary>
    /// <param name="dynamoDb">The client.</param>
    /// <param name="table">The aggregate table.</param>
    /// <param name="time">The clock the expiry is measured with.</param>
    /// <param name="cancellationToken">Stops the request.</param>
    /// <returns>The lease, or null and who holds it.</returns>
    public static async Task<(RedriveLease? Lease, string? HeldBy)> TryTakeAsync(IAmazonDynamoDB dynamoDb, string table, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(dynamoDb);
        ArgumentNullException.ThrowIfNull(time);
        string owner = string.Create(CultureInfo.InvariantCulture, $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}");
        DateTimeOffset now = time.GetUtcNow();
        try
        {
            await dynamoDb.UpdateItemAsync(
                new UpdateItemRequest
                {
                    TableName = table,
                    Key = Key(),
                    UpdateExpression = "SET #owner = :owner, #since = :since, #expires = :expires",
                    ConditionExpression = "attribute_not_exists(pk) OR #expires < :now",
                    ExpressionAttributeNames = new Dictionary<string, string>(StringComparer.Ordinal) { ["#owner"] = "owner", ["#since"] = "since", ["#expires"] = "expires" },
                    ExpressionAttributeValues = new Dictionary<string, AttributeValue>(StringComparer.Ordinal)
                    {
                        [":owner"] = new AttributeValue { S = owner },
                        [":since"] = new AttributeValue { S = now.ToString("O", CultureInfo.InvariantCulture) },
                        [":expires"] = Millis(now + Duration),
                        [":now"] = Millis(now),
                    },
                },
                cancellationToken).ConfigureAwait(false);
            return (new RedriveLease(dynamoDb, table, time, owner), null);
        }
        catch (ConditionalCheckFailedException)
        {
            GetItemResponse held = await dynamoDb.GetItemAsync(new GetItemRequest { TableName = table, Key = Key(), ConsistentRead = true }, cancellationToken).ConfigureAwait(false);
            Dictionary<string, AttributeValue> item = held.Item ?? [];
            string holder = item.TryGetValue("owner", out AttributeValue? o) ? o.S : "unknown";
            string since = item.TryGetValue("since", out AttributeValue? s) ? s.S : "unknown";
            string until = item.TryGetValue("expires", out AttributeValue? e) && long.TryParse(e.N, NumberStyles.Integer, CultureInfo.InvariantCulture, out long ms)
                ? DateTimeOffset.FromUnixTimeMilliseconds(ms).ToString("O", CultureInfo.InvariantCulture)
                : "unknown";
            return (null, $"{holder} since {since}, until {until} unless it renews it");
        }
        catch (Exception e) when (e is not ConditionalCheckFailedException)
        {
            // Cancelled or failed after the request may have been applied: do not leave a lease nobody holds.
            await new RedriveLease(dynamoDb, table, time, owner).DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Renews the lease when a good part of it has passed; cheap otherwise.</summary>
    /// <param name="cancellationToken">Stops the request.</param>
    /// <exception cref="InvalidOperationException">Another run took the lease over (this one stalled past its expiry).</exception>
    public async Task RenewAsync(CancellationToken cancellationToken)
    {
        DateTimeOffset now = _time.GetUtcNow();
        if (now - _renewed < s_renewAfter)
        {
            return;
        }

        try
        {
            await _dynamoDb.UpdateItemAsync(
                new UpdateItemRequest
                {
                    TableName = _table,
                    Key = Key(),
                    UpdateExpression = "SET #expires = :expires",
                    ConditionExpression = "#owner = :owner",
                    ExpressionAttributeNames = new Dictionary<string, string>(StringComparer.Ordinal) { ["#owner"] = "owner", ["#expires"] = "expires" },
                    ExpressionAttributeValues = new Dictionary<string, AttributeValue>(StringComparer.Ordinal)
                    {
                        [":owner"] = new AttributeValue { S = Owner },
                        [":expires"] = Millis(now + Duration),
                    },
                },
                cancellationToken).ConfigureAwait(false);
            _renewed = now;
        }
        catch (ConditionalCheckFailedException)
        {
            throw new InvalidOperationException("This redrive stalled past its lease of the table, and another redrive took it over: stopped. What it applied stays applied exactly once; run redrive again once the other has finished.");
        }
    }

    /// <summary>Whether <see cref="DisposeAsync"/> deleted the lease item, or found it taken over; false before, or when DynamoDB did not answer.</summary>
    public bool Released { get; private set; }

    /// <summary>
    /// Deletes the lease item if this run still holds it. Never throws: a lease not deleted expires (the SDK's own timeout
    /// is a <see cref="TimeoutException"/>, found by review to escape and replace the run's report).
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        using var budget = new CancellationTokenSource(ReleaseTimeout);
        try
        {
            await _dynamoDb.DeleteItemAsync(
                new DeleteItemRequest
                {
                    TableName = _table,
                    Key = Key(),
                    ConditionExpression = "#owner = :owner",
                    ExpressionAttributeNames = new Dictionary<string, string>(StringComparer.Ordinal) { ["#owner"] = "owner" },
                    ExpressionAttributeValues = new Dictionary<string, AttributeValue>(StringComparer.Ordinal) { [":owner"] = new AttributeValue { S = Owner } },
                },
                budget.Token).ConfigureAwait(false);
            Released = true;
        }
        catch (ConditionalCheckFailedException)
        {
            // Taken over by another run: not this run's to delete.
            Released = true;
        }
        catch (Exception e) when (e is AmazonServiceException or HttpRequestException or IOException or OperationCanceledException or TimeoutException)
        {
            // DynamoDB does not answer: it expires.
        }
    }

    private static Dictionary<string, AttributeValue> Key() => new(StringComparer.Ordinal)
    {
        ["pk"] = new AttributeValue { S = Pk },
        ["sk"] = new AttributeValue { S = Sk },
    };

    private static AttributeValue Millis(DateTimeOffset time) => new() { N = time.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture) };
}
