using System.Collections.Concurrent;
using System.Net;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;

namespace Analytics.Core.Tests;

/// <summary>
/// A real DynamoDB client of the local server (or of a <see cref="FaultProxy"/> in front of it) that counts its requests
/// by kind and can be told, per test, to fail a put before sending it, to run a rival write before each put, to send its
/// reads to another client, or to answer reads in shapes the local server never sends (see each member).
/// </summary>
internal sealed class ScriptedDynamoDbClient(Uri serviceUrl, TimeSpan? timeout = null) : AmazonDynamoDBClient(
    new BasicAWSCredentials("test", "test"),
    new AmazonDynamoDBConfig
    {
        ServiceURL = serviceUrl.ToString(),
        AuthenticationRegion = "us-east-1",
        MaxErrorRetry = 0,
        Timeout = timeout ?? TimeSpan.FromSeconds(5),
    })
{
    private int _puts;
    private int _gets;
    private int _batchGets;

    /// <summary>Thrown, one per put, instead of sending the next puts (a put refused before it reached the table).</summary>
    public ConcurrentQueue<Exception> PutFailures { get; } = new();

    /// <summary>Thrown, one per BatchGetItem, instead of sending the next batch reads.</summary>
    public ConcurrentQueue<Exception> BatchGetFailures { get; } = new();

    /// <summary>Runs before every put is sent (a rival writer that always wins the race).</summary>
    public Func<PutItemRequest, Task>? BeforePut { get; set; }

    /// <summary>When set, reads go to this client: faults of this client's endpoint then hit only the puts.</summary>
    public IAmazonDynamoDB? ReadsVia { get; set; }

    /// <summary>
    /// Every BatchGetItem answers all its keys as unprocessed. Real DynamoDB does that under load; the local server never
    /// does. The sink must then read each item with GetItem.
    /// </summary>
    public bool LeaveBatchReadsUnprocessed { get; set; }

    /// <summary>
    /// GetItem of an absent item answers an empty <c>Item</c> map instead of none: what the SDK gives with
    /// <c>AWSConfigs.InitializeCollections</c> on (the SDK's v3 behaviour). The local server cannot produce it: the SDK
    /// builds the map, and the setting is process-wide, so a test cannot turn it on without disturbing the others.
    /// </summary>
    public bool AbsentItemAsEmptyMap { get; set; }

    /// <summary>Runs before the n-th BatchGetItem (1 for the first) is sent: a read that is slow, or never answers.</summary>
    public Func<int, CancellationToken, Task>? BeforeBatchGet { get; set; }

    /// <summary>Every request's kind ("get", "batch-get", "put"), in the order they were begun.</summary>
    public ConcurrentQueue<string> Begun { get; } = new();

    /// <summary>The most requests of this client that were ever in flight at once (from being begun to being answered).</summary>
    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    /// <summary>The requests of this client in flight now (begun and not yet answered).</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    private int _inFlight;
    private int _maxInFlight;

    private void Begin(string kind)
    {
        Begun.Enqueue(kind);
        int now = Interlocked.Increment(ref _inFlight);
        int max;
        while (now > (max = Volatile.Read(ref _maxInFlight)) && Interlocked.CompareExchange(ref _maxInFlight, now, max) != max)
        {
        }
    }

    private void End() => Interlocked.Decrement(ref _inFlight);

    public int Puts => Volatile.Read(ref _puts);

    public int Gets => Volatile.Read(ref _gets);

    public int BatchGets => Volatile.Read(ref _batchGets);

    /// <summary>The <c>ConsistentRead</c> flag of every GetItem, in order.</summary>
    public ConcurrentQueue<bool?> GetConsistentRead { get; } = new();

    /// <summary>A throttling error exactly as the SDK raises it for <paramref name="errorCode"/> (HTTP 400).</summary>
    public static AmazonDynamoDBException Throttling(string errorCode) =>
        new("Rate of requests exceeds the allowed throughput.", ErrorType.Sender, errorCode, "req-throttled", HttpStatusCode.BadRequest);

    /// <summary>A server error as the SDK raises it (HTTP 500).</summary>
    public static AmazonDynamoDBException ServerError() =>
        new("Internal server error", ErrorType.Receiver, "InternalServerError", "req-500", HttpStatusCode.InternalServerError);

    public override Task<PutItemResponse> PutItemAsync(PutItemRequest request, CancellationToken cancellationToken = default) =>
        TrackedAsync("put", () => PutCoreAsync(request, cancellationToken));

    public override Task<GetItemResponse> GetItemAsync(GetItemRequest request, CancellationToken cancellationToken = default) =>
        TrackedAsync("get", () => GetCoreAsync(request, cancellationToken));

    public override Task<BatchGetItemResponse> BatchGetItemAsync(BatchGetItemRequest request, CancellationToken cancellationToken = default) =>
        TrackedAsync("batch-get", () => BatchGetCoreAsync(request, cancellationToken));

    /// <summary>Counts a request in flight (<see cref="Begun"/>, <see cref="MaxInFlight"/>) from its start to its answer.</summary>
    private async Task<T> TrackedAsync<T>(string kind, Func<Task<T>> send)
    {
        Begin(kind);
        try
        {
            return await send();
        }
        finally
        {
            End();
        }
    }

    private async Task<PutItemResponse> PutCoreAsync(PutItemRequest request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _puts);
        if (PutFailures.TryDequeue(out Exception? failure))
        {
            throw failure;
        }

        if (BeforePut is { } rival)
        {
            await rival(request);
        }

        return await base.PutItemAsync(request, cancellationToken);
    }

    private async Task<GetItemResponse> GetCoreAsync(GetItemRequest request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _gets);
        GetConsistentRead.Enqueue(request.ConsistentRead);
        GetItemResponse response = ReadsVia is { } reads
            ? await reads.GetItemAsync(request, cancellationToken)
            : await base.GetItemAsync(request, cancellationToken);
        if (AbsentItemAsEmptyMap && response.Item is null or { Count: 0 })
        {
            response.Item = [];
        }

        return response;
    }

    private async Task<BatchGetItemResponse> BatchGetCoreAsync(BatchGetItemRequest request, CancellationToken cancellationToken)
    {
        int n = Interlocked.Increment(ref _batchGets);
        if (BatchGetFailures.TryDequeue(out Exception? failure))
        {
            throw failure;
        }

        if (BeforeBatchGet is { } before)
        {
            await before(n, cancellationToken);
        }

        if (LeaveBatchReadsUnprocessed)
        {
            return new BatchGetItemResponse
            {
                Responses = request.RequestItems.ToDictionary(t => t.Key, _ => new List<Dictionary<string, AttributeValue>>(), StringComparer.Ordinal),
                UnprocessedKeys = new Dictionary<string, KeysAndAttributes>(request.RequestItems, StringComparer.Ordinal),
            };
        }

        return ReadsVia is { } reads
            ? await reads.BatchGetItemAsync(request, cancellationToken)
            : await base.BatchGetItemAsync(request, cancellationToken);
    }
}
