using System.Buffers;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Analytics.Core.Testing;

/// <summary>Where the event source mapping starts reading a shard (the mapping's <c>StartingPosition</c>).</summary>
public enum StartingPosition
{
    /// <summary>The oldest record still in the shard (<c>TRIM_HORIZON</c>).</summary>
    TrimHorizon,

    /// <summary>Records that arrive after the mapping starts (<c>LATEST</c>).</summary>
    Latest,

    /// <summary>Records that arrived at or after <see cref="MappingOptions.StartingPositionTimestamp"/> (<c>AT_TIMESTAMP</c>).</summary>
    AtTimestamp,
}

/// <summary>The kind of the mapping's on-failure destination (<c>DestinationConfig.OnFailure</c>).</summary>
public enum OnFailureDestination
{
    /// <summary>No destination: discarded batches leave no trace but the emulator's counters.</summary>
    None,

    /// <summary>An SQS queue (or SNS topic): the invocation record without the records' data.</summary>
    Sqs,

    /// <summary>An S3 bucket: the invocation record plus <c>payload</c>, the original event, under a dated key.</summary>
    S3,
}

/// <summary>
/// How concurrent batches of one shard (ParallelizationFactor above 1) get their partition keys. AWS documents only
/// that order is kept per partition key; every strategy keeps that and nothing more.
/// </summary>
public enum KeyAssignment
{
    /// <summary>A key always goes to the same concurrent batch (a seeded hash of the key).</summary>
    Hash,

    /// <summary>
    /// A key moves to a seeded random concurrent batch whenever none of its records is pending, so batches interleave
    /// sequence numbers as much as per-key order allows.
    /// </summary>
    Adversarial,
}

/// <summary>
/// How the event's strings are escaped (a partition key is the one that can hold characters other than ASCII: the
/// stream's name, region and role are ASCII). AWS documents neither the writer Lambda builds the event with nor how it
/// escapes; any spelling is the same JSON text, and a consumer must read every one alike.
/// </summary>
public enum EventStringEscaping
{
    /// <summary>
    /// Only what the emulator always escaped: <c>"</c>, <c>\</c>, control characters, DEL, U+2028 and U+2029, and
    /// characters outside the BMP (as their surrogate pairs) as <c>\uXXXX</c> escapes (or <c>\"</c>, <c>\n</c>...);
    /// other characters (<c>é</c>, <c>日</c>) as their UTF-8.
    /// </summary>
    Minimal,

    /// <summary>As <see cref="Minimal"/>, and every other character that is not ASCII as <c>\uXXXX</c> too (upper-case hex, surrogate pairs outside the BMP): the event is ASCII.</summary>
    AllNonAscii,
}

/// <summary>The Kinesis stream: shards, limits, retention and names.</summary>
public sealed partial record StreamOptions
{
    private static readonly SearchValues<char> s_streamNameCharacters = SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");

    /// <summary>Number of shards, 1 to 10,000. Default 1. Hash-key ranges split 2^128 evenly, as CreateStream does.</summary>
    public int ShardCount { get; init; } = 1;

    /// <summary>The stream's name: 1 to 128 characters from a-z, A-Z, 0-9, <c>_</c>, <c>.</c> and <c>-</c>, as Kinesis requires. Default <c>emulated-stream</c>.</summary>
    public string StreamName { get; init; } = "emulated-stream";

    /// <summary>Retention in hours, 24 to 8,760. Default 24. Older records are trimmed and counted, never delivered.</summary>
    public int RetentionHours { get; init; } = 24;

    /// <summary>Per-shard write limit in records per second, 1 to 1,000 (Kinesis's limit; lower it to model a stream that takes less). Default 1,000; puts beyond it are throttled and counted.</summary>
    public int WriteRecordsPerSecond { get; init; } = 1000;

    /// <summary>
    /// Per-shard write limit in bytes (data plus partition key) per second, 1 to 2,147,483,647. Default 1 MiB, Kinesis's
    /// limit; a higher one models a shard that takes more than Kinesis does (to put large records without throttling).
    /// </summary>
    public int WriteBytesPerSecond { get; init; } = 1024 * 1024;

    /// <summary>The AWS region in ARNs and events: a region code such as <c>eu-west-1</c>. Default <c>us-east-1</c>.</summary>
    public string Region { get; init; } = "us-east-1";

    /// <summary>The account id in ARNs: 12 digits. Default <c>123456789012</c>.</summary>
    public string AccountId { get; init; } = "123456789012";

    /// <summary>The stream's ARN.</summary>
    public string StreamArn => $"arn:aws:kinesis:{Region}:{AccountId}:stream/{StreamName}";

    internal void Validate()
    {
        Range(nameof(ShardCount), ShardCount, 1, 10_000);
        Range(nameof(RetentionHours), RetentionHours, 24, 8760);
        // Kinesis's per-shard limit is 1,000: a higher one models nothing, and the bound on producers' rates (100 times
        // what the stream accepts) would then let a run hold more records than memory can.
        Range(nameof(WriteRecordsPerSecond), WriteRecordsPerSecond, 1, 1000);
        Range(nameof(WriteBytesPerSecond), WriteBytesPerSecond, 1, int.MaxValue);
        // Kinesis's rule: the name goes into ARNs, event sources and object keys, where another character breaks them.
        if (StreamName is not { Length: >= 1 and <= 128 } || StreamName.AsSpan().ContainsAnyExcept(s_streamNameCharacters))
        {
            throw new ArgumentException($"StreamName must be 1 to 128 characters from a-z, A-Z, 0-9, '_', '.' and '-', as Kinesis requires; got '{StreamName}'.", nameof(StreamName));
        }

        // Both go into ARNs inside the event's JSON and into destination records, unescaped there, as AWS writes them.
        if (Region is null || !RegionPattern().IsMatch(Region))
        {
            throw new ArgumentException($"Region must be an AWS region code such as us-east-1 (lowercase words and a number, joined by '-'); got '{Region}'.", nameof(Region));
        }

        if (AccountId is not { Length: 12 } || AccountId.AsSpan().ContainsAnyExceptInRange('0', '9'))
        {
            throw new ArgumentException($"AccountId must be 12 digits, as AWS account ids are; got '{AccountId}'.", nameof(AccountId));
        }
    }

    [GeneratedRegex("^[a-z]{2,8}(-[a-z]+)+-[0-9]{1,2}$", RegexOptions.CultureInvariant)]
    private static partial Regex RegionPattern();

    internal static void Range(string name, long value, long min, long max, string? extra = null)
    {
        if (value < min || value > max)
        {
            string allowed = extra is null
                ? string.Create(CultureInfo.InvariantCulture, $"{min} to {max}")
                : string.Create(CultureInfo.InvariantCulture, $"{extra} or {min} to {max}");
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be {allowed}; got {value.ToString(CultureInfo.InvariantCulture)}.");
        }
    }
}

/// <summary>The event source mapping's settings, named as in its API, with AWS's ranges and defaults.</summary>
public sealed record MappingOptions
{
    /// <summary>Most records per batch, 1 to 10,000. Default 100.</summary>
    public int BatchSize { get; init; } = 100;

    /// <summary>How long to gather records before invoking, 0 to 300 seconds. Default 0.</summary>
    public int MaximumBatchingWindowInSeconds { get; init; }

    /// <summary>Where reading starts. Default <see cref="StartingPosition.TrimHorizon"/> (AWS has no default; it is required).</summary>
    public StartingPosition StartingPosition { get; init; } = StartingPosition.TrimHorizon;

    /// <summary>The time for <see cref="StartingPosition.AtTimestamp"/>: required with it, refused with the other positions (it would be ignored).</summary>
    public DateTimeOffset? StartingPositionTimestamp { get; init; }

    /// <summary>Concurrent batches per shard, 1 to 10. Default 1.</summary>
    public int ParallelizationFactor { get; init; } = 1;

    /// <summary>Whether <c>FunctionResponseTypes</c> holds <c>ReportBatchItemFailures</c>. Default <see langword="false"/>.</summary>
    public bool ReportBatchItemFailures { get; init; }

    /// <summary>Whether a failed batch is split in two and each half retried. Default <see langword="false"/>.</summary>
    public bool BisectBatchOnFunctionError { get; init; }

    /// <summary>Retries of a failed batch, -1 (infinite) or 0 to 10,000. Default -1.</summary>
    public int MaximumRetryAttempts { get; init; } = -1;

    /// <summary>Oldest record age sent to the function, -1 (infinite) or 60 to 604,800 seconds. Default -1.</summary>
    public int MaximumRecordAgeInSeconds { get; init; } = -1;

    /// <summary>Tumbling window length, 0 (none) to 900 seconds. Default 0.</summary>
    public int TumblingWindowInSeconds { get; init; }

    /// <summary>The on-failure destination. Default <see cref="OnFailureDestination.None"/>.</summary>
    public OnFailureDestination OnFailure { get; init; }

    /// <summary>The mapping's UUID (in S3 destination keys), 8-4-4-4-12 hexadecimal digits. Default: drawn from the seed.</summary>
    public string? Uuid { get; init; }

    /// <summary>Checks every setting against AWS's range.</summary>
    /// <exception cref="ArgumentException">A setting is out of range; the message names the setting and the range.</exception>
    public void Validate()
    {
        if (Uuid is not null && !Guid.TryParseExact(Uuid, "D", out _))
        {
            throw new ArgumentException($"Uuid must be a UUID in the form Lambda gives a mapping (8-4-4-4-12 hexadecimal digits); got '{Uuid}'.", nameof(Uuid));
        }

        StreamOptions.Range(nameof(BatchSize), BatchSize, 1, 10_000);
        StreamOptions.Range(nameof(MaximumBatchingWindowInSeconds), MaximumBatchingWindowInSeconds, 0, 300);
        StreamOptions.Range(nameof(ParallelizationFactor), ParallelizationFactor, 1, 10);
        if (MaximumRetryAttempts != -1)
        {
            StreamOptions.Range(nameof(MaximumRetryAttempts), MaximumRetryAttempts, 0, 10_000, "-1");
        }

        if (MaximumRecordAgeInSeconds != -1)
        {
            StreamOptions.Range(nameof(MaximumRecordAgeInSeconds), MaximumRecordAgeInSeconds, 60, 604_800, "-1");
        }

        StreamOptions.Range(nameof(TumblingWindowInSeconds), TumblingWindowInSeconds, 0, 900);
        if (!Enum.IsDefined(StartingPosition))
        {
            throw new ArgumentOutOfRangeException(nameof(StartingPosition), StartingPosition, "StartingPosition must be TrimHorizon, Latest or AtTimestamp.");
        }

        if (StartingPosition == StartingPosition.AtTimestamp && StartingPositionTimestamp is null)
        {
            throw new ArgumentException("StartingPositionTimestamp is required with StartingPosition AT_TIMESTAMP.", nameof(StartingPositionTimestamp));
        }

        if (StartingPosition != StartingPosition.AtTimestamp && StartingPositionTimestamp is not null)
        {
            // It would be ignored: a user who meant AT_TIMESTAMP would read from the wrong place without a word (AWS does
            // not document this case; the CDK refuses it the same way).
            throw new ArgumentException("StartingPositionTimestamp can only be used with StartingPosition AT_TIMESTAMP.", nameof(StartingPositionTimestamp));
        }

        if (!Enum.IsDefined(OnFailure))
        {
            throw new ArgumentOutOfRangeException(nameof(OnFailure), OnFailure, "OnFailure must be None, Sqs or S3.");
        }
    }
}

/// <summary>The Lambda function: timeout, memory, cold starts, concurrency and compute time.</summary>
public sealed record FunctionOptions
{
    private static readonly SearchValues<char> s_functionNameCharacters = SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");

    /// <summary>The function's name (in ARNs): 1 to 64 characters from a-z, A-Z, 0-9, <c>-</c> and <c>_</c>. Default <c>analytics-function</c>.</summary>
    public string FunctionName { get; init; } = "analytics-function";

    /// <summary>Timeout, 1 to 900 seconds. Default 3 (Lambda's default).</summary>
    public int TimeoutSeconds { get; init; } = 3;

    /// <summary>Memory, 128 to 10,240 MB. Default 128. The CPU share is memory / 1,769 MB of one vCPU.</summary>
    public int MemoryMb { get; init; } = 128;

    /// <summary>Init time a new execution environment pays before its first invocation, in ms. Default 0.</summary>
    public int InitMs { get; init; }

    /// <summary>
    /// Most environments at once (reserved concurrency), 0 to 100,000, or <see langword="null"/> for no limit. Default
    /// <see langword="null"/>. 0 throttles every invocation, as in Lambda (the mapping retries until the records expire).
    /// </summary>
    public int? ReservedConcurrency { get; init; }

    /// <summary>
    /// Modeled compute time per invocation, in ms of one full vCPU. It runs (with <see cref="ComputeMsPerRecord"/>,
    /// divided by the CPU share) when the handler starts, before the handler is called, on the clock the handler
    /// watches: the handler sees the time left after it. Default 0.
    /// </summary>
    public double ComputeMsPerInvocation { get; init; }

    /// <summary>Modeled compute time per record, in ms of one full vCPU. Default 0.</summary>
    public double ComputeMsPerRecord { get; init; }

    /// <summary>
    /// Count the real time the handler keeps the run's thread (its synchronous runs: a stand-in for its CPU time), scaled
    /// by the CPU share, instead of the model, after the handler's task completed (it is known only then, so the
    /// handler's clock does not see it). Runs are then not byte-reproducible. Not with a modeled time (<see cref="ComputeMsPerInvocation"/>, <see cref="ComputeMsPerRecord"/>).
    /// Default <see langword="false"/>.
    /// </summary>
    public bool MeasureCompute { get; init; }

    /// <summary>
    /// The share of one vCPU a single thread of the function gets: memory / 1,769 MB, at most 1 (Lambda allocates
    /// one full vCPU at 1,769 MB; more memory adds vCPUs that one thread cannot use).
    /// </summary>
    public double CpuShare => Math.Min(1.0, MemoryMb / 1769.0);

    /// <summary>The function's ARN in the given region and account.</summary>
    /// <param name="region">The region.</param>
    /// <param name="accountId">The account.</param>
    /// <returns>The ARN.</returns>
    public string Arn(string region, string accountId) => $"arn:aws:lambda:{region}:{accountId}:function:{FunctionName}";

    internal void Validate()
    {
        // Lambda's rule for a function's name; it goes into ARNs in events and destination records.
        if (FunctionName is not { Length: >= 1 and <= 64 } || FunctionName.AsSpan().ContainsAnyExcept(s_functionNameCharacters))
        {
            throw new ArgumentException($"FunctionName must be 1 to 64 characters from a-z, A-Z, 0-9, '-' and '_', as Lambda requires; got '{FunctionName}'.", nameof(FunctionName));
        }

        StreamOptions.Range(nameof(TimeoutSeconds), TimeoutSeconds, 1, 900);
        StreamOptions.Range(nameof(MemoryMb), MemoryMb, 128, 10_240);
        StreamOptions.Range(nameof(InitMs), InitMs, 0, 10_000);
        if (ReservedConcurrency is int reserved)
        {
            // PutFunctionConcurrency accepts 0: the function's off switch, every invocation throttled.
            StreamOptions.Range(nameof(ReservedConcurrency), reserved, 0, 100_000);
        }

        // At most the longest timeout: more cannot change a run (the invocation times out first), and a time past the
        // range of the clock's ticks turned into 1 ms instead (an invocation that succeeded).
        ComputeTime(nameof(ComputeMsPerInvocation), ComputeMsPerInvocation);
        ComputeTime(nameof(ComputeMsPerRecord), ComputeMsPerRecord);

        // Measured time replaces the model: a model set beside it was ignored without a word.
        if (MeasureCompute && (ComputeMsPerInvocation > 0 || ComputeMsPerRecord > 0))
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"MeasureCompute counts the real time the handler keeps the thread instead of the modeled ComputeMsPerInvocation ({ComputeMsPerInvocation}) and ComputeMsPerRecord ({ComputeMsPerRecord}): set the model or MeasureCompute, not both."),
                nameof(MeasureCompute));
        }
    }

    private static void ComputeTime(string name, double ms)
    {
        if (!(ms is >= 0 and <= 900_000))
        {
            throw new ArgumentOutOfRangeException(name, ms, string.Create(CultureInfo.InvariantCulture, $"{name} must be 0 to 900000 ms (the longest timeout); got {ms}."));
        }
    }
}
