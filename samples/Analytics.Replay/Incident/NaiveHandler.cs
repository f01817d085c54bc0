using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Core;
using Analytics.Core.Testing;

namespace Analytics.Replay.Incident;

/// <summary>
/// The function as it was before the library: it deserializes the batch with System.Text.Json into plain objects and
/// writes one DynamoDB <c>UpdateItem</c> with <c>ADD</c> per record through the AWS SDK client, all of a batch's writes
/// started one after the other and then awaited together (sequential writes could not keep up with 1,000 records per
/// second and shard). It throws on a record it cannot parse (the writes already started go on), retries a throttled
/// write as the SDK's standard retry mode does (3 attempts in all, full-jitter exponential backoff from 100 ms), and
/// does not look at its deadline. Nothing here is made worse than it was: it is the ordinary way such functions are
/// written.
/// </summary>
/// <remarks>
/// The model's client makes no retries of its own (they would wait in real time), so the SDK's default retries are
/// written out here and wait on the emulator's clock; the jitter comes from <paramref name="seed"/>.
/// </remarks>
internal sealed class NaiveHandler(IAmazonDynamoDB client, string tableName, TimeProvider clock, int seed) : ILambdaHandler
{
    /// <summary>The aggregation window of the function as it was: one minute.</summary>
    public const long WindowMs = 60_000;

    private const int MaxAttempts = 3;
    private static readonly TimeSpan s_baseDelay = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan s_maxDelay = TimeSpan.FromSeconds(20);

    private readonly Random _jitter = new(seed);

    public async Task<ReadOnlyMemory<byte>> InvokeAsync(ReadOnlyMemory<byte> utf8Event, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        KinesisEvent batch = JsonSerializer.Deserialize(utf8Event.Span, NaiveJsonContext.Default.KinesisEvent)
            ?? throw new InvalidDataException("The event is null.");
        var writes = new List<Task>();
        foreach (KinesisEventRecord record in batch.Records ?? [])
        {
            byte[] data = Convert.FromBase64String(record.Kinesis?.Data ?? throw new InvalidDataException("A record has no kinesis.data."));

            // A record that is not a metric throws, and the whole batch fails: the behaviour that blocked the shard.
            MetricRecord metric = JsonSerializer.Deserialize(data, NaiveJsonContext.Default.MetricRecord)
                ?? throw new InvalidDataException("A record is null.");
            if (metric.Metric is null)
            {
                throw new InvalidDataException("A record has no metric name.");
            }

            long window = Math.DivRem(metric.Timestamp, WindowMs, out long rest) * WindowMs - (rest < 0 ? WindowMs : 0);
            var request = new UpdateItemRequest
            {
                TableName = tableName,
                Key = new Dictionary<string, AttributeValue>
                {
                    [NaiveTable.PartitionKey] = new() { S = NaiveTable.Series(metric.Metric, metric.Dimensions) },
                    [NaiveTable.SortKey] = new() { S = window.ToString(CultureInfo.InvariantCulture) },
                },
                UpdateExpression = "ADD #count :one, #sum :value",
                ExpressionAttributeNames = new Dictionary<string, string> { ["#count"] = NaiveTable.Count, ["#sum"] = NaiveTable.Sum },
                ExpressionAttributeValues = new Dictionary<string, AttributeValue>
                {
                    [":one"] = new() { N = "1" },
                    [":value"] = new() { N = metric.Value.ToString("R", CultureInfo.InvariantCulture) },
                },
            };
            writes.Add(UpdateWithRetriesAsync(request, cancellationToken));
        }

        await Task.WhenAll(writes).ConfigureAwait(false);
        return ReadOnlyMemory<byte>.Empty;
    }

    private async Task UpdateWithRetriesAsync(UpdateItemRequest request, CancellationToken cancellationToken)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await client.UpdateItemAsync(request, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (AmazonDynamoDBException ex) when (attempt < MaxAttempts && IsRetryable(ex))
            {
                double cap = Math.Min(s_maxDelay.TotalMilliseconds, s_baseDelay.TotalMilliseconds * Math.Pow(2, attempt - 1));
                // On the clock's thread even when cancelled (a cancelled Task.Delay resumes on the thread pool: ClockDelay).
                if (!await ClockDelay.WaitAsync(clock, TimeSpan.FromMilliseconds(_jitter.NextDouble() * cap), cancellationToken).ConfigureAwait(false))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                }
            }
        }
    }

    private static bool IsRetryable(AmazonDynamoDBException ex) =>
        ex is ProvisionedThroughputExceededException or InternalServerErrorException or RequestLimitExceededException ||
        ex.ErrorCode is "ThrottlingException" or "ServiceUnavailable";
}

/// <summary>The naive function's table layout: <c>pk</c> the series, <c>sk</c> the window start, and two counters.</summary>
internal static class NaiveTable
{
    public const string PartitionKey = "pk";
    public const string SortKey = "sk";
    public const string Count = "count";
    public const string Sum = "sum";

    /// <summary>The series as the naive function keys it: the metric, then the dimensions sorted by name.</summary>
    public static string Series(string metric, Dictionary<string, string>? dimensions)
    {
        var text = new System.Text.StringBuilder(metric);
        foreach (KeyValuePair<string, string> dimension in (dimensions ?? []).OrderBy(d => d.Key, StringComparer.Ordinal))
        {
            text.Append('|').Append(dimension.Key).Append('=').Append(dimension.Value);
        }

        return text.ToString();
    }
}

internal sealed class KinesisEvent
{
    public List<KinesisEventRecord>? Records { get; set; }
}

internal sealed class KinesisEventRecord
{
    public KinesisData? Kinesis { get; set; }

    public string? EventId { get; set; }
}

internal sealed class KinesisData
{
    public string? PartitionKey { get; set; }

    public string? SequenceNumber { get; set; }

    public string? Data { get; set; }
}

internal sealed class MetricRecord
{
    public string? Metric { get; set; }

    public double Value { get; set; }

    public long Timestamp { get; set; }

    public Dictionary<string, string>? Dimensions { get; set; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, PropertyNameCaseInsensitive = true)]
[JsonSerializable(typeof(KinesisEvent))]
[JsonSerializable(typeof(MetricRecord))]
internal sealed partial class NaiveJsonContext : JsonSerializerContext;
