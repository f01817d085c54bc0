using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Analytics.Core.Tests;

/// <summary>What the proxy does with requests.</summary>
public enum FaultMode
{
    /// <summary>Forward, injecting faults at the profile's rates.</summary>
    Forward,

    /// <summary>Accept connections and read requests, but never answer.</summary>
    Dead,

    /// <summary>Stop listening: connections are refused.</summary>
    Down,
}

/// <summary>Rates (0..1) of the faults a <see cref="FaultProxy"/> injects per request.</summary>
/// <param name="Throttle">Answer HTTP 400 with a DynamoDB throttling error (ProvisionedThroughputExceededException or ThrottlingException).</param>
/// <param name="ServerError">Answer HTTP 500 without forwarding.</param>
/// <param name="DropBeforeForward">Close the connection without forwarding or answering.</param>
/// <param name="DropAfterForward">Forward (the server applies the request) and then close without answering.</param>
/// <param name="Latency">Delay the request by up to <paramref name="MaxLatency"/> before forwarding.</param>
/// <param name="MaxLatency">Upper bound of an added delay.</param>
internal readonly record struct FaultProfile(
    double Throttle = 0,
    double ServerError = 0,
    double DropBeforeForward = 0,
    double DropAfterForward = 0,
    double Latency = 0,
    TimeSpan MaxLatency = default)
{
    public static FaultProfile None => default;
}

/// <summary>
/// A loopback HTTP/1.1 proxy in front of a local server that injects throttling, server errors, dropped connections
/// and latency at seeded random rates, or plays dead (never answers) or down (refuses connections).
/// </summary>
/// <remarks>Requests are forwarded with their Host header kept, so request signatures still verify upstream.</remarks>
internal sealed class FaultProxy : IAsyncDisposable
{
    /// <summary>Retries that give up within a second: three attempts, 5 to 20 ms apart.</summary>
    public static AwsRetryOptions QuickRetries => AwsRetryOptions.Default with { MaxAttempts = 3, BaseDelay = TimeSpan.FromMilliseconds(5), MaxDelay = TimeSpan.FromMilliseconds(20) };

    /// <summary>Asserts that a sink threw the connection failure it gave up on (a proxy in <see cref="FaultMode.Down"/>), itself or wrapped once.</summary>
    public static void AssertConnectionFailure(Exception thrown) =>
        Assert.True(thrown is System.Net.Http.HttpRequestException || thrown.InnerException is System.Net.Http.HttpRequestException, thrown.ToString());

    private const int MaxConnections = 64;
    private const int MaxHeaderBytes = 64 * 1024;

    private readonly Uri _upstream;
    private readonly Random _random;
    private readonly HttpClient _forwarder;
    private readonly CancellationTokenSource _disposed = new();
    private readonly List<Task> _connections = [];
    private readonly List<TcpClient> _clients = [];
    private readonly SemaphoreSlim _connectionSlots = new(MaxConnections);
    private readonly int _port;
    private TcpListener? _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private FaultMode _mode;
    private int _forwardBudget = int.MaxValue;
    private long _requests;
    private long _forwarded;
    private long _throttled;
    private long _serverErrors;
    private long _dropped;
    private long _delayed;
    private long _held;

    public FaultProxy(Uri upstream, FaultProfile profile, int seed)
    {
        _upstream = upstream;
        Profile = profile;
        _random = new Random(seed);
        _forwarder = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
        })
        {
            Timeout = TimeSpan.FromSeconds(30),
        };
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        Url = new Uri($"http://127.0.0.1:{_port}");
        _acceptLoop = AcceptLoopAsync(_listener);
    }

    public Uri Url { get; }

    public FaultProfile Profile { get; set; }

    public long Requests => Interlocked.Read(ref _requests);

    public long Forwarded => Interlocked.Read(ref _forwarded);

    public long Throttled => Interlocked.Read(ref _throttled);

    public long ServerErrors => Interlocked.Read(ref _serverErrors);

    public long Dropped => Interlocked.Read(ref _dropped);

    public long Delayed => Interlocked.Read(ref _delayed);

    /// <summary>Requests held without an answer (dead mode).</summary>
    public long Held => Interlocked.Read(ref _held);

    public long Faults => Throttled + ServerErrors + Dropped;

    public FaultMode Mode
    {
        get => _mode;
        set
        {
            lock (_connections)
            {
                if (value == _mode)
                {
                    return;
                }

                if (value == FaultMode.Down)
                {
                    _listener?.Stop();
                    _listener = null;
                    foreach (TcpClient c in _clients)
                    {
                        c.Dispose();
                    }
                }
                else if (_mode == FaultMode.Down)
                {
                    _listener = new TcpListener(IPAddress.Loopback, _port);
                    _listener.Start();
                    _acceptLoop = AcceptLoopAsync(_listener);
                }

                _mode = value;
            }
        }
    }

    /// <summary>Forward (with faults) only the next <paramref name="requests"/> requests, then play dead.</summary>
    public void DieAfter(int requests) => Volatile.Write(ref _forwardBudget, requests);

    public async ValueTask DisposeAsync()
    {
        await _disposed.CancelAsync();
        Task[] pending;
        lock (_connections)
        {
            _listener?.Stop();
            foreach (TcpClient c in _clients)
            {
                c.Dispose();
            }

            pending = [.. _connections, _acceptLoop];
        }

        await Task.WhenAny(Task.WhenAll(pending), Task.Delay(TimeSpan.FromSeconds(5)));
        _forwarder.Dispose();
        _disposed.Dispose();
    }

    private async Task AcceptLoopAsync(TcpListener listener)
    {
        while (!_disposed.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                await _connectionSlots.WaitAsync(_disposed.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                client = await listener.AcceptTcpClientAsync(_disposed.Token);
            }
            catch (Exception)
            {
                // Disposed, or the listener was stopped (down mode).
                _connectionSlots.Release();
                return;
            }

            lock (_connections)
            {
                _clients.Add(client);
                _connections.RemoveAll(t => t.IsCompleted);
                _connections.Add(ServeAsync(client));
            }
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        try
        {
            using (client)
            {
                NetworkStream stream = client.GetStream();
                var reader = new RequestReader(stream);
                while (!_disposed.IsCancellationRequested)
                {
                    Request? request = await reader.ReadAsync(_disposed.Token);
                    if (request is null)
                    {
                        return;
                    }

                    Interlocked.Increment(ref _requests);
                    if (!await HandleAsync(request, stream))
                    {
                        return;
                    }
                }
            }
        }
        catch (Exception) when (_disposed.IsCancellationRequested)
        {
        }
        catch (IOException)
        {
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        finally
        {
            lock (_connections)
            {
                _clients.Remove(client);
            }

            _connectionSlots.Release();
        }
    }

    /// <summary>Handles one request; false when the connection must close.</summary>
    private async Task<bool> HandleAsync(Request request, NetworkStream stream)
    {
        if (_mode == FaultMode.Dead || Interlocked.Decrement(ref _forwardBudget) < 0)
        {
            Interlocked.Increment(ref _held);
            await Task.Delay(Timeout.Infinite, _disposed.Token);
            return false;
        }

        FaultProfile p = Profile;
        double roll;
        double throttleKind;
        double delay;
        lock (_random)
        {
            roll = _random.NextDouble();
            throttleKind = _random.NextDouble();
            delay = _random.NextDouble();
        }

        if (roll < p.Throttle)
        {
            Interlocked.Increment(ref _throttled);
            string body = throttleKind < 0.5
                ? """{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"""
                : """{"__type":"com.amazon.coral.availability#ThrottlingException","message":"Rate exceeded"}""";
            await WriteResponseAsync(stream, 400, "Bad Request", [("Content-Type", "application/x-amz-json-1.0")], Encoding.UTF8.GetBytes(body), headOnly: false);
            return true;
        }

        roll -= p.Throttle;
        if (roll < p.ServerError)
        {
            Interlocked.Increment(ref _serverErrors);
            byte[] body = """{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}"""u8.ToArray();
            await WriteResponseAsync(stream, 500, "Internal Server Error", [("Content-Type", "application/x-amz-json-1.0")], body, headOnly: false);
            return true;
        }

        roll -= p.ServerError;
        if (roll < p.DropBeforeForward)
        {
            Interlocked.Increment(ref _dropped);
            return false;
        }

        roll -= p.DropBeforeForward;
        bool dropAfter = roll < p.DropAfterForward;
        if (delay < p.Latency && p.MaxLatency > TimeSpan.Zero)
        {
            Interlocked.Increment(ref _delayed);
            double fraction;
            lock (_random)
            {
                fraction = _random.NextDouble();
            }

            await Task.Delay(TimeSpan.FromMilliseconds(p.MaxLatency.TotalMilliseconds * fraction), _disposed.Token);
        }

        using HttpRequestMessage forward = request.ToHttpRequest(_upstream);
        using HttpResponseMessage response = await _forwarder.SendAsync(forward, HttpCompletionOption.ResponseContentRead, _disposed.Token);
        byte[] responseBody = await response.Content.ReadAsByteArrayAsync(_disposed.Token);
        Interlocked.Increment(ref _forwarded);
        if (dropAfter)
        {
            Interlocked.Increment(ref _dropped);
            return false;
        }

        var headers = new List<(string, string)>();
        foreach (KeyValuePair<string, IEnumerable<string>> h in response.Headers.Concat(response.Content.Headers))
        {
            if (h.Key.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase) || h.Key.Equals("Connection", StringComparison.OrdinalIgnoreCase) ||
                h.Key.Equals("Keep-Alive", StringComparison.OrdinalIgnoreCase) ||
                (h.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) && !request.IsHead))
            {
                continue;
            }

            foreach (string v in h.Value)
            {
                headers.Add((h.Key, v));
            }
        }

        await WriteResponseAsync(stream, (int)response.StatusCode, response.ReasonPhrase ?? "OK", headers, responseBody, request.IsHead);
        return true;
    }

    private static async Task WriteResponseAsync(NetworkStream stream, int status, string reason, List<(string Name, string Value)> headers, byte[] body, bool headOnly)
    {
        var head = new StringBuilder();
        head.Append("HTTP/1.1 ").Append(status).Append(' ').Append(reason).Append("\r\n");
        foreach ((string name, string value) in headers)
        {
            head.Append(name).Append(": ").Append(value).Append("\r\n");
        }

        if (!headOnly)
        {
            head.Append("Content-Length: ").Append(body.Length).Append("\r\n");
        }

        head.Append("\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()));
        if (!headOnly)
        {
            await stream.WriteAsync(body);
        }

        await stream.FlushAsync();
    }

    private sealed record Request(string Method, string Target, List<(string Name, string Value)> Headers, byte[] Body)
    {
        public bool IsHead => Method.Equals("HEAD", StringComparison.OrdinalIgnoreCase);

        public HttpRequestMessage ToHttpRequest(Uri upstream)
        {
            var message = new HttpRequestMessage(new HttpMethod(Method), new Uri(upstream, Target));
            if (Body.Length > 0 || !(Method is "GET" or "HEAD" or "DELETE"))
            {
                message.Content = new ByteArrayContent(Body);
            }

            foreach ((string name, string value) in Headers)
            {
                if (name.Equals("Host", StringComparison.OrdinalIgnoreCase))
                {
                    // Keep the signed Host header.
                    message.Headers.Host = value;
                    continue;
                }

                if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase) || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) ||
                    name.Equals("Expect", StringComparison.OrdinalIgnoreCase) || name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }

                if (!message.Headers.TryAddWithoutValidation(name, value))
                {
                    message.Content ??= new ByteArrayContent(Body);
                    message.Content.Headers.TryAddWithoutValidation(name, value);
                }
            }

            return message;
        }
    }

    /// <summary>Reads HTTP/1.1 requests (Content-Length bodies only) off a keep-alive connection.</summary>
    private sealed class RequestReader(NetworkStream stream)
    {
        private readonly byte[] _buffer = new byte[MaxHeaderBytes];
        private int _start;
        private int _end;

        public async Task<Request?> ReadAsync(CancellationToken cancellationToken)
        {
            int headerEnd;
            while ((headerEnd = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8)) < 0)
            {
                if (_start > 0)
                {
                    Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                    _end -= _start;
                    _start = 0;
                }

                if (_end == _buffer.Length)
                {
                    throw new IOException("Request header too large.");
                }

                int read = await stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
                if (read == 0)
                {
                    return null;
                }

                _end += read;
            }

            string[] lines = Encoding.ASCII.GetString(_buffer, _start, headerEnd).Split("\r\n");
            _start += headerEnd + 4;
            string[] requestLine = lines[0].Split(' ');
            var headers = new List<(string, string)>();
            long contentLength = 0;
            bool expectContinue = false;
            foreach (string line in lines.Skip(1))
            {
                int colon = line.IndexOf(':');
                string name = line[..colon].Trim();
                string value = line[(colon + 1)..].Trim();
                headers.Add((name, value));
                if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                {
                    contentLength = long.Parse(value);
                }
                else if (name.Equals("Expect", StringComparison.OrdinalIgnoreCase) && value.Equals("100-continue", StringComparison.OrdinalIgnoreCase))
                {
                    expectContinue = true;
                }
                else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
                {
                    throw new IOException("Chunked request bodies are not supported by the test proxy.");
                }
            }

            if (expectContinue)
            {
                await stream.WriteAsync("HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray(), cancellationToken);
            }

            byte[] body = new byte[contentLength];
            int have = Math.Min(_end - _start, body.Length);
            Buffer.BlockCopy(_buffer, _start, body, 0, have);
            _start += have;
            while (have < body.Length)
            {
                int read = await stream.ReadAsync(body.AsMemory(have), cancellationToken);
                if (read == 0)
                {
                    return null;
                }

                have += read;
            }

            return new Request(requestLine[0], requestLine[1], headers, body);
        }
    }
}
