using System.Globalization;
using Amazon.DynamoDBv2;
using Amazon.S3;
using Analytics.Core;

namespace Analytics.Tools.Redrive;

/// <summary>What one <c>redrive</c> reads and writes, and how the function aggregates.</summary>
/// <param name="Table">The function's aggregate table.</param>
/// <param name="SpillBucket">The spill bucket (the function's <c>ANALYTICS_SPILL_BUCKET</c>).</param>
/// <param name="SpillPrefix">The spill sink's key prefix (<c>spill</c>).</param>
/// <param name="MinAge">Spill objects modified more recently are left for a later run (<see cref="SpillRedrive.DefaultMinAge"/>).</param>
/// <param name="FailureBucket">The bucket of the mapping's S3 on-failure destination; null: no destination objects are redriven.</param>
/// <param name="FailurePrefix">Only destination objects under this prefix (<c>aws/lambda/</c>).</param>
/// <param name="QuarantineBucket">Where poison records of the destination objects are quarantined again.</param>
/// <param name="Processor">The function's processor options (window size; the clock).</param>
internal sealed record RedriveRunOptions(string Table, string SpillBucket, string SpillPrefix, TimeSpan MinAge, string? FailureBucket, string FailurePrefix, string QuarantineBucket, ProcessorOptions Processor)
{
    /// <summary>The DynamoDB writes' retry options (backoff clock and jitter seed in tests); null: the sink's default.</summary>
    public AwsRetryOptions? DynamoDbRetry { get; init; }

    /// <summary>The quarantine writes' retry options; null: the sink's default.</summary>
    public AwsRetryOptions? S3Retry { get; init; }

    /// <summary>Records per event a destination object's records are run through the pipeline in.</summary>
    public int RecordsPerEvent { get; init; } = 500;

    /// <summary>
    /// The clock spill ages are measured with; null: <see cref="ProcessorOptions.TimeProvider"/>. Tests on a virtual
    /// clock set it, and give the pipeline the system clock: its deadlines then never pass while the clock is driven.
    /// </summary>
    public TimeProvider? Clock { get; init; }

    /// <summary>
    /// When the table was created (DescribeTable's <c>CreationDateTime</c>, <see cref="TableCheck"/>): destination markers
    /// keep it, so that a table restored or created again under the same name is not taken for the one an earlier run
    /// wrote to. Null: not known, markers are then matched by table name alone.
    /// </summary>
    public DateTimeOffset? TableCreated { get; init; }

    /// <summary>
    /// The function's <see cref="DynamoDbAggregateSinkOptions.MaxPartitionKeysPerItem"/> (<c>--max-keys-per-item</c>),
    /// given to both phases' sinks: a write that would pass it is not made and is reported. Default the sink's.
    /// </summary>
    /// <remarks>
    /// The function's <see cref="DynamoDbAggregateSinkOptions.PerShardWatermarkOnly"/> is deliberately not taken: both
    /// phases keep per-key marks whatever the function's layout (the spill phase <c>rk</c>, the destination phase
    /// <c>wk</c> and <c>dr</c>), because their exactly-once decisions read them. With one watermark per shard, the
    /// destination phase's own write of a later key's record moves the shard's watermark past the records it just
    /// applied, and it could no longer tell them from records a live write passed (observed: its applied records
    /// reported undecided, exit 1 on every run, the table exact). The marks count against this bound, so a function
    /// with PerShardWatermarkOnly and many keys per item needs a bound here of at least the keys per item redriven.
    /// </remarks>
    public int MaxPartitionKeysPerItem { get; init; } = DynamoDbAggregateSinkOptions.Default.MaxPartitionKeysPerItem;

    /// <summary>The spill bucket and prefix hold a whole copy of the function's spills: objects the function wrote elsewhere are applied (<c>--from-copy</c>).</summary>
    public bool FromCopy { get; init; }

    /// <summary>The clock spill ages are measured with.</summary>
    public TimeProvider Time => Clock ?? Processor.TimeProvider;

    /// <summary>The sink options both phases write with: the function's key bound, this run's table and retries (per-key marks whatever the function's layout).</summary>
    public DynamoDbAggregateSinkOptions SinkOptions => SinkOptionsOf(Table, DynamoDbRetry, MaxPartitionKeysPerItem);

    /// <summary>
    /// The sink options of a redrive's writes to <paramref name="table"/>: per-key marks always (see
    /// <see cref="MaxPartitionKeysPerItem"/>); a null retry is the sink's default.
    /// </summary>
    public static DynamoDbAggregateSinkOptions SinkOptionsOf(string table, AwsRetryOptions? retry, int maxPartitionKeysPerItem) =>
        DynamoDbAggregateSinkOptions.Default with
        {
            TableName = table,
            Retry = retry ?? DynamoDbAggregateSinkOptions.Default.Retry,
            MaxPartitionKeysPerItem = maxPartitionKeysPerItem,
        };
}

/// <summary>What one <c>redrive</c> did: the spill phase, then the destination phase.</summary>
/// <param name="Spill">The spill objects.</param>
/// <param name="Destination">The on-failure destination's objects (empty without a failure bucket).</param>
internal sealed record RedriveRunReport(RedriveReport Spill, IReadOnlyList<RedriveObjectResult> Destination)
{
    /// <summary>Who held the table's redrive lease when this run could not take it (it then did nothing); null when it ran.</summary>
    public string? LeaseHeldBy { get; init; }

    /// <summary>Whether the run released the table's lease at its end; false when DynamoDB did not answer (the lease then expires), or when it never held it.</summary>
    public bool LeaseReleased { get; init; }

    /// <summary>Destination objects held back because a spill of their shard is not applied yet.</summary>
    public int HeldBack => Destination.Count(r => r.HeldBack);

    /// <summary>Nothing left: every spill applied and deleted, every destination object complete.</summary>
    public bool Done => LeaseHeldBy is null && Spill.Done && Destination.All(r => r.Complete);
}

/// <summary>
/// <c>redrive</c>: the spill objects first (<see cref="SpillRedrive"/>), then the batches Lambda gave up on
/// (<see cref="DestinationRedrive"/>), holding back every destination object of a shard that still has a spill object.
/// </summary>
/// <remarks>
/// <para>Why the order: a batch whose last attempt wrote its spill and then crashed is in both. The spill redrive marks
/// what it applies (<c>rk</c>) and the destination redrive counts that mark as applied; the other way round, the spill
/// redrive applies its decided samples whatever the live watermark says, so a destination redrive first would apply
/// them twice.</para>
/// <para>Why it holds across runs and interruptions: "a spill of the shard is left" is read from the spill bucket
/// itself, after the destination objects are listed, not from what this run did. A spill object is deleted only once
/// everything in it is in the table; one that could not be read, applied (table throttled), decided, or deleted, or is
/// too young, stays, and so does the hold on its shard, in this run and every later one, whichever phase an earlier run
/// was interrupted in.</para>
/// </remarks>
internal static class RedriveRun
{
    /// <summary>The key of <see cref="Exception.Data"/> under which an error that stopped a leased run says whether the lease was released.</summary>
    public const string LeaseReleasedKey = "Analytics.Tools.Redrive.LeaseReleased";

    /// <summary>What a report adds to a write refused at the key bound: the option to pass.</summary>
    public const string KeyBoundHint =
        "; pass the function's bound with --max-keys-per-item (1 to 10000). The redrive keeps a mark per partition key in the item (rk, wk), " +
        "with PerShardWatermarkOnly too, so it needs a bound of at least the keys per item it redrives, and the function's later writes to that item count those marks against its own bound (docs/dynamodb.md, 'Bounds')";

    /// <summary>Whether <paramref name="message"/> (a sink's) is a refusal at the key bound.</summary>
    public static bool IsKeyBound(string? message) =>
        message is not null && message.Contains(" partition-key ", StringComparison.Ordinal) && message.Contains("(MaxPartitionKeysPerItem is ", StringComparison.Ordinal);

    /// <summary>Runs both phases and prints what each did (no payload).</summary>
    /// <param name="options">Where and how.</param>
    /// <param name="s3">The S3 client (both buckets).</param>
    /// <param name="dynamoDb">The DynamoDB client.</param>
    /// <param name="output">Receives the report lines.</param>
    /// <param name="cancellationToken">Stops the run; whatever was applied stays applied exactly once.</param>
    /// <returns>What the run did.</returns>
    public static async Task<RedriveRunReport> RunAsync(RedriveRunOptions options, IAmazonS3 s3, IAmazonDynamoDB dynamoDb, TextWriter output, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(output);
        (RedriveLease? lease, string? heldBy) = await RedriveLease.TryTakeAsync(dynamoDb, options.Table, options.Time, cancellationToken).ConfigureAwait(false);
        if (lease is null)
        {
            await output.WriteLineAsync($"redrive: another redrive holds the table's lease ({heldBy}): nothing done; run again when it has finished").ConfigureAwait(false);
            return new RedriveRunReport(new RedriveReport(0, 0, 0, 0, 0, 0, 0), []) { LeaseHeldBy = heldBy };
        }

        RedriveRunReport report;
        try
        {
            report = await RunLeasedAsync(options, s3, dynamoDb, output, lease, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Whatever a request cancelled by the signal ends in (the SDK may report its own timeout instead) is the
            // interruption; an error that came before the signal is the run's error (found by review: an AccessDenied
            // followed by Ctrl-C during a hung release was reported as an interruption with the lease released).
            bool interrupted = cancellationToken.IsCancellationRequested;
            await lease.DisposeAsync().ConfigureAwait(false);
            if (interrupted)
            {
                throw new RedriveInterruptedException(lease.Released);
            }

            // The error itself goes on, its type kept for callers; whether the lease was released rides along.
            e.Data[LeaseReleasedKey] = lease.Released;
            throw;
        }

        await lease.DisposeAsync().ConfigureAwait(false);
        return report with { LeaseReleased = lease.Released };
    }

    private static async Task<RedriveRunReport> RunLeasedAsync(RedriveRunOptions options, IAmazonS3 s3, IAmazonDynamoDB dynamoDb, TextWriter output, RedriveLease lease, CancellationToken cancellationToken)
    {
        var sink = new DynamoDbAggregateSink(dynamoDb, options.SinkOptions);
        DestinationRedrive? destination = options.FailureBucket is null ? null : new DestinationRedrive(s3, dynamoDb, new DestinationRedriveOptions(options.FailureBucket, options.FailurePrefix, options.Table, options.Processor, options.QuarantineBucket)
        {
            DynamoDbRetry = options.DynamoDbRetry,
            S3Retry = options.S3Retry,
            RecordsPerEvent = options.RecordsPerEvent,
            TableCreated = options.TableCreated,
            MaxPartitionKeysPerItem = options.MaxPartitionKeysPerItem,
        });
        RedriveReport spill = await SpillRedrive.ApplyAsync(s3, options.SpillBucket, options.SpillPrefix, sink, output, options.MinAge, options.Time, cancellationToken, lease.RenewAsync, tableStreams: new TableStreams(dynamoDb, options.Table), finishedDestination: destination is null ? null : destination.FinishedRecordsAsync, fromCopy: options.FromCopy).ConfigureAwait(false);
        if (destination is null)
        {
            await output.WriteLineAsync("destination: no --failure-bucket given: batches Lambda gave up on are not redriven by this run").ConfigureAwait(false);
            return new RedriveRunReport(spill, []);
        }

        IReadOnlyList<RedriveObjectResult> results = await destination.RunAsync(
            token => SpillRedrive.ShardsWithObjectsAsync(s3, options.SpillBucket, options.SpillPrefix, token),
            lease.RenewAsync,
            cancellationToken).ConfigureAwait(false);
        await output.WriteLineAsync(Format(results)).ConfigureAwait(false);
        return new RedriveRunReport(spill, results);
    }

    /// <summary>The destination phase's report: one line per object, one per case, a total. Keys, shard ids, sequence numbers, windows and a hash of the item: no payload.</summary>
    public static string Format(IReadOnlyList<RedriveObjectResult> results)
    {
        var text = new System.Text.StringBuilder();
        foreach (RedriveObjectResult r in results)
        {
            text.Append(CultureInfo.InvariantCulture, $"object {r.Key} shard={r.ShardId} records={r.Records} applied={r.Applied} alreadyApplied={r.AlreadyApplied} undecided={r.Undecided} left={r.Left}");
            text.Append(r.FromMarker ? " (done by an earlier run)" : string.Empty);
            text.Append(r.EarlierTable is null ? string.Empty : r.EarlierTableCreated is { } created
                ? $" (an earlier run redrove it into table '{r.EarlierTable}' as it was when created at {DestinationRedrive.FormatCreated(created)}, not this one: it was restored or created again since)"
                : $" (an earlier run redrove it into table '{r.EarlierTable}', not this one)");
            text.AppendLine(r.Error is null ? string.Empty : (r.HeldBack ? " " : " error: ") + r.Error);
            foreach (RedriveCase c in r.Cases)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  {c.Status.ToString().ToLowerInvariant()} shard={c.ShardId} sequenceNumber={c.SequenceNumber} window={c.ItemSk} item={c.ItemId}: {c.Reason}");
            }
        }

        int complete = results.Count(r => r.Complete);
        int held = results.Count(r => r.HeldBack);
        int earlier = results.Count(r => r.FromMarker && r.Complete);

        // The pairs this run applied or found applied: an object an earlier run finished is reported from its marker, whose
        // counts are that run's (found by review: a run that did nothing claimed every earlier run's pairs as applied).
        List<RedriveObjectResult> now = [.. results.Where(r => !r.FromMarker)];
        text.Append(CultureInfo.InvariantCulture, $"destination: {results.Count} object(s): {complete} complete{(earlier > 0 ? $" ({earlier} done by an earlier run)" : string.Empty)}, {held} held back, {results.Count - complete - held} with something undecided or left; ");
        text.Append(CultureInfo.InvariantCulture, $"{now.Sum(r => r.Applied)} (record, aggregate) pairs applied, {now.Sum(r => r.AlreadyApplied)} already applied, {results.Sum(r => r.Undecided)} undecided, {results.Sum(r => r.Left)} left");
        text.Append(results.Any(r => r.Undecided > 0) ? $". Undecided pairs are listed in full in {DestinationRedriveOptions.MarkerPrefix}<object key>.json" : string.Empty);
        return text.ToString();
    }
}

/// <summary>A run cancelled (Ctrl-C, SIGTERM) while it held the table's lease; whether it released the lease on the way out.</summary>
/// <param name="leaseReleased">Whether the lease was released (false: DynamoDB did not answer, and it expires).</param>
internal sealed class RedriveInterruptedException(bool leaseReleased) : OperationCanceledException("The redrive was interrupted.")
{
    /// <summary>Whether the lease was released.</summary>
    public bool LeaseReleased { get; } = leaseReleased;
}
