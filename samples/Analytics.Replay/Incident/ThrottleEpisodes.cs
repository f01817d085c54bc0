using System.Net;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;
using Analytics.Core;
using Analytics.Core.Testing;

namespace Analytics.Replay.Incident;

/// <summary>A span of the run in which a fraction of DynamoDB's data-plane requests is throttled.</summary>
/// <param name="From">Start (inclusive), on the emulator's clock.</param>
/// <param name="Until">End (exclusive).</param>
/// <param name="Fraction">The fraction of requests throttled, 0 to 1.</param>
internal readonly record struct ThrottleEpisode(DateTimeOffset From, DateTimeOffset Until, double Fraction);

/// <summary>
/// Throttling episodes in front of the DynamoDB model: inside an episode a seeded fraction of data-plane requests waits a
/// latency drawn from the model's distribution and is answered with <c>ProvisionedThroughputExceededException</c>
/// (the whole request, also a batch request); every other request goes on to the model unchanged. The model's own
/// <c>throttleFraction</c> applies to the whole run; an episode is a bounded span on top of it.
/// </summary>
internal sealed class ThrottleEpisodeHandler : DelegatingHandler
{
    private const string ThrottledMessage =
        "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.";

    private static readonly byte[] s_throttled = Encoding.UTF8.GetBytes(
        "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException\",\"message\":\"" + ThrottledMessage + "\"}");

    private readonly IReadOnlyList<ThrottleEpisode> _episodes;
    private readonly TimeProvider _clock;
    private readonly LatencyDistribution _latency;
    private readonly Random _random;
    private long _throttles;

    public ThrottleEpisodeHandler(HttpMessageHandler model, IReadOnlyList<ThrottleEpisode> episodes, TimeProvider clock, LatencyDistribution latency, int seed)
        : base(model)
    {
        _episodes = episodes;
        _clock = clock;
        _latency = latency;
        _random = new Random(unchecked(seed * 31 + 17));
    }

    /// <summary>Requests answered here with a throttling error (they never reached the model).</summary>
    public long Throttles => Interlocked.Read(ref _throttles);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        string target = request.Headers.TryGetValues("X-Amz-Target", out IEnumerable<string>? values) ? values.FirstOrDefault() ?? string.Empty : string.Empty;
        if (Decide(target) is not { } wait)
        {
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }

        if (wait > TimeSpan.Zero)
        {
            // On the clock's thread even when cancelled (a cancelled Task.Delay resumes on the thread pool: ClockDelay).
            if (!await ClockDelay.WaitAsync(_clock, wait, cancellationToken).ConfigureAwait(false))
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
        }

        var response = new HttpResponseMessage(HttpStatusCode.BadRequest) { RequestMessage = request, Content = new ByteArrayContent(s_throttled) };
        response.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-amz-json-1.0");
        return response;
    }

    /// <summary>
    /// Throttles a data-plane request of the model's direct client (<paramref name="operation"/> such as
    /// <c>PutItem</c>) as <see cref="SendAsync"/> throttles one over HTTP: the same draws in the same order of requests.
    /// </summary>
    /// <exception cref="ProvisionedThroughputExceededException">The episode throttles the request (after its latency).</exception>
    public async Task ThrottleAsync(string operation, CancellationToken cancellationToken)
    {
        if (Decide("DynamoDB_20120810." + operation) is not { } wait)
        {
            return;
        }

        if (wait > TimeSpan.Zero)
        {
            // On the clock's thread even when cancelled (a cancelled Task.Delay resumes on the thread pool: ClockDelay).
            if (!await ClockDelay.WaitAsync(_clock, wait, cancellationToken).ConfigureAwait(false))
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
        }

        throw new ProvisionedThroughputExceededException(ThrottledMessage, null, ErrorType.Unknown, "ProvisionedThroughputExceededException", null, HttpStatusCode.BadRequest);
    }

    /// <summary>The latency before a throttling answer when an episode throttles this request; null when it goes on to the model.</summary>
    private TimeSpan? Decide(string target)
    {
        DateTimeOffset now = _clock.GetUtcNow();
        ThrottleEpisode? episode = null;
        foreach (ThrottleEpisode e in _episodes)
        {
            if (now >= e.From && now < e.Until)
            {
                episode = e;
                break;
            }
        }

        if (episode is not { } active || !IsDataPlane(target))
        {
            return null;
        }

        double draw, u1, u2;
        lock (_random)
        {
            draw = _random.NextDouble();
            u1 = _random.NextDouble();
            u2 = _random.NextDouble();
        }

        if (draw >= active.Fraction)
        {
            return null;
        }

        Interlocked.Increment(ref _throttles);
        return Sample(_latency, u1, u2);
    }

    /// <summary>
    /// A client of <paramref name="model"/> behind the episodes: the model's direct client for item operations, with
    /// the episodes decided first; with <paramref name="http"/>, every request through the SDK's pipeline and this handler.
    /// </summary>
    public AmazonDynamoDBClient CreateClient(DynamoDbModel model, bool http) =>
        http ? CreateClient() : new EpisodeClient(this, model.CreateClient(), Config());

    /// <summary>A client of the model through this handler, configured as the model's own clients are (no SDK retries, no real-time timeout).</summary>
    public AmazonDynamoDBClient CreateClient() => new ModelDynamoDbClient(new BasicAWSCredentials("model", "model"), Config());

    private AmazonDynamoDBConfig Config() => ModelSdkClients.DynamoDbConfig(this);

    private static bool IsDataPlane(string target) =>
        target.EndsWith(".GetItem", StringComparison.Ordinal) || target.EndsWith(".PutItem", StringComparison.Ordinal) ||
        target.EndsWith(".UpdateItem", StringComparison.Ordinal) || target.EndsWith(".DeleteItem", StringComparison.Ordinal) ||
        target.EndsWith(".BatchGetItem", StringComparison.Ordinal) || target.EndsWith(".BatchWriteItem", StringComparison.Ordinal) ||
        target.EndsWith(".Query", StringComparison.Ordinal) || target.EndsWith(".Scan", StringComparison.Ordinal);

    // Log-normal with the given median and 99th percentile, drawn by Box-Muller as the model draws its latency.
    private static TimeSpan Sample(LatencyDistribution latency, double u1, double u2)
    {
        if (latency.P50 <= TimeSpan.Zero)
        {
            return TimeSpan.Zero;
        }

        double z = Math.Sqrt(-2.0 * Math.Log(1.0 - u1)) * Math.Cos(2.0 * Math.PI * u2);
        double sigma = Math.Log(latency.P99.TotalMilliseconds / latency.P50.TotalMilliseconds) / 2.3263478740408408;
        return TimeSpan.FromMilliseconds(latency.P50.TotalMilliseconds * Math.Exp(sigma * z));
    }

    /// <summary>
    /// The model's direct client behind the episodes: each item operation is first offered to the episodes (which may
    /// throttle it), then handed to the model's client. Other operations go through the base pipeline and the handler.
    /// </summary>
    private sealed class EpisodeClient(ThrottleEpisodeHandler episodes, AmazonDynamoDBClient model, AmazonDynamoDBConfig config)
        : AmazonDynamoDBClient(new BasicAWSCredentials("model", "model"), config)
    {
        public override async Task<GetItemResponse> GetItemAsync(GetItemRequest request, CancellationToken cancellationToken = default)
        {
            await episodes.ThrottleAsync("GetItem", cancellationToken).ConfigureAwait(false);
            return await model.GetItemAsync(request, cancellationToken).ConfigureAwait(false);
        }

        public override async Task<PutItemResponse> PutItemAsync(PutItemRequest request, CancellationToken cancellationToken = default)
        {
            await episodes.ThrottleAsync("PutItem", cancellationToken).ConfigureAwait(false);
            return await model.PutItemAsync(request, cancellationToken).ConfigureAwait(false);
        }

        public override async Task<UpdateItemResponse> UpdateItemAsync(UpdateItemRequest request, CancellationToken cancellationToken = default)
        {
            await episodes.ThrottleAsync("UpdateItem", cancellationToken).ConfigureAwait(false);
            return await model.UpdateItemAsync(request, cancellationToken).ConfigureAwait(false);
        }

        public override async Task<DeleteItemResponse> DeleteItemAsync(DeleteItemRequest request, CancellationToken cancellationToken = default)
        {
            await episodes.ThrottleAsync("DeleteItem", cancellationToken).ConfigureAwait(false);
            return await model.DeleteItemAsync(request, cancellationToken).ConfigureAwait(false);
        }

        public override async Task<BatchGetItemResponse> BatchGetItemAsync(BatchGetItemRequest request, CancellationToken cancellationToken = default)
        {
            await episodes.ThrottleAsync("BatchGetItem", cancellationToken).ConfigureAwait(false);
            return await model.BatchGetItemAsync(request, cancellationToken).ConfigureAwait(false);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                model.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
