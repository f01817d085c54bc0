using System.Text;
using System.Text.Json;

namespace Analytics.Core.Testing.Tests;

/// <summary>The Runtime API host against a tiny custom runtime written in bash and curl.</summary>
public sealed class RuntimeApiHostTests : IDisposable
{
    // A custom runtime as small as one can be: it loops on /next, and per event either echoes the event with the
    // invocation's headers, posts an error, sleeps past the deadline, or exits. FAKE_INIT_ERROR makes it fail init.
    private const string Script = """
        #!/usr/bin/env bash
        set -u
        api="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
        work=$(mktemp -d)
        if [ -n "${FAKE_INIT_ERROR:-}" ]; then
          curl -sS -X POST -H 'Lambda-Runtime-Function-Error-Type: Runtime.ConfigError' \
            -d '{"errorMessage":"missing setting","errorType":"ConfigError","stackTrace":[]}' "$api/init/error" >/dev/null
          exit 1
        fi
        echo "fake runtime started"
        while true; do
          curl -sS -D "$work/h" -o "$work/b" "$api/invocation/next" || exit 7
          header() { grep -i "^$1:" "$work/h" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
          id=$(header Lambda-Runtime-Aws-Request-Id)
          body=$(cat "$work/b")
          case "$body" in
            *raise*)
              curl -sS -X POST -d '{"errorMessage":"boom","errorType":"InvalidOperationException","stackTrace":[]}' \
                "$api/invocation/$id/error" >/dev/null ;;
            *sleep*) sleep 30 ;;
            *exit*) echo "exiting on purpose"; exit 3 ;;
            *printenv*)
              printf '{"probe":"%s","tz":"%s","lang":"%s","path":"%s","group":"%s","root":"%s","name":"%s","region":"%s","dotnet":"%s"}' \
                "${TESTS_HOST_ENV_PROBE:-}" "${TZ:-}" "${LANG:-}" "${PATH:-}" "${AWS_LAMBDA_LOG_GROUP_NAME:-}" \
                "${LAMBDA_TASK_ROOT:-}" "${AWS_LAMBDA_FUNCTION_NAME:-}" "${AWS_DEFAULT_REGION:-}" "${DOTNET_ROOT:-}" > "$work/r"
              curl -sS -X POST --data-binary "@$work/r" "$api/invocation/$id/response" >/dev/null ;;
            *big*)
              head -c 7000000 /dev/zero | tr '\0' 'a' > "$work/r"
              curl -sS -X POST --data-binary "@$work/r" "$api/invocation/$id/response" >/dev/null ;;
            *bytes:*)
              n=$(printf '%s' "$body" | tr -cd '0-9')
              head -c "$n" /dev/zero | tr '\0' 'a' > "$work/r"
              code=$(curl -sS -o "$work/a" -w '%{http_code}' -X POST --data-binary "@$work/r" "$api/invocation/$id/response")
              echo "answer $n: $code $(cat "$work/a")" ;;
            *)
              printf '{"deadline":"%s","arn":"%s","trace":"%s","id":"%s","event":%s}' \
                "$(header Lambda-Runtime-Deadline-Ms)" "$(header Lambda-Runtime-Invoked-Function-Arn)" \
                "$(header Lambda-Runtime-Trace-Id)" "$id" "$body" > "$work/r"
              curl -sS -X POST --data-binary "@$work/r" "$api/invocation/$id/response" >/dev/null ;;
          esac
        done
        """;

    private readonly string _directory = Directory.CreateTempSubdirectory("runtime-api-host-").FullName;
    private readonly string _script;

    public RuntimeApiHostTests()
    {
        _script = Path.Combine(_directory, "bootstrap");
        File.WriteAllText(_script, Script.Replace("\r\n", "\n", StringComparison.Ordinal));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(_script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private RuntimeApiHostOptions Options(params (string Name, string Value)[] environment) => new()
    {
        FileName = _script,
        FunctionName = "echo",
        FunctionArn = "arn:aws:lambda:eu-west-1:123456789012:function:echo",
        Environment = environment.ToDictionary(e => e.Name, e => (string?)e.Value),
        InitTimeout = TimeSpan.FromSeconds(20),
    };

    /// <summary>
    /// A runtime that answers an invocation it was never handed (request ids are predictable; found by review). The host
    /// took the answer, ended the invocation with it, and handed the event out afterwards, when its real answer got 400.
    /// Now only an invocation <c>/next</c> handed out can be answered: the forged post gets 400 InvalidRequestID, and
    /// the invocation ends with the answer of the runtime that received it.
    /// </summary>
    [Fact]
    public async Task AnAnswerForAnInvocationNeverHandedOut_IsRefused_TheRealAnswerCounts()
    {
        const string Forger = """
            #!/usr/bin/env bash
            set -u
            api="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
            work=$(mktemp -d)
            curl -sS -D "$work/h" -o "$work/b" "$api/invocation/next" || exit 7
            id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$work/h" | cut -d' ' -f2- | tr -d '\r')
            curl -sS -o /dev/null -X POST -d '{"first":1}' "$api/invocation/$id/response"
            second=$(echo "$id" | sed 's/^00000001/00000002/')
            for i in $(seq 20); do
              code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -d '{"forged":true}' "$api/invocation/$second/response")
              echo "forged: $code" >&2
              sleep 0.05
            done
            curl -sS -D "$work/h" -o "$work/b" "$api/invocation/next" || exit 7
            id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$work/h" | cut -d' ' -f2- | tr -d '\r')
            curl -sS -o /dev/null -X POST -d '{"real":2}' "$api/invocation/$id/response"
            sleep 30
            """;
        string forger = Path.Combine(_directory, "forger");
        File.WriteAllText(forger, Forger.Replace("\r\n", "\n", StringComparison.Ordinal));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(forger, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var log = new StringWriter();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using RuntimeApiHost host = await RuntimeApiHost.StartAsync(Options() with { FileName = forger, Log = TextWriter.Synchronized(log) }, timeout.Token);

        byte[] first = await host.InvokeAsync("{\"n\":1}"u8.ToArray(), DateTimeOffset.UtcNow.AddSeconds(20), timeout.Token);
        byte[] second = await host.InvokeAsync("{\"n\":2}"u8.ToArray(), DateTimeOffset.UtcNow.AddSeconds(20), timeout.Token);

        Assert.Equal("{\"first\":1}", Encoding.UTF8.GetString(first));
        Assert.Equal("{\"real\":2}", Encoding.UTF8.GetString(second));
        Assert.DoesNotContain("forged: 202", log.ToString(), StringComparison.Ordinal);
    }

    /// <summary>
    /// Lambda starts the runtime with the variables it defines and the function's own: the host handed it the test
    /// runner's whole environment (credentials, endpoints, a proxy, settings of the function) and not Lambda's TZ
    /// (found by review), so a test could pass or fail for what the machine had set. The runner's own variables are
    /// passed only when asked.
    /// </summary>
    [Fact]
    public async Task TheProcess_GetsLambdasEnvironment_NotTheTestRunners_UnlessAskedTo()
    {
        Environment.SetEnvironmentVariable("TESTS_HOST_ENV_PROBE", "from-the-test-runner");

        // DOTNET_ROOT is the one variable of the runner's that is passed. Where the runner has none (this machine), the
        // runtime's own root is set, so that the check below can fail; it is right for any process that reads it.
        string? rootBefore = Environment.GetEnvironmentVariable("DOTNET_ROOT");
        string dotnetRoot = rootBefore is { Length: > 0 }
            ? rootBefore
            : Path.GetFullPath(Path.Combine(System.Runtime.InteropServices.RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        Environment.SetEnvironmentVariable("DOTNET_ROOT", dotnetRoot);
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            string directory = Directory.CreateTempSubdirectory("runtime-api-root-").FullName;
            JsonElement lambda;
            await using (RuntimeApiHost host = await RuntimeApiHost.StartAsync(Options(("LANG", "C.UTF-8"), ("AWS_REGION", "eu-west-1")) with { WorkingDirectory = directory }, cts.Token))
            {
                lambda = JsonDocument.Parse(await host.InvokeAsync("{\"printenv\":1}"u8.ToArray(), DateTimeOffset.UtcNow.AddSeconds(20), cts.Token)).RootElement;
            }

            Assert.Equal(string.Empty, lambda.GetProperty("probe").GetString());
            Assert.Equal(":UTC", lambda.GetProperty("tz").GetString());
            Assert.Equal("C.UTF-8", lambda.GetProperty("lang").GetString()); // the function's own setting wins over Lambda's default
            Assert.Equal("/usr/local/bin:/usr/bin/:/bin:/opt/bin", lambda.GetProperty("path").GetString());
            Assert.Equal("/aws/lambda/echo", lambda.GetProperty("group").GetString());
            Assert.Equal(directory, lambda.GetProperty("root").GetString());
            Assert.Equal("echo", lambda.GetProperty("name").GetString());
            Assert.Equal("eu-west-1", lambda.GetProperty("region").GetString()); // AWS_DEFAULT_REGION follows the function's AWS_REGION
            Assert.Equal(dotnetRoot, lambda.GetProperty("dotnet").GetString());

            // The runner's variables are there when inherited.
            JsonElement inherited;
            await using (RuntimeApiHost host = await RuntimeApiHost.StartAsync(Options() with { InheritEnvironment = true }, cts.Token))
            {
                inherited = JsonDocument.Parse(await host.InvokeAsync("{\"printenv\":2}"u8.ToArray(), DateTimeOffset.UtcNow.AddSeconds(20), cts.Token)).RootElement;
            }

            Assert.Equal("from-the-test-runner", inherited.GetProperty("probe").GetString());
            Assert.Equal(Environment.GetEnvironmentVariable("PATH"), inherited.GetProperty("path").GetString());
            Directory.Delete(directory);
        }
        finally
        {
            Environment.SetEnvironmentVariable("TESTS_HOST_ENV_PROBE", null);
            Environment.SetEnvironmentVariable("DOTNET_ROOT", rootBefore);
        }
    }

    /// <summary>
    /// Lambda-Runtime-Trace-Id is an X-Ray trace header, whose root holds "the time of the original request in Unix epoch
    /// time, in 8 hexadecimal digits" (X-Ray Developer Guide, "Tracing header"; for instance
    /// <c>Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1</c>). The host wrote the deadline
    /// there, a time the invocation had not reached (here 10 minutes on).
    /// </summary>
    [Fact]
    public async Task Invoke_TraceIdsRoot_HoldsTheTimeOfTheRequest_NotItsDeadline()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using RuntimeApiHost host = await RuntimeApiHost.StartAsync(Options(), cts.Token);
        long before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        byte[] response = await host.InvokeAsync("{\"n\":1}"u8.ToArray(), DateTimeOffset.UtcNow.AddMinutes(10), cts.Token);
        long after = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        using JsonDocument answer = JsonDocument.Parse(response);
        string trace = answer.RootElement.GetProperty("trace").GetString()!;
        Assert.Matches("^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=[01]$", trace);
        long root = Convert.ToInt64(trace.Substring("Root=1-".Length, 8), 16);
        Assert.InRange(root, before, after);
    }

    [Fact]
    public async Task Invoke_HandsTheEventWithLambdasHeaders_AndReturnsTheResponseBody()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using RuntimeApiHost host = await RuntimeApiHost.StartAsync(Options(), cts.Token);
        var seenIds = new HashSet<string>();
        for (int i = 0; i < 3; i++)
        {
            DateTimeOffset deadline = DateTimeOffset.UtcNow.AddSeconds(20);
            byte[] eventBytes = Encoding.UTF8.GetBytes($$"""{"Records":[],"n":{{i}}}""");
            byte[] response = await host.InvokeAsync(eventBytes, deadline, cts.Token);

            using var answer = JsonDocument.Parse(response);
            JsonElement root = answer.RootElement;
            Assert.Equal(i, root.GetProperty("event").GetProperty("n").GetInt32());
            Assert.Equal(deadline.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture), root.GetProperty("deadline").GetString());
            Assert.Equal("arn:aws:lambda:eu-west-1:123456789012:function:echo", root.GetProperty("arn").GetString());
            Assert.StartsWith("Root=1-", root.GetProperty("trace").GetString());
            Assert.True(seenIds.Add(root.GetProperty("id").GetString()!));
        }

        Assert.Equal(1, host.ProcessesStarted); // one warm environment served all three
    }

    [Fact]
    public async Task Invoke_FunctionPostsAnError_RaisesFunctionErrorWithItsTypeAndMessage_AndStaysWarm()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using RuntimeApiHost host = await RuntimeApiHost.StartAsync(Options(), cts.Token);
        var error = await Assert.ThrowsAsync<FunctionErrorException>(() => host.InvokeAsync("\"raise\""u8.ToArray(), DateTimeOffset.UtcNow.AddSeconds(20), cts.Token));
        Assert.Equal("InvalidOperationException", error.ErrorType);
        Assert.Equal("boom", error.Message);

        byte[] after = await host.InvokeAsync("{\"ok\":1}"u8.ToArray(), DateTimeOffset.UtcNow.AddSeconds(20), cts.Token);
        Assert.Contains("\"ok\":1", Encoding.UTF8.GetString(after), StringComparison.Ordinal);
        Assert.Equal(1, host.ProcessesStarted);
    }

    [Fact]
    public async Task Invoke_ResponseOverSixMegabytes_FailsAsLambdaDoes()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using RuntimeApiHost host = await RuntimeApiHost.StartAsync(Options(), cts.Token);
        var error = await Assert.ThrowsAsync<FunctionErrorException>(() => host.InvokeAsync("\"big\""u8.ToArray(), DateTimeOffset.UtcNow.AddSeconds(20), cts.Token));
        Assert.Equal("Function.ResponseSizeTooLarge", error.ErrorType);
        Assert.Equal("Response payload size (7000000 bytes) exceeded maximum allowed payload size (6291556 bytes).", error.Message);
    }

    /// <summary>
    /// Lambda's limit on a response is 6 MiB and 100 bytes, not 6 MiB: its Runtime API (RAPID, published as
    /// aws/aws-lambda-runtime-interface-emulator) holds <c>MaxPayloadSize = 6*1024*1024 + 100 // 6 MiB + 100 bytes</c>,
    /// accepts a response of that size, and answers a longer one 413 with <c>{"errorMessage":"Exceeded maximum allowed
    /// payload size (6291556 bytes).","errorType":"RequestEntityTooLarge"}</c>, failing the invocation with
    /// <c>Function.ResponseSizeTooLarge</c>, "Response payload size (N bytes) exceeded maximum allowed payload size
    /// (6291556 bytes)." (its lambda/interop/model.go and lambda/rapi/rendering/rendering.go). Functions on AWS report
    /// the same 6291556. The host refused every response over 6,291,456 bytes.
    /// </summary>
    [Fact]
    public async Task Invoke_ResponseLimit_Is6MiBAnd100Bytes_AsLambdasRuntimeApiAnswers()
    {
        var log = new StringWriter();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using RuntimeApiHost host = await RuntimeApiHost.StartAsync(Options() with { Log = TextWriter.Synchronized(log) }, cts.Token);

        byte[] fits = await host.InvokeAsync("\"bytes:6291556\""u8.ToArray(), DateTimeOffset.UtcNow.AddSeconds(20), cts.Token);
        Assert.Equal(6_291_556, fits.Length);

        var error = await Assert.ThrowsAsync<FunctionErrorException>(() => host.InvokeAsync("\"bytes:6291557\""u8.ToArray(), DateTimeOffset.UtcNow.AddSeconds(20), cts.Token));
        Assert.Equal("Function.ResponseSizeTooLarge", error.ErrorType);
        Assert.Equal("Response payload size (6291557 bytes) exceeded maximum allowed payload size (6291556 bytes).", error.Message);

        // What the runtime was answered, as it logged it (the log is read as the process writes it).
        for (int i = 0; i < 100 && !log.ToString().Contains("answer 6291557", StringComparison.Ordinal); i++)
        {
            await Task.Delay(100, cts.Token);
        }

        string lines = log.ToString();
        Assert.Contains("answer 6291556: 202 {\"status\":\"OK\"}", lines, StringComparison.Ordinal);
        Assert.Contains("answer 6291557: 413 {\"errorMessage\":\"Exceeded maximum allowed payload size (6291556 bytes).\",\"errorType\":\"RequestEntityTooLarge\"}", lines, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invoke_PastTheDeadline_TimesOut_EndsTheEnvironment_AndTheNextInvocationIsACold()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using RuntimeApiHost host = await RuntimeApiHost.StartAsync(Options(), cts.Token);
        var timeout = await Assert.ThrowsAsync<FunctionTimeoutException>(() => host.InvokeAsync("\"sleep\""u8.ToArray(), DateTimeOffset.UtcNow.AddSeconds(1), cts.Token));
        Assert.StartsWith("Task timed out after", timeout.Message);

        byte[] after = await host.InvokeAsync("{\"ok\":2}"u8.ToArray(), DateTimeOffset.UtcNow.AddSeconds(20), cts.Token);
        Assert.Contains("\"ok\":2", Encoding.UTF8.GetString(after), StringComparison.Ordinal);
        Assert.Equal(2, host.ProcessesStarted);
    }

    /// <summary>
    /// The host paused right after it started a process (a loaded machine, a collection) while the process already
    /// asked for its first event. The host credited that <c>/next</c> to the environment before it (none at the first
    /// start, the ended one after an exit), so the new one never counted as initialized and its start failed after
    /// InitTimeout: "did not ask for an event (GET /runtime/invocation/next) within 20 s", seen once in CI on a loaded
    /// machine. The pause here lasts until the host has taken the process's ask.
    /// </summary>
    [Fact]
    public async Task Start_TheProcessAsksWhileTheHostIsPausedAfterStartingIt_ItsAskCountsForTheNewEnvironment()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        static void PauseUntilAsked(RuntimeApiHost paused)
        {
            int before = paused.AsksForEvents;
            Assert.True(
                SpinWait.SpinUntil(() => paused.AsksForEvents > before, TimeSpan.FromSeconds(10)),
                "the process did not ask for an event within 10 s");
        }

        RuntimeApiHostOptions options = Options() with { InitTimeout = TimeSpan.FromSeconds(5) };
        await using RuntimeApiHost host = await RuntimeApiHost.StartAsync(options, PauseUntilAsked, cts.Token);
        await Assert.ThrowsAsync<RuntimeApiHostException>(() => host.InvokeAsync("\"exit\""u8.ToArray(), DateTimeOffset.UtcNow.AddSeconds(20), cts.Token));

        byte[] after = await host.InvokeAsync("{\"ok\":3}"u8.ToArray(), DateTimeOffset.UtcNow.AddSeconds(20), cts.Token);
        Assert.Contains("\"ok\":3", Encoding.UTF8.GetString(after), StringComparison.Ordinal);
        Assert.Equal(2, host.ProcessesStarted);
    }

    [Fact]
    public async Task Invoke_ProcessExits_RaisesWithTheExitCodeAndItsOutput_AndRestartsOnTheNext()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using RuntimeApiHost host = await RuntimeApiHost.StartAsync(Options(), cts.Token);
        var exited = await Assert.ThrowsAsync<RuntimeApiHostException>(() => host.InvokeAsync("\"exit\""u8.ToArray(), DateTimeOffset.UtcNow.AddSeconds(20), cts.Token));
        Assert.Contains("exited with code 3", exited.Message, StringComparison.Ordinal);
        Assert.Contains("exiting on purpose", exited.Message, StringComparison.Ordinal);
        Assert.Equal("Runtime.ExitError", exited.ErrorType); // what an invocation report names it (found by review: untested)

        await host.InvokeAsync("{}"u8.ToArray(), DateTimeOffset.UtcNow.AddSeconds(20), cts.Token);
        Assert.Equal(2, host.ProcessesStarted);
    }

    [Fact]
    public async Task Start_InitErrorOrNoNextOrNoProgram_FailsWithAClearMessage()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var init = await Assert.ThrowsAsync<RuntimeApiHostException>(() => RuntimeApiHost.StartAsync(Options(("FAKE_INIT_ERROR", "1")), cts.Token));
        Assert.Contains("posted an init error: Runtime.ConfigError: missing setting", init.Message, StringComparison.Ordinal);
        Assert.Equal("Runtime.ConfigError", init.ErrorType);

        var silent = await Assert.ThrowsAsync<RuntimeApiHostException>(() => RuntimeApiHost.StartAsync(
            new RuntimeApiHostOptions { FileName = "sleep", Arguments = ["30"], InitTimeout = TimeSpan.FromSeconds(1) }, cts.Token));
        Assert.Contains("did not ask for an event", silent.Message, StringComparison.Ordinal);

        var missing = await Assert.ThrowsAsync<RuntimeApiHostException>(() => RuntimeApiHost.StartAsync(
            new RuntimeApiHostOptions { FileName = Path.Combine(_directory, "no-such-program") }, cts.Token));
        Assert.Contains("could not be started", missing.Message, StringComparison.Ordinal);
    }
}
