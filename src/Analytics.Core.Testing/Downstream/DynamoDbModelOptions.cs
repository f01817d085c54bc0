namespace Analytics.Core.Testing;

/// <summary>Options of a <see cref="DynamoDbModel"/>.</summary>
/// <remarks>Set only what differs: <c>DynamoDbModelOptions.Default with { ThrottleFraction = 0.2 }</c>.</remarks>
public readonly record struct DynamoDbModelOptions
{
    /// <summary>Creates the default options.</summary>
    public DynamoDbModelOptions()
    {
    }

    /// <summary>The default options: no latency, no throttling, no outage, seed 0.</summary>
    public static DynamoDbModelOptions Default => new();

    /// <summary>Seed of the model's random source (latency draws, throttling decisions). Default 0.</summary>
    public int Seed { get; init; }

    /// <summary>Time from a request to its answer, on the model's clock. Default <see cref="LatencyDistribution.None"/>.</summary>
    public LatencyDistribution Latency { get; init; }

    /// <summary>
    /// Fraction (0 to 1) of data-plane requests (GetItem, PutItem, UpdateItem, DeleteItem, BatchGetItem, BatchWriteItem,
    /// Query, Scan) answered with <c>ProvisionedThroughputExceededException</c>. A batch request is throttled per key:
    /// the throttled keys come back as unprocessed, and only a batch whose every key is throttled fails. Default 0.
    /// </summary>
    public double ThrottleFraction { get; init; }

    /// <summary>Spans of time in which every request is answered with HTTP 500 <c>InternalServerError</c>, or given no answer (<see cref="OutageWindow.Unanswered"/>). Default none.</summary>
    public IReadOnlyList<OutageWindow>? Outages { get; init; }

    /// <summary>
    /// How long the model's clients wait for an answer, on the model's clock: what an AWS SDK client's <c>Timeout</c> is in
    /// production (the clients' own <c>Timeout</c> is real time, so they set none). A request that its latency or an
    /// <see cref="OutageWindow.Unanswered"/> outage keeps longer fails at that point, unapplied, with the
    /// <see cref="TimeoutException"/> the SDK throws when its HTTP timeout elapses (over a
    /// <see cref="TaskCanceledException"/>). Positive and at most about 49.7 days (4,294,967,294 ms, the longest a timer
    /// waits), or <see langword="null"/> (the default) for none: a request then
    /// waits until it is answered or its caller cancels it.
    /// </summary>
    public TimeSpan? RequestTimeout { get; init; }

    /// <summary>The largest item in bytes, as DynamoDB counts item size. Default 409,600 (400 KB).</summary>
    public int MaxItemSizeBytes { get; init; } = 400 * 1024;
}

/// <summary>What a <see cref="DynamoDbModel"/> has served so far.</summary>
/// <param name="Requests">Every request received, whatever its outcome.</param>
/// <param name="Throttles">Requests answered with <c>ProvisionedThroughputExceededException</c>, plus batch keys returned unprocessed.</param>
/// <param name="OutageErrors">Requests that fell in an outage: answered with a server error, or given no answer (<see cref="OutageWindow.Unanswered"/>).</param>
/// <param name="ConditionalCheckFailures">Writes refused by their condition expression.</param>
/// <param name="ValidationErrors">Requests refused as invalid (including items over the size limit).</param>
/// <param name="ReadCapacityUnits">Read capacity units consumed: per item read, its size in 4 KB units rounded up (at least 1), halved for eventually consistent reads.</param>
/// <param name="WriteCapacityUnits">Write capacity units consumed: per write, the larger of the old and new item in 1 KB units rounded up (at least 1); a write refused by its condition consumes them too.</param>
public readonly record struct DynamoDbModelCounters(
    long Requests,
    long Throttles,
    long OutageErrors,
    long ConditionalCheckFailures,
    long ValidationErrors,
    double ReadCapacityUnits,
    double WriteCapacityUnits);
