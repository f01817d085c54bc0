using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Core.Tests;
using Analytics.Tools;
using Analytics.Tools.Redrive;
using static Analytics.Core.Testing.Tests.RedriveObjects;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// <c>redrive</c> interrupted while it holds the table's lease, as a process (the signal is what is tested): Ctrl-C
/// (SIGINT) or SIGTERM cancels the run, which releases the lease and says so, instead of dying with the lease kept, every
/// later run refused for its 10 minutes, and nothing on its output (found by review).
/// </summary>
[Collection(LocalServersCollection.Second)]
public sealed class RedriveInterruptTests(LocalServersFixture servers)
{
    /// <summary>Spill objects of the signal tests, one per shard: each a read and a put of the item, slowed.</summary>
    private const int Spills = 30;

    /// <remarks>
    /// With the release never answered (DynamoDB hangs, the case where an operator presses Ctrl-C), the line says the
    /// lease may not be released and when it expires, and the lease is there (found by review: it said released).
    /// </remarks>
    [Theory]
    [InlineData(2, false)] // SIGINT
    [InlineData(15, false)] // SIGTERM
    [InlineData(2, true)]
    public async Task ASignalWhileTheLeaseIsHeld_ReleasesIt_AndSaysSo(int signal, bool releaseHangs)
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "interrupt");
        for (int shard = 0; shard < Spills; shard++)
        {
            await scene.PutSpillAsync(SpillKey(shard), SpillBody(shard, "a", "k", [1]));
        }

        await using var proxy = new SlowingProxy(servers.DynamoDbUrl, slow: true, holdRelease: releaseHangs);
        string tools = Path.Combine(AppContext.BaseDirectory, "Analytics.Tools.dll");
        // A shell without job control starts background commands with SIGINT ignored, and the ignore is inherited (a CI
        // job under nohup or setsid is one): the runtime then leaves SIGINT ignored, as it should. The test is of the
        // tool's handling, so the child gets SIGINT's default back (GNU env).
        var start = new ProcessStartInfo("env") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in (string[])["--default-signal=INT", "dotnet", tools, "redrive", "--table", scene.Table, "--spill-bucket", scene.Spill, "--min-age-minutes", "0", "--dynamodb-endpoint", proxy.Url.ToString(), "--s3-endpoint", servers.S3Url.ToString()])
        {
            start.ArgumentList.Add(a);
        }

        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        try
        {
            // The first request after the lease was taken has come: the run is inside its leased part, slowed so that it
            // stays there for a minute, Spills work units of two requests of a second each (a held request would end in
            // the client's own 5-second timeout, and one spill's few requests were over before a busy test host sent the
            // signal).
            Assert.True(await proxy.Slowed.WaitAsync(TimeSpan.FromSeconds(60)), "the run never reached its leased part");
            Assert.Equal(0, Kill(process.Id, signal));
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        string errors = await stderr;
        // Exit 1, as for any run that leaves something: the spill object is still there.
        Assert.True(process.ExitCode == 1, $"exit {process.ExitCode}; stdout: {await stdout}; stderr: {errors}");
        string expected = "redrive: interrupted: what was applied stays applied, each record once; " +
            (releaseHangs ? Analytics.Tools.RedriveCommand.LeaseNotReleased : "the table's lease is released; run it again to finish");
        Assert.Equal(expected, errors.Trim());
        Assert.Equal(releaseHangs, await LeaseAsync(scene) is not null);
        Assert.InRange(await scene.CountAsync(scene.Spill, "spill/"), 1, Spills);
    }

    /// <summary>
    /// A run that did all its work but whose release of the lease DynamoDB never answers: the SDK's timeout escaped the
    /// release, replaced the report, and the run ended "redrive stopped: TimeoutException" with its work done (found by
    /// review). Now it reports its work, says the lease may not be released and when it expires, and exits 0.
    /// </summary>
    [Fact]
    public async Task AReleaseDynamoDbNeverAnswers_IsSaid_AndTheRunsReportStands()
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "release");
        await scene.PutSpillAsync(SpillKey(0), SpillBody(0, "a", "k", [1]));
        await using var proxy = new SlowingProxy(servers.DynamoDbUrl, slow: false, holdRelease: true);
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        int exit = await ToolsCommand.RunAsync(
            ["redrive", "--table", scene.Table, "--spill-bucket", scene.Spill, "--min-age-minutes", "0", "--dynamodb-endpoint", proxy.Url.ToString(), "--s3-endpoint", servers.S3Url.ToString()],
            stdout,
            stderr);

        string[] lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.True(exit == 0 && stderr.ToString().Length == 0, $"exit {exit}; stdout: {stdout}; stderr: {stderr}");
        Assert.StartsWith("spills: 1 spill objects, 1 samples applied", lines[0], StringComparison.Ordinal);
        Assert.Equal([Analytics.Tools.RedriveCommand.LeaseNotReleased, "redrive: done, nothing left"], lines[^2..]);
        Assert.NotNull(await LeaseAsync(scene));
    }

    /// <summary>
    /// The release has its own bound (<see cref="RedriveLease.ReleaseTimeout"/>), whatever the client's time-out and
    /// retries: an interrupted run has <see cref="ToolsCommand.InterruptGrace"/> to say what became of the lease, and with
    /// the client's two attempts of 5 s each a loaded machine once took more than that (exit 130, nothing said). Here the
    /// client would wait 30 s twice; the release must end at its bound, with most of the grace left for the rest.
    /// </summary>
    [Fact]
    public async Task TheRelease_OfALeaseDynamoDbNeverAnswers_EndsAtItsOwnBound()
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "bound");
        await using var proxy = new SlowingProxy(servers.DynamoDbUrl, slow: false, holdRelease: true);
        using AmazonDynamoDBClient patient = servers.CreateDynamoDbClient(proxy.Url, TimeSpan.FromSeconds(30), maxErrorRetry: 1);
        (RedriveLease? lease, string? heldBy) = await RedriveLease.TryTakeAsync(patient, scene.Table, TimeProvider.System, CancellationToken.None);
        Assert.True(lease is not null, $"held by {heldBy}");

        var release = Stopwatch.StartNew();
        await lease.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));

        // .NET's timers count whole milliseconds of a coarser clock than the stopwatch's, so the bound may end a
        // fraction of a millisecond early by it (a CI run measured 4.99985 s): 20 ms of slack below.
        Assert.InRange(release.Elapsed, RedriveLease.ReleaseTimeout - TimeSpan.FromMilliseconds(20), RedriveLease.ReleaseTimeout + TimeSpan.FromSeconds(4));
        Assert.True(release.Elapsed < ToolsCommand.InterruptGrace / 2, $"the release took {release.Elapsed} of the {ToolsCommand.InterruptGrace} an interrupted run has");
        Assert.False(lease.Released);
        Assert.NotNull(await LeaseAsync(scene));
    }

    private static async Task<Dictionary<string, AttributeValue>?> LeaseAsync(RedriveScene scene)
    {
        GetItemResponse got = await scene.DynamoDb.GetItemAsync(new GetItemRequest
        {
            TableName = scene.Table,
            Key = new() { ["pk"] = new AttributeValue { S = "#redrive" }, ["sk"] = new AttributeValue { S = "lease" } },
            ConsistentRead = true,
        });
        return got.Item is { Count: > 0 } item ? item : null;
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    /// <summary>
    /// Forwards DynamoDB requests to the local server. Once the lease is taken (an UpdateItem of <c>#redrive</c>), every
    /// later request but the lease's release waits 1 s before it is forwarded (less than the client's 5-second timeout),
    /// and <see cref="Slowed"/> is signalled at the first (with <c>slow</c>); with <c>holdRelease</c>, the release is
    /// never answered.
    /// </summary>
    private sealed class SlowingProxy : IAsyncDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly HttpClient _client = new();
        private readonly Uri _target;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;
        private readonly bool _slow;
        private readonly bool _holdRelease;
        private volatile bool _leaseTaken;

        public SlowingProxy(Uri target, bool slow, bool holdRelease)
        {
            _target = target;
            _slow = slow;
            _holdRelease = holdRelease;
            using var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            int port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            Url = new Uri($"http://127.0.0.1:{port}/");
            _listener.Prefixes.Add(Url.ToString());
            _listener.Start();
            _loop = Task.Run(LoopAsync);
        }

        public Uri Url { get; }

        public SemaphoreSlim Slowed { get; } = new(0);

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Close();
            await _loop.ContinueWith(static _ => { }, TaskScheduler.Default);
            _client.Dispose();
            _stop.Dispose();
        }

        private async Task LoopAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }

                _ = Task.Run(() => ServeAsync(context));
            }
        }

        private async Task ServeAsync(HttpListenerContext context)
        {
            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            string target = context.Request.Headers["X-Amz-Target"] ?? string.Empty;
            string text = System.Text.Encoding.UTF8.GetString(body.ToArray());
            bool lease = text.Contains("#redrive", StringComparison.Ordinal);
            bool release = lease && target.EndsWith(".DeleteItem", StringComparison.Ordinal);
            if (release && _holdRelease)
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, _stop.Token).ContinueWith(static _ => { }, TaskScheduler.Default);
                context.Response.Abort();
                return;
            }

            if (_leaseTaken && !release && _slow)
            {
                Slowed.Release();
                await Task.Delay(TimeSpan.FromSeconds(1), _stop.Token).ContinueWith(static _ => { }, TaskScheduler.Default);
            }

            using var forward = new HttpRequestMessage(HttpMethod.Post, _target) { Content = new ByteArrayContent(body.ToArray()) };
            forward.Content.Headers.TryAddWithoutValidation("Content-Type", context.Request.ContentType);
            forward.Headers.TryAddWithoutValidation("X-Amz-Target", target);
            forward.Headers.TryAddWithoutValidation("Authorization", context.Request.Headers["Authorization"]);
            forward.Headers.TryAddWithoutValidation("X-Amz-Date", context.Request.Headers["X-Amz-Date"]);
            using HttpResponseMessage answer = await _client.SendAsync(forward);
            byte[] bytes = await answer.Content.ReadAsByteArrayAsync();
            _leaseTaken |= lease && target.EndsWith(".UpdateItem", StringComparison.Ordinal) && answer.IsSuccessStatusCode;
            context.Response.StatusCode = (int)answer.StatusCode;
            foreach ((string name, IEnumerable<string> values) in answer.Headers.Concat(answer.Content.Headers))
            {
                if (name is not ("Content-Length" or "Transfer-Encoding" or "Connection" or "Date" or "Server"))
                {
                    context.Response.Headers[name] = string.Join(",", values);
                }
            }

            context.Response.ContentLength64 = bytes.Length;
            await context.Response.OutputStream.WriteAsync(bytes);
            context.Response.Close();
        }
    }
}
