using System.Globalization;
using System.Buffers;
using System.Text;
using System.Text.Json;
using Analytics.SampleLambda;

namespace Analytics.Core.Tests.Sample;

public class LambdaRuntimeLoopTests
{
    private static readonly TimeSpan s_testTimeout = TimeSpan.FromSeconds(30);

    /// <summary>A handler that echoes "ok:..." bodies with the deadline it saw, and throws on anything else.</summary>
    private sealed class EchoHandler : IInvocationHandler
    {
        public int Disposed { get; private set; }

        public Task HandleAsync(ReadOnlyMemory<byte> utf8Event, DateTimeOffset deadline, IBufferWriter<byte> response, CancellationToken cancellationToken)
        {
            string body = Encoding.UTF8.GetString(utf8Event.Span);
            if (!body.StartsWith("ok:", StringComparison.Ordinal))
            {
                throw new InvalidDataException("cannot handle " + body);
            }

            using var writer = new Utf8JsonWriter(response);
            writer.WriteStartObject();
            writer.WriteString("echo", body[3..]);
            writer.WriteNumber("deadlineMs", deadline.ToUnixTimeMilliseconds());
            writer.WriteString("trace", Environment.GetEnvironmentVariable("_X_AMZN_TRACE_ID"));
            writer.WriteEndObject();
            return Task.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            Disposed++;
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>Waits for the expected posts, or surfaces the loop's exception when it ends first.</summary>
    /// <summary>Runs the loop with an <see cref="EchoHandler"/> until <paramref name="api"/> has every post it expects, then stops it.</summary>
    private static async Task RunEchoLoopUntilPostedAsync(FakeRuntimeApi api, TextWriter log)
    {
        using var client = new RuntimeApiClient(api.HostAndPort);
        using var stop = new CancellationTokenSource(s_testTimeout);
        Task loop = LambdaRuntimeLoop.RunAsync(client, () => new EchoHandler(), log, stop.Token);
        await WaitForPostsAsync(api, loop);
        await stop.CancelAsync();
        await loop.WaitAsync(s_testTimeout);
    }

    private static async Task WaitForPostsAsync(FakeRuntimeApi api, Task loop)
    {
        Task first = await Task.WhenAny(api.AllPosted, loop).WaitAsync(s_testTimeout);
        if (first == loop)
        {
            await loop;
            Assert.Fail("The runtime loop ended before the expected posts arrived.");
        }
    }

    /// <summary>
    /// A custom runtime puts each invocation's Lambda-Runtime-Trace-Id in _X_AMZN_TRACE_ID, where the AWS SDK reads it,
    /// so the sinks' calls join the invocation's trace (found by review: it was never set); an invocation without one
    /// does not keep the one before.
    /// </summary>
    [Fact]
    public async Task RunAsync_SetsEachInvocationsTraceHeader_ForTheHandler()
    {
        await using var api = new FakeRuntimeApi(expectedPosts: 3);
        DateTimeOffset deadline = DateTimeOffset.FromUnixTimeMilliseconds(1_737_367_320_123);
        const string First = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        const string Third = "Root=1-5759e988-00000000e1be46a994272793;Parent=53995c3f42cd8ad9;Sampled=0";
        api.Enqueue("req-1", deadline, "ok:first"u8.ToArray(), First);
        api.Enqueue("req-2", deadline, "ok:second"u8.ToArray());
        api.Enqueue("req-3", deadline, "ok:third"u8.ToArray(), Third);
        using var client = new RuntimeApiClient(api.HostAndPort);
        using var stop = new CancellationTokenSource(s_testTimeout);
        try
        {
            Task loop = LambdaRuntimeLoop.RunAsync(client, () => new EchoHandler(), new StringWriter(), stop.Token);
            await WaitForPostsAsync(api, loop);
            await stop.CancelAsync();
            await loop.WaitAsync(s_testTimeout);
        }
        finally
        {
            Environment.SetEnvironmentVariable("_X_AMZN_TRACE_ID", null);
        }

        string[] traces = [.. api.Posts.Select(p => JsonDocument.Parse(p.Body).RootElement.GetProperty("trace").GetString() ?? "(unset)")];
        Assert.Equal([First, "(unset)", Third], traces);
    }

    [Fact]
    public async Task RunAsync_EventsThenCancel_PostsResponsesAndErrorsWithHeaders()
    {
        await using var api = new FakeRuntimeApi(expectedPosts: 3);
        DateTimeOffset deadline1 = DateTimeOffset.FromUnixTimeMilliseconds(1_737_367_320_123);
        DateTimeOffset deadline3 = DateTimeOffset.FromUnixTimeMilliseconds(1_737_367_330_456);
        api.Enqueue("req-1", deadline1, "ok:first"u8.ToArray());
        api.Enqueue("req-2", deadline1, "not an event"u8.ToArray());
        api.Enqueue("req-3", deadline3, "ok:third"u8.ToArray());
        var handler = new EchoHandler();
        using var client = new RuntimeApiClient(api.HostAndPort);
        using var stop = new CancellationTokenSource(s_testTimeout);
        var log = new StringWriter();

        Task loop = LambdaRuntimeLoop.RunAsync(client, () => handler, log, stop.Token);
        await WaitForPostsAsync(api, loop);
        await stop.CancelAsync();
        await loop.WaitAsync(s_testTimeout);

        IReadOnlyList<PostedRequest> posts = api.Posts;
        Assert.Equal(["runtime/invocation/req-1/response", "runtime/invocation/req-2/error", "runtime/invocation/req-3/response"], posts.Select(p => p.Path));

        using (JsonDocument first = JsonDocument.Parse(posts[0].Body))
        {
            Assert.Equal("first", first.RootElement.GetProperty("echo").GetString());
            Assert.Equal(deadline1.ToUnixTimeMilliseconds(), first.RootElement.GetProperty("deadlineMs").GetInt64());
        }

        using (JsonDocument third = JsonDocument.Parse(posts[2].Body))
        {
            // The response buffer is reused: nothing of the first response may leak into the third.
            Assert.Equal("third", third.RootElement.GetProperty("echo").GetString());
            Assert.Equal(deadline3.ToUnixTimeMilliseconds(), third.RootElement.GetProperty("deadlineMs").GetInt64());
        }

        Assert.Null(posts[0].ErrorTypeHeader);
        Assert.Equal("InvalidDataException", posts[1].ErrorTypeHeader);
        using (JsonDocument error = JsonDocument.Parse(posts[1].Body))
        {
            Assert.Equal("cannot handle not an event", error.RootElement.GetProperty("errorMessage").GetString());
            Assert.Equal("InvalidDataException", error.RootElement.GetProperty("errorType").GetString());
            Assert.Equal(JsonValueKind.Array, error.RootElement.GetProperty("stackTrace").ValueKind);
        }

        Assert.Equal(1, handler.Disposed);
        // The failure is one JSON line, like every other log line: level, message, request id, type and message.
        using (JsonDocument line = JsonDocument.Parse(Assert.Single(log.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries))))
        {
            JsonElement root = line.RootElement;
            Assert.Equal("Error", root.GetProperty("level").GetString());
            Assert.Equal("invocation failed", root.GetProperty("message").GetString());
            Assert.Equal("req-2", root.GetProperty("requestId").GetString());
            Assert.Equal("InvalidDataException", root.GetProperty("errorType").GetString());
            Assert.Equal("cannot handle not an event", root.GetProperty("errorMessage").GetString());
            Assert.True(DateTimeOffset.TryParse(root.GetProperty("timestamp").GetString(), CultureInfo.InvariantCulture, out _));
        }
    }

    [Fact]
    public async Task RunAsync_InitializerThrows_PostsInitErrorAndRethrows()
    {
        await using var api = new FakeRuntimeApi(expectedPosts: 1);
        using var client = new RuntimeApiClient(api.HostAndPort);
        using var stop = new CancellationTokenSource(s_testTimeout);

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            LambdaRuntimeLoop.RunAsync(client, () => throw new InvalidOperationException("ANALYTICS_WINDOW_SECONDS is bad"), TextWriter.Null, stop.Token));

        PostedRequest post = Assert.Single(api.Posts);
        Assert.Equal("runtime/init/error", post.Path);
        Assert.Equal("InvalidOperationException", post.ErrorTypeHeader);
        using JsonDocument error = JsonDocument.Parse(post.Body);
        Assert.Equal(ex.Message, error.RootElement.GetProperty("errorMessage").GetString());
    }

    [Fact]
    public async Task RunAsync_NoEventArrives_StopsWhenCancelled()
    {
        await using var api = new FakeRuntimeApi(expectedPosts: 1);
        using var client = new RuntimeApiClient(api.HostAndPort);
        using var stop = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var handler = new EchoHandler();

        await LambdaRuntimeLoop.RunAsync(client, () => handler, TextWriter.Null, stop.Token).WaitAsync(s_testTimeout);

        Assert.Empty(api.Posts);
        Assert.Equal(1, handler.Disposed);
    }

    /// <summary>
    /// An invocation handed out with a deadline no date holds (found by review): the loop ended with an
    /// ArgumentOutOfRangeException that named neither the header nor the invocation, which Lambda then waited out. It is
    /// answered on its own path with an error naming the header, and the loop goes on to the next invocation.
    /// </summary>
    [Fact]
    public async Task AnInvocationWithADeadlineNoDateHolds_IsAnsweredWithAnError_AndTheLoopGoesOn()
    {
        await using var api = new FakeRuntimeApi(expectedPosts: 2);
        api.EnqueueRaw("req-1", 99_999_999_999_999_999, "ok:first"u8.ToArray());
        api.Enqueue("req-2", DateTimeOffset.UtcNow.AddMinutes(1), "ok:second"u8.ToArray());
        await RunEchoLoopUntilPostedAsync(api, TextWriter.Null);

        IReadOnlyList<PostedRequest> posts = api.Posts;
        Assert.Equal(["runtime/invocation/req-1/error", "runtime/invocation/req-2/response"], posts.Select(p => p.Path));
        Assert.Contains(RuntimeApiClient.DeadlineHeader, Encoding.UTF8.GetString(posts[0].Body), StringComparison.Ordinal);
    }

    /// <summary>
    /// The Runtime API refuses an answer (413 for a response too large, 400 for an invocation it no longer awaits): the
    /// loop ended, and its last line named no invocation. Lambda decides that invocation's outcome; the loop logs the
    /// refusal with its request id and goes on to the next invocation.
    /// </summary>
    [Theory]
    [InlineData("ok:first", 413)]
    [InlineData("boom", 400)]
    public async Task AnAnswerTheRuntimeApiRefuses_IsLoggedWithItsRequestId_AndTheLoopGoesOn(string firstBody, int status)
    {
        await using var api = new FakeRuntimeApi(expectedPosts: 2) { Refuse = ("req-1", status) };
        api.Enqueue("req-1", DateTimeOffset.UtcNow.AddMinutes(1), Encoding.UTF8.GetBytes(firstBody));
        api.Enqueue("req-2", DateTimeOffset.UtcNow.AddMinutes(1), "ok:second"u8.ToArray());
        var log = new StringWriter();
        await RunEchoLoopUntilPostedAsync(api, log);

        string answer = firstBody == "boom" ? "error" : "response";
        Assert.Equal([$"runtime/invocation/req-1/{answer}", "runtime/invocation/req-2/response"], api.Posts.Select(p => p.Path));
        JsonElement refusal = JsonDocument.Parse(log.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Last()).RootElement;
        Assert.Equal(("answer refused", "req-1"), (refusal.GetProperty("message").GetString(), refusal.GetProperty("requestId").GetString()));
        Assert.Contains(status.ToString(System.Globalization.CultureInfo.InvariantCulture), refusal.GetProperty("errorMessage").GetString(), StringComparison.Ordinal);
    }

    /// <summary>
    /// The same refusal of the error posted for an invocation handed out with a deadline no date holds (found by review:
    /// that post was outside the handling of a refusal, so the process ended and the next invocation was never fetched).
    /// </summary>
    [Fact]
    public async Task ARefusedErrorForAnInvocationWithABadDeadline_IsLogged_AndTheLoopGoesOn()
    {
        await using var api = new FakeRuntimeApi(expectedPosts: 2) { Refuse = ("req-1", 400) };
        api.EnqueueRaw("req-1", 99_999_999_999_999_999, "ok:first"u8.ToArray());
        api.Enqueue("req-2", DateTimeOffset.UtcNow.AddMinutes(1), "ok:second"u8.ToArray());
        var log = new StringWriter();
        await RunEchoLoopUntilPostedAsync(api, log);

        Assert.Equal(["runtime/invocation/req-1/error", "runtime/invocation/req-2/response"], api.Posts.Select(p => p.Path));
        Assert.Contains(
            log.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement),
            l => l.GetProperty("message").GetString() == "answer refused" && l.GetProperty("requestId").GetString() == "req-1");
    }

    /// <summary>A 500 from the Runtime API means the runtime should exit: the loop ends, its last line naming the invocation.</summary>
    [Fact]
    public async Task AnAnswerTheRuntimeApiFailsWith500_EndsTheLoop_NamingTheInvocation()
    {
        await using var api = new FakeRuntimeApi(expectedPosts: 1) { Refuse = ("req-1", 500) };
        api.Enqueue("req-1", DateTimeOffset.UtcNow.AddMinutes(1), "ok:first"u8.ToArray());
        api.Enqueue("req-2", DateTimeOffset.UtcNow.AddMinutes(1), "ok:second"u8.ToArray());
        using var client = new RuntimeApiClient(api.HostAndPort);
        using var stop = new CancellationTokenSource(s_testTimeout);
        var log = new StringWriter();

        await Assert.ThrowsAsync<HttpRequestException>(() => LambdaRuntimeLoop.RunAsync(client, () => new EchoHandler(), log, stop.Token).WaitAsync(s_testTimeout));

        Assert.Equal(["runtime/invocation/req-1/response"], api.Posts.Select(p => p.Path));
        JsonElement last = JsonDocument.Parse(log.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Last()).RootElement;
        Assert.Equal(("answer not delivered", "req-1"), (last.GetProperty("message").GetString(), last.GetProperty("requestId").GetString()));
    }

    /// <summary>
    /// A request id of <c>..</c> or <c>.</c> (found by review): escaped, it stays a dot segment, and the answer went to
    /// <c>/runtime/response</c>, outside the invocation's path. It is refused, naming the header, and nothing is posted.
    /// </summary>
    [Theory]
    [InlineData("..")]
    [InlineData(".")]
    public async Task ARequestIdThatIsADotSegment_IsRefused_NothingPosted(string requestId)
    {
        await using var api = new FakeRuntimeApi(expectedPosts: 1);
        api.Enqueue(requestId, DateTimeOffset.UtcNow.AddMinutes(1), "ok:first"u8.ToArray());
        using var client = new RuntimeApiClient(api.HostAndPort);
        using var stop = new CancellationTokenSource(s_testTimeout);

        InvalidDataException e = await Assert.ThrowsAsync<InvalidDataException>(() => LambdaRuntimeLoop.RunAsync(client, () => new EchoHandler(), TextWriter.Null, stop.Token).WaitAsync(s_testTimeout));

        Assert.Contains(RuntimeApiClient.RequestIdHeader, e.Message, StringComparison.Ordinal);
        Assert.Empty(api.Posts);
    }

    [Fact]
    public async Task RunAsync_FunctionHandler_AnswersGoodPoisonAndForeignEvents()
    {
        string dir = Directory.CreateTempSubdirectory("analytics-loop-").FullName;
        try
        {
            await using var api = new FakeRuntimeApi(expectedPosts: 3);
            DateTimeOffset deadline = DateTimeOffset.UtcNow.AddMinutes(2);
            api.Enqueue("good", deadline, File.ReadAllBytes(SampleEventsTests.EventPath("kinesis-basic.json")));
            api.Enqueue("poison", deadline, File.ReadAllBytes(SampleEventsTests.EventPath("kinesis-poison.json")));
            api.Enqueue("foreign", deadline, """{"detail-type":"Scheduled Event","source":"aws.events"}"""u8.ToArray());
            using var client = new RuntimeApiClient(api.HostAndPort);
            using var stop = new CancellationTokenSource(s_testTimeout);
            var env = new Dictionary<string, string> { [SampleSettings.OutputDirectoryVariable] = dir };

            Task loop = LambdaRuntimeLoop.RunAsync(client, () => FunctionHandler.FromEnvironment(env.GetValueOrDefault, TextWriter.Null), TextWriter.Null, stop.Token);
            await WaitForPostsAsync(api, loop);
            await stop.CancelAsync();
            await loop.WaitAsync(s_testTimeout);

            IReadOnlyList<PostedRequest> posts = api.Posts;
            Assert.Equal(["runtime/invocation/good/response", "runtime/invocation/poison/response", "runtime/invocation/foreign/error"], posts.Select(p => p.Path));
            foreach (PostedRequest response in posts.Take(2))
            {
                // Every poison pill is quarantined, so nothing needs re-delivery: full success.
                using JsonDocument json = JsonDocument.Parse(response.Body);
                Assert.Equal(0, json.RootElement.GetProperty("batchItemFailures").GetArrayLength());
            }

            Assert.Equal(nameof(KinesisEventFormatException), posts[2].ErrorTypeHeader);
            int expectedPoison = SampleEventFactory.PoisonRecords().Count(r => r.ExpectedPoison is not null);
            Assert.Equal(expectedPoison, File.ReadAllLines(Path.Combine(dir, SinkTargets.QuarantineFileName)).Length);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
