using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Analytics.Core.Testing;

/// <summary>
/// Writes a run's outputs as files: <c>invocations.jsonl</c>, <c>destination.jsonl</c>, <c>records.jsonl</c> and
/// <c>metrics.csv</c> (formats in <c>docs/emulator.md</c>). Lines are written as they happen and the files are complete
/// (flushed) when the run ends; dispose to close them. Others may read them meanwhile (opening them with
/// <see cref="FileShare.ReadWrite"/>).
/// </summary>
public sealed class EmulationFiles : IEmulationObserver, IDisposable
{
    /// <summary>The header of <c>metrics.csv</c>.</summary>
    public const string MetricsHeader = "second,shardId,iteratorAgeMs,oldestUnprocessedAgeMs,invocations,errors,timeouts,throttles,concurrency,destinationRecords,recordsIn,throttledPuts,recordsOut,recordsExpired";

    private static readonly JsonWriterOptions s_options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private readonly Stream _invocations;
    private readonly Stream _destination;
    private readonly Stream? _records;
    private readonly StreamWriter _metrics;
    private readonly Utf8JsonWriter _writer;
    private bool _disposed;

    /// <summary>
    /// Opens the files in <paramref name="directory"/> (created when missing), replacing earlier ones; without
    /// <paramref name="writeRecords"/>, an earlier run's <c>records.jsonl</c> is deleted, so every file there is this run's.
    /// </summary>
    /// <param name="directory">The output directory.</param>
    /// <param name="writeRecords">Whether to write <c>records.jsonl</c> (every record with its data; large for long runs).</param>
    public EmulationFiles(string directory, bool writeRecords = true)
    {
        Directory.CreateDirectory(directory);
        _invocations = Create(Path.Combine(directory, "invocations.jsonl"));
        _destination = Create(Path.Combine(directory, "destination.jsonl"));
        string records = Path.Combine(directory, "records.jsonl");
        if (!writeRecords)
        {
            File.Delete(records);
        }

        _records = writeRecords ? Create(records) : null;
        _metrics = new StreamWriter(Create(Path.Combine(directory, "metrics.csv")), new UTF8Encoding(false)) { NewLine = "\n" };
        _metrics.WriteLine(MetricsHeader);
        _writer = new Utf8JsonWriter(Stream.Null, s_options);
    }

    /// <inheritdoc />
    public void OnRecord(StreamRecord record)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(record);
        if (_records is null)
        {
            return;
        }

        Line(_records, w =>
        {
            w.WriteStartObject();
            w.WriteString("shardId", record.ShardId);
            w.WriteString("sequenceNumber", record.SequenceNumber);
            w.WriteString("partitionKey", record.PartitionKey);
            w.WriteBase64String("data", record.Data.Span);
            w.WriteNumber("arrivalMs", record.Arrival.ToUnixTimeMilliseconds());
            w.WriteEndObject();
        });
    }

    /// <inheritdoc />
    public void OnInvocation(InvocationReport invocation)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(invocation);
        Line(_invocations, w =>
        {
            w.WriteStartObject();
            w.WriteNumber("invocation", invocation.Invocation);
            w.WriteNumber("startMs", invocation.StartMs);
            w.WriteNumber("endMs", invocation.EndMs);
            w.WriteString("shardId", invocation.ShardId);
            w.WriteNumber("lane", invocation.Lane);
            w.WriteStartArray("records");
            foreach (DeliveredRecord record in invocation.Records)
            {
                w.WriteStartObject();
                w.WriteString("sequenceNumber", record.SequenceNumber);
                w.WriteString("partitionKey", record.PartitionKey);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteString("outcome", invocation.Outcome.ToString().ToLowerInvariant());
            if (invocation.Checkpoint is null)
            {
                w.WriteNull("checkpoint");
            }
            else
            {
                w.WriteString("checkpoint", invocation.Checkpoint);
            }

            if (invocation.CheckpointLost)
            {
                w.WriteBoolean("checkpointLost", true);
            }

            w.WriteNumber("environment", invocation.Environment);
            w.WriteBoolean("coldStart", invocation.ColdStart);
            w.WriteNumber("iteratorAgeMs", invocation.IteratorAgeMs);
            if (invocation.IsFinalInvokeForWindow is bool final)
            {
                w.WriteBoolean("isFinalInvokeForWindow", final);
            }

            if (invocation.ErrorType is not null)
            {
                w.WriteString("errorType", invocation.ErrorType);
                w.WriteString("errorMessage", invocation.ErrorMessage);
            }

            if (invocation.ResponseProblem is not null)
            {
                w.WriteString("responseProblem", invocation.ResponseProblem);
            }

            w.WriteEndObject();
        });
    }

    /// <inheritdoc />
    public void OnDestination(DestinationRecord record)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(record);
        if (record.Kind == OnFailureDestination.S3)
        {
            Line(_destination, w =>
            {
                w.WriteStartObject();
                w.WriteString("key", record.S3Key);
                w.WritePropertyName("object");
                w.WriteRawValue(record.Json, skipInputValidation: true);
                w.WriteEndObject();
            });
        }
        else
        {
            _destination.Write(Encoding.UTF8.GetBytes(record.Json));
            _destination.WriteByte((byte)'\n');
        }
    }

    /// <inheritdoc />
    public void OnSecond(ShardSecond metrics)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(metrics);
        _metrics.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"{metrics.Second},{metrics.ShardId},{metrics.IteratorAgeMs},{metrics.OldestUnprocessedAgeMs},{metrics.Invocations},{metrics.Errors},{metrics.Timeouts},{metrics.Throttles},{metrics.Concurrency},{metrics.DestinationRecords},{metrics.RecordsIn},{metrics.ThrottledPuts},{metrics.RecordsOut},{metrics.RecordsExpired}"));
    }

    /// <summary>
    /// The run ended: writes out what the files still buffer, so they are complete even if this object is never
    /// disposed (the process exits first, say).
    /// </summary>
    /// <param name="summary">The run's totals (not written).</param>
    public void OnEnd(EmulationSummary summary)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _invocations.Flush();
        _destination.Flush();
        _records?.Flush();
        _metrics.Flush();
    }

    /// <summary>Flushes and closes the files; a run given this object afterwards fails at its first output (<see cref="ObjectDisposedException"/> naming <see cref="EmulationFiles"/>).</summary>
    public void Dispose()
    {
        _disposed = true;
        _writer.Dispose();
        _invocations.Dispose();
        _destination.Dispose();
        _records?.Dispose();
        _metrics.Dispose();
    }

    // Readable while written (a reader of a file another process writes opens it with FileShare.ReadWrite).
    private static FileStream Create(string path) => new(path, FileMode.Create, FileAccess.Write, FileShare.Read);

    private void Line(Stream stream, Action<Utf8JsonWriter> write)
    {
        _writer.Reset(stream);
        write(_writer);
        _writer.Flush();
        stream.WriteByte((byte)'\n');
    }
}
