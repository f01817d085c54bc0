using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Analytics.SampleLambda;

/// <summary>
/// The four calls of the Lambda Runtime API (version 2018-06-01) a custom runtime needs: next, response, error and
/// init error.
/// </summary>
internal sealed class RuntimeApiClient : IDisposable
{
    internal const string RequestIdHeader = "Lambda-Runtime-Aws-Request-Id";
    internal const string DeadlineHeader = "Lambda-Runtime-Deadline-Ms";
    internal const string ErrorTypeHeader = "Lambda-Runtime-Function-Error-Type";
    internal const string TraceIdHeader = "Lambda-Runtime-Trace-Id";

    /// <summary>The last millisecond a <see cref="DateTimeOffset"/> holds (9999-12-31T23:59:59.999Z).</summary>
    private const long MaxDeadlineMs = 253_402_300_799_999;

    private static readonly MediaTypeHeaderValue s_json = new("application/json");
    private readonly HttpClient _http;

    /// <summary>Creates a client for the Runtime API at <paramref name="runtimeApi"/> (host:port, the value of <c>AWS_LAMBDA_RUNTIME_API</c>).</summary>
    /// <param name="runtimeApi">Host and port.</param>
    public RuntimeApiClient(string runtimeApi)
    {
        ArgumentException.ThrowIfNullOrEmpty(runtimeApi);
        // Never through a proxy: HTTP_PROXY (set for the function's own calls out of a VPC, say) would otherwise take
        // the calls to the sandbox's loopback Runtime API too, and no event would ever arrive (found by review).
        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false })
        {
            BaseAddress = new Uri("http://" + runtimeApi + "/2018-06-01/"),
            // /next long-polls until an event arrives, which can take any time.
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    /// <summary>Waits for the next invocation.</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The invocation.</returns>
    /// <exception cref="HttpRequestException">The Runtime API answered with an error status.</exception>
    /// <exception cref="InvalidDataException">The answer lacks a request id, or one that can name an invocation.</exception>
    /// <exception cref="InvalidInvocationException">The answer's deadline is missing or no date: the invocation is to be answered with this error.</exception>
    public async Task<Invocation> GetNextAsync(CancellationToken cancellationToken)
    {
        using HttpResponseMessage response = await _http.GetAsync("runtime/invocation/next", HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        string requestId = SingleHeader(response, RequestIdHeader);
        if (requestId is "." or "..")
        {
            // Escaped, it is still a dot segment: the answer would go to a path outside the invocation's.
            throw new InvalidDataException($"The Runtime API answer's {RequestIdHeader} is '{requestId}', which names no invocation.");
        }

        string? deadlineMs = response.Headers.TryGetValues(DeadlineHeader, out IEnumerable<string>? values) ? values.FirstOrDefault() : null;
        if (!long.TryParse(deadlineMs, NumberStyles.None, CultureInfo.InvariantCulture, out long epochMs) || epochMs > MaxDeadlineMs)
        {
            // The invocation is known: it is answered with this error, and the loop goes on.
            throw new InvalidInvocationException(requestId, $"The Runtime API answer's {DeadlineHeader} is not epoch milliseconds up to year 9999: '{deadlineMs}'.");
        }

        string? traceId = response.Headers.TryGetValues(TraceIdHeader, out IEnumerable<string>? traces) ? traces.FirstOrDefault() : null;
        byte[] body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        return new Invocation(requestId, DateTimeOffset.FromUnixTimeMilliseconds(epochMs), body, string.IsNullOrEmpty(traceId) ? null : traceId);
    }

    /// <summary>Posts the function's response for an invocation.</summary>
    /// <param name="requestId">The invocation's request id.</param>
    /// <param name="responseJson">The response JSON.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task that completes when the Runtime API accepted the response.</returns>
    public async Task PostResponseAsync(string requestId, ReadOnlyMemory<byte> responseJson, CancellationToken cancellationToken)
    {
        using var content = new ReadOnlyMemoryContent(responseJson);
        content.Headers.ContentType = s_json;
        using HttpResponseMessage response = await _http.PostAsync($"runtime/invocation/{Uri.EscapeDataString(requestId)}/response", content, cancellationToken).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Reports that an invocation failed.</summary>
    /// <param name="requestId">The invocation's request id.</param>
    /// <param name="error">What went wrong.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task that completes when the Runtime API accepted the report.</returns>
    public Task PostErrorAsync(string requestId, Exception error, CancellationToken cancellationToken) =>
        PostErrorDocumentAsync($"runtime/invocation/{Uri.EscapeDataString(requestId)}/error", error, cancellationToken);

    /// <summary>Reports that the function failed to initialize; Lambda then ends the sandbox.</summary>
    /// <param name="error">What went wrong.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task that completes when the Runtime API accepted the report.</returns>
    public Task PostInitErrorAsync(Exception error, CancellationToken cancellationToken) =>
        PostErrorDocumentAsync("runtime/init/error", error, cancellationToken);

    public void Dispose() => _http.Dispose();

    /// <summary>The error document of the Runtime API: <c>{"errorMessage","errorType","stackTrace":[]}</c>.</summary>
    /// <param name="error">The error.</param>
    /// <returns>UTF-8 JSON.</returns>
    internal static byte[] FormatError(Exception error)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("errorMessage", error.Message);
            writer.WriteString("errorType", ErrorType(error));
            writer.WriteStartArray("stackTrace");
            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }

    internal static string ErrorType(Exception error) => error.GetType().Name;

    private async Task PostErrorDocumentAsync(string path, Exception error, CancellationToken cancellationToken)
    {
        using var content = new ByteArrayContent(FormatError(error));
        content.Headers.ContentType = s_json;
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
        request.Headers.TryAddWithoutValidation(ErrorTypeHeader, ErrorType(error));
        using HttpResponseMessage response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>An invocation the Runtime API handed out with headers the function cannot use: answered with this error.</summary>
    internal sealed class InvalidInvocationException(string requestId, string message) : IOException(message)
    {
        public string RequestId { get; } = requestId;
    }

    private static string SingleHeader(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out IEnumerable<string>? values) && values.FirstOrDefault() is { Length: > 0 } value
            ? value
            : throw new InvalidDataException($"The Runtime API answer lacks the {name} header.");
}
