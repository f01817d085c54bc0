using System.Buffers;
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Text;
using Analytics.Core;

namespace Analytics.SampleLambda;

/// <summary>
/// <c>invoke</c>: runs the function once on an event file, as Lambda would, with the JSON-lines sinks in a local
/// directory, or with the DynamoDB and S3 sinks against the given endpoints. stdout is exactly the response JSON (one
/// line); everything else goes to stderr. Exit codes: 0 a response (even one reporting failures), 1 the function
/// failed, 2 bad arguments or input.
/// </summary>
internal static class InvokeCommand
{
    /// <summary>Lambda's limit for an invocation payload: 6 MB.</summary>
    public const int MaxEventBytes = 6 * 1024 * 1024;

    /// <summary>Lambda's longest function timeout: 15 minutes.</summary>
    public const long MaxTimeoutMs = 900_000;

    /// <summary>Held (exclusively) in <c>--out</c> for the length of a run, so two runs never share a directory.</summary>
    public const string LockFileName = ".invoke.lock";

    /// <summary>The timeout when <c>--timeout-ms</c> is not given: the template's function timeout.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMilliseconds(120_000);

    /// <summary>Runs <c>invoke</c> with <paramref name="args"/> (the arguments after <c>invoke</c>).</summary>
    /// <param name="args">The arguments.</param>
    /// <param name="stdout">Receives the response JSON (or the help).</param>
    /// <param name="stderr">Receives logs and errors.</param>
    /// <param name="timeProvider">The clock behind the deadline; default <see cref="TimeProvider.System"/>.</param>
    /// <returns>The exit code.</returns>
    public static Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, TimeProvider? timeProvider = null)
    {
        var root = new RootCommand("Analytics.Core sample function") { Create(timeProvider ?? TimeProvider.System) };
        return CommandLine.RunAsync("bootstrap", root, ["invoke", .. args], stdout, stderr);
    }

    /// <summary>The <c>invoke</c> command.</summary>
    /// <param name="timeProvider">The clock behind the deadline.</param>
    /// <returns>The command.</returns>
    public static Command Create(TimeProvider timeProvider)
    {
        long marginMs = (long)ProcessorOptions.Default.MinSafetyMargin.TotalMilliseconds;
        var eventFile = new Option<string>("--event") { Description = "A Lambda Kinesis event (JSON, at most 6 MB), e.g. samples/events/kinesis-basic.json", HelpName = "file", Required = true };
        var output = new Option<string>("--out")
        {
            Description = "Where aggregates.jsonl and quarantine.jsonl are written (replaced); one run at a time per directory",
            HelpName = "dir",
            DefaultValueFactory = static _ => "out",
        };
        var timeout = new Option<long>("--timeout-ms")
        {
            Description = $"Time the invocation gets, in milliseconds: 1 to {MaxTimeoutMs}; the function keeps a safety margin of a tenth, at least {marginMs} ms, but never more than half",
            HelpName = "n",
            DefaultValueFactory = static _ => (long)DefaultTimeout.TotalMilliseconds,
            CustomParser = ParseTimeout,
        };
        Option<Uri?> dynamoDbEndpoint = CommandLine.UrlOption("--dynamodb-endpoint", "A DynamoDB endpoint (a local dynalite, http://127.0.0.1:4567); with --table, aggregates go to that table");
        var table = new Option<string?>("--table") { Description = "The aggregate table (create it with samples/Analytics.Tools create-table)", HelpName = "name" };
        Option<Uri?> s3Endpoint = CommandLine.UrlOption("--s3-endpoint", "An S3 endpoint (a local s3rver, path-style); with --quarantine-bucket, poison records go to that bucket");
        var bucket = new Option<string?>("--quarantine-bucket") { Description = "The quarantine bucket", HelpName = "name" };

        var command = new Command("invoke", "Runs the function once on an event file, as Lambda would, with the library's defaults (60-second windows, no spilling) and these options; it reads no ANALYTICS_* variable (under Lambda they apply). stdout is only the response JSON; logs go to stderr. Exit codes: 0 a response (even one reporting failures), 1 the function failed, 2 bad arguments or input.")
        {
            eventFile, output, timeout, dynamoDbEndpoint, table, s3Endpoint, bucket,
        };
        command.Validators.Add(result =>
        {
            if ((result.GetResult(dynamoDbEndpoint) is null) != (result.GetResult(table) is null))
            {
                result.AddError("--dynamodb-endpoint and --table go together");
            }

            if ((result.GetResult(s3Endpoint) is null) != (result.GetResult(bucket) is null))
            {
                result.AddError("--s3-endpoint and --quarantine-bucket go together");
            }
        });
        command.SetAction((parsed, cancellationToken) =>
        {
            var targets = new SinkTargets(
                parsed.GetValue(output)!,
                parsed.GetValue(table),
                parsed.GetValue(bucket),
                parsed.GetValue(dynamoDbEndpoint),
                parsed.GetValue(s3Endpoint),
                Names: new SinkTargetNames("--table", "--quarantine-bucket", SampleSettings.SpillBucketVariable));
            return RunAsync(parsed.GetValue(eventFile)!, targets, TimeSpan.FromMilliseconds(parsed.GetValue(timeout)), parsed.InvocationConfiguration.Output, parsed.InvocationConfiguration.Error, timeProvider);
        });
        return command;
    }

    private static long ParseTimeout(ArgumentResult result)
    {
        string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : string.Empty;
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long ms) || ms > MaxTimeoutMs)
        {
            result.AddError($"--timeout-ms must be a whole number of milliseconds up to {MaxTimeoutMs} (Lambda's 15-minute limit), not '{text}'");
            return default;
        }

        if (ms == 0)
        {
            // Any other budget leaves the function at least half of it: its safety margin never takes more (found by
            // review: 1000, Lambda's least timeout, was refused here while the deployed function works with it).
            result.AddError("--timeout-ms 0 leaves the function no time: give at least 1 ms (Lambda's least timeout is 1000)");
            return default;
        }

        return ms;
    }

    private static async Task<int> RunAsync(string eventPath, SinkTargets targets, TimeSpan timeout, TextWriter stdout, TextWriter stderr, TimeProvider timeProvider)
    {
        // The function's settings under Lambda: invoke does not read them, and says so when any is set (review: an
        // operator who tried the template's settings locally got other windows and no spilling, without a word).
        string[] ignored = [.. Environment.GetEnvironmentVariables().Keys.Cast<string>().Where(n => n.StartsWith(SampleSettings.VariablePrefix, StringComparison.OrdinalIgnoreCase)).Order(StringComparer.Ordinal)];
        if (ignored.Length > 0)
        {
            await stderr.WriteLineAsync($"note: invoke reads no ANALYTICS_* variable; ignored here: {string.Join(", ", ignored)} (it runs with the library's defaults and its options)").ConfigureAwait(false);
        }

        (byte[]? utf8Event, string? eventError) = await ReadEventAsync(eventPath).ConfigureAwait(false);
        if (utf8Event is null)
        {
            return await UsageErrorAsync(stderr, eventError!).ConfigureAwait(false);
        }

        (FileStream? directoryLock, string? outputError) = ClaimOutputDirectory(targets);
        if (directoryLock is null)
        {
            return await UsageErrorAsync(stderr, outputError!).ConfigureAwait(false);
        }

        using (directoryLock)
        {
            DateTimeOffset deadline = timeProvider.GetUtcNow() + timeout;
            var response = new ArrayBufferWriter<byte>(4096);
            BatchSummary? summary;
            try
            {
                ProcessorOptions options = ProcessorOptions.Default with { TimeProvider = timeProvider };
                using SampleSinks sinks = SampleSinks.Create(targets);
                var handler = new FunctionHandler(sinks.Aggregates, sinks.Quarantine, options, stderr);
                await using (handler.ConfigureAwait(false))
                {
                    await handler.HandleAsync(utf8Event, deadline, response, CancellationToken.None).ConfigureAwait(false);
                    summary = handler.LastSummary;
                }
            }
            catch (KinesisEventFormatException ex)
            {
                return await UsageErrorAsync(stderr, $"--event '{eventPath}': {ex.Message}").ConfigureAwait(false);
            }
            catch (SinkTargetException ex)
            {
                return await UsageErrorAsync(stderr, ex.Message).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // Under Lambda this would be a function error: the whole batch is retried.
                await stderr.WriteLineAsync($"error: the function failed: {ex.GetType().Name}: {ex.Message}").ConfigureAwait(false);
                return CommandLine.Failed;
            }

            // A sink may create its file only when it has something to write; scripts can rely on both files existing.
            EnsureExists(targets.AggregateTable is null ? targets.AggregatesPath : null);
            EnsureExists(targets.QuarantineBucket is null ? targets.QuarantinePath : null);
            string aggregatesTarget = targets.AggregateTable is { } t ? $"table {t} at {targets.DynamoDbEndpoint}" : targets.AggregatesPath;
            string quarantineTarget = targets.QuarantineBucket is { } b ? $"bucket {b} at {targets.S3Endpoint}" : targets.QuarantinePath;
            await stderr.WriteLineAsync(
                $"{summary?.Records} records in the event: {summary?.ValidRecords} valid, {summary?.PoisonRecords} poison (a KPL container's user records each counted); " +
                $"wrote {summary?.AggregatesWritten} aggregates to {aggregatesTarget} and {summary?.Quarantined} poison records to {quarantineTarget}").ConfigureAwait(false);
            await stdout.WriteLineAsync(Encoding.UTF8.GetString(response.WrittenSpan)).ConfigureAwait(false);
            await stdout.FlushAsync().ConfigureAwait(false);
            return CommandLine.Success;
        }
    }

    /// <summary>The encoding a byte order mark other than UTF-8's names, if the bytes start with one (UTF-32's first: UTF-32 LE's starts like UTF-16 LE's).</summary>
    private static string? OtherEncoding(ReadOnlySpan<byte> bytes) =>
        bytes.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE, 0x00, 0x00]) || bytes.StartsWith((ReadOnlySpan<byte>)[0x00, 0x00, 0xFE, 0xFF]) ? "UTF-32"
        : bytes.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE]) || bytes.StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF]) ? "UTF-16"
        : null;

    /// <summary>Reads the event, refusing a directory, a missing or unreadable file and anything over 6 MB (even an endless one).</summary>
    private static async Task<(byte[]? Event, string? Error)> ReadEventAsync(string path)
    {
        if (Directory.Exists(path))
        {
            return (null, $"--event '{path}' is a directory, not a file");
        }

        if (!File.Exists(path))
        {
            return (null, $"--event '{path}' not found");
        }

        try
        {
            var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 1, useAsync: false);
            await using (stream.ConfigureAwait(false))
            {
                using var content = new MemoryStream();
                byte[] chunk = new byte[64 * 1024];
                int read;
                while ((read = await stream.ReadAsync(chunk).ConfigureAwait(false)) > 0)
                {
                    if (content.Length + read > MaxEventBytes)
                    {
                        return (null, $"--event '{path}' is larger than {MaxEventBytes} bytes (6 MB, Lambda's limit for an invocation payload)");
                    }

                    content.Write(chunk, 0, read);
                }

                byte[] bytes = content.ToArray();
                if (OtherEncoding(bytes) is { } encoding)
                {
                    // Found by review: "invalid JSON syntax (at byte 0)" named no encoding. Some editors and shells
                    // (PowerShell's redirection) save UTF-16.
                    return (null, $"--event '{path}' is {encoding} (it starts with a {encoding} byte order mark); Lambda sends UTF-8: save the file as UTF-8");
                }

                return (bytes, null);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, $"--event '{path}' cannot be read: {e.Message}");
        }
    }

    /// <summary>
    /// Makes <c>--out</c> ready: a directory (created with its parents when missing), not in use by another run (its
    /// lock file is held until the returned stream is disposed), with the previous run's files removed.
    /// </summary>
    private static (FileStream? Lock, string? Error) ClaimOutputDirectory(SinkTargets targets)
    {
        string directory = targets.OutputDirectory;
        if (directory.Length == 0)
        {
            return (null, "--out is empty: give a directory");
        }

        if (File.Exists(directory))
        {
            return (null, $"--out '{directory}' is a file, not a directory");
        }

        try
        {
            Directory.CreateDirectory(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, $"--out '{directory}' cannot be created: {e.Message}");
        }

        string lockPath = Path.Combine(directory, LockFileName);
        FileStream directoryLock;
        try
        {
            directoryLock = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (e.GetType() == typeof(IOException) && File.Exists(lockPath))
        {
            return (null, $"--out '{directory}' is in use by another invoke run; give each run its own --out");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, $"--out '{directory}' is not writable: {e.Message}");
        }

        // Replace, never append: the same event gives the same files on every run.
        foreach (string file in new[] { targets.AggregatesPath, targets.QuarantinePath })
        {
            string? error = Directory.Exists(file)
                ? $"'{file}' is a directory; --out must not hold directories named {SinkTargets.AggregatesFileName} or {SinkTargets.QuarantineFileName}"
                : TryDelete(file);
            if (error is not null)
            {
                directoryLock.Dispose();
                return (null, error);
            }
        }

        return (directoryLock, null);
    }

    private static string? TryDelete(string file)
    {
        try
        {
            File.Delete(file);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"'{file}' cannot be replaced: {e.Message}";
        }
    }

    private static async Task<int> UsageErrorAsync(TextWriter stderr, string message)
    {
        await stderr.WriteLineAsync("error: " + message).ConfigureAwait(false);
        return CommandLine.UsageError;
    }

    private static void EnsureExists(string? path)
    {
        if (path is not null && !File.Exists(path))
        {
            File.WriteAllBytes(path, []);
        }
    }
}
