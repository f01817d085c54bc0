using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace Analytics.Core.Testing;

/// <summary>
/// Serves the Lambda Runtime API (version 2018-06-01) on a loopback port and runs a function's process against it,
/// so an unchanged custom-runtime <c>bootstrap</c> (such as a Native AOT function) can be invoked from a test, in real
/// time.
/// </summary>
/// <remarks>
/// <para>Served: <c>GET /2018-06-01/runtime/invocation/next</c> (long-polls; answers the event with
/// <c>Lambda-Runtime-Aws-Request-Id</c>, <c>Lambda-Runtime-Deadline-Ms</c>, <c>Lambda-Runtime-Invoked-Function-Arn</c>
/// and <c>Lambda-Runtime-Trace-Id</c>), <c>POST .../invocation/{id}/response</c> (202; a body over 6 MiB and 100
/// bytes, Lambda's limit, is answered 413 <c>RequestEntityTooLarge</c> and fails the invocation with
/// <c>Function.ResponseSizeTooLarge</c>, as Lambda does), <c>POST .../invocation/{id}/error</c> and
/// <c>POST /2018-06-01/runtime/init/error</c>. An unknown request id, one <c>/next</c> has not handed out yet, or one already answered is answered 400 <c>InvalidRequestID</c>.</para>
/// <para>One invocation at a time (one execution environment). As in Lambda, an invocation that passes its deadline
/// ends the process, and so does a process exit or an init error; the next invocation starts a new process (a cold
/// start, counted in <see cref="ProcessesStarted"/>).</para>
/// </remarks>
public sealed class RuntimeApiHost : IAsyncDisposable
{
    private const int MaxResponseBytes = LambdaJson.MaxResponseBytes;
    private const string Prefix = "/2018-06-01/runtime/";

    private readonly RuntimeApiHostOptions _options;
    private readonly HttpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _invokeGate = new(1, 1);
    private readonly ConcurrentDictionary<string, Pending> _inFlight = new(StringComparer.Ordinal);
    private readonly Task _serveLoop;
    private readonly Action<RuntimeApiHost>? _afterProcessStart;
    private Channel<Pending> _queue = Channel.CreateUnbounded<Pending>();
    private Runtime? _runtime;
    private long _invocations;
    private int _processesStarted;
    private int _asksForEvents;

    private RuntimeApiHost(RuntimeApiHostOptions options, HttpListener listener, string address, Action<RuntimeApiHost>? afterProcessStart)
    {
        _options = options;
        _afterProcessStart = afterProcessStart;
        _listener = listener;
        RuntimeApiAddress = address;
        _serveLoop = Task.Run(ServeLoopAsync);
    }

    /// <summary>The value given to the process as <c>AWS_LAMBDA_RUNTIME_API</c> (<c>127.0.0.1:port</c>).</summary>
    public string RuntimeApiAddress { get; }

    /// <summary>How many times a process asked for an event (<c>/next</c>), each counted once the host credited it to an environment.</summary>
    internal int AsksForEvents => Volatile.Read(ref _asksForEvents);

    /// <summary>How many processes were started: the first one and one per cold start after a timeout, exit or init error.</summary>
    public int ProcessesStarted => Volatile.Read(ref _processesStarted);

    /// <summary>Starts serving on a free loopback port, starts the process and waits until it asks for its first event.</summary>
    /// <param name="options">The command and its environment.</param>
    /// <param name="cancellationToken">Stops waiting (the process is then ended).</param>
    /// <returns>The running host; dispose it to end the process and the server.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    /// <exception cref="RuntimeApiHostException">The process could not start, exited, posted an init error or did not
    /// ask for an event within <see cref="RuntimeApiHostOptions.InitTimeout"/>.</exception>
    public static Task<RuntimeApiHost> StartAsync(RuntimeApiHostOptions options, CancellationToken cancellationToken) =>
        StartAsync(options, afterProcessStart: null, cancellationToken);

    /// <summary><see cref="StartAsync(RuntimeApiHostOptions, CancellationToken)"/>, running
    /// <paramref name="afterProcessStart"/> right after each process started, before the host does anything more (tests
    /// pause the host there, as a loaded machine can).</summary>
    internal static async Task<RuntimeApiHost> StartAsync(RuntimeApiHostOptions options, Action<RuntimeApiHost>? afterProcessStart, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.FileName);
        (HttpListener listener, string address) = Listen();
        var host = new RuntimeApiHost(options, listener, address, afterProcessStart);
        try
        {
            await host.EnsureRuntimeAsync(cancellationToken).ConfigureAwait(false);
            return host;
        }
        catch
        {
            await host.DisposeQuietlyAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// <see cref="DisposeAsync"/> after a failure: what ended the environment is the error to report, so a failure of
    /// the clean-up itself (a process tree that changes while it is being killed) is not thrown in its place.
    /// </summary>
    /// <returns>A task that completes when the host is disposed, or its disposal failed.</returns>
    internal async ValueTask DisposeQuietlyAsync()
    {
        try
        {
            await DisposeAsync().ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Best effort: the caller rethrows the error that matters.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    /// <summary>Hands the function one event and returns its response body.</summary>
    /// <param name="eventBytes">The event, UTF-8 JSON.</param>
    /// <param name="deadline">The invocation's deadline, given to the function as <c>Lambda-Runtime-Deadline-Ms</c>; the
    /// host waits until then and no longer.</param>
    /// <param name="cancellationToken">Stops waiting; the process is then ended, as for a timeout.</param>
    /// <returns>The body the function posted to <c>/response</c>.</returns>
    /// <exception cref="FunctionErrorException">The function posted to <c>/error</c>, or its response was over 6 MB.</exception>
    /// <exception cref="FunctionTimeoutException">The deadline passed first (the process is ended, as Lambda ends the environment).</exception>
    /// <exception cref="RuntimeApiHostException">The process exited, or a new one failed to initialize.</exception>
    /// <exception cref="ObjectDisposedException">The host was disposed.</exception>
    public async Task<byte[]> InvokeAsync(ReadOnlyMemory<byte> eventBytes, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_stop.IsCancellationRequested, this);
        await _invokeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Runtime runtime = await EnsureRuntimeAsync(cancellationToken).ConfigureAwait(false);
            long n = Interlocked.Increment(ref _invocations);
            string requestId = RequestId(n);
            var pending = new Pending(requestId, eventBytes.ToArray(), deadline, runtime);
            _inFlight[requestId] = pending;
            await _queue.Writer.WriteAsync(pending, cancellationToken).ConfigureAwait(false);

            TimeSpan left = deadline - DateTimeOffset.UtcNow;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(left > TimeSpan.Zero ? left : TimeSpan.Zero);
            try
            {
                return await pending.Result.Task.WaitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                await EndRuntimeAsync(runtime).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                double seconds = Math.Max(0, (deadline - pending.HandedOutAt).TotalSeconds);
                throw new FunctionTimeoutException($"Task timed out after {seconds.ToString("F2", CultureInfo.InvariantCulture)} seconds (request {requestId}).");
            }
            finally
            {
                // Answered, failed, timed out or abandoned: a late post for this id gets 400 InvalidRequestID.
                _inFlight.TryRemove(requestId, out _);
            }
        }
        finally
        {
            _invokeGate.Release();
        }
    }

    /// <summary>Ends the process (and its children) and the server.</summary>
    /// <returns>A task that completes when both are gone.</returns>
    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        if (_runtime is { } runtime)
        {
            await EndRuntimeAsync(runtime).ConfigureAwait(false);
        }

        _listener.Stop();
        _listener.Close();
        try
        {
            await _serveLoop.ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or OperationCanceledException)
        {
        }

        _stop.Dispose();
        _invokeGate.Dispose();
    }

    private static string RequestId(long n) =>
        new Guid((int)n, 0x1a3b, 0x4c5d, 0x8e, 0x9f, 0xa0, 0xb1, 0xc2, 0xd3, 0xe4, 0xf5).ToString();

    private static (HttpListener Listener, string Address) Listen()
    {
        // A port found free can be taken before the listener binds it: try a few.
        HttpListenerException? last = null;
        for (int attempt = 0; attempt < 5; attempt++)
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            int port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            var listener = new HttpListener();
            string address = "127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture);
            listener.Prefixes.Add("http://" + address + "/");
            try
            {
                listener.Start();
                return (listener, address);
            }
            catch (HttpListenerException e)
            {
                last = e;
                listener.Close();
            }
        }

        throw new RuntimeApiHostException("Could not listen on a loopback port for the Runtime API.", last!);
    }

    private async Task<Runtime> EnsureRuntimeAsync(CancellationToken cancellationToken)
    {
        if (_runtime is { HasEnded: false } alive)
        {
            return alive;
        }

        // A new execution environment: nothing of the old one's queue survives. It is the current one before its process
        // starts: the process's first /next (or init error) can arrive before Process.Start returns to this thread (a
        // loaded machine, a collection), and must find this environment, not the one before it. It found the old one
        // there: the new one never counted as initialized, and the start failed after InitTimeout.
        _queue = Channel.CreateUnbounded<Pending>();
        var runtime = new Runtime(_options.Log);
        _runtime = runtime;
        try
        {
            StartProcess(runtime);
        }
        catch
        {
            _runtime = null;
            await EndRuntimeAsync(runtime).ConfigureAwait(false); // started, then failed: it must not outlive the host
            throw;
        }

        Interlocked.Increment(ref _processesStarted);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.InitTimeout);
        try
        {
            await runtime.Initialized.Task.WaitAsync(timeout.Token).ConfigureAwait(false);
            return runtime;
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            await EndRuntimeAsync(runtime).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            throw new RuntimeApiHostException(
                $"{_options.FileName} did not ask for an event (GET /runtime/invocation/next) within {_options.InitTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s of its start. {runtime.Tail()}");
        }
        catch (RuntimeApiHostException)
        {
            await EndRuntimeAsync(runtime).ConfigureAwait(false);
            throw;
        }
    }

    private void StartProcess(Runtime runtime)
    {
        var start = new ProcessStartInfo(_options.FileName)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
        };
        if (_options.WorkingDirectory is not null)
        {
            start.WorkingDirectory = _options.WorkingDirectory;
        }

        foreach (string argument in _options.Arguments)
        {
            start.ArgumentList.Add(argument);
        }

        if (!_options.InheritEnvironment)
        {
            // Lambda starts the runtime with the variables it defines and the function's own, nothing of the host's.
            start.Environment.Clear();

            // Where the .NET runtime is, which a framework-dependent build needs on this machine (a Lambda image would
            // carry the runtime itself): the only variables of the runner's that are passed.
            foreach (string rootVariable in (string[])["DOTNET_ROOT", "DOTNET_ROOT_X64", "DOTNET_ROOT_ARM64"])
            {
                if (System.Environment.GetEnvironmentVariable(rootVariable) is { Length: > 0 } root)
                {
                    start.Environment[rootVariable] = root;
                }
            }

            start.Environment["AWS_DEFAULT_REGION"] = _options.Environment.GetValueOrDefault("AWS_REGION") ?? "us-east-1";
            start.Environment["AWS_LAMBDA_INITIALIZATION_TYPE"] = "on-demand";
            start.Environment["AWS_LAMBDA_LOG_GROUP_NAME"] = "/aws/lambda/" + _options.FunctionName;
            start.Environment["AWS_LAMBDA_LOG_STREAM_NAME"] = string.Create(CultureInfo.InvariantCulture, $"{DateTime.UtcNow:yyyy/MM/dd}/[$LATEST]{Guid.NewGuid():N}");
            start.Environment["LAMBDA_TASK_ROOT"] = Path.GetFullPath(_options.WorkingDirectory ?? System.Environment.CurrentDirectory);
            start.Environment["TZ"] = ":UTC";
            start.Environment["LANG"] = "en_US.UTF-8";
            start.Environment["PATH"] = "/usr/local/bin:/usr/bin/:/bin:/opt/bin";
        }

        start.Environment["AWS_LAMBDA_FUNCTION_NAME"] = _options.FunctionName;
        start.Environment["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = _options.MemorySizeMb.ToString(CultureInfo.InvariantCulture);
        start.Environment["AWS_LAMBDA_FUNCTION_VERSION"] = "$LATEST";
        start.Environment["AWS_REGION"] = "us-east-1";
        foreach (KeyValuePair<string, string?> variable in _options.Environment)
        {
            if (variable.Value is null)
            {
                start.Environment.Remove(variable.Key);
            }
            else
            {
                start.Environment[variable.Key] = variable.Value;
            }
        }

        start.Environment["AWS_LAMBDA_RUNTIME_API"] = RuntimeApiAddress;
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new RuntimeApiHostException(_options.FileName + " did not start.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new RuntimeApiHostException(_options.FileName + " could not be started: " + e.Message, e);
        }

        runtime.Process = process;
        _afterProcessStart?.Invoke(this);
        process.OutputDataReceived += (_, e) => runtime.Append(e.Data);
        process.ErrorDataReceived += (_, e) => runtime.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        runtime.Exited = WatchExitAsync(runtime, process);
    }

    private async Task WatchExitAsync(Runtime runtime, Process process)
    {
        try
        {
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
        }

        runtime.HasEnded = true;
        string exit;
        try
        {
            exit = process.HasExited ? "exited with code " + process.ExitCode.ToString(CultureInfo.InvariantCulture) : "ended";
        }
        catch (InvalidOperationException)
        {
            // Disposed meanwhile (the host ended the environment): the waiting callers still get their error below.
            exit = "ended";
        }

        var error = new RuntimeApiHostException($"{_options.FileName} {exit}. {runtime.Tail()}") { ErrorType = "Runtime.ExitError" };
        runtime.Initialized.TrySetException(runtime.InitError ?? error);
        foreach (Pending pending in _inFlight.Values.Where(p => p.Runtime == runtime))
        {
            pending.Result.TrySetException(runtime.InitError ?? error);
        }
    }

    private static async Task EndRuntimeAsync(Runtime runtime)
    {
        runtime.HasEnded = true;
        if (runtime.Process is not { } process)
        {
            return; // it never started
        }

        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or AggregateException)
        {
            // Exited meanwhile (HasExited can still say false while the process is being reaped), or a child went
            // while the tree was walked: it is ending either way.
        }

        if (runtime.Exited is { } exited)
        {
            try
            {
                await exited.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // Ending an environment is best effort: the caller reports what ended it, not this.
            catch (Exception)
#pragma warning restore CA1031
            {
                // Not reaped within 10 s, or the exit watcher failed: the process is disposed below either way.
            }
        }

        process.Dispose();
    }

    private async Task ServeLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            _ = Task.Run(() => ServeAsync(context));
        }
    }

    private async Task ServeAsync(HttpListenerContext context)
    {
        HttpListenerRequest request = context.Request;
        HttpListenerResponse response = context.Response;
        try
        {
            string path = request.Url?.AbsolutePath ?? string.Empty;
            if (!path.StartsWith(Prefix, StringComparison.Ordinal))
            {
                await AnswerAsync(response, 404, "UnknownPath", "Unknown Runtime API path " + path).ConfigureAwait(false);
                return;
            }

            string[] parts = path[Prefix.Length..].Split('/');
            if (request.HttpMethod == "GET" && parts is ["invocation", "next"])
            {
                await NextAsync(response).ConfigureAwait(false);
            }
            else if (request.HttpMethod == "POST" && parts is ["invocation", string id, "response"])
            {
                await ResponseAsync(request, response, Uri.UnescapeDataString(id)).ConfigureAwait(false);
            }
            else if (request.HttpMethod == "POST" && parts is ["invocation", string failedId, "error"])
            {
                await ErrorAsync(request, response, Uri.UnescapeDataString(failedId)).ConfigureAwait(false);
            }
            else if (request.HttpMethod == "POST" && parts is ["init", "error"])
            {
                await InitErrorAsync(request, response).ConfigureAwait(false);
            }
            else
            {
                await AnswerAsync(response, 404, "UnknownPath", "Unknown Runtime API call " + request.HttpMethod + " " + path).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            // The process went away mid-request, or the host is stopping.
            try
            {
                response.Abort();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    private async Task NextAsync(HttpListenerResponse response)
    {
        Runtime? runtime = _runtime;
        runtime?.Initialized.TrySetResult();
        Interlocked.Increment(ref _asksForEvents);
        Channel<Pending> queue = _queue;
        Pending pending = await queue.Reader.ReadAsync(_stop.Token).ConfigureAwait(false);
        pending.HandedOutAt = DateTimeOffset.UtcNow;
        pending.HandedOut = true;
        response.StatusCode = 200;
        response.ContentType = "application/json";
        response.Headers["Lambda-Runtime-Aws-Request-Id"] = pending.RequestId;
        response.Headers["Lambda-Runtime-Deadline-Ms"] = pending.Deadline.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
        response.Headers["Lambda-Runtime-Invoked-Function-Arn"] = _options.FunctionArn ?? $"arn:aws:lambda:us-east-1:000000000000:function:{_options.FunctionName}";
        // An X-Ray trace header: its root holds the request's time (epoch seconds, 8 hex digits), not the deadline's.
        response.Headers["Lambda-Runtime-Trace-Id"] = $"Root=1-{pending.HandedOutAt.ToUnixTimeSeconds():x8}-{pending.RequestId.Replace("-", string.Empty, StringComparison.Ordinal)[..24]};Parent={pending.RequestId[..8]}00000000;Sampled=0";
        response.ContentLength64 = pending.Event.Length;
        await response.OutputStream.WriteAsync(pending.Event, _stop.Token).ConfigureAwait(false);
        response.Close();
    }

    private async Task ResponseAsync(HttpListenerRequest request, HttpListenerResponse response, string requestId)
    {
        (byte[] body, long length) = await ReadBodyAsync(request, MaxResponseBytes + 1).ConfigureAwait(false);
        if (Take(requestId) is not { } pending)
        {
            await AnswerAsync(response, 400, "InvalidRequestID", "Invalid request ID").ConfigureAwait(false);
            return;
        }

        if (body.Length > MaxResponseBytes)
        {
            // Lambda's Runtime API (RAPID) fails the invocation with the size it read and answers the runtime 413.
            pending.Result.TrySetException(new FunctionErrorException(
                string.Create(CultureInfo.InvariantCulture, $"Response payload size ({length} bytes) exceeded maximum allowed payload size ({MaxResponseBytes} bytes)."),
                "Function.ResponseSizeTooLarge",
                []));
            await AnswerAsync(response, 413, "RequestEntityTooLarge", string.Create(CultureInfo.InvariantCulture, $"Exceeded maximum allowed payload size ({MaxResponseBytes} bytes).")).ConfigureAwait(false);
            return;
        }

        pending.Result.TrySetResult(body);
        await AnswerAsync(response, 202, null, null).ConfigureAwait(false);
    }

    private async Task ErrorAsync(HttpListenerRequest request, HttpListenerResponse response, string requestId)
    {
        (byte[] body, _) = await ReadBodyAsync(request, MaxResponseBytes).ConfigureAwait(false);
        if (Take(requestId) is not { } pending)
        {
            await AnswerAsync(response, 400, "InvalidRequestID", "Invalid request ID").ConfigureAwait(false);
            return;
        }

        (string message, string type) = ReadError(body, request.Headers["Lambda-Runtime-Function-Error-Type"]);
        pending.Result.TrySetException(new FunctionErrorException(message, type, body));
        await AnswerAsync(response, 202, null, null).ConfigureAwait(false);
    }

    /// <summary>
    /// The invocation a post answers, once: only one that <c>/next</c> handed out and nobody answered yet. An id the
    /// runtime was never given (request ids are predictable) was taken: its answer ended the invocation, and the event
    /// was still handed out afterwards.
    /// </summary>
    private Pending? Take(string requestId) =>
        _inFlight.TryGetValue(requestId, out Pending? pending) && pending.HandedOut && _inFlight.TryRemove(new KeyValuePair<string, Pending>(requestId, pending))
            ? pending
            : null;

    private async Task InitErrorAsync(HttpListenerRequest request, HttpListenerResponse response)
    {
        (byte[] body, _) = await ReadBodyAsync(request, MaxResponseBytes).ConfigureAwait(false);
        (string message, string type) = ReadError(body, request.Headers["Lambda-Runtime-Function-Error-Type"]);
        if (_runtime is { } runtime)
        {
            var error = new RuntimeApiHostException($"{_options.FileName} posted an init error: {type}: {message}") { ErrorType = type };
            runtime.InitError = error;
            runtime.Initialized.TrySetException(error);
        }

        await AnswerAsync(response, 202, null, null).ConfigureAwait(false);
    }

    private static (string Message, string Type) ReadError(byte[] body, string? typeHeader)
    {
        string message = "(no errorMessage)";
        string type = typeHeader ?? "Unknown";
        try
        {
            using JsonDocument document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                if (document.RootElement.TryGetProperty("errorMessage", out JsonElement m) && m.ValueKind == JsonValueKind.String)
                {
                    message = m.GetString()!;
                }

                if (typeHeader is null && document.RootElement.TryGetProperty("errorType", out JsonElement t) && t.ValueKind == JsonValueKind.String)
                {
                    type = t.GetString()!;
                }
            }
        }
        catch (JsonException)
        {
            message = "(the error document is not JSON)";
        }

        return (message, type);
    }

    /// <summary>The body's first <paramref name="limit"/> bytes, and its whole length (read through, not kept).</summary>
    private async Task<(byte[] Body, long Length)> ReadBodyAsync(HttpListenerRequest request, int limit)
    {
        using var buffer = new MemoryStream();
        byte[] chunk = new byte[16 * 1024];
        long length = 0;
        int read;
        while ((read = await request.InputStream.ReadAsync(chunk, _stop.Token).ConfigureAwait(false)) > 0)
        {
            length += read;
            if (buffer.Length < limit)
            {
                buffer.Write(chunk, 0, (int)Math.Min(read, limit - buffer.Length));
            }
        }

        return (buffer.ToArray(), length);
    }

    private async Task AnswerAsync(HttpListenerResponse response, int status, string? errorType, string? message)
    {
        response.StatusCode = status;
        response.ContentType = "application/json";
        byte[] body = errorType is null
            ? """{"status":"OK"}"""u8.ToArray()
            : JsonSerializerless(errorType, message ?? string.Empty);
        response.ContentLength64 = body.Length;
        await response.OutputStream.WriteAsync(body, _stop.Token).ConfigureAwait(false);
        response.Close();
    }

    private static byte[] JsonSerializerless(string errorType, string message)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("errorMessage", message);
            writer.WriteString("errorType", errorType);
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary>One invocation handed (or about to be handed) to the process.</summary>
    private sealed class Pending(string requestId, byte[] eventBytes, DateTimeOffset deadline, Runtime runtime)
    {
        public string RequestId { get; } = requestId;

        public byte[] Event { get; } = eventBytes;

        public DateTimeOffset Deadline { get; } = deadline;

        public Runtime Runtime { get; } = runtime;

        public DateTimeOffset HandedOutAt { get; set; } = DateTimeOffset.UtcNow;

        /// <summary>Whether <c>/next</c> gave it to the runtime: only then may the runtime answer it.</summary>
        public bool HandedOut { get => Volatile.Read(ref _handedOut); set => Volatile.Write(ref _handedOut, value); }

        private bool _handedOut;

        public TaskCompletionSource<byte[]> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>One process (one execution environment) and what it has said.</summary>
    private sealed class Runtime(TextWriter? log)
    {
        private const int TailLimit = 4096;
        private readonly StringBuilder _tail = new();
        private volatile bool _ended;

        /// <summary>The process, set as soon as it started (the environment is current from just before: null until then).</summary>
        public Process? Process { get; set; }

        public TaskCompletionSource Initialized { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task? Exited { get; set; }

        public bool HasEnded
        {
            get => _ended;
            set => _ended = value;
        }

        public RuntimeApiHostException? InitError { get; set; }

        public void Append(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (_tail)
            {
                log?.WriteLine(line);
                _tail.AppendLine(line);
                if (_tail.Length > TailLimit)
                {
                    _tail.Remove(0, _tail.Length - TailLimit);
                }
            }
        }

        public string Tail()
        {
            lock (_tail)
            {
                return _tail.Length == 0 ? "It wrote nothing." : "Its last output:\n" + _tail;
            }
        }
    }
}
