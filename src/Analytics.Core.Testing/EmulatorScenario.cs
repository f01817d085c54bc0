using System.Globalization;

namespace Analytics.Core.Testing;

/// <summary>Everything a run depends on: with the same scenario and handler, a run's outputs are byte-identical.</summary>
public sealed record EmulatorScenario
{
    /// <summary>The seed of every random choice (keys, data, key assignment, UUIDs). Default 1.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Where the virtual clock starts. Default 2025-01-01T00:00:00Z.</summary>
    public DateTimeOffset StartTime { get; init; } = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>How long the run lasts in virtual seconds, 1 to 604,800 (a week). Default 60. Invocations still running at the end are not reported.</summary>
    public int DurationSeconds { get; init; } = 60;

    /// <summary>The stream.</summary>
    public StreamOptions Stream { get; init; } = new();

    /// <summary>Producers putting records at a rate. Default none.</summary>
    public IReadOnlyList<ProducerOptions> Producers { get; init; } = [];

    /// <summary>Records put explicitly. Default none.</summary>
    public IReadOnlyList<ExplicitRecord> Records { get; init; } = [];

    /// <summary>The event source mapping.</summary>
    public MappingOptions Mapping { get; init; } = new();

    /// <summary>The function.</summary>
    public FunctionOptions Function { get; init; } = new();

    /// <summary>How concurrent batches of a shard get their keys (ParallelizationFactor above 1). Default <see cref="KeyAssignment.Hash"/>.</summary>
    public KeyAssignment KeyAssignment { get; init; } = KeyAssignment.Hash;

    /// <summary>
    /// The fraction of successful invocations (with records) whose checkpoint the mapping loses, so that it delivers the
    /// same records again as a new batch, 0 to 0.5. Default 0: a record is delivered again only after its batch failed.
    /// AWS: "Lambda event source mappings process each event at least once, and duplicate processing of records can
    /// occur"; when, and how often, it does not say (grade 3). A consumer whose writes are not idempotent passes every
    /// run at 0 and double-counts on AWS; a run above 0 shows it. The redelivered batch starts anew (no retry used, its
    /// records' <c>approximateInvokeCount</c> counted from it); in a tumbling window it carries the state from before the
    /// lost invocation (the state is kept with the checkpoint). A record of a lost batch that passes
    /// <see cref="MappingOptions.MaximumRecordAgeInSeconds"/> before it comes again goes to the on-failure destination,
    /// although it was processed: whatever redrives the destination must be idempotent too. Drawn from a random
    /// sequence of its own, so 0 and any other value give the same run up to the first redelivery.
    /// </summary>
    public double RedeliveryFraction { get; init; }

    /// <summary>
    /// Whether records given up after <see cref="MappingOptions.BisectBatchOnFunctionError"/> split their batch are sent
    /// to the on-failure destination together: once nothing of the bisected batch is left to retry, one record per run
    /// of records given up one after another in the batch (<c>batchSize</c> the run's length; for S3, the whole
    /// original event as the payload; <c>approximateInvokeCount</c> the highest of its records'). Only records given up
    /// when the retries are exhausted (<c>RetryAttemptsExhausted</c>): records of the bisection that pass
    /// <see cref="MappingOptions.MaximumRecordAgeInSeconds"/> are sent as they expire, as without the option, so they
    /// may reach the destination before records the bisection gave up earlier. Default false: one record per given-up
    /// half, as the emulator always did. AWS:
    /// "The BatchSize could be greater than 1 since Lambda consolidates failed messages metadata when writing to the
    /// OnFailure destination"; how, it does not say (grade 3): a consumer that takes <c>startSequenceNumber</c> for "the
    /// poison record" under bisection passes at false and is wrong at true.
    /// </summary>
    public bool ConsolidateBisectedFailures { get; init; }

    /// <summary>
    /// How long after a failed invocation ends (an error, a time-out, an invalid or partial response) the mapping invokes
    /// what of its batch comes again (the retry, the rest after the checkpoint, a bisected half, or a window's final
    /// invocation after an early end), 0 to 1 hour, in whole milliseconds (a fraction waits the next one). Default zero: at once,
    /// so a run counts more invocations of a failing batch, and gives it up sooner, than AWS would. AWS documents no
    /// delay; its one recorded run (LocalStack's AWS-validated snapshot of
    /// <c>test_kinesis_maximum_record_age_exceeded[expire-while-retrying]</c>: BatchSize 1, retries unlimited,
    /// MaximumRecordAgeInSeconds 60, a function that always fails) invoked the record 8 times before it expired, where
    /// the emulator at zero invokes it as often as the function's duration allows. A delay of 7.5 s gives that
    /// count; one count does not fix a schedule, so this is a constant, not a model of AWS's. Records that pass
    /// <see cref="MappingOptions.MaximumRecordAgeInSeconds"/> while they wait are given up when the wait ends.
    /// Throttled invocations are not affected (the poller tries again after a second).
    /// </summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.Zero;

    /// <summary>The most <see cref="RetryDelay"/> may be.</summary>
    public static TimeSpan MaxRetryDelay => TimeSpan.FromHours(1);

    /// <summary>
    /// How the events' strings are escaped. Default <see cref="EventStringEscaping.Minimal"/> (the emulator's spelling
    /// before the option existed: every run's bytes are as they were). AWS documents neither the writer nor its escapes
    /// (grade 3): a writer may escape every character that is not ASCII, or only what JSON requires. A consumer that
    /// compares a partition key as it is spelled in one place and as text in another (a watermark, a dedup set) passes
    /// one spelling and counts twice, or skips, under the other. It changes the bytes of the events alone: the 6 MiB
    /// payload limit and the shard's read limit count the key as the event spells it.
    /// </summary>
    public EventStringEscaping EventStringEscaping { get; init; } = EventStringEscaping.Minimal;

    /// <summary>The most <see cref="RedeliveryFraction"/> may be: above it a batch would be delivered more than twice on average.</summary>
    public const double MaxRedeliveryFraction = 0.5;

    /// <summary>
    /// How long (real time) to let a handler that waits on something other than the virtual clock finish before virtual
    /// time moves on. Default zero: handlers must wait only on the clock (see the package README); a positive value
    /// helps handlers with real I/O but makes runs timing-dependent. The emulator cannot tell a handler waiting on real
    /// I/O from one waiting on the clock, so each step at which a handler waits on the clock costs the whole settle in real
    /// time. A handler still unfinished when the settle runs out is counted in <see cref="EmulationSummary.OffClockWaits"/>.
    /// A run with a settle is never <see cref="EmulationSummary.Reproducible"/>: a handler's real I/O that outlasts a
    /// step while its clock deadline is pending is taken for a wait on the clock, and where it ends depends on real timing.
    /// </summary>
    public TimeSpan RealTimeSettle { get; init; } = TimeSpan.Zero;

    /// <summary>
    /// How many times what the stream accepts (<see cref="StreamOptions.ShardCount"/> ×
    /// <see cref="StreamOptions.WriteRecordsPerSecond"/>) a producer may offer: 100. Above it Kinesis refuses more than 99 %
    /// of the records, and a run would spend its time making records only to count them throttled (a rate of 10^12,
    /// one typo away from 10^3, never ended).
    /// </summary>
    public const int MaxOverload = 100;

    private static readonly DateTimeOffset s_latestStart = new(9000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>
    /// The most shard-seconds a run may have (<see cref="StreamOptions.ShardCount"/> × <see cref="DurationSeconds"/>):
    /// 50 million, about 2.4 GB of per-second measurements (10 shards for a week take 6 million).
    /// </summary>
    public const long MaxShardSeconds = 50_000_000;

    /// <summary>Checks every part.</summary>
    /// <exception cref="ArgumentException">A setting is out of range; the message names it and the range.</exception>
    public void Validate()
    {
        // A null part (an object initializer's "Mapping = null", a null in a list) is named, not a NullReferenceException.
        ArgumentNullException.ThrowIfNull(Stream);
        ArgumentNullException.ThrowIfNull(Mapping);
        ArgumentNullException.ThrowIfNull(Function);
        ArgumentNullException.ThrowIfNull(Producers);
        ArgumentNullException.ThrowIfNull(Records);
        if (Producers.Any(p => p is null))
        {
            throw new ArgumentException("Producers must not hold a null entry.", nameof(Producers));
        }

        if (Records.Any(r => r is null))
        {
            throw new ArgumentException("Records must not hold a null entry.", nameof(Records));
        }

        if (!Enum.IsDefined(KeyAssignment))
        {
            throw new ArgumentOutOfRangeException(nameof(KeyAssignment), KeyAssignment, "KeyAssignment must be Hash or Adversarial.");
        }

        if (!Enum.IsDefined(EventStringEscaping))
        {
            throw new ArgumentOutOfRangeException(nameof(EventStringEscaping), EventStringEscaping, "EventStringEscaping must be Minimal or AllNonAscii.");
        }

        if (!(RedeliveryFraction >= 0 && RedeliveryFraction <= MaxRedeliveryFraction))
        {
            throw new ArgumentOutOfRangeException(nameof(RedeliveryFraction), RedeliveryFraction, "RedeliveryFraction must be from 0 (no success is delivered again) to 0.5.");
        }

        if (RetryDelay < TimeSpan.Zero || RetryDelay > MaxRetryDelay)
        {
            throw new ArgumentOutOfRangeException(nameof(RetryDelay), RetryDelay, "RetryDelay must be from zero (a failed batch comes again at once) to 1 hour.");
        }

        if (RealTimeSettle < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(RealTimeSettle), RealTimeSettle, "RealTimeSettle must be zero (handlers wait only on the virtual clock) or a positive real time.");
        }

        StreamOptions.Range(nameof(DurationSeconds), DurationSeconds, 1, 604_800);
        if (StartTime < DateTimeOffset.UnixEpoch || StartTime > s_latestStart)
        {
            // Kinesis's arrival times and sequence numbers count from the Unix epoch; the end leaves room for a week's
            // run and a year's retention.
            throw new ArgumentOutOfRangeException(
                nameof(StartTime),
                string.Create(CultureInfo.InvariantCulture, $"StartTime must be from 1970-01-01T00:00:00Z to 9000-01-01T00:00:00Z; got {StartTime:O}."));
        }

        Stream.Validate();
        if ((long)Stream.ShardCount * DurationSeconds > MaxShardSeconds)
        {
            // Each shard's per-second measurements are kept for the whole run: 10,000 shards for a week would need
            // about 290 GB, and the run would end in an OutOfMemoryException instead of this message.
            throw new ArgumentOutOfRangeException(
                nameof(DurationSeconds),
                DurationSeconds,
                string.Create(CultureInfo.InvariantCulture, $"Stream.ShardCount × DurationSeconds must be at most {MaxShardSeconds:N0} (each shard's per-second measurements are kept for the whole run); got {Stream.ShardCount:N0} shards × {DurationSeconds:N0} s."));
        }

        Mapping.Validate();
        if (Mapping.StartingPosition == StartingPosition.AtTimestamp && Mapping.StartingPositionTimestamp > StartTime)
        {
            // The mapping exists from the run's start; AWS: "StartingPositionTimestamp cannot be in the future."
            throw new ArgumentOutOfRangeException(
                nameof(MappingOptions.StartingPositionTimestamp),
                string.Create(CultureInfo.InvariantCulture, $"StartingPositionTimestamp cannot be in the future: AWS refuses a mapping whose AT_TIMESTAMP is after its creation, which is the run's StartTime ({StartTime:O}); got {Mapping.StartingPositionTimestamp:O}."));
        }

        Function.Validate();
        foreach (ProducerOptions producer in Producers)
        {
            producer.Validate();
        }

        CheckRates();

        for (int i = 0; i < Records.Count; i++)
        {
            // Each message starts with the record's index ("Records[3]: "): in a long list, which one is wrong.
            ExplicitRecord record = Records[i];
            string at = string.Create(CultureInfo.InvariantCulture, $"Records[{i}]: ");
            if (string.IsNullOrEmpty(record.PartitionKey) || record.PartitionKey.Length > 256)
            {
                throw new ArgumentException(at + "a record's partitionKey must be 1 to 256 characters.", nameof(Records));
            }

            if (record.AtMs >= DurationSeconds * 1000L)
            {
                throw new ArgumentException(at + $"a record's atMs must be before the end of the run ({DurationSeconds * 1000L} ms); got {record.AtMs}.", nameof(Records));
            }

            if (record.AtMs < -StartTime.ToUnixTimeMilliseconds())
            {
                throw new ArgumentException(at + $"a record's atMs must not put it before 1970-01-01T00:00:00Z (arrival times count from the Unix epoch); got {record.AtMs}.", nameof(Records));
            }

            if (record.Data.Length + System.Text.Encoding.UTF8.GetByteCount(record.PartitionKey) > 1024 * 1024)
            {
                throw new ArgumentException(at + string.Create(CultureInfo.InvariantCulture, $"a record's data plus partition key must be at most 1 MiB (1,048,576 bytes); got {record.Data.Length + System.Text.Encoding.UTF8.GetByteCount(record.PartitionKey):N0}."), nameof(Records));
            }
        }
    }

    /// <summary>
    /// Each producer's rates, and all producers' rates added up at any second of the run, are at most
    /// <see cref="MaxOverload"/> times what the stream accepts: many producers each within the bound would otherwise add
    /// up to the same endless run. The rates in effect change only where a step starts, and at each such second a
    /// producer's rate is its last started step in list order (<see cref="ProducerOptions.RateAt"/>): one sweep over the
    /// steps in time order.
    /// </summary>
    private void CheckRates()
    {
        double accepted = (double)Stream.ShardCount * Stream.WriteRecordsPerSecond;
        double bound = MaxOverload * accepted;
        foreach ((double rate, int step) in Producers.SelectMany(p => p.Schedule.Select((s, i) => (s.RatePerSecond, i)).Prepend((p.RatePerSecond, -1))))
        {
            if (rate > bound)
            {
                throw new ArgumentOutOfRangeException(
                    ProducerOptions.RateName(step),
                    string.Create(CultureInfo.InvariantCulture, $"A producer's rate must be at most {MaxOverload} times what the stream accepts ({accepted} records per second: shards × writeRecordsPerSecond); got {rate}."));
            }
        }

        double[] current = [.. Producers.Select(p => p.RatePerSecond)];
        int[] latest = [.. Producers.Select(_ => -1)];
        double total = current.Sum();
        var steps = Producers.SelectMany((producer, p) => producer.Schedule.Select((step, index) => (Producer: p, Index: index, Step: step)))
            .Where(s => s.Step.FromSecond < DurationSeconds).OrderBy(s => s.Step.FromSecond).ToArray();
        int i = 0, second = 0;
        while (true)
        {
            for (; i < steps.Length && steps[i].Step.FromSecond == second; i++)
            {
                (int p, int index, RateStep step) = steps[i];
                if (index > latest[p])
                {
                    total += step.RatePerSecond - current[p];
                    (current[p], latest[p]) = (step.RatePerSecond, index);
                }
            }

            if (total > bound)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(Producers),
                    string.Create(CultureInfo.InvariantCulture, $"The producers' rates add up to {total} records per second from second {second}; together they must be at most {MaxOverload} times what the stream accepts ({accepted} records per second: shards × writeRecordsPerSecond)."));
            }

            if (i == steps.Length)
            {
                return;
            }

            second = steps[i].Step.FromSecond;
        }
    }
}
