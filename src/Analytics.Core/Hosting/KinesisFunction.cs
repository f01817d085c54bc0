using System.Buffers;
using System.Globalization;
using System.Text.Json;

namespace Analytics.Core;

/// <summary>
/// A Kinesis consumer function for the managed .NET Lambda runtime (or any host that hands over the event as a
/// <see cref="Stream"/> and the time left): runs a <see cref="KinesisBatchProcessor"/>, returns the response, and
/// writes the structured log lines and the EMF metrics line of every invocation.
/// </summary>
/// <remarks>
/// <para>Create one per sandbox (a static field of the function class) and call <see cref="HandleAsync"/> from the
/// handler:</para>
/// <code>
/// public Task&lt;Stream&gt; Handler(Stream input, ILambdaContext context) =&gt; s_function.HandleAsync(input, context.RemainingTime);
/// </code>
/// <para>The deadline is now plus the remaining time; the pipeline answers before it, less its safety margin. An event
/// that is not a Kinesis event, and a tumbling-window invocation that cannot make its effects durable, throw (see
/// <see cref="KinesisBatchProcessor.ProcessAsync(ReadOnlyMemory{byte}, DateTimeOffset, IBufferWriter{byte}, CancellationToken)"/>):
/// let the exception fail the invocation, so Lambda retries and bisects.</para>
/// <para>Not thread-safe, like the processor: Lambda runs one invocation at a time per sandbox.</para>
/// </remarks>
public sealed class KinesisFunction : IDisposable
{
    private readonly KinesisBatchProcessor _processor;
    private readonly KinesisFunctionOptions _options;
    private readonly ArrayBufferWriter<byte> _lines = new(4096);
    private readonly ArrayBufferWriter<byte> _poisonLines = new(1024);
    private bool _disposed;
    private int _busy;
    private readonly Stream _output;
    private readonly bool _ownsOutput;
    private int _outputFailed;
    private readonly TimeProvider _time;

    /// <summary>Creates the function; reuse it across invocations.</summary>
    /// <param name="aggregateSink">Where aggregates go.</param>
    /// <param name="quarantineSink">Where poison records go.</param>
    /// <param name="options">Options; <see cref="KinesisFunctionOptions.Default"/> or <see cref="KinesisFunctionSettings.ToFunctionOptions"/>.</param>
    /// <exception cref="ArgumentNullException">A sink is null.</exception>
    /// <exception cref="ArgumentException">The processor options are invalid (see <see cref="KinesisBatchProcessor"/>), the metrics' namespace or function name is one CloudWatch refuses (see <see cref="EmfOptions"/>), <see cref="KinesisFunctionOptions.Output"/> cannot be written, or <see cref="JsonLogOptions.MinimumLevel"/> is not a defined level.</exception>
    public KinesisFunction(IAggregateSink aggregateSink, IQuarantineSink quarantineSink, KinesisFunctionOptions options)
    {
        if (options.WriteMetrics)
        {
            // Here, not at the first metric line: that comes after the sinks wrote, so every invocation would write and
            // then fail, and Lambda's retries would write again.
            EmfMetrics.Validate(options.Metrics, nameof(options));
        }

        if (options.Output is { CanWrite: false })
        {
            // Here, not at the first line: that comes after the sinks wrote, so every invocation would write and then
            // fail, and Lambda's retries would write again (found by review).
            ThrowHelper.ThrowArgument(nameof(options), "KinesisFunctionOptions.Output cannot be written (Stream.CanWrite is false): give a writable stream, or null for the process's standard output.");
        }

        if (!Enum.IsDefined(options.Log.MinimumLevel))
        {
            // An undefined level wrote no line at all, without a word (found by review).
            ThrowHelper.ThrowArgument(nameof(options), $"KinesisFunctionOptions.Log.MinimumLevel is {(int)options.Log.MinimumLevel}, not a JsonLogLevel (Debug, Info, Warn, Error or None).");
        }

        _options = options;
        _time = options.Processor.TimeProvider ?? TimeProvider.System;
        Action<QuarantinedRecord>? userOnPoison = options.Processor.OnPoison;
        JsonLogOptions log = options.Log;
        _processor = new KinesisBatchProcessor(aggregateSink, quarantineSink, options.Processor with
        {
            OnPoison = record =>
            {
                // One line per poison record: reason, shard, sequence number; never the payload.
                JsonLog.WritePoison(record, log, _poisonLines);
                userOnPoison?.Invoke(record);
            },
        });
        _ownsOutput = options.Output is null;
        _output = options.Output ?? Console.OpenStandardOutput();
    }

    /// <summary>The summary of the last invocation that returned, or that failed with <see cref="BatchFailedException"/>, if any.</summary>
    public BatchSummary? LastSummary { get; private set; }

    /// <summary>Handles one invocation: the managed runtime's <c>(Stream, ILambdaContext)</c> handler calls it.</summary>
    /// <param name="input">The raw event (Lambda's Kinesis event JSON, or a tumbling-window event).</param>
    /// <param name="remainingTime">The invocation's time left (<c>ILambdaContext.RemainingTime</c>).</param>
    /// <param name="cancellationToken">Cancels the invocation.</param>
    /// <returns>The response JSON (<c>{"batchItemFailures":[...]}</c>, plus <c>state</c> for a tumbling window), positioned at 0.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="input"/> is null.</exception>
    /// <exception cref="ObjectDisposedException">The function is disposed.</exception>
    /// <exception cref="KinesisEventFormatException">The payload is not a Kinesis event.</exception>
    /// <exception cref="WindowStateFormatException">The window state holds an entry of ours that cannot be decoded.</exception>
    /// <exception cref="BatchFailedException">A tumbling-window invocation could not make its effects durable; its log line and metrics are written first.</exception>
    /// <exception cref="InvalidOperationException">Another invocation is being handled: one at a time.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="remainingTime"/> is further below zero than Lambda's longest timeout (15 minutes): it comes from another clock or unit.</exception>
    public async Task<Stream> HandleAsync(Stream input, TimeSpan remainingTime, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);

        // Before any work: a disposed function would write its aggregates and then fail on its closed output, and
        // Lambda's retry would write them again.
        ObjectDisposedException.ThrowIf(_disposed, this);

        // Refused here in the caller's terms: the processor's own check names a deadline and the Runtime API's header,
        // which this caller never saw (it passed a TimeSpan).
        if (remainingTime < -TimeSpan.FromMinutes(KinesisBatchProcessor.LongestLambdaTimeoutMinutes))
        {
            ThrowHelper.ThrowArgumentOutOfRange(
                nameof(remainingTime),
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"The remaining time {remainingTime} is further below zero than Lambda's longest timeout of {KinesisBatchProcessor.LongestLambdaTimeoutMinutes} minutes: it comes from another clock or unit. Pass ILambdaContext.RemainingTime, or the time left until the invocation's deadline on the clock of ProcessorOptions.TimeProvider."));
        }

        // Claimed before the shared line buffers are touched: a refused second call cleared the running invocation's
        // poison lines, which its invocation line then counted as written.
        if (Interlocked.Exchange(ref _busy, 1) != 0)
        {
            ThrowHelper.ThrowInvalidOperation(
                "This KinesisFunction is already handling an invocation. It handles one at a time, as Lambda gives an execution " +
                "environment one invocation at a time; give each concurrent caller its own function.");
        }

        try
        {
            // Clamped to the calendar: a remaining time of TimeSpan.MaxValue (a host's "no deadline") overflowed.
            DateTimeOffset now = _time.GetUtcNow();
            DateTimeOffset deadline = remainingTime >= DateTimeOffset.MaxValue - now ? DateTimeOffset.MaxValue
                : remainingTime <= DateTimeOffset.MinValue - now ? DateTimeOffset.MinValue
                : now + remainingTime;
            _lines.ResetWrittenCount();
            _poisonLines.ResetWrittenCount();
            var response = new ArrayBufferWriter<byte>(256);
            BatchSummary summary;
            try
            {
                // Not checked again: the processor's clock, read a moment later, refused the bound taken above (exactly 15
                // minutes below zero), naming a deadline and a header this caller never gave.
                summary = await _processor.ProcessAsync(input, deadline, response, checkDeadline: false, cancellationToken).ConfigureAwait(false);
            }
            catch (BatchFailedException failed) when (failed.Summary is { } failedSummary)
            {
                // A tumbling-window invocation that could not make its effects durable: its line and metrics say so
                // (a failed sink, FailuresReported), then it fails for Lambda to retry the batch.
                LastSummary = failedSummary;
                try
                {
                    await WriteLogLinesAsync(_poisonLines, cancellationToken).ConfigureAwait(false);
                    await WriteInvocationAsync(failedSummary, cancellationToken).ConfigureAwait(false);
                }
#pragma warning disable CA1031 // The output is broken: nothing more can be written, and the failure that names the sink is the one to keep.
                catch (Exception)
#pragma warning restore CA1031
                {
                }

                throw;
            }
            catch
            {
                // Poison lines of an invocation that then threw are still worth having.
                await WriteLogLinesAsync(_poisonLines, cancellationToken).ConfigureAwait(false);
                throw;
            }

            await WriteLogLinesAsync(_poisonLines, cancellationToken).ConfigureAwait(false);
            LastSummary = summary;
            await WriteInvocationAsync(summary, cancellationToken).ConfigureAwait(false);
            return new MemoryStream(response.WrittenSpan.ToArray(), writable: false);
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    /// <summary>Writes the invocation's log line and, when enabled, its EMF line.</summary>
    private async Task WriteInvocationAsync(BatchSummary summary, CancellationToken cancellationToken)
    {
        _lines.ResetWrittenCount();
        JsonLog.WriteInvocation(summary, _options.Log, _lines);
        await WriteLogLinesAsync(_lines, cancellationToken).ConfigureAwait(false);
        if (_options.WriteMetrics)
        {
            _lines.ResetWrittenCount();
            EmfMetrics.Write(summary, _options.Metrics, _lines);
            await WriteOutputAsync(_lines.WrittenMemory, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Writes to <see cref="KinesisFunctionOptions.Output"/>. A write that fails does not fail the invocation, as a log
    /// writer's does not: the sinks have written by then, and a function error would make Lambda deliver the batch again
    /// (found by review: the JSON-lines sinks appended it again). The first failure is said once on standard error.
    /// </summary>
    private async Task WriteOutputAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        try
        {
            await _output.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
            await _output.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException && !(e is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            // A cancellation of the stream's own (a wrapper's time-out) is its failure too; only ours is let through (review).
            if (Interlocked.Exchange(ref _outputFailed, 1) == 0)
            {
#pragma warning disable CA1031 // Standard error is the last place to say it; it failing too leaves nothing to do.
                try
                {
                    Console.Error.WriteLine($"{{\"level\":\"Error\",\"message\":\"KinesisFunctionOptions.Output could not be written ({e.GetType().Name}); the lines of each invocation whose write fails are lost (said here once), and its invocations go on\"}}");
                }
                catch (Exception)
                {
                }
#pragma warning restore CA1031
            }
        }
    }

    /// <summary>Returns the processor's pooled buffers; the sinks stay the caller's.</summary>
    public void Dispose()
    {
        _disposed = true;
        _processor.Dispose();
        if (_ownsOutput)
        {
            _output.Dispose();
        }
    }

    private async Task WriteLogLinesAsync(ArrayBufferWriter<byte> lines, CancellationToken cancellationToken)
    {
        if (lines.WrittenCount == 0)
        {
            return;
        }

        ReadOnlyMemory<byte> toOutput = lines.WrittenMemory;
        if (_options.LogWriter is { } writer)
        {
            ArrayBufferWriter<byte>? failed = ForEachLine(lines.WrittenSpan, writer);
            if (failed is null)
            {
                return;
            }

            toOutput = failed.WrittenMemory;
        }

        // One write per invocation, so the lines of concurrent writers do not interleave.
        await WriteOutputAsync(toOutput, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Hands each line to <paramref name="writer"/>; returns null when it took every one, else the lines it threw on,
    /// after one line naming the failure (the exception's type only: a provider's message may hold anything), for the
    /// output. The writer is the consumer's (a logging provider: a file logger on a full disk throws on every call): its
    /// failure must not fail an invocation whose records are done, or Lambda retries the batch, and a writer that
    /// always throws blocks the shard. Nor may its lines be lost.
    /// </summary>
    private static ArrayBufferWriter<byte>? ForEachLine(ReadOnlySpan<byte> lines, IJsonLogWriter writer)
    {
        ArrayBufferWriter<byte>? failed = null;
        while (!lines.IsEmpty)
        {
            int end = lines.IndexOf((byte)'\n');
            ReadOnlySpan<byte> line = end < 0 ? lines : lines.Slice(0, end);
            lines = end < 0 ? default : lines.Slice(end + 1);
            if (line.IsEmpty)
            {
                continue;
            }

            try
            {
                writer.WriteLine(LevelOf(line), line);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                if (failed is null)
                {
                    failed = new ArrayBufferWriter<byte>(line.Length + 128);
                    using (var json = new Utf8JsonWriter(failed))
                    {
                        json.WriteStartObject();
                        json.WriteString("level"u8, "Error"u8);
                        json.WriteString("message"u8, "logWriterFailed"u8);
                        json.WriteString("error"u8, e.GetType().Name);
                        json.WriteString("logWriter"u8, writer.GetType().Name);
                        json.WriteEndObject();
                    }

                    failed.Write("\n"u8);
                }

                failed.Write(line);
                failed.Write("\n"u8);
            }
        }

        return failed;
    }

    /// <summary>The <c>"level"</c> of a line that <see cref="JsonLog"/> wrote (its first property).</summary>
    internal static JsonLogLevel LevelOf(ReadOnlySpan<byte> line)
    {
        var reader = new Utf8JsonReader(line);
        if (reader.Read() && reader.TokenType == JsonTokenType.StartObject &&
            reader.Read() && reader.TokenType == JsonTokenType.PropertyName && reader.ValueTextEquals("level"u8) &&
            reader.Read() && reader.TokenType == JsonTokenType.String)
        {
            if (reader.ValueTextEquals("Debug"u8))
            {
                return JsonLogLevel.Debug;
            }

            if (reader.ValueTextEquals("Warn"u8))
            {
                return JsonLogLevel.Warn;
            }

            if (reader.ValueTextEquals("Error"u8))
            {
                return JsonLogLevel.Error;
            }
        }

        return JsonLogLevel.Info;
    }
}
