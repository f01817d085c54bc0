using System.Buffers;
using System.Globalization;
using System.Text;
using Analytics.Core;

namespace Analytics.SampleLambda;

/// <summary>
/// The function itself: one <see cref="KinesisBatchProcessor"/>, built once per sandbox and reused by every
/// invocation, and the sinks it writes to. Per invocation it writes structured JSON log lines and one CloudWatch
/// Embedded Metric Format line.
/// </summary>
internal sealed class FunctionHandler : IInvocationHandler
{
    private readonly KinesisBatchProcessor _processor;
    private readonly IAggregateSink _aggregateSink;
    private readonly IQuarantineSink _quarantineSink;
    private readonly TextWriter _log;
    private readonly ArrayBufferWriter<byte> _logLines = new(2048);
    private readonly JsonLogOptions _logOptions;
    private readonly EmfOptions _metrics;
    private readonly bool _spills;
    private bool _windowSpillNoted;
    private bool _logFailureNoted;

    /// <summary>Creates the handler; it owns (and disposes) the sinks.</summary>
    /// <param name="aggregateSink">Where aggregates go.</param>
    /// <param name="quarantineSink">Where poison records go.</param>
    /// <param name="options">Processor options.</param>
    /// <param name="log">Where the log and metric lines go (stdout under Lambda; stderr for a local run).</param>
    /// <param name="logOptions">The log lines' options (<c>ANALYTICS_LOG_LEVEL</c>); the library's defaults when null.</param>
    /// <param name="metrics">The EMF lines' options (<c>ANALYTICS_METRICS_NAMESPACE</c>); the library's defaults when null.</param>
    public FunctionHandler(IAggregateSink aggregateSink, IQuarantineSink quarantineSink, ProcessorOptions options, TextWriter log, JsonLogOptions? logOptions = null, EmfOptions? metrics = null)
    {
        _aggregateSink = aggregateSink;
        _quarantineSink = quarantineSink;
        _log = log;
        _logOptions = logOptions ?? JsonLogOptions.Default;
        _metrics = metrics ?? EmfOptions.Default;
        _spills = options.SpillSink is not null;
        // Poison records get one log line each (reason, shard, sequence number; never the payload).
        _processor = new KinesisBatchProcessor(aggregateSink, quarantineSink, options with
        {
            OnPoison = record => JsonLog.WritePoison(record, _logOptions, _logLines),
        });
    }

    /// <summary>The summary of the last invocation that completed, or that failed with <see cref="BatchFailedException"/>, if any.</summary>
    public BatchSummary? LastSummary { get; private set; }

    /// <summary>The handler the deployed function uses, configured from environment variables.</summary>
    /// <param name="getVariable">Reads one environment variable.</param>
    /// <param name="log">Where the log and metric lines go.</param>
    /// <returns>The handler.</returns>
    public static FunctionHandler FromEnvironment(Func<string, string?> getVariable, TextWriter log)
    {
        SampleSettings settings = SampleSettings.FromEnvironment(getVariable);
        if (settings.AggregateTable is null || settings.QuarantineBucket is null)
        {
            CheckOutputDirectory(settings.OutputDirectory);
        }

        if ((settings.AggregateTable is null || settings.QuarantineBucket is null) && settings.Function.LogLevel <= JsonLogLevel.Warn)
        {
            // Documented, but silent where it happens (review): files in the sandbox are lost with it.
            string what = settings.AggregateTable is null && settings.QuarantineBucket is null ? "aggregates and poison records" : settings.AggregateTable is null ? "aggregates" : "poison records";
            RuntimeLog.Warn(log, $"{what} go to files under {settings.OutputDirectory}, which are lost with the Lambda sandbox: set {SampleSettings.AggregateTableVariable} and {SampleSettings.QuarantineBucketVariable} to keep them");
        }

        // The sinks (and their AWS clients) live as long as the sandbox.
        KinesisFunctionOptions function = settings.ToFunctionOptions();
        SampleSinks sinks = SampleSinks.Create(settings.ToSinkTargets());
        ProcessorOptions options = function.Processor with { SpillSink = sinks.Spill };
        return new FunctionHandler(sinks.Aggregates, sinks.Quarantine, options, log, function.Log, function.Metrics);
    }

    /// <summary>
    /// Makes the files' directory and writes in it once, at init: found by review, a directory that cannot be written
    /// (<c>ANALYTICS_OUTPUT_DIR=/proc/nope</c>) passed init and failed every invocation with a FileNotFoundException
    /// that named no setting.
    /// </summary>
    /// <exception cref="InvalidOperationException">The directory cannot be made or written; the message names the variable.</exception>
    private static void CheckOutputDirectory(string directory)
    {
        try
        {
            Directory.CreateDirectory(directory);

            // A name of its own, shared with nothing (found by review: a name from the process id, with an exclusive
            // share, failed the init of a second sandbox writing the same directory, where process ids repeat).
            using (new FileStream(Path.Combine(directory, ".write-check-" + Guid.NewGuid().ToString("N")), FileMode.CreateNew, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.DeleteOnClose))
            {
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            string where = Path.GetFullPath(directory).StartsWith("/tmp/", StringComparison.Ordinal) ? string.Empty : " (under Lambda only /tmp is writable)";
            throw new InvalidOperationException($"{SampleSettings.OutputDirectoryVariable} '{directory}' cannot be written: {e.Message}{where}", e);
        }
    }

    public async Task HandleAsync(ReadOnlyMemory<byte> utf8Event, DateTimeOffset deadline, IBufferWriter<byte> response, CancellationToken cancellationToken)
    {
        _logLines.ResetWrittenCount();
        BatchSummary summary;
        try
        {
            summary = await _processor.ProcessAsync(utf8Event, deadline, response, cancellationToken).ConfigureAwait(false);
        }
        catch (BatchFailedException failed) when (failed.Summary is { } failedSummary)
        {
            // A tumbling-window invocation whose effects are not all durable: its lines say so, then it fails, with its
            // own exception (the one that names the sink) even when the log cannot be written.
            await WriteLinesAsync(failedSummary, cancellationToken).ConfigureAwait(false);
            throw;
        }
        catch (Exception) when (_logLines.WrittenCount > 0)
        {
            // Poison lines of an invocation that then threw (an event malformed past its poison records) are still
            // worth having, as KinesisFunction writes them (found by review: the sample dropped them).
            await WriteBufferedLinesAsync(cancellationToken).ConfigureAwait(false);
            throw;
        }

        await WriteLinesAsync(summary, cancellationToken).ConfigureAwait(false);
    }

    private async Task WriteLinesAsync(BatchSummary summary, CancellationToken cancellationToken)
    {
        LastSummary = summary;
        if (summary.IsWindowInvocation && _spills && !_windowSpillNoted && _logOptions.MinimumLevel <= JsonLogLevel.Warn)
        {
            // Documented, but silent where it happens (review): the spill bucket is set and does nothing on this mapping.
            _windowSpillNoted = true;
            using var line = new StringWriter(CultureInfo.InvariantCulture);
            RuntimeLog.Warn(line, $"tumbling-window invocations never spill: {SampleSettings.SpillBucketVariable} has no effect on this mapping, and through a table outage a window's aggregates wait in its state until its flush lands (keep MaximumRetryAttempts and MaximumRecordAgeInSeconds at -1; docs/dynamodb.md, 'Tumbling windows')");
            _logLines.Write(Encoding.UTF8.GetBytes(line.ToString()));
        }

        // One structured log line per invocation and stage, then one EMF line that CloudWatch turns into metrics.
        JsonLog.WriteInvocation(summary, _logOptions, _logLines);
        EmfMetrics.Write(summary, _metrics, _logLines);
        await WriteBufferedLinesAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Writes the invocation's buffered lines (poison, invocation, stages, EMF) to the log and flushes it. A write that
    /// fails does not fail the invocation: the sinks have written by then, and a function error would make Lambda deliver
    /// the batch again, which the file sinks append again (found by review; <see cref="KinesisFunction"/> does the same).
    /// The first failure is said once on standard error.
    /// </summary>
    private async Task WriteBufferedLinesAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _log.WriteAsync(Encoding.UTF8.GetString(_logLines.WrittenSpan)).ConfigureAwait(false);
            await _log.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException && !(e is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            if (!_logFailureNoted)
            {
                _logFailureNoted = true;
#pragma warning disable CA1031 // Standard error is the last place to say it; it failing too leaves nothing to do.
                try
                {
                    Console.Error.WriteLine($"{{\"level\":\"Error\",\"message\":\"the log could not be written ({e.GetType().Name}); the lines of each invocation whose write fails are lost (said here once), and its invocations go on\"}}");
                }
                catch (Exception)
                {
                }
#pragma warning restore CA1031
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await DisposeSinkAsync(_aggregateSink).ConfigureAwait(false);
        await DisposeSinkAsync(_quarantineSink).ConfigureAwait(false);
    }

    private static async ValueTask DisposeSinkAsync(object sink)
    {
        if (sink is IAsyncDisposable asyncDisposable)
        {
            await asyncDisposable.DisposeAsync().ConfigureAwait(false);
        }
        else if (sink is IDisposable disposable)
        {
            disposable.Dispose();
        }
    }
}
