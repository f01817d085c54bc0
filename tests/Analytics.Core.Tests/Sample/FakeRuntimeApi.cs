using System.Net;
using System.Net.Sockets;

namespace Analytics.Core.Tests.Sample;

/// <summary>
/// An in-process Lambda Runtime API on loopback: hands out queued events on <c>/runtime/invocation/next</c> and
/// records every POST. When the queue is empty, <c>next</c> stays pending (as the real API long-polls) until the
/// client gives up or the server is disposed.
/// </summary>
internal sealed class FakeRuntimeApi : IAsyncDisposable
{
    private const string Prefix = "/2018-06-01/";
    private readonly HttpListener _listener = new();
    private readonly Queue<(string RequestId, long DeadlineMs, byte[] Body, string? TraceId)> _events = new();
    private readonly List<PostedRequest> _posts = [];
    private readonly List<HttpListenerContext> _parked = [];
    private readonly TaskCompletionSource _allPosted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly int _expectedPosts;
    private readonly Task _serving;

    public FakeRuntimeApi(int expectedPosts)
    {
        _expectedPosts = expectedPosts;
        int port = FreeLoopbackPort();
        HostAndPort = $"127.0.0.1:{port}";
        _listener.Prefixes.Add($"http://{HostAndPort}/");
        _listener.Start();
        _serving = ServeAsync();
    }

    /// <summary>The value of <c>AWS_LAMBDA_RUNTIME_API</c> for this server.</summary>
    public string HostAndPort { get; }

    /// <summary>Completes when the expected number of POSTs arrived.</summary>
    public Task AllPosted => _allPosted.Task;

    public IReadOnlyList<PostedRequest> Posts
    {
        get
        {
            lock (_posts)
            {
                return [.. _posts];
            }
        }
    }

    /// <summary>A POST for this request id is recorded and answered with this status instead of 202 (say 413, too large).</summary>
    public (string RequestId, int Status)? Refuse { get; set; }

    public void Enqueue(string requestId, DateTimeOffset deadline, byte[] body, string? traceId = null) => EnqueueRaw(requestId, deadline.ToUnixTimeMilliseconds(), body, traceId);

    /// <summary>An invocation whose deadline header is any number, such as one past what a date holds.</summary>
    public void EnqueueRaw(string requestId, long deadlineMs, byte[] body, string? traceId = null)
    {
        lock (_events)
        {
            _events.Enqueue((requestId, deadlineMs, body, traceId));
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Close();
        try
        {
            await _serving.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
        {
        }
    }

    private static int FreeLoopbackPort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            await HandleAsync(context);
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        HttpListenerRequest request = context.Request;
        string path = request.Url!.AbsolutePath;
        HttpListenerResponse response = context.Response;
        if (request.HttpMethod == "GET" && path == Prefix + "runtime/invocation/next")
        {
            (string RequestId, long DeadlineMs, byte[] Body, string? TraceId) next;
            lock (_events)
            {
                if (!_events.TryDequeue(out next))
                {
                    _parked.Add(context);
                    return;
                }
            }

            response.StatusCode = 200;
            response.ContentType = "application/json";
            response.Headers["Lambda-Runtime-Aws-Request-Id"] = next.RequestId;
            response.Headers["Lambda-Runtime-Deadline-Ms"] = next.DeadlineMs.ToString(System.Globalization.CultureInfo.InvariantCulture);
            response.Headers["Lambda-Runtime-Invoked-Function-Arn"] = "arn:aws:lambda:us-east-1:123456789012:function:analytics-sample";
            if (next.TraceId is not null)
            {
                response.Headers["Lambda-Runtime-Trace-Id"] = next.TraceId;
            }
            response.ContentLength64 = next.Body.Length;
            await response.OutputStream.WriteAsync(next.Body);
            response.Close();
            return;
        }

        if (request.HttpMethod == "POST" && path.StartsWith(Prefix + "runtime/", StringComparison.Ordinal))
        {
            using var body = new MemoryStream();
            await request.InputStream.CopyToAsync(body);
            var posted = new PostedRequest(path[Prefix.Length..], request.Headers["Lambda-Runtime-Function-Error-Type"], request.ContentType, body.ToArray());
            int count;
            lock (_posts)
            {
                _posts.Add(posted);
                count = _posts.Count;
            }

            bool refused = Refuse is { } refuse && path.Contains("/" + refuse.RequestId + "/", StringComparison.Ordinal);
            response.StatusCode = refused ? Refuse!.Value.Status : 202;
            byte[] ok = refused ? """{"errorMessage":"refused","errorType":"RequestEntityTooLarge"}"""u8.ToArray() : """{"status":"OK"}"""u8.ToArray();
            response.ContentLength64 = ok.Length;
            await response.OutputStream.WriteAsync(ok);
            response.Close();
            if (count >= _expectedPosts)
            {
                _allPosted.TrySetResult();
            }

            return;
        }

        response.StatusCode = 404;
        response.Close();
    }
}

/// <summary>A POST the runtime made.</summary>
/// <param name="Path">The path after <c>/2018-06-01/</c>.</param>
/// <param name="ErrorTypeHeader">The <c>Lambda-Runtime-Function-Error-Type</c> header, if any.</param>
/// <param name="ContentType">The content type.</param>
/// <param name="Body">The body.</param>
internal sealed record PostedRequest(string Path, string? ErrorTypeHeader, string? ContentType, byte[] Body);
