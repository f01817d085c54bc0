using System.Globalization;
using Amazon.S3;
using Amazon.S3.Model;
using Analytics.Core;

namespace Analytics.Tools;

/// <summary>What one redrive run did.</summary>
/// <param name="Objects">Spill objects found under the prefix.</param>
/// <param name="Unreadable">Objects that could not be read, are not spill objects, are not under the key the function writes for their body, or are copies found elsewhere than where the function wrote them (left in place).</param>
/// <param name="Applied">Samples merged into the table by this run.</param>
/// <param name="AlreadyApplied">Samples found already in the table (an earlier run, or the live function).</param>
/// <param name="Undecided">Samples left because their outcome cannot be decided (or they follow one that cannot), or their write failed.</param>
/// <param name="Deleted">Objects fully applied and deleted.</param>
/// <param name="Left">Objects still in the bucket after the run.</param>
internal sealed record RedriveReport(int Objects, int Unreadable, int Applied, int AlreadyApplied, int Undecided, int Deleted, int Left)
{
    /// <summary>
    /// Whether nothing is left: every spill found is in the table exactly once and its object is gone, and the run listed
    /// every object (one that read only its first <see cref="SpillRedrive.MaxObjectsPerRun"/> is not done: found by review,
    /// it exited 0 with objects never read).
    /// </summary>
    public bool Done => Left == 0 && !NotListed;

    /// <summary>The bucket held more objects under the prefix than the run reads: those past them are for a later run.</summary>
    public bool NotListed { get; init; }

    /// <summary>
    /// Of <see cref="Undecided"/>, the samples not applied because their write was refused (another stream's table, the
    /// key bound) or failed, not because their outcome cannot be decided: the summary tells them apart (found by review:
    /// a refusal the operator can mend read as undecided).
    /// </summary>
    public int NotApplied { get; init; }
}

/// <summary>
/// Applies spill objects (written by <see cref="S3SpillSink"/>) to the aggregate table exactly once, however often it
/// runs or is interrupted, while the live function keeps writing the same items; deletes each object once everything
/// in it is applied. The decision rules are <c>DynamoDbAggregateSink.ApplyOnceAsync</c>'s (docs/failure-modes.md).
/// </summary>
internal static class SpillRedrive
{
    /// <summary>Most objects one run reads (a run with more leaves the rest for the next run, and says so).</summary>
    public const int MaxObjectsPerRun = 100_000;

    /// <summary>
    /// Objects younger than this are left for a later run by default: a spill that was written but not confirmed is
    /// removed by the retry of its batch, which Lambda starts at once, within an invocation's longest run (15 minutes).
    /// </summary>
    public static readonly TimeSpan DefaultMinAge = TimeSpan.FromMinutes(15);

    /// <summary>Why an object found elsewhere than where the function wrote it is left.</summary>
    internal static string CopyLeftReason(string writtenBucket, string writtenKey, string shardId) =>
        $"the function wrote it as s3://{writtenBucket}/{writtenKey}; this is a copy, and a copy may lack an earlier spill of shard {shardId}, " +
        "whose records a redrive of this one first would make count as applied (lost): redrive from where the function wrote it, " +
        "or pass --from-copy when this bucket and prefix hold every spill object of the shard not yet redriven";

    /// <summary>Applies every spill object under <paramref name="prefix"/>.</summary>
    /// <param name="s3">The S3 client.</param>
    /// <param name="bucket">The spill bucket.</param>
    /// <param name="prefix">The spill sink's key prefix (<c>spill</c> by default).</param>
    /// <param name="table">A DynamoDB sink for the table: its client, table name and retry budget are used.</param>
    /// <param name="output">Receives one line per object left, and a summary line.</param>
    /// <param name="minAge">Objects modified more recently are left for a later run (<see cref="DefaultMinAge"/>).</param>
    /// <param name="time">The clock <paramref name="minAge"/> is measured with.</param>
    /// <param name="cancellationToken">Stops the run; whatever was applied stays applied exactly once.</param>
    /// <param name="heartbeat">Called before each write (the redrive lease's renewal); it throws to stop the run.</param>
    /// <param name="maxObjects">Most objects this run reads (<see cref="MaxObjectsPerRun"/>; smaller only in tests, which then list pages of at most this many keys).</param>
    /// <param name="tableStreams">Refuses the objects of a stream the table does not hold (<see cref="Redrive.TableStreams"/>); null: not checked.</param>
    /// <param name="finishedDestination">Reads the records of on-failure destination objects an earlier run finished ((shard, sequence number) to (stream, object key)), once, and only when a spill object was read (it reads every finished object); a spilled sample of one is applied only when its item's destination redrive ranges say it is not in already, else left; null: not checked (the items' ranges still decide).</param>
    /// <param name="maxOtherObjectBytes">The largest object not named as a spill that is read (<see cref="MaxOtherObjectBytes"/>; smaller in tests).</param>
    /// <param name="fromCopy">The objects are a copy of the function's spills, made whole (every spill object of their shards not yet redriven): objects written elsewhere are applied; false: they are left (<see cref="CopyLeftReason"/>).</param>
    /// <returns>What the run did.</returns>
    public static async Task<RedriveReport> ApplyAsync(IAmazonS3 s3, string bucket, string prefix, DynamoDbAggregateSink table, TextWriter output, TimeSpan minAge, TimeProvider time, CancellationToken cancellationToken, Func<CancellationToken, Task>? heartbeat = null, int maxObjects = MaxObjectsPerRun, Redrive.TableStreams? tableStreams = null, Func<CancellationToken, Task<Redrive.DestinationRedrive.FinishedDestinationRecords>>? finishedDestination = null, bool fromCopy = false, long maxOtherObjectBytes = MaxOtherObjectBytes)
    {
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(s3);
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(output);
        string listPrefix = prefix.Trim('/') is { Length: > 0 } p ? p + "/" : string.Empty;
        var keys = new List<string>();
        var young = new List<string>();
        var markers = new Dictionary<string, string?>(StringComparer.Ordinal);
        var sizes = new Dictionary<string, long>(StringComparer.Ordinal);
        DateTime cutoff = (time.GetUtcNow() - minAge).UtcDateTime;
        string? token = null;
        do
        {
            ListObjectsV2Response page = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = listPrefix, ContinuationToken = token, MaxKeys = Math.Min(maxObjects, 1000) }, cancellationToken).ConfigureAwait(false);
            foreach (S3Object o in page.S3Objects ?? [])
            {
                if (IsMarker(o.Key))
                {
                    markers[o.Key] = o.ETag;
                }
                else if (IsCandidate(o.Key))
                {
                    (o.LastModified is { } modified && modified.ToUniversalTime() > cutoff ? young : keys).Add(o.Key);
                    sizes[o.Key] = o.Size ?? 0;
                }
            }

            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (token is not null && keys.Count < maxObjects);
        bool listedAll = token is null;

        // A shard with a young object waits as a whole: its older objects may hold earlier records of the same keys.
        var blockedShards = new HashSet<string>(StringComparer.Ordinal);
        foreach (string key in young)
        {
            blockedShards.Add(ShardOfKey(key));
            await output.WriteLineAsync($"left {key}: written less than {minAge.TotalMinutes:0.#} minutes ago; run again later").ConfigureAwait(false);
        }

        // Read every object first: an unreadable object of a shard stops that shard (applying a later spill of one of its
        // keys would move the key's redrive mark past the unread records).
        var contents = new Dictionary<string, SpillObjectContent>(StringComparer.Ordinal);
        var left = new HashSet<string>(young, StringComparer.Ordinal);
        int unreadable = 0;

        // An object that is not applied holds back its shard (by its key, and by its body's when read): applying a later
        // spill of one of its keys would move the key's redrive mark past the records it holds.
        async Task LeaveAsync(string key, string? bodyShard, string why)
        {
            unreadable++;
            left.Add(key);
            blockedShards.Add(ShardOfKey(key));
            if (bodyShard is not null)
            {
                blockedShards.Add(bodyShard);
            }

            await output.WriteLineAsync($"left {key}: {why}").ConfigureAwait(false);
        }

        foreach (string key in keys)
        {
            if (sizes[key] > maxOtherObjectBytes && !key.EndsWith(".json", StringComparison.Ordinal))
            {
                // Not read into memory (found by review: an archive in a shard's folder was downloaded whole on every run).
                await LeaveAsync(key, null, $"not named as a spill (.json) and {sizes[key]:N0} bytes, more than the redrive reads of such an object ({maxOtherObjectBytes:N0}): if it is a spill under another name, give it its name back; else move it out of the spill prefix").ConfigureAwait(false);
                continue;
            }

            string? error;
            SpillObjectContent? content = null;
            try
            {
                using GetObjectResponse got = await s3.GetObjectAsync(bucket, key, cancellationToken).ConfigureAwait(false);
                using var body = new MemoryStream();
                await got.ResponseStream.CopyToAsync(body, cancellationToken).ConfigureAwait(false);
                SpillObject.TryRead(body.GetBuffer().AsMemory(0, (int)body.Length), out content, out error);
            }
            catch (Exception e) when (e is AmazonS3Exception or IOException or HttpRequestException)
            {
                error = "could not be read: " + e.GetType().Name;
            }

            if (content is null)
            {
                await LeaveAsync(key, null, error!).ConfigureAwait(false);
                continue;
            }

            // The key's last three parts must be the body's own (stream, shard, spill id), as the sink writes them; the
            // parts before are the prefix, which an operator may give narrower than the function's (one stream's folder).
            string own = SpillObject.Key(string.Empty, content.EventSourceArn, content.ShardId, content.SpillId);
            if (!string.Equals(key, own, StringComparison.Ordinal) && !key.EndsWith("/" + own, StringComparison.Ordinal))
            {
                // A copy under another name (a backup before an edit, "copy of ...", a synced folder) would be applied
                // beside its original, twice; a renamed object is no longer where the function's retry removes an
                // unconfirmed spill. Found by review: a copy was counted twice, both deleted, and the run said "done,
                // nothing left". Its shard waits, as for an unreadable object: it may hold the only copy of some records.
                await LeaveAsync(key, content.ShardId, $"its body is spill {content.SpillId} of shard {content.ShardId}, which the function writes under the name .../{own}; a copy or a renamed object is not applied: if an object of that name holds the same spill, delete this copy, else rename it so").ConfigureAwait(false);
                continue;
            }

            // The function records where it wrote the object: found anywhere else (another bucket, a backup prefix), it is
            // a copy, and a copy may lack an earlier spill of its shard. Applying a later spill first moves the key's
            // redrive mark past the earlier one's samples, which a later run then counts as applied (found by review:
            // lost, and both runs said done). So it is left with its shard, unless the operator says the copy is whole.
            if (!fromCopy && content.Bucket is { } writtenBucket && content.Key is { } writtenKey &&
                (!string.Equals(writtenBucket, bucket, StringComparison.Ordinal) || !string.Equals(writtenKey, key, StringComparison.Ordinal)))
            {
                await LeaveAsync(key, content.ShardId, CopyLeftReason(writtenBucket, writtenKey, content.ShardId)).ConfigureAwait(false);
                continue;
            }

            contents[key] = content;
        }

        // Two objects of the same spill (stream, shard, spill id) under different prefixes: one is a copy, and which is
        // the function's own is not for the redrive to guess. Both wait, with their shard.
        foreach (IGrouping<string, KeyValuePair<string, SpillObjectContent>> same in contents
                     .GroupBy(c => SpillObject.Key(string.Empty, c.Value.EventSourceArn, c.Value.ShardId, c.Value.SpillId), StringComparer.Ordinal)
                     .Where(g => g.Count() > 1)
                     .ToList())
        {
            foreach ((string key, SpillObjectContent content) in same.OrderBy(c => c.Key, StringComparer.Ordinal))
            {
                contents.Remove(key);
                await LeaveAsync(key, content.ShardId, $"{same.Count()} objects hold spill {content.SpillId} of shard {content.ShardId} ({string.Join(", ", same.Select(c => c.Key).Order(StringComparer.Ordinal))}); keep the one under the function's prefix and delete the others").ConfigureAwait(false);
            }
        }

        if (keys.Count >= maxObjects && token is not null)
        {
            await output.WriteLineAsync($"note: more than {maxObjects} objects; this run applies the first {keys.Count}, run again for the rest").ConfigureAwait(false);
        }

        // Every finished destination object is read for this: not when there is no spill to judge.
        Redrive.DestinationRedrive.FinishedDestinationRecords? finished =
            contents.Count > 0 && finishedDestination is not null ? await finishedDestination(cancellationToken).ConfigureAwait(false) : null;

        // One unit of work per (item, shard): every spilled sample of it, from every object, in one exactly-once write.
        // Per stream too: shard ids repeat across streams, and a spill of another stream than the item's is refused alone.
        var work = new Dictionary<(string Pk, string Sk, string Shard, string Stream), (PairKey Key, AggregatorOptions Options, List<RedriveSample> Samples, HashSet<string> Objects)>();
        foreach ((string key, SpillObjectContent content) in contents)
        {
            if (content.Table is { } written && !SameTable(written, table.TableName))
            {
                // Its samples belong in the table the function wrote to: applied here they would be in the wrong table,
                // and the object deleted. A spill written before objects named their table is not checked.
                left.Add(key);
                await output.WriteLineAsync($"left {key}: written for table '{written}', and --table is '{table.TableName}': redrive it into the table it was written for").ConfigureAwait(false);
                continue;
            }

            if (blockedShards.Contains(content.ShardId))
            {
                left.Add(key);
                await output.WriteLineAsync($"left {key}: another spill object of shard {content.ShardId} is unreadable, too young, not under its own key or a copy").ConfigureAwait(false);
                continue;
            }

            if (finished is not null && (finished.Unread.TryGetValue(content.ShardId, out string? unread) || finished.Unread.TryGetValue(string.Empty, out unread)))
            {
                // Its records say whether a sample of this spill is in already (applied from that object first): not known this run.
                left.Add(key);
                await output.WriteLineAsync($"left {key}: {unread}, and its records decide whether this spill's samples are in the table already; run redrive again once it reads").ConfigureAwait(false);
                continue;
            }

            string? contentStream = DynamoDbItem.StreamOf(content.EventSourceArn);
            if (tableStreams is not null && await tableStreams.MismatchAsync(contentStream, cancellationToken).ConfigureAwait(false) is { } otherTable)
            {
                left.Add(key);
                await output.WriteLineAsync($"left {key}: {otherTable}").ConfigureAwait(false);
                continue;
            }

            foreach (SpillObjectPair pair in content.Pairs)
            {
                (string, string, string, string) id = (pair.Key.Pk, pair.Key.Sk, content.ShardId, contentStream ?? string.Empty);
                if (!work.TryGetValue(id, out var unit))
                {
                    unit = (pair.Key, content.Options, [], new HashSet<string>(StringComparer.Ordinal));
                    work[id] = unit;
                }

                // A record of a destination object an earlier run finished (its batch given up too, and that run given a
                // spill bucket without this spill, so it did not wait for it): applied only when the item's destination
                // redrive ranges (dr) do not say it is in (ApplyOnceAsync).
                unit.Samples.AddRange(pair.Samples.Select(s => new RedriveSample(
                    s.PartitionKey,
                    s.SequenceNumber,
                    s.Value,
                    pair.OutcomeUnknown,
                    key,
                    finished is not null && finished.Records.TryGetValue((content.ShardId, s.SequenceNumber), out var by) && (by.Stream is null || contentStream is null || by.Stream == contentStream) ? by.Key : null,
                    content.ShardFloor)));
                unit.Objects.Add(key);
            }
        }

        // An item of another stream means the table is not this stream's (one stream per table): none of that stream's
        // spills is applied, not even to series the table has no item of yet (those would be created there for the wrong
        // stream, and refuse the table's own stream later). One consistent read of the items per stream.
        int applied = 0, already = 0, undecided = 0, notApplied = 0;
        foreach (IGrouping<string, KeyValuePair<(string Pk, string Sk, string Shard, string Stream), (PairKey Key, AggregatorOptions Options, List<RedriveSample> Samples, HashSet<string> Objects)>> byStream in
                 work.GroupBy(w => w.Key.Stream, StringComparer.Ordinal).Where(g => g.Key.Length > 0).OrderBy(g => g.Key, StringComparer.Ordinal).ToList())
        {
            string? other;
            try
            {
                var items = await table.ReadForSpillAsync([.. byStream.Select(w => w.Value.Key).DistinctBy(k => (k.Pk, k.Sk))], cancellationToken).ConfigureAwait(false);
                other = items.Values.Select(item => DynamoDbItem.OtherStream(item, byStream.Key)).FirstOrDefault(owner => owner is not null);
            }
            catch (Exception e) when (e is InvalidDataException or Amazon.DynamoDBv2.AmazonDynamoDBException)
            {
                // Not readable now: each write below reads its item again, refuses another stream's, and reports its own error.
                other = null;
            }

            if (other is null)
            {
                continue;
            }

            foreach (var unit in byStream)
            {
                work.Remove(unit.Key);
                undecided += unit.Value.Samples.Count;
                notApplied += unit.Value.Samples.Count;
                left.UnionWith(unit.Value.Objects);
            }

            foreach (string key in byStream.SelectMany(w => w.Value.Objects).Distinct().Order(StringComparer.Ordinal))
            {
                await output.WriteLineAsync($"left {key}: the table holds items of its series for stream {other}, and the spill is of stream {byStream.Key}; one stream per table (docs/dynamodb.md): redrive it into its own stream's table. Nothing of it was applied").ConfigureAwait(false);
            }
        }

        foreach (((string pk, string sk, string shard, string stream), var unit) in work.OrderBy(w => w.Key.Pk, StringComparer.Ordinal).ThenBy(w => w.Key.Sk, StringComparer.Ordinal).ThenBy(w => w.Key.Shard, StringComparer.Ordinal).ThenBy(w => w.Key.Stream, StringComparer.Ordinal))
        {
            cancellationToken.ThrowIfCancellationRequested();
            await (heartbeat?.Invoke(cancellationToken) ?? Task.CompletedTask).ConfigureAwait(false);
            RedriveResult result;
            try
            {
                result = await table.ApplyOnceAsync(new RedriveWork(unit.Key, shard, unit.Options, unit.Samples, stream.Length > 0 ? stream : null), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is InvalidDataException or InvalidOperationException or Amazon.DynamoDBv2.AmazonDynamoDBException)
            {
                result = new RedriveResult(0, 0, unit.Samples.Count, e.GetType().Name + ": " + e.Message);
            }

            applied += result.Applied;
            already += result.AlreadyApplied;
            undecided += result.Undecided;
            notApplied += result.Failure is null ? 0 : result.Undecided;
            if (!result.Done)
            {
                string why = result.Failure is { } failure ? failure + (Redrive.RedriveRun.IsKeyBound(failure) ? Redrive.RedriveRun.KeyBoundHint : string.Empty) : (result.RedrivenFrom is { } redriven
                    ? $"its records were redriven from the on-failure destination object {redriven} by an earlier run (one given a --spill-bucket or --spill-prefix without this spill, so it did not wait for it), and the item does not say that run applied them: applied now they could count twice; {result.Undecided} sample(s) not applied. Check the item against the stream, then delete this object"
                    : $"{result.Undecided} sample(s) cannot be decided: the item's live watermark of their partition key has passed them, so whether an earlier attempt applied them is not visible");
                foreach (string key in unit.Objects)
                {
                    left.Add(key);
                    await output.WriteLineAsync($"left {key}: item sk={sk} of shard {shard} (pk of {pk.Length} characters): {why}").ConfigureAwait(false);
                }
            }
        }

        // Mark what was applied: an object goes once every sample in it is in the table.
        int deleted = 0;
        foreach (string key in contents.Keys.Where(k => !left.Contains(k)).Order(StringComparer.Ordinal))
        {
            cancellationToken.ThrowIfCancellationRequested();
            await (heartbeat?.Invoke(cancellationToken) ?? Task.CompletedTask).ConfigureAwait(false);
            try
            {
                await s3.DeleteObjectAsync(bucket, key, cancellationToken).ConfigureAwait(false);
                deleted++;
            }
            catch (Exception e) when (e is AmazonS3Exception or IOException or HttpRequestException)
            {
                left.Add(key);
                await output.WriteLineAsync($"left {key}: applied, but could not be deleted ({e.GetType().Name}); the next run finds it applied").ConfigureAwait(false);
            }
        }

        // A shard with nothing left no longer needs its live writes to keep pre-write watermarks: its marker goes, unless a
        // spill rewrote it since the listing (then the next run finds that spill). Without a full listing, none goes.
        var openMarkers = new HashSet<string>(left.Select(SpillMarker.KeyBeside), StringComparer.Ordinal);
        foreach ((string marker, string? etag) in markers.OrderBy(m => m.Key, StringComparer.Ordinal))
        {
            if (!listedAll || openMarkers.Contains(marker))
            {
                continue;
            }

            try
            {
                GetObjectMetadataResponse now = await s3.GetObjectMetadataAsync(bucket, marker, cancellationToken).ConfigureAwait(false);
                if (now.ETag == etag)
                {
                    // Only that body: a live spill may rewrite the marker between the check and the delete (found by
                    // review: a plain delete removed a marker rewritten in that gap).
                    await s3.DeleteObjectAsync(new DeleteObjectRequest { BucketName = bucket, Key = marker, IfMatch = etag }, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (AmazonS3Exception e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
            {
                // Already gone (another run removed it): nothing to say.
            }
            catch (AmazonS3Exception e) when (e.StatusCode == System.Net.HttpStatusCode.PreconditionFailed)
            {
                // Rewritten since the check: a spill of the shard happened, and the next run finds it.
            }
            catch (Exception e) when (e is AmazonS3Exception or IOException or HttpRequestException)
            {
                await output.WriteLineAsync($"note: the marker {marker} could not be removed ({e.GetType().Name}); the live function keeps pre-write watermarks for its shard until a run removes it").ConfigureAwait(false);
            }
        }

        var report = new RedriveReport(keys.Count + young.Count, unreadable, applied, already, undecided, deleted, left.Count) { NotApplied = notApplied, NotListed = !listedAll };
        string notAppliedText = notApplied == 0 ? string.Empty : string.Create(CultureInfo.InvariantCulture, $", {notApplied} not applied (refused or failed: lines above)");
        await output.WriteLineAsync(string.Create(
            CultureInfo.InvariantCulture,
            $"spills: {report.Objects} spill objects, {report.Applied} samples applied, {report.AlreadyApplied} already in the table, {report.Undecided - notApplied} undecided{notAppliedText}, {report.Deleted} objects deleted, {report.Left} left{(listedAll ? string.Empty : ", more not read yet (run again)")}")).ConfigureAwait(false);
        return report;
    }

    /// <summary>
    /// The shards that have a spill object under <paramref name="prefix"/> now, whatever its age or state (unread, not
    /// yet applied, undecided, applied but not deleted), with how many each: a destination object of such a shard waits
    /// (<see cref="Redrive.RedriveRun"/>). Every page is listed: no cap.
    /// </summary>
    /// <param name="s3">The S3 client.</param>
    /// <param name="bucket">The spill bucket.</param>
    /// <param name="prefix">The spill sink's key prefix.</param>
    /// <param name="cancellationToken">Stops the listing.</param>
    /// <returns>Shard id to the number of its spill objects.</returns>
    public static async Task<IReadOnlyDictionary<string, int>> ShardsWithObjectsAsync(IAmazonS3 s3, string bucket, string prefix, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(s3);
        string listPrefix = prefix.Trim('/') is { Length: > 0 } p ? p + "/" : string.Empty;
        var shards = new Dictionary<string, int>(StringComparer.Ordinal);
        string? token = null;
        do
        {
            ListObjectsV2Response page = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = listPrefix, ContinuationToken = token }, cancellationToken).ConfigureAwait(false);
            foreach (S3Object o in page.S3Objects ?? [])
            {
                if (IsCandidate(o.Key))
                {
                    string shard = ShardOfKey(o.Key);
                    shards[shard] = shards.GetValueOrDefault(shard) + 1;
                }
            }

            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (token is not null);
        return shards;
    }

    /// <summary>Whether two table names or ARNs (<c>arn:aws:dynamodb:region:account:table/name</c>) name the same table.</summary>
    internal static bool SameTable(string a, string b) =>
        string.Equals(a, b, StringComparison.Ordinal) || string.Equals(NameOf(a), NameOf(b), StringComparison.Ordinal);

    private static string NameOf(string table) =>
        table.StartsWith("arn:", StringComparison.Ordinal) && table.LastIndexOf(":table/", StringComparison.Ordinal) is var at and >= 0 ? table[(at + ":table/".Length)..] : table;

    /// <summary>The largest object not named as a spill (<c>.json</c>) that the spill phase reads: 256 MiB.</summary>
    public const long MaxOtherObjectBytes = 256L * 1024 * 1024;

    /// <summary>
    /// Whether an object under the prefix may be a spill: a <c>.json</c> object anywhere (as the sink names them), and any
    /// other object in a shard's folder (<c>.../shardId-.../</c>), where a spill renamed away from <c>.json</c> (a backup, an
    /// edit) lies: such a spill was skipped without a word, and when it was its shard's only copy of some records, a later
    /// spill of the same key moved the key's redrive mark past them (found by review). Not a marker or a folder
    /// placeholder, and not an object outside shard folders without that name: Lambda's on-failure objects
    /// (<c>aws/lambda/&lt;uuid&gt;/&lt;shard&gt;/YYYY/MM/DD/...</c>) in a bucket shared with the spills, under an empty
    /// prefix, were read as spills and held the run back for good (found by review).
    /// </summary>
    private static bool IsCandidate(string key) =>
        !IsMarker(key) && !IsFolderPlaceholder(key) &&
        (key.EndsWith(".json", StringComparison.Ordinal) || ShardOfKey(key).StartsWith("shardId-", StringComparison.Ordinal));

    /// <summary>A shard's spill marker (<see cref="SpillMarker.FileName"/>), which the sink writes beside its spills.</summary>
    private static bool IsMarker(string key) => key.EndsWith("/" + SpillMarker.FileName, StringComparison.Ordinal);

    /// <summary>An empty object whose key ends in <c>/</c>: what the S3 console's "Create folder" leaves; no spill.</summary>
    private static bool IsFolderPlaceholder(string key) => key.EndsWith('/');

    /// <summary>The shard segment of <c>&lt;prefix&gt;/&lt;stream&gt;/&lt;shard&gt;/&lt;id&gt;.json</c>.</summary>
    private static string ShardOfKey(string key)
    {
        string[] parts = key.Split('/');
        return parts.Length >= 2 ? parts[^2] : string.Empty;
    }
}
