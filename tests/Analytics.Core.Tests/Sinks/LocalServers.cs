using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Amazon.DynamoDBv2;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace Analytics.Core.Tests;

/// <summary>The collection whose tests share one dynalite and one s3rver process.</summary>
/// <remarks>
/// The classes of one collection run one after another, so the local-server tests are split in two collections, each
/// with servers of its own, that run side by side (and beside the tests of no collection). In one collection they were
/// the longest chain of each test run: 152 s of the 156 s of Analytics.Core.Tests on an idle machine.
/// </remarks>
[CollectionDefinition(Name)]
public sealed class LocalServersCollection : ICollectionFixture<LocalServersFixture>
{
    public const string Name = "LocalServers";

    /// <summary>The second collection's name: its classes get servers of their own, and run beside the first's.</summary>
    public const string Second = "LocalServers2";
}

/// <summary>The second collection of local-server tests (<see cref="LocalServersCollection"/>).</summary>
[CollectionDefinition(LocalServersCollection.Second)]
public sealed class SecondLocalServersCollection : ICollectionFixture<LocalServersFixture>
{
}

/// <summary>
/// Runs dynalite (DynamoDB API) and s3rver (S3 API) from tests/servers on free loopback ports for the tests of
/// a collection, and kills both (with their process trees) afterwards. Nothing leaves 127.0.0.1: the clients get
/// dummy credentials, an explicit endpoint and region, and instance metadata is disabled.
/// </summary>
public sealed class LocalServersFixture : IAsyncLifetime
{
    private static readonly TimeSpan s_startTimeout = TimeSpan.FromSeconds(20);
    private static readonly BasicAWSCredentials s_credentials = new("test", "test");

    // s3rver checks signatures against its one built-in key pair.
    private static readonly BasicAWSCredentials s_s3rverCredentials = new("S3RVER", "S3RVER");
    private static int s_counter;

    private readonly string _dataDirectory = Directory.CreateTempSubdirectory("analytics-s3rver-").FullName;
    private NodeServer? _dynalite;
    private NodeServer? _s3rver;

    static LocalServersFixture()
    {
        // Belt and braces: no credential or region lookup may reach the instance metadata service.
        Environment.SetEnvironmentVariable("AWS_EC2_METADATA_DISABLED", "true");
    }

    public Uri DynamoDbUrl => _dynalite?.Url ?? throw new InvalidOperationException("dynalite is not running.");

    public Uri S3Url => _s3rver?.Url ?? throw new InvalidOperationException("s3rver is not running.");

    public static string ServersDirectory => Path.Combine(RepoPaths.Root, "tests", "servers");

    public async Task InitializeAsync()
    {
        await EnsureNodeModulesAsync();
        string modules = Path.Combine(ServersDirectory, "node_modules");
        Task<NodeServer> dynalite = NodeServer.StartAsync(
            "dynalite",
            port => [Path.Combine(modules, "dynalite", "cli.js"), "--host", "127.0.0.1", "--port", port.ToString()],
            s_startTimeout);
        // s3rver seals a truncated listing's continuation token with DES, which Node's OpenSSL 3 refuses unless its legacy
        // provider is loaded: without it every listing of more than 1,000 keys answered 500 InternalError.
        Task<NodeServer> s3rver = NodeServer.StartAsync(
            "s3rver",
            port => ["--openssl-legacy-provider", Path.Combine(modules, "s3rver", "bin", "s3rver.js"), "-d", _dataDirectory, "-a", "127.0.0.1", "-p", port.ToString(), "--silent", "--no-vhost-buckets"],
            s_startTimeout);
        _dynalite = await dynalite;
        _s3rver = await s3rver;

        // Listening is not answering: wait until each serves a real API call.
        using var cts = new CancellationTokenSource(s_startTimeout);
        using AmazonDynamoDBClient ddb = CreateDynamoDbClient();
        using AmazonS3Client s3 = CreateS3Client();
        await UntilAnswersAsync("dynalite", () => ddb.ListTablesAsync(new Amazon.DynamoDBv2.Model.ListTablesRequest(), cts.Token), cts.Token);
        await UntilAnswersAsync("s3rver", () => s3.ListBucketsAsync(new ListBucketsRequest(), cts.Token), cts.Token);
    }

    public Task DisposeAsync()
    {
        _dynalite?.Dispose();
        _s3rver?.Dispose();
        try
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }

        return Task.CompletedTask;
    }

    /// <summary>A DynamoDB client for the local server (or for <paramref name="serviceUrl"/>, such as a fault proxy).</summary>
    public AmazonDynamoDBClient CreateDynamoDbClient(Uri? serviceUrl = null, TimeSpan? timeout = null, int maxErrorRetry = 0) =>
        new(s_credentials, new AmazonDynamoDBConfig
        {
            ServiceURL = (serviceUrl ?? DynamoDbUrl).ToString(),
            AuthenticationRegion = "us-east-1",
            MaxErrorRetry = maxErrorRetry,
            Timeout = timeout ?? TimeSpan.FromSeconds(5),
        });

    /// <summary>The local S3 server's credentials, for a test's own <see cref="AmazonS3Client"/> subclass.</summary>
    public static AWSCredentials S3Credentials => s_s3rverCredentials;

    /// <summary>An S3 client for the local server (or for <paramref name="serviceUrl"/>), path-style.</summary>
    public AmazonS3Client CreateS3Client(Uri? serviceUrl = null, TimeSpan? timeout = null) =>
        new(s_s3rverCredentials, S3Config(serviceUrl, timeout));

    /// <summary>The configuration of <see cref="CreateS3Client"/>: path-style, no retries of the SDK's own, checksums only when required.</summary>
    public AmazonS3Config S3Config(Uri? serviceUrl = null, TimeSpan? timeout = null) =>
        new()
        {
            ServiceURL = (serviceUrl ?? S3Url).ToString(),
            AuthenticationRegion = "us-east-1",
            ForcePathStyle = true,
            MaxErrorRetry = 0,
            Timeout = timeout ?? TimeSpan.FromSeconds(5),
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        };

    /// <summary>Creates a fresh table with the sink's layout and waits until it is ACTIVE.</summary>
    public async Task<string> CreateTableAsync(string prefix)
    {
        string name = $"{prefix}-{Interlocked.Increment(ref s_counter)}";
        using AmazonDynamoDBClient client = CreateDynamoDbClient();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await DynamoDbTable.CreateAsync(client, name, TimeProvider.System, cts.Token);
        return name;
    }

    /// <summary>Creates a fresh bucket.</summary>
    public async Task<string> CreateBucketAsync(string prefix)
    {
        string name = $"{prefix}-{Interlocked.Increment(ref s_counter)}";
        using AmazonS3Client client = CreateS3Client();
        await client.PutBucketAsync(new PutBucketRequest { BucketName = name });
        return name;
    }

    private static async Task UntilAnswersAsync(string name, Func<Task> call, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                await call();
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    throw new TimeoutException(name + " did not answer: " + e.Message, e);
                }

                await Task.Delay(100, CancellationToken.None);
            }
        }
    }

    /// <summary>CI runs <c>npm ci</c> beforehand; a developer machine gets it on the first run.</summary>
    private static async Task EnsureNodeModulesAsync()
    {
        if (Directory.Exists(Path.Combine(ServersDirectory, "node_modules", "dynalite")) &&
            Directory.Exists(Path.Combine(ServersDirectory, "node_modules", "s3rver")))
        {
            return;
        }

        var start = new ProcessStartInfo("npm", "ci --no-audit --no-fund")
        {
            WorkingDirectory = ServersDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using Process npm = Process.Start(start) ?? throw new InvalidOperationException("npm did not start.");
        Task<string> stdout = npm.StandardOutput.ReadToEndAsync();
        Task<string> stderr = npm.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try
        {
            await npm.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            npm.Kill(entireProcessTree: true);
            throw new TimeoutException("npm ci in tests/servers took more than 5 minutes.");
        }

        if (npm.ExitCode != 0)
        {
            throw new InvalidOperationException($"npm ci in tests/servers failed ({npm.ExitCode}): {await stdout}{await stderr}");
        }
    }

    /// <summary>One node process serving on a loopback port.</summary>
    private sealed class NodeServer : IDisposable
    {
        private readonly Process _process;
        private readonly System.Text.StringBuilder _output = new();

        private NodeServer(Process process, Uri url)
        {
            _process = process;
            Url = url;
        }

        public Uri Url { get; }

        public static async Task<NodeServer> StartAsync(string name, Func<int, string[]> arguments, TimeSpan timeout)
        {
            // A free port can be taken by someone else between the probe and node's bind: try a few.
            Exception? last = null;
            for (int attempt = 0; attempt < 3; attempt++)
            {
                int port = LoopbackPorts.Unused();
                var start = new ProcessStartInfo("node")
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    UseShellExecute = false,
                };
                foreach (string a in arguments(port))
                {
                    start.ArgumentList.Add(a);
                }

                Process process = Process.Start(start) ?? throw new InvalidOperationException("node did not start.");
                var server = new NodeServer(process, new Uri($"http://127.0.0.1:{port}"));
                process.OutputDataReceived += (_, e) => server.Append(e.Data);
                process.ErrorDataReceived += (_, e) => server.Append(e.Data);
                process.BeginOutputReadLine();
                process.BeginErrorReadLine();
                try
                {
                    await server.WaitListeningAsync(port, timeout);
                    return server;
                }
                catch (Exception e)
                {
                    last = new InvalidOperationException($"{name} did not start on port {port}: {server.Output}", e);
                    server.Dispose();
                }
            }

            throw last!;
        }

        private string Output
        {
            get
            {
                lock (_output)
                {
                    return _output.ToString();
                }
            }
        }

        public void Dispose()
        {
            try
            {
                if (!_process.HasExited)
                {
                    _process.Kill(entireProcessTree: true);
                    _process.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException)
            {
            }

            _process.Dispose();
        }


        private void Append(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (_output)
            {
                if (_output.Length < 16_384)
                {
                    _output.AppendLine(line);
                }
            }
        }

        private async Task WaitListeningAsync(int port, TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            while (true)
            {
                if (_process.HasExited)
                {
                    throw new InvalidOperationException($"exited with {_process.ExitCode}");
                }

                try
                {
                    using var probe = new TcpClient();
                    await probe.ConnectAsync(IPAddress.Loopback, port, cts.Token);
                    return;
                }
                catch (SocketException)
                {
                    await Task.Delay(50, cts.Token);
                }
            }
        }
    }
}

/// <summary>Loopback ports for the tests: one no server listens on (yet).</summary>
internal static class LoopbackPorts
{
    /// <summary>A port the system just handed out and took back: free, so a connection to it is refused until a server takes it.</summary>
    public static int Unused()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
