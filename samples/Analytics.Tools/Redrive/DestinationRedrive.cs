using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.S3;
using Amazon.S3.Model;
using Analytics.Core;

namespace Analytics.Tools.Redrive;

/// <summary>Where a redrive of on-failure destination objects reads and writes, and how the function aggregates.</summary>
/// <param name="Bucket">The bucket of the mapping's S3 on-failure destination.</param>
/// <param name="Prefix">Only objects whose key starts with it (<c>aws/lambda/</c>, or one mapping's or shard's folder).</param>
/// <param name="Table">The function's aggregate table.</param>
/// <param name="Processor">The function's processor options: the same window size, or the records land in other items.</param>
/// <param name="QuarantineBucket">Where poison records of the objects are quarantined (the function's quarantine bucket).</param>
internal sealed record DestinationRedriveOptions(string Bucket, string Prefix, string Table, ProcessorOptions Processor, string QuarantineBucket)
{
    /// <summary>Where a redrive keeps what it did with each object: <c>&lt;MarkerPrefix&gt;&lt;object key&gt;.json</c>.</summary>
    public const string MarkerPrefix = "redrive/destination/";

    /// <summary>Records per event the pipeline is given (the function's own limit is 10,000 and 6 MB).</summary>
    public int RecordsPerEvent { get; init; } = 500;

    /// <summary>Time allowed to one event's run through the pipeline.</summary>
    public TimeSpan EventTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>The DynamoDB sink's retry options (backoff clock and jitter seed in tests).</summary>
    public AwsRetryOptions? DynamoDbRetry { get; init; }

    /// <summary>The quarantine sink's retry options.</summary>
    public AwsRetryOptions? S3Retry { get; init; }

    /// <summary>
    /// When the table was created (DescribeTable's <c>CreationDateTime</c>), kept in each marker: a marker of a table of
    /// the same name created at another time (restored from a backup, or deleted and created again) is one of another
    /// table. Null: not known; markers are then matched by name alone, as are markers written without it.
    /// </summary>
    public DateTimeOffset? TableCreated { get; init; }

    /// <summary>
    /// The function's <see cref="DynamoDbAggregateSinkOptions.MaxPartitionKeysPerItem"/>; default the sink's. The writes
    /// keep per-key marks (<c>wk</c>, <c>dr</c>) whatever the function's layout: see <see cref="RedriveRunOptions.MaxPartitionKeysPerItem"/>.
    /// </summary>
    public int MaxPartitionKeysPerItem { get; init; } = DynamoDbAggregateSinkOptions.Default.MaxPartitionKeysPerItem;
}

/// <summary>What happened to one (record, aggregate) of a destination object.</summary>
internal enum RedriveStatus
{
    /// <summary>Not in the table before; the redrive applied it.</summary>
    Applied,

    /// <summary>The failed attempts had applied it already: nothing done.</summary>
    AlreadyApplied,

    /// <summary>Cannot be decided from the table: a later batch moved the key's watermark past the object's records. Nothing applied.</summary>
    Undecided,

    /// <summary>The redrive tried and could not apply it (the pipeline reported a failure, or a live write raced it); it runs again next time.</summary>
    Left,
}

/// <summary>One (record, aggregate) that was not simply applied: undecided, or left.</summary>
/// <param name="ObjectKey">The destination object.</param>
/// <param name="ShardId">The shard.</param>
/// <param name="SequenceNumber">The record.</param>
/// <param name="PartitionKey">The record's partition key.</param>
/// <param name="ItemPk">The aggregate item's <c>pk</c> (the series).</param>
/// <param name="ItemSk">The aggregate item's <c>sk</c> (the window start).</param>
/// <param name="Status">Undecided or left.</param>
/// <param name="Reason">Why.</param>
internal sealed record RedriveCase(string ObjectKey, string ShardId, string SequenceNumber, string PartitionKey, string ItemPk, string ItemSk, RedriveStatus Status, string Reason)
{
    /// <summary>A short, stable name for the item that carries nothing of the payload: the first 12 hex digits of SHA-256 of pk and sk.</summary>
    public string ItemId => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(ItemPk + "\n" + ItemSk)))[..12].ToLowerInvariant();
}

/// <summary>The outcome of one destination object.</summary>
/// <param name="Key">The object's key.</param>
/// <param name="ShardId">Its shard (from <c>KinesisBatchInfo</c>).</param>
/// <param name="Records">Records in its payload.</param>
/// <param name="Applied">(record, aggregate) pairs the redrive applied.</param>
/// <param name="AlreadyApplied">(record, aggregate) pairs found applied by the failed attempts.</param>
/// <param name="Cases">The undecided and left (record, aggregate) pairs.</param>
/// <param name="Error">Why the object could not be read or run, if it could not.</param>
/// <param name="FromMarker">Done by an earlier run: reported from its marker, nothing done now.</param>
internal sealed record RedriveObjectResult(string Key, string ShardId, int Records, int Applied, int AlreadyApplied, IReadOnlyList<RedriveCase> Cases, string? Error, bool FromMarker)
{
    /// <summary>
    /// Not run, because a spill object of its shard is still in the spill bucket: applying it first could apply a
    /// record twice (<see cref="RedriveRun"/>). <see cref="Error"/> says why; a later run applies it.
    /// </summary>
    public bool HeldBack { get; init; }

    /// <summary>
    /// From a marker (<see cref="FromMarker"/>): the table the earlier run redrove the object into; null for a marker
    /// written before markers named their table.
    /// </summary>
    public string? Table { get; init; }

    /// <summary>
    /// Redriven by this run although an earlier run had marked it done: that run redrove it into this other table (a
    /// mistyped <c>--table</c>), so this table's watermarks decide what of it is applied here.
    /// </summary>
    public string? EarlierTable { get; init; }

    /// <summary>
    /// With <see cref="EarlierTable"/>: when the table the earlier run redrove it into was created, when that table has
    /// this one's name but another creation time (restored from a backup, or deleted and created again since).
    /// </summary>
    public DateTimeOffset? EarlierTableCreated { get; init; }

    /// <summary>From a marker: when the table it names was created; null for a marker written before markers kept it.</summary>
    public DateTimeOffset? TableCreated { get; init; }

    /// <summary>Undecided pairs.</summary>
    public int Undecided => Cases.Count(c => c.Status == RedriveStatus.Undecided);

    /// <summary>Left pairs.</summary>
    public int Left => Cases.Count(c => c.Status == RedriveStatus.Left);

    /// <summary>Nothing undecided, nothing left, no error.</summary>
    public bool Complete => Error is null && Cases.Count == 0;
}

/// <summary>
/// Redrives the objects an S3 on-failure destination holds (batches Lambda gave up on, with their payload): rebuilds a
/// Kinesis event from their records, runs it through the function's own pipeline (<see cref="KinesisBatchProcessor"/>
/// with the real <see cref="DynamoDbAggregateSink"/>), and applies each (record, aggregate) exactly once, or reports
/// it when the table cannot say whether the failed attempts applied it. See docs/failure-modes.md, "Batches Lambda
/// gave up on".
/// </summary>
/// <remarks>
/// <para>The decision, per aggregate item X, shard S, partition key k, and the object's records of k in X, from
/// <c>a</c> to <c>b</c> (the watermark <c>w</c> is the higher of <c>wm[S]</c> and <c>wk[S][k]</c> before the redrive):
/// w absent or below a: none was applied; a ≤ w ≤ b: exactly those at or below w were applied (only the attempts of
/// this batch and of the batches it was split from ever wrote a watermark inside its range, and each of their writes
/// applied every record of k in X above the previous watermark); w above b: a later batch wrote, and whether the
/// failed attempts had applied the records before it cannot be told: undecided, reported, nothing applied.</para>
/// <para>The sink's own rule (apply what is above the key's watermark) applies exactly the records decided "not
/// applied", so the redrive runs the events through it unchanged, leaving out the records decided otherwise.
/// Objects of one shard are merged and run in sequence-number order, so that per key they are applied in order.</para>
/// <para>w above b is not undecided when the item itself says the record is in: it lies in a range the destination
/// phase kept (<c>dr</c>), or at or below the spill redrive's <c>rk</c> while <c>rk</c> is inside [a, b]
/// (<c>InItem</c>). That is how a run after an interrupted one, or after two at once, finds what the redrive's own
/// writes applied.</para>
/// <para>What each object came to is written next to it (<see cref="DestinationRedriveOptions.MarkerPrefix"/>); a
/// later run reports it from there and does nothing again. An interrupted run leaves no marker: the next run
/// reprocesses, and the watermarks keep it from applying anything twice.</para>
/// </remarks>
internal sealed class DestinationRedrive
{
    private readonly IAmazonS3 _s3;
    private readonly IAmazonDynamoDB _dynamoDb;
    private readonly DestinationRedriveOptions _options;
    private readonly TableStreams _streams;
    private Func<CancellationToken, Task>? _heartbeat;

    public DestinationRedrive(IAmazonS3 s3, IAmazonDynamoDB dynamoDb, DestinationRedriveOptions options)
    {
        _s3 = s3;
        _dynamoDb = dynamoDb;
        _options = options;
        _streams = new TableStreams(dynamoDb, options.Table);
    }

    /// <summary>Redrives every object under the prefix that no earlier run finished.</summary>
    /// <param name="cancellationToken">Stops between events.</param>
    /// <returns>One result per object, in key order.</returns>
    public Task<IReadOnlyList<RedriveObjectResult>> RunAsync(CancellationToken cancellationToken) => RunAsync(null, null, cancellationToken);

    /// <summary>
    /// Redrives every object under the prefix that no earlier run finished, except the objects of the shards that
    /// <paramref name="spillsLeft"/> names: those are held back, reported, and left for a later run.
    /// </summary>
    /// <param name="spillsLeft">
    /// The shards that still have spill objects (shard id to how many), asked once every destination object is listed and
    /// read, so that a spill written before a listed object was given up is seen; null: no spill bucket to respect.
    /// </param>
    /// <param name="heartbeat">Called before each event is run (the redrive lease's renewal); it throws to stop the run.</param>
    /// <param name="cancellationToken">Stops between events.</param>
    /// <returns>One result per object, in key order.</returns>
    public async Task<IReadOnlyList<RedriveObjectResult>> RunAsync(Func<CancellationToken, Task<IReadOnlyDictionary<string, int>>>? spillsLeft, Func<CancellationToken, Task>? heartbeat, CancellationToken cancellationToken)
    {
        _heartbeat = heartbeat;
        List<string> keys = await ListAsync(_options.Prefix, cancellationToken).ConfigureAwait(false);
        var markers = (await ListAsync(DestinationRedriveOptions.MarkerPrefix, cancellationToken).ConfigureAwait(false)).ToHashSet(StringComparer.Ordinal);
        var results = new List<RedriveObjectResult>();
        var pending = new List<DestinationObject>();
        var unreadable = new HashSet<string>(StringComparer.Ordinal); // shards with an object that could not be read; "" for one of no known shard
        var otherTable = new Dictionary<string, (string Table, DateTimeOffset? Created)>(StringComparer.Ordinal);
        foreach (string key in keys)
        {
            if (key.StartsWith(DestinationRedriveOptions.MarkerPrefix, StringComparison.Ordinal))
            {
                continue;
            }

            if (markers.Contains(DestinationRedriveOptions.MarkerPrefix + key + ".json"))
            {
                RedriveObjectResult done = await ReadMarkerAsync(key, cancellationToken).ConfigureAwait(false);
                if (done.Error is not null)
                {
                    // A marker that cannot be read now, or is broken: whether (and into which table) its object was
                    // finished is unknown, so its shard's other objects wait, as for an object that cannot be read. Applied
                    // past it, they would raise the watermarks over its records if it was finished into another table (a
                    // mistyped --table) or once the marker is deleted as the report advises: undecided on every run (review).
                    results.Add(done);
                    unreadable.Add(ShardOfKey(key) ?? string.Empty);
                    continue;
                }

                if (OfThisTable(done))
                {
                    results.Add(done);
                    continue;
                }

                // Done into another table (a mistyped --table, or this one's name before a restore): not into this one,
                // whose own watermarks decide it.
                otherTable[key] = done.Table is not null && !SpillRedrive.SameTable(done.Table, _options.Table) ? (done.Table, null) : (done.Table ?? _options.Table, done.TableCreated);
            }

            // One object that cannot be read now (S3 throttling it, say) is left for a later run, as the spill phase
            // leaves one: it ended the whole run before, so under sustained throttling no run got through (review).
            (DestinationObject? parsed, string? error, bool notRead) = await TryReadObjectAsync(key, cancellationToken).ConfigureAwait(false);
            if (notRead)
            {
                // Its records may come before those of its shard's other objects: applied first, those would raise the
                // watermarks past its records, and the next run could only report them undecided (diff review). Its
                // shard is the key's (Lambda's pattern); a key that names none holds back every shard.
                error += "; run redrive again";
                unreadable.Add(ShardOfKey(key) ?? string.Empty);
            }

            if (parsed is null)
            {
                results.Add(new RedriveObjectResult(key, "unknown", 0, 0, 0, [], error, FromMarker: false));

                // Read but not parsed (cut short, edited by hand): its records may come before its shard's other objects
                // just the same, so they wait until it is mended or deleted (found by review: the later ones were applied
                // past it, and once it was restored its records lay below the watermark, undecided on every run). Only a
                // key in Lambda's pattern names a shard; another object under the prefix is not a batch of any.
                if (!IsFolderPlaceholder(key) && ShardOfKey(key) is { } shardOfKey)
                {
                    unreadable.Add(shardOfKey);
                }
            }
            else
            {
                pending.Add(parsed);
            }
        }

        // Listed after the destination objects: a batch's spill is written before Lambda gives the batch up, so the spill of
        // any object listed above is either in this listing or already applied and deleted.
        IReadOnlyDictionary<string, int> held = pending.Count == 0 || spillsLeft is null
            ? new Dictionary<string, int>()
            : await spillsLeft(cancellationToken).ConfigureAwait(false);
        // Per stream and shard: shard ids repeat across streams, and each stream's records are judged by its own watermarks.
        foreach (IGrouping<(string? Stream, string ShardId), DestinationObject> shard in pending.GroupBy(o => (o.Stream, o.ShardId)).OrderBy(g => g.Key.Stream, StringComparer.Ordinal))
        {
            string shardId = shard.Key.ShardId;
            if (unreadable.Contains(shardId) || unreadable.Contains(string.Empty))
            {
                string why = $"held back: an object of shard {shardId}, or its redrive marker, could not be read or parsed this run, and its records may come before these; run redrive again once it reads (mend or restore it, or delete it if it is not a batch)";
                results.AddRange(shard.Select(o => new RedriveObjectResult(o.Key, shardId, o.Records.Count, 0, 0, [], why, FromMarker: false) { HeldBack = true }));
                continue;
            }

            if (await EarlierOutsideThePrefixAsync(shard.ToList(), markers, cancellationToken).ConfigureAwait(false) is { } earlier)
            {
                string why = string.Create(CultureInfo.InvariantCulture, $"held back: {earlier.Count} object(s) of shard {shardId} before these lie outside --failure-prefix and were not redriven into this table (the first: {earlier.First}); their records come first. Run redrive with the shard's whole folder, {earlier.Folder}");
                results.AddRange(shard.Select(o => new RedriveObjectResult(o.Key, shardId, o.Records.Count, 0, 0, [], why, FromMarker: false) { HeldBack = true }));
                continue;
            }

            if (held.TryGetValue(shardId, out int spills))
            {
                string why = string.Create(CultureInfo.InvariantCulture, $"held back: {spills} spill object(s) of shard {shardId} are not applied yet; a batch in both is exact only when its spill is applied first. Run redrive again once they are applied (an undecided spill is applied when you decide it and delete its object)");
                results.AddRange(shard.Select(o => new RedriveObjectResult(o.Key, shardId, o.Records.Count, 0, 0, [], why, FromMarker: false) { HeldBack = true }));
                continue;
            }

            results.AddRange(await RedriveShardAsync(shardId, shard.Key.Stream, shard.ToList(), cancellationToken).ConfigureAwait(false));
        }

        for (int i = 0; i < results.Count; i++)
        {
            if (!results[i].FromMarker && otherTable.TryGetValue(results[i].Key, out (string Table, DateTimeOffset? Created) earlier))
            {
                results[i] = results[i] with { EarlierTable = earlier.Table, EarlierTableCreated = earlier.Created };
            }
        }

        results.Sort(static (x, y) => string.CompareOrdinal(x.Key, y.Key));
        return results;
    }

    /// <summary>
    /// With a prefix narrower than a shard's folder (<c>aws/lambda/&lt;ESM-UUID&gt;/&lt;shardId&gt;/</c>, say one day's),
    /// the shard's objects outside it that come before <paramref name="objects"/> (Lambda's keys sort by time) and that
    /// no run finished into this table: their records come first, and applying these past them would leave theirs below
    /// the watermarks, undecided on every later run (found by review). Null when there are none, or the prefix holds
    /// the shard's whole folder.
    /// </summary>
    private async Task<(int Count, string First, string Folder)?> EarlierOutsideThePrefixAsync(List<DestinationObject> objects, HashSet<string> markers, CancellationToken cancellationToken)
    {
        string first = objects.Select(o => o.Key).Min(StringComparer.Ordinal)!;
        int shard = first.IndexOf("/" + objects[0].ShardId + "/", StringComparison.Ordinal);
        if (shard < 0)
        {
            return null; // not Lambda's pattern: no folder of the shard to look in
        }

        string folder = first[..(shard + objects[0].ShardId.Length + 2)];
        if (folder.StartsWith(_options.Prefix, StringComparison.Ordinal))
        {
            return null;
        }

        var earlier = new List<string>();
        foreach (string key in await ListAsync(folder, cancellationToken).ConfigureAwait(false))
        {
            if (string.CompareOrdinal(key, first) >= 0 || key.StartsWith(_options.Prefix, StringComparison.Ordinal) || IsFolderPlaceholder(key))
            {
                continue;
            }

            if (markers.Contains(DestinationRedriveOptions.MarkerPrefix + key + ".json") && await ReadMarkerAsync(key, cancellationToken).ConfigureAwait(false) is { Error: null } marker && OfThisTable(marker))
            {
                continue;
            }

            earlier.Add(key);
        }

        return earlier.Count == 0 ? null : (earlier.Count, earlier.Min(StringComparer.Ordinal)!, folder);
    }

    /// <summary>
    /// The records of the objects under the prefix that an earlier run finished into this table (they have a marker
    /// that names it, or names no table: written before markers did): per shard, each
    /// record's sequence number and stream to its object's key. A spill holding one of them was applied after its
    /// batch's destination object, the order that counts it twice (<see cref="RedriveRun"/>).
    /// </summary>
    /// <param name="cancellationToken">Stops the listing and reads.</param>
    /// <returns>
    /// (shard, sequence number) to (stream, object key); and the shards of finished objects that could not be read or
    /// parsed now, each with why ("" for an object whose key names no shard): whether a spill's sample of such a shard is
    /// in already is unknown this run.
    /// </returns>
    public async Task<FinishedDestinationRecords> FinishedRecordsAsync(CancellationToken cancellationToken)
    {
        var finished = new FinishedDestinationRecords([], new Dictionary<string, string>(StringComparer.Ordinal));
        var markers = (await ListAsync(DestinationRedriveOptions.MarkerPrefix, cancellationToken).ConfigureAwait(false)).ToHashSet(StringComparer.Ordinal);
        if (markers.Count == 0)
        {
            return finished;
        }

        foreach (string key in await ListAsync(_options.Prefix, cancellationToken).ConfigureAwait(false))
        {
            if (key.StartsWith(DestinationRedriveOptions.MarkerPrefix, StringComparison.Ordinal) || !markers.Contains(DestinationRedriveOptions.MarkerPrefix + key + ".json"))
            {
                continue;
            }

            // Finished into another table (a mistyped --table, or this one's name before a restore): nothing of it is in
            // this one, and this run redrives it here.
            if (!OfThisTable(await ReadMarkerAsync(key, cancellationToken).ConfigureAwait(false)))
            {
                continue;
            }

            // One object S3 will not hand out now stops nothing: the spills of its shard are left for a later run (it
            // ended the whole run before: review).
            (DestinationObject? parsed, string? error, _) = await TryReadObjectAsync(key, cancellationToken).ConfigureAwait(false);
            if (parsed is null)
            {
                finished.Unread.TryAdd(ShardOfKey(key) ?? string.Empty, $"finished destination object {key} {error}");
                continue;
            }

            foreach (DestinationRecordEntry r in parsed.Records)
            {
                finished.Records[(parsed.ShardId, r.SequenceNumber)] = (parsed.Stream, key);
            }
        }

        return finished;
    }

    /// <summary>The time a marker keeps of when its table was created: ISO 8601, UTC, round-trip.</summary>
    internal static string FormatCreated(DateTimeOffset created) => created.UtcDateTime.ToString("O", CultureInfo.InvariantCulture);

    /// <summary>
    /// Whether a marker's object was finished into this table: the marker names it (or names no table, written before
    /// markers did), and says it was created when this one was (or does not say, written before markers kept it, or
    /// this run does not know). A table restored from a backup, or deleted and created again, has the name of the one
    /// the marker was written for and another creation time: it holds none of what that run applied.
    /// </summary>
    private bool OfThisTable(RedriveObjectResult marker) =>
        (marker.Table is null || SpillRedrive.SameTable(marker.Table, _options.Table)) &&
        (marker.TableCreated is null || _options.TableCreated is null || marker.TableCreated.Value.UtcTicks == _options.TableCreated.Value.UtcTicks);

    private async Task<List<RedriveObjectResult>> RedriveShardAsync(string shardId, string? stream, List<DestinationObject> objects, CancellationToken cancellationToken)
    {
        // Every record of the shard's objects once, in sequence-number order.
        var records = new List<DestinationRecordEntry>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (DestinationObject o in objects)
        {
            foreach (DestinationRecordEntry r in o.Records)
            {
                if (seen.Add(r.SequenceNumber))
                {
                    records.Add(r);
                }
            }
        }

        records.Sort(static (x, y) => SequenceNumber.Compare(x.SequenceNumber, y.SequenceNumber));
        Dictionary<string, DestinationRecordEntry> bySequence = records.ToDictionary(r => r.SequenceNumber, StringComparer.Ordinal);

        // The (record, aggregate) pairs: each record run alone through the pipeline, its pairs captured.
        // And the records that hold poison: a KPL container's poison user record beside valid ones whose pairs are all
        // applied or undecided is still quarantined by the run below (the sink skips what the watermarks hold).
        var pairsOf = new Dictionary<string, List<(string Pk, string Sk)>>(StringComparer.Ordinal);
        var holdsPoison = new HashSet<string>(StringComparer.Ordinal);
        var capture = new CapturingSink();
        using (var classifier = new KinesisBatchProcessor(capture, new DiscardQuarantine(), _options.Processor))
        {
            var response = new ArrayBufferWriter<byte>(256);
            foreach (DestinationRecordEntry r in records)
            {
                capture.Pairs.Clear();
                response.ResetWrittenCount();
                BatchSummary classified = await classifier.ProcessAsync(Event([r]), _options.Processor.TimeProvider.GetUtcNow() + _options.EventTimeout, response, cancellationToken).ConfigureAwait(false);
                pairsOf[r.SequenceNumber] = [.. capture.Pairs];
                if (classified.Quarantined > 0)
                {
                    holdsPoison.Add(r.SequenceNumber);
                }
            }
        }

        // Before: each item's watermark per partition key of the shard.
        var items = pairsOf.Values.SelectMany(p => p).Distinct().ToList();
        Dictionary<(string Pk, string Sk), Dictionary<string, AttributeValue>?> before = await ReadItemsAsync(items, cancellationToken).ConfigureAwait(false);
        if (await WindowMismatchAsync(items, before, cancellationToken).ConfigureAwait(false) is { } wrongWindow)
        {
            // Nothing run and no marker: a run with the function's window size does it.
            return [.. objects.Select(o => new RedriveObjectResult(o.Key, shardId, o.Records.Count, 0, 0, [], wrongWindow, FromMarker: false))];
        }

        // An item of another stream means this is not the records' table (one stream per table): nothing of them is run,
        // not even to series it has no item of yet, which would otherwise be created there for the wrong stream.
        if (before.Values.Select(item => DynamoDbItem.OtherStream(item, stream)).FirstOrDefault(owner => owner is not null) is { } other)
        {
            string why = $"table '{_options.Table}' holds items of these records' series for stream {other}, and the records are of stream {stream}; one stream per table (docs/dynamodb.md): redrive them into their own stream's table. Nothing was run";
            return [.. objects.Select(o => new RedriveObjectResult(o.Key, shardId, o.Records.Count, 0, 0, [], why, FromMarker: false))];
        }

        // No item of another stream among them; one that does not exist would be created for this stream in
        // whatever table --table names: unless an item of the records' stream is at hand, the table must hold one.
        if (before.Values.Any(i => i is null) &&
            !before.Values.Any(i => i is not null && stream is not null && string.Equals(DynamoDbItem.GetStream(i), stream, StringComparison.Ordinal)) &&
            await _streams.MismatchAsync(stream, cancellationToken).ConfigureAwait(false) is { } otherTable)
        {
            // Nothing run and no marker: a run with the stream's own table does it.
            return [.. objects.Select(o => new RedriveObjectResult(o.Key, shardId, o.Records.Count, 0, 0, [], otherTable, FromMarker: false))];
        }

        // The items' destination redrive ranges (dr) are read as their watermarks are (Watermark, below): a malformed one
        // stops the run naming it, before anything is run (the sink refuses it at the write, which the pipeline reported
        // only as "aggregate sink Failed").
        foreach (Dictionary<string, AttributeValue>? item in before.Values)
        {
            _ = DynamoDbItem.GetDestinationMarks(item, shardId);
        }

        // Per (item, key, object): the object's records of that key in that item, from a to b.
        var ranges = new Dictionary<(string Pk, string Sk, string Key, string Object), (string A, string B)>();
        foreach (DestinationRecordEntry r in records)
        {
            foreach ((string pk, string sk) in pairsOf[r.SequenceNumber])
            {
                var id = (pk, sk, r.PartitionKey, r.ObjectKey);
                ranges[id] = ranges.TryGetValue(id, out (string A, string B) range) ? (range.A, r.SequenceNumber) : (r.SequenceNumber, r.SequenceNumber);
            }
        }

        var status = new Dictionary<(string Seq, string Pk, string Sk), RedriveStatus>();
        var reasons = new Dictionary<(string Seq, string Pk, string Sk), string>();
        var toApply = new HashSet<string>(StringComparer.Ordinal);
        foreach (DestinationRecordEntry r in records)
        {
            List<(string Pk, string Sk)> pairs = pairsOf[r.SequenceNumber];
            if (pairs.Count == 0 || holdsPoison.Contains(r.SequenceNumber))
            {
                toApply.Add(r.SequenceNumber); // poison (or no sample): the pipeline quarantines it again, under the same key.
            }

            foreach ((string pk, string sk) in pairs)
            {
                string? w = Watermark(before[(pk, sk)], shardId, r.PartitionKey);
                (string a, string b) = ranges[(pk, sk, r.PartitionKey, r.ObjectKey)];
                if (w is null || SequenceNumber.Compare(r.SequenceNumber, w) > 0)
                {
                    status[(r.SequenceNumber, pk, sk)] = RedriveStatus.Applied;
                    toApply.Add(r.SequenceNumber);
                }
                else if (SequenceNumber.Compare(w, b) <= 0 || InItem(before[(pk, sk)], shardId, r.PartitionKey, r.SequenceNumber, a, b))
                {
                    status[(r.SequenceNumber, pk, sk)] = RedriveStatus.AlreadyApplied;
                }
                else
                {
                    status[(r.SequenceNumber, pk, sk)] = RedriveStatus.Undecided;
                    reasons[(r.SequenceNumber, pk, sk)] = "a later batch moved the key's watermark past this batch's records";
                }
            }
        }

        // Each object's first record: every record of the shard from it to the object's last is in the object.
        var objectStarts = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DestinationObject o in objects)
        {
            foreach (DestinationRecordEntry r in o.Records)
            {
                if (!objectStarts.TryGetValue(o.Key, out string? start) || SequenceNumber.Compare(r.SequenceNumber, start) < 0)
                {
                    objectStarts[o.Key] = r.SequenceNumber;
                }
            }
        }

        // Apply: the records with something to apply, in order, through the function's pipeline and the real sink.
        string? failure = null;
        List<DestinationRecordEntry> run = records.Where(r => toApply.Contains(r.SequenceNumber)).ToList();
        var sink = new DynamoDbAggregateSink(_dynamoDb, RedriveRunOptions.SinkOptionsOf(_options.Table, _options.DynamoDbRetry, _options.MaxPartitionKeysPerItem));
        var quarantine = new S3QuarantineSink(_s3, S3QuarantineSinkOptions.Default with
        {
            BucketName = _options.QuarantineBucket,
            Retry = _options.S3Retry ?? S3QuarantineSinkOptions.Default.Retry,
        });
        using (var processor = new KinesisBatchProcessor(sink, quarantine, _options.Processor))
        {
            var response = new ArrayBufferWriter<byte>(256);
            TimeProvider time = _options.Processor.TimeProvider;
            foreach (List<DestinationRecordEntry> whole in Events(run, _options.RecordsPerEvent))
            {
                List<DestinationRecordEntry>? chunk = whole;
                while (chunk is not null && failure is null)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    await (_heartbeat?.Invoke(cancellationToken) ?? Task.CompletedTask).ConfigureAwait(false);
                    response.ResetWrittenCount();
                    // Every write keeps, per key, the range of records it applied (dr): a spill of the same batch, redriven
                    // later by a run that cannot see this object, finds them applied in the item itself.
                    // With the first record of the object each key's records come from, so that the ranges of one object run
                    // in several events are kept as one.
                    var byKey = chunk.GroupBy(r => StoredKey(r.PartitionKey), StringComparer.Ordinal).ToList();
                    sink.DestinationRedrive = new DestinationRedriveEvent(
                        byKey.ToDictionary(g => g.Key, g => g.Select(r => r.SequenceNumber).ToArray(), StringComparer.Ordinal),
                        byKey.ToDictionary(g => g.Key, g => objectStarts[g.First().ObjectKey], StringComparer.Ordinal));
                    BatchSummary summary = await processor.ProcessAsync(Event(chunk), time.GetUtcNow() + _options.EventTimeout, response, cancellationToken).ConfigureAwait(false);
                    chunk = summary.ReportedFailure is null ? null : RestAfterPairCap(chunk, summary);
                    if (summary.ReportedFailure is not null && chunk is null)
                    {
                        failure = $"the pipeline reported a failure at {summary.ReportedFailure} (aggregate sink {summary.AggregateSinkOutcome}, quarantine sink {summary.QuarantineSinkOutcome})";
                        // The sink's message names no series or key (never payload); a refusal at the key bound says what to pass.
                        failure += RedriveRun.IsKeyBound(summary.AggregateSinkError) ? ": " + summary.AggregateSinkError!.TrimEnd('.') + RedriveRun.KeyBoundHint : string.Empty;
                    }
                }
            }
        }

        // After: what the redrive meant to apply must now be exactly at the watermark; anything else is left.
        var meant = new Dictionary<(string Pk, string Sk, string Key), string>();
        foreach (((string seq, string pk, string sk), RedriveStatus s) in status)
        {
            if (s == RedriveStatus.Applied)
            {
                string key = bySequence[seq].PartitionKey;
                meant[(pk, sk, key)] = meant.TryGetValue((pk, sk, key), out string? highest) && SequenceNumber.Compare(highest, seq) >= 0 ? highest : seq;
            }
        }

        Dictionary<(string Pk, string Sk), Dictionary<string, AttributeValue>?> after = await ReadItemsAsync(meant.Keys.Select(m => (m.Pk, m.Sk)).Distinct().ToList(), cancellationToken).ConfigureAwait(false);
        foreach (((string seq, string pk, string sk), RedriveStatus s) in status.ToList())
        {
            if (s != RedriveStatus.Applied)
            {
                continue;
            }

            string key = bySequence[seq].PartitionKey;
            string? w = Watermark(after[(pk, sk)], shardId, key);
            string highest = meant[(pk, sk, key)];
            if (w is null || SequenceNumber.Compare(w, highest) < 0)
            {
                status[(seq, pk, sk)] = RedriveStatus.Left;
                reasons[(seq, pk, sk)] = failure ?? "not in the table after the run";
            }
            else if (SequenceNumber.Compare(w, highest) > 0 && !InRange(after[(pk, sk)], shardId, key, seq))
            {
                // A live write moved the watermark past these records during the run: the redrive's write may or may not
                // have landed before it. Unless a range of the key in the item covers the record: a destination phase's
                // write applied it (this run's, before another run of a later object of the key, or that other run's),
                // and it is in the item once.
                status[(seq, pk, sk)] = RedriveStatus.Undecided;
                reasons[(seq, pk, sk)] = "a live write moved the key's watermark during the redrive";
            }
        }

        bool shardLeft = failure is not null || status.Values.Any(s => s == RedriveStatus.Left);
        var results = new List<RedriveObjectResult>();

        // A record in two objects (a copy of an object under another key) is applied once: the first object that holds
        // it counts it applied, a later one already applied (found by review: each copy said it applied it).
        var countedApplied = new HashSet<(string Seq, string Pk, string Sk)>();
        foreach (DestinationObject o in objects)
        {
            var own = o.Records.Select(r => r.SequenceNumber).ToHashSet(StringComparer.Ordinal);
            var cases = new List<RedriveCase>();
            int applied = 0, already = 0;
            foreach (((string seq, string pk, string sk), RedriveStatus s) in status)
            {
                if (!own.Contains(seq))
                {
                    continue;
                }

                switch (s)
                {
                    case RedriveStatus.Applied when countedApplied.Add((seq, pk, sk)):
                        applied++;
                        break;
                    case RedriveStatus.Applied:
                        already++;
                        break;
                    case RedriveStatus.AlreadyApplied:
                        already++;
                        break;
                    default:
                        cases.Add(new RedriveCase(o.Key, shardId, seq, bySequence[seq].PartitionKey, pk, sk, s, reasons[(seq, pk, sk)]));
                        break;
                }
            }

            cases.Sort(static (x, y) => SequenceNumber.Compare(x.SequenceNumber, y.SequenceNumber) is var c && c != 0 ? c : string.CompareOrdinal(x.ItemPk + x.ItemSk, y.ItemPk + y.ItemSk));
            var result = new RedriveObjectResult(o.Key, shardId, o.Records.Count, applied, already, cases, shardLeft ? failure ?? "some records were left" : null, FromMarker: false);
            if (!shardLeft)
            {
                await WriteMarkerAsync(result, cancellationToken).ConfigureAwait(false);
            }

            results.Add(result);
        }

        return results;
    }

    /// <summary>
    /// The records still to run when the pipeline split <paramref name="chunk"/> at the function's pair cap
    /// (<see cref="BatchStopReason.PairCap"/>: what it read is written, the record that would have passed the cap is
    /// reported, as Lambda would be asked to deliver it again), from that record on; null when the failure was anything
    /// else, or the split left nothing run.
    /// </summary>
    private static List<DestinationRecordEntry>? RestAfterPairCap(List<DestinationRecordEntry> chunk, BatchSummary summary)
    {
        if (summary.StopReason != BatchStopReason.PairCap ||
            summary.AggregateSinkOutcome is SinkOutcome.Failed or SinkOutcome.TimedOut ||
            summary.QuarantineSinkOutcome is SinkOutcome.Failed or SinkOutcome.TimedOut)
        {
            return null;
        }

        int from = chunk.FindIndex(r => string.Equals(r.SequenceNumber, summary.ReportedFailure, StringComparison.Ordinal));
        return from > 0 ? chunk.GetRange(from, chunk.Count - from) : null;
    }

    /// <summary>
    /// The events the records are run in, in order: at most <paramref name="perEvent"/> records each, and a new event
    /// whenever a record's partition key already has a record of another destination object in the current one. So each
    /// event holds, per key, records of one object only: no record of the key between two of them is missing from the
    /// event (an object holds every record of its keys within its range), which the ranges the sink keeps rely on.
    /// </summary>
    internal static IEnumerable<List<DestinationRecordEntry>> Events(List<DestinationRecordEntry> run, int perEvent)
    {
        var chunk = new List<DestinationRecordEntry>();
        var objectOfKey = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DestinationRecordEntry r in run)
        {
            if (chunk.Count == perEvent || (objectOfKey.TryGetValue(r.PartitionKey, out string? other) && other != r.ObjectKey))
            {
                yield return chunk;
                chunk = [];
                objectOfKey.Clear();
            }

            chunk.Add(r);
            objectOfKey[r.PartitionKey] = r.ObjectKey;
        }

        if (chunk.Count > 0)
        {
            yield return chunk;
        }
    }

    /// <summary>
    /// The highest of the item's marks for (shard, key): the floor <c>wm</c>, the live watermark <c>wk</c>, and the
    /// spill redrive's <c>rk</c> (a batch whose spill was written before its last attempt crashed is both spilled and
    /// given up: whatever the spill redrive applied counts as applied here).
    /// </summary>
    private static string? Watermark(Dictionary<string, AttributeValue>? item, string shardId, string partitionKey)
    {
        partitionKey = StoredKey(partitionKey);
        string? floor = DynamoDbItem.GetWatermark(item, shardId);
        Dictionary<string, AttributeValue>? marks = DynamoDbItem.GetKeyWatermarks(item, shardId);
        string? own = marks is not null && marks.TryGetValue(partitionKey, out AttributeValue? mark) ? mark.S : null;
        Dictionary<string, AttributeValue>? redriveMarks = DynamoDbItem.GetRedriveMarks(item, shardId);
        string? redriven = redriveMarks is not null && redriveMarks.TryGetValue(partitionKey, out AttributeValue? r) ? r.S : null;

        return Highest(Highest(floor, own), redriven);
    }

    /// <summary>
    /// Whether the item says record <paramref name="sequence"/> of the key is in it although the key's watermark is past
    /// <paramref name="b"/>, the last of the object's records of the key in the item (<paramref name="a"/> the first):
    /// it lies in one of the key's destination redrive ranges (<see cref="InRange"/>), or at or below the key's spill
    /// redrive mark <c>rk</c> while that mark lies inside [a, b]. A run stopped before its markers, or two runs at once,
    /// leave the watermark past b by the redrive's own writes: the spill phase's <c>rk</c> for a batch in both places,
    /// the destination phase's write of a later object of the key. Before, every later run reported such records
    /// undecided, and never said done.
    /// </summary>
    /// <remarks>
    /// <para>Nothing can be counted twice by this: it only turns "undecided" into "already applied", and neither runs the
    /// record (the sink would not apply it either: it is at or below the key's watermark). What it must not do is call
    /// a record applied that is not in the item, and the two marks are written only by writes that put those records in
    /// it.</para>
    /// <para><c>rk</c> only inside [a, b]: <c>rk</c> is the highest sample of the key a spill redrive applied or found
    /// applied, and it says nothing of records below it that no spill held. A batch given up that no attempt applied,
    /// followed by a spilled batch of the key, has <c>rk</c> past it while none of it is in the item. Inside [a, b],
    /// <c>rk</c> was written for a spill of an attempt holding these records (as for w inside [a, b]: only this batch's
    /// attempts, or those of a batch it was split from, hold records of the key inside [a, b]), whose records of the
    /// key in the item were either written by that attempt or spilled; the spill redrive passes a key's samples in
    /// order and never one it cannot decide, so every record of the key in the item from a to <c>rk</c> is in it.</para>
    /// </remarks>
    private static bool InItem(Dictionary<string, AttributeValue>? item, string shardId, string partitionKey, string sequence, string a, string b)
    {
        Dictionary<string, AttributeValue>? marks = DynamoDbItem.GetRedriveMarks(item, shardId);
        if (marks is not null && marks.TryGetValue(StoredKey(partitionKey), out AttributeValue? mark) && mark.S is { } rk &&
            SequenceNumber.Compare(rk, a) >= 0 && SequenceNumber.Compare(rk, b) <= 0 && SequenceNumber.Compare(sequence, rk) <= 0)
        {
            return true;
        }

        return InRange(item, shardId, partitionKey, sequence);
    }

    /// <summary>
    /// Whether record <paramref name="sequence"/> of the key lies in one of the key's destination redrive ranges in the
    /// item (<c>dr</c>, first ≤ it ≤ last): a destination phase's write applied every record of the key in the item in
    /// that range (<see cref="DynamoDbAggregateSink"/> writes the range in the same put), so it is in the item, once.
    /// </summary>
    private static bool InRange(Dictionary<string, AttributeValue>? item, string shardId, string partitionKey, string sequence) =>
        DynamoDbItem.GetDestinationMarks(item, shardId) is { } ranges &&
        ranges.TryGetValue(StoredKey(partitionKey), out List<(string First, string Last)>? list) &&
        list.Exists(r => SequenceNumber.Compare(sequence, r.First) >= 0 && SequenceNumber.Compare(sequence, r.Last) <= 0);

    /// <summary>A partition key as the sink names its entries (one that starts with U+FFFD is stored as U+FFFD and its bytes in base64).</summary>
    private static string StoredKey(string partitionKey) => AggregateBatch.KeyText(Encoding.UTF8.GetBytes(partitionKey));

    private static string? Highest(string? a, string? b) =>
        a is null ? b : b is null ? a : SequenceNumber.Compare(a, b) >= 0 ? a : b;

    /// <summary>
    /// Why the redrive's window size is not the function's, when the table shows it: per series of the records, the item
    /// the redrive would write when it exists, else the series' latest item (one query), must span the window given.
    /// With another size the records go to other items than the ones the failed attempts wrote, so what those applied
    /// is not seen and would be counted again in another window. Null when every series agrees or has no item yet.
    /// </summary>
    private async Task<string?> WindowMismatchAsync(List<(string Pk, string Sk)> items, Dictionary<(string Pk, string Sk), Dictionary<string, AttributeValue>?> before, CancellationToken cancellationToken)
    {
        long given = (long)_options.Processor.Aggregator.WindowSize.TotalMilliseconds;
        foreach (IGrouping<string, (string Pk, string Sk)> series in items.GroupBy(i => i.Pk, StringComparer.Ordinal))
        {
            Dictionary<string, AttributeValue>? item = series.Select(i => before[i]).FirstOrDefault(i => i is not null);
            if (item is null)
            {
                QueryResponse latest = await _dynamoDb.QueryAsync(
                    new QueryRequest
                    {
                        TableName = _options.Table,
                        KeyConditionExpression = "#pk = :pk",
                        ExpressionAttributeNames = new Dictionary<string, string>(StringComparer.Ordinal) { ["#pk"] = DynamoDbItem.PartitionKey },
                        ExpressionAttributeValues = new Dictionary<string, AttributeValue>(StringComparer.Ordinal) { [":pk"] = new AttributeValue { S = series.Key } },
                        ScanIndexForward = false,
                        Limit = 1,
                        ConsistentRead = true,
                    },
                    cancellationToken).ConfigureAwait(false);
                item = latest.Items is { Count: > 0 } found ? found[0] : null;
            }

            if (item is not null &&
                item.TryGetValue(DynamoDbItem.WindowStart, out AttributeValue? start) && DynamoDbKeys.TryParseTimestamp(start.S, out long startMs) &&
                item.TryGetValue(DynamoDbItem.WindowEnd, out AttributeValue? end) && DynamoDbKeys.TryParseTimestamp(end.S, out long endMs) &&
                endMs - startMs != given)
            {
                return string.Create(
                    CultureInfo.InvariantCulture,
                    $"the table's items of this shard's series have windows of {(endMs - startMs) / 1000.0} s, and --window-seconds is {given / 1000.0}: give the function's ANALYTICS_WINDOW_SECONDS (with another size the records would go to other items than the ones the failed attempts wrote, and what those applied would be counted again); nothing was run");
            }
        }

        return null;
    }

    private async Task<Dictionary<(string Pk, string Sk), Dictionary<string, AttributeValue>?>> ReadItemsAsync(List<(string Pk, string Sk)> keys, CancellationToken cancellationToken)
    {
        var items = new Dictionary<(string Pk, string Sk), Dictionary<string, AttributeValue>?>();
        foreach ((string pk, string sk) in keys)
        {
            GetItemResponse got = await _dynamoDb.GetItemAsync(
                new GetItemRequest
                {
                    TableName = _options.Table,
                    ConsistentRead = true,
                    Key = new Dictionary<string, AttributeValue>(StringComparer.Ordinal)
                    {
                        [DynamoDbItem.PartitionKey] = new AttributeValue { S = pk },
                        [DynamoDbItem.SortKey] = new AttributeValue { S = sk },
                    },
                },
                cancellationToken).ConfigureAwait(false);
            items[(pk, sk)] = got.IsItemSet && got.Item is { Count: > 0 } ? got.Item : null;
        }

        return items;
    }

    private async Task<List<string>> ListAsync(string prefix, CancellationToken cancellationToken)
    {
        var keys = new List<string>();
        string? token = null;
        do
        {
            ListObjectsV2Response page = await _s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = _options.Bucket, Prefix = prefix, ContinuationToken = token }, cancellationToken).ConfigureAwait(false);
            keys.AddRange((page.S3Objects ?? []).Select(o => o.Key));
            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (token is not null);
        return keys;
    }

    /// <summary>The shard a destination object's key names (Lambda writes <c>aws/lambda/&lt;UUID&gt;/&lt;shardId&gt;/YYYY/...</c>), or null.</summary>
    /// <summary>
    /// A key that ends in <c>/</c>: what the S3 console's "Create folder" writes, never a batch of Lambda's (review: one
    /// in a shard's folder held the shard back on every run).
    /// </summary>
    private static bool IsFolderPlaceholder(string key) => key.EndsWith('/');

    internal static string? ShardOfKey(string key) =>
        key.Split('/').FirstOrDefault(part => part.StartsWith("shardId-", StringComparison.Ordinal));

    private async Task<byte[]> GetAsync(string key, CancellationToken cancellationToken)
    {
        using GetObjectResponse got = await _s3.GetObjectAsync(new GetObjectRequest { BucketName = _options.Bucket, Key = key }, cancellationToken).ConfigureAwait(false);
        using var body = new MemoryStream();
        await got.ResponseStream.CopyToAsync(body, cancellationToken).ConfigureAwait(false);
        return body.ToArray();
    }

    /// <summary>
    /// <see cref="ReadObjectAsync"/>, with a read S3 will not answer now (throttling, an internal error, a broken connection)
    /// as <paramref name="key"/>'s error instead of an exception: <c>NotRead</c> then, and the error says why.
    /// </summary>
    private async Task<(DestinationObject? Object, string? Error, bool NotRead)> TryReadObjectAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            (DestinationObject? parsed, string? error) = await ReadObjectAsync(key, cancellationToken).ConfigureAwait(false);
            return (parsed, error, false);
        }
        catch (Exception e) when (e is AmazonS3Exception or IOException or HttpRequestException)
        {
            return (null, $"could not be read ({e.GetType().Name}: {e.Message})", true);
        }
    }

    /// <summary>Reads an invocation record: its shard and the records of its <c>payload</c> (a JSON string, or the event itself).</summary>
    private async Task<(DestinationObject? Object, string? Error)> ReadObjectAsync(string key, CancellationToken cancellationToken)
    {
        byte[] bytes = await GetAsync(key, cancellationToken).ConfigureAwait(false);
        return Parse(key, bytes);
    }

    /// <summary>
    /// Reads an invocation record. Every reason it gives names positions and field names only: the reader's own message
    /// quotes the offending byte (<c>'0x00' is an invalid start of a value</c>), which is a byte of the payload.
    /// </summary>
    internal static (DestinationObject? Object, string? Error) Parse(string key, byte[] bytes)
    {
        JsonDocument record;
        try
        {
            record = JsonDocument.Parse(bytes);
        }
        catch (JsonException e)
        {
            return (null, "not JSON: " + JsonErrorText.Describe(bytes, e));
        }

        try
        {
            using (record)
            {
                return ParseRecord(key, record.RootElement);
            }
        }
        catch (InvalidOperationException)
        {
            // GetString of a string holding an escaped lone surrogate.
            return (null, "a string of the object is not valid text (an escaped lone surrogate)");
        }
    }

    private static (DestinationObject? Object, string? Error) ParseRecord(string key, JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("KinesisBatchInfo", out JsonElement info) ||
            !info.TryGetProperty("shardId", out JsonElement shard) || shard.ValueKind != JsonValueKind.String)
        {
            return (null, "not an on-failure invocation record of a Kinesis mapping (no KinesisBatchInfo.shardId)");
        }

        // Which records Lambda gave up on: the payload is the event they were last in, which may hold records it did
        // not give up on (the expired head of a retried batch; the tail after a partial response; docs/emulator.md).
        // Redriving those too would break the decision below: a later batch's write would look like this one's.
        byte[] from = SequenceBytes(info, "startSequenceNumber");
        byte[] to = SequenceBytes(info, "endSequenceNumber");
        if (!SequenceNumber.IsValid(from) || !SequenceNumber.IsValid(to) ||
            !info.TryGetProperty("batchSize", out JsonElement size) || !size.TryGetInt32(out int batchSize) || batchSize < 1)
        {
            return (null, "KinesisBatchInfo has no valid startSequenceNumber, endSequenceNumber and batchSize: which records of the payload Lambda gave up on cannot be told");
        }

        if (!root.TryGetProperty("payload", out JsonElement payload))
        {
            return (null, "the record has no payload (an SQS or SNS destination's record, or a truncated one): its records cannot be redriven from it");
        }

        JsonDocument? inner = null;
        if (payload.ValueKind == JsonValueKind.String)
        {
            byte[] text = Encoding.UTF8.GetBytes(payload.GetString()!);
            try
            {
                inner = JsonDocument.Parse(text);
            }
            catch (JsonException e)
            {
                return (null, "the payload string is not JSON: " + JsonErrorText.Describe(text, e) + " of the payload");
            }
        }

        using (inner)
        {
            JsonElement evt = inner?.RootElement ?? payload;
            if (evt.ValueKind != JsonValueKind.Object || !evt.TryGetProperty("Records", out JsonElement array) || array.ValueKind != JsonValueKind.Array)
            {
                return (null, "the payload is not a Kinesis event (no Records array)");
            }

            var records = new List<DestinationRecordEntry>();
            int inPayload = 0;
            byte[]? previous = null;
            string? stream = null;
            foreach (JsonElement r in array.EnumerateArray())
            {
                if (r.ValueKind != JsonValueKind.Object || !r.TryGetProperty("kinesis", out JsonElement kinesis) || kinesis.ValueKind != JsonValueKind.Object ||
                    SequenceBytes(kinesis, "sequenceNumber") is not { } sequence || !SequenceNumber.IsValid(sequence) ||
                    !kinesis.TryGetProperty("partitionKey", out JsonElement pk) || pk.ValueKind != JsonValueKind.String)
                {
                    return (null, $"record {inPayload} of the payload has no valid kinesis.sequenceNumber or partitionKey");
                }

                // The pipeline takes the shard from eventID; a record of another shard would be judged by the wrong watermarks.
                string sequenceText = Encoding.ASCII.GetString(sequence);
                if (!r.TryGetProperty("eventID", out JsonElement eventId) || eventId.ValueKind != JsonValueKind.String ||
                    eventId.GetString() != shard.GetString() + ":" + sequenceText)
                {
                    return (null, $"record {inPayload} of the payload is not of shard {shard.GetString()} (its eventID is not <shardId>:<sequenceNumber> of that shard)");
                }

                // Lambda builds an event from a shard's records in the order it read them: a record twice, or one out of order,
                // would pass the batchSize count while another given-up record is missing.
                if (previous is not null && SequenceNumber.Compare(sequence, previous) <= 0)
                {
                    return (null, $"record {inPayload} of the payload does not follow record {inPayload - 1} in sequence-number order (a record twice, or out of order): it is not an event Lambda built");
                }

                // One event is of one stream (the pipeline refuses one whose records disagree): the stream decides whose
                // watermarks may judge the records.
                if (r.TryGetProperty("eventSourceARN", out JsonElement source) && source.ValueKind == JsonValueKind.String)
                {
                    string? of = DynamoDbItem.StreamOf(source.GetString());
                    if (stream is not null && stream != of)
                    {
                        return (null, $"record {inPayload} of the payload is of another stream than record 0 (its eventSourceARN differs): it is not an event Lambda built");
                    }

                    stream = of;
                }

                previous = sequence;
                inPayload++;
                if (SequenceNumber.Compare(sequence, from) >= 0 && SequenceNumber.Compare(sequence, to) <= 0)
                {
                    records.Add(new DestinationRecordEntry(key, sequenceText, pk.GetString()!, r.GetRawText()));
                }
            }

            if (records.Count != batchSize)
            {
                return (null, $"the payload holds {records.Count} records from startSequenceNumber to endSequenceNumber, but KinesisBatchInfo.batchSize is {batchSize}: it is not the event of the records Lambda gave up on");
            }

            return (new DestinationObject(key, shard.GetString()!, records, stream), null);
        }
    }

    /// <summary>The ASCII bytes of a string property, or none (not <see cref="SequenceNumber.IsValid"/>) when it is absent or not a string.</summary>
    private static byte[] SequenceBytes(JsonElement owner, string name) =>
        owner.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.String ? Encoding.ASCII.GetBytes(value.GetString()!) : [];

    private static byte[] Event(IReadOnlyList<DestinationRecordEntry> records)
    {
        var text = new StringBuilder("{\"Records\":[");
        for (int i = 0; i < records.Count; i++)
        {
            text.Append(i == 0 ? string.Empty : ",").Append(records[i].Json);
        }

        return Encoding.UTF8.GetBytes(text.Append("]}").ToString());
    }

    private async Task WriteMarkerAsync(RedriveObjectResult result, CancellationToken cancellationToken)
    {
        var marker = new Marker(result.Key, result.ShardId, result.Records, result.Applied, result.AlreadyApplied, [.. result.Cases.Select(c => new MarkerCase(c.SequenceNumber, c.PartitionKey, c.ItemPk, c.ItemSk, c.Status.ToString(), c.Reason))], _options.Table, _options.TableCreated is { } created ? FormatCreated(created) : null);
        await _s3.PutObjectAsync(
            new PutObjectRequest
            {
                BucketName = _options.Bucket,
                Key = DestinationRedriveOptions.MarkerPrefix + result.Key + ".json",
                ContentBody = JsonSerializer.Serialize(marker, RedriveJsonContext.Default.Marker),
                ContentType = "application/json",
                UseChunkEncoding = false,
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// What an earlier run did with <paramref name="key"/>, from its marker. A marker edited or broken by hand is reported
    /// as that object's error, naming the marker and never quoting a byte of it, and the run goes on with the others.
    /// </summary>
    private async Task<RedriveObjectResult> ReadMarkerAsync(string key, CancellationToken cancellationToken)
    {
        string markerKey = DestinationRedriveOptions.MarkerPrefix + key + ".json";
        RedriveObjectResult Broken(string why) =>
            new(key, "unknown", 0, 0, 0, [], $"its redrive marker {markerKey} {why}; fix it, or delete it to have the object redriven again (the table's watermarks keep what was applied from being applied twice)", FromMarker: true);

        byte[] bytes;
        try
        {
            bytes = await GetAsync(markerKey, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AmazonS3Exception or IOException or HttpRequestException)
        {
            // A read that failed says nothing about the marker: run again, do not delete it.
            return new(key, "unknown", 0, 0, 0, [], $"its redrive marker {markerKey} could not be read ({e.GetType().Name}: {e.Message}); run redrive again", FromMarker: true);
        }

        Marker? marker;
        try
        {
            marker = JsonSerializer.Deserialize(bytes, RedriveJsonContext.Default.Marker);
        }
        catch (JsonException e)
        {
            return Broken("is not a marker: " + JsonErrorText.Describe(bytes, e));
        }

        if (marker is null)
        {
            return Broken("is empty (null)");
        }

        if (marker.Cases is null || marker.ShardId is null)
        {
            return Broken("has no Cases or ShardId");
        }

        DateTimeOffset? tableCreated = null;
        if (marker.TableCreated is not null)
        {
            if (!DateTimeOffset.TryParse(marker.TableCreated, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out DateTimeOffset parsed))
            {
                return Broken("has a TableCreated that is not a time");
            }

            tableCreated = parsed;
        }

        var cases = new List<RedriveCase>(marker.Cases.Count);
        for (int i = 0; i < marker.Cases.Count; i++)
        {
            MarkerCase? c = marker.Cases[i];
            // The report prints a status in lower case; a marker edited after it says "undecided" as well as "Undecided".
            if (c is null || c.SequenceNumber is null || c.ItemPk is null || c.ItemSk is null ||
                !Enum.TryParse(c.Status, ignoreCase: true, out RedriveStatus status) || !Enum.IsDefined(status) || int.TryParse(c.Status, out _))
            {
                return Broken(string.Create(CultureInfo.InvariantCulture, $"has case {i} without SequenceNumber, ItemPk or ItemSk, or with a Status other than Undecided, Left, Applied or AlreadyApplied"));
            }

            cases.Add(new RedriveCase(key, marker.ShardId, c.SequenceNumber, c.PartitionKey ?? string.Empty, c.ItemPk, c.ItemSk, status, c.Reason ?? string.Empty));
        }

        return new RedriveObjectResult(key, marker.ShardId, marker.Records, marker.Applied, marker.AlreadyApplied, cases, null, FromMarker: true) { Table = marker.Table, TableCreated = tableCreated };
    }

    /// <summary>What <see cref="FinishedRecordsAsync"/> found.</summary>
    /// <param name="Records">(shard, sequence number) to (stream, object key) of every record of the finished objects read.</param>
    /// <param name="Unread">Shard ("" for none known) to why one of its finished objects could not be read or parsed.</param>
    internal sealed record FinishedDestinationRecords(Dictionary<(string Shard, string Sequence), (string? Stream, string Key)> Records, Dictionary<string, string> Unread);

    /// <summary>One object's records.</summary>
    /// <param name="Key">The object's key.</param>
    /// <param name="ShardId">Its shard (from <c>KinesisBatchInfo</c>).</param>
    /// <param name="Records">The records Lambda gave up on.</param>
    /// <param name="Stream">The stream of its records (their <c>eventSourceARN</c>, without a consumer part); null when they do not say.</param>
    internal sealed record DestinationObject(string Key, string ShardId, List<DestinationRecordEntry> Records, string? Stream = null);

    /// <summary>One record of a payload, as its JSON text.</summary>
    internal sealed record DestinationRecordEntry(string ObjectKey, string SequenceNumber, string PartitionKey, string Json);

    /// <summary>Captures the items a batch's pairs go to; writes nothing.</summary>
    private sealed class CapturingSink : IAggregateSink
    {
        public List<(string Pk, string Sk)> Pairs { get; } = [];

        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            for (int i = 0; i < batch.Count; i++)
            {
                PairKey key = PairKey.From(batch, i);
                Pairs.Add((key.Pk, key.Sk));
            }

            batch.MarkAllDurable();
            return Task.CompletedTask;
        }
    }

    /// <summary>Takes the classification pass's poison records and keeps none: the pass only counts them (<see cref="BatchSummary.Quarantined"/>).</summary>
    private sealed class DiscardQuarantine : IQuarantineSink
    {
        public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken) => Task.FromResult(records.Count);
    }
}

/// <summary>
/// What a redrive did with one destination object, kept next to it, and into which table (null in a marker written before
/// markers named it), created when (<see cref="DestinationRedrive.FormatCreated"/>; null in a marker written before
/// markers kept it, or by a run that did not know).
/// </summary>
internal sealed record Marker(string Key, string ShardId, int Records, int Applied, int AlreadyApplied, List<MarkerCase> Cases, string? Table = null, string? TableCreated = null);

/// <summary>One undecided (record, aggregate) in a marker.</summary>
internal sealed record MarkerCase(string SequenceNumber, string PartitionKey, string ItemPk, string ItemSk, string Status, string Reason);

[System.Text.Json.Serialization.JsonSerializable(typeof(Marker))]
internal sealed partial class RedriveJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
