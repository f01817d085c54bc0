using System.Buffers;
using System.Globalization;
using Amazon.DynamoDBv2.Model;
using Amazon.S3;
using Amazon.S3.Model;

namespace Analytics.Core;

/// <summary>
/// Keeps a spill (the aggregates the DynamoDB sink could not make durable, with every sample behind them) as one JSON
/// object in Amazon S3, for the repository's <c>redrive</c> tool (samples/Analytics.Tools, not in a package) to apply to the table exactly once later; until it runs, the spilled records are not in the table (alarm on the <c>SpilledRecords</c> metric).
/// </summary>
/// <remarks>
/// <para>Key: <c>&lt;KeyPrefix&gt;/&lt;stream name, or unknown&gt;/&lt;shardId&gt;/&lt;spill id&gt;.json</c>, the spill id being
/// the sequence number the pipeline would have reported as the checkpoint: a retry writes the same key.</para>
/// <para>Before writing, the sink reads the pairs' items from the table (consistent reads) when DynamoDB answers, and
/// keeps only the samples past each partition key's watermark: the spill then holds exactly what the table lacks.
/// A pair whose item could not be read, or whose put failed in this invocation without saying whether it was
/// applied, is kept whole and marked <c>outcomeUnknown</c>: the redrive decides it from the item. The body format and
/// the decision rules are in docs/failure-modes.md.</para>
/// <para>A spill with such pairs also writes the shard's marker (<c>&lt;KeyPrefix&gt;/&lt;stream&gt;/&lt;shardId&gt;/unresolved.marker</c>),
/// which the writes of the DynamoDB sink given to the constructor read once per invocation: the first live write of a key to a marked
/// window keeps the key's watermark from before it, from which the redrive decides whether the spilled attempt's lost
/// put landed. Give this sink the processor's own DynamoDB sink instance; the role needs <c>s3:GetObject</c> on the
/// keys and <c>s3:ListBucket</c> on the bucket.</para>
/// <para>Requests are retried with the quarantine sink's discipline: full-jitter backoff within the invocation's
/// deadline; <see cref="WriteAsync"/> returns <see langword="true"/> only once S3 confirmed the object. The read
/// before it takes at most a second.</para>
/// </remarks>
public sealed class S3SpillSink : ISpillSink, ISpillMarkerSource
{
    /// <summary>How long the consistent read before a spill may take: DynamoDB is failing, and the spill needs the time.</summary>
    private static readonly TimeSpan s_readBudget = TimeSpan.FromSeconds(1);

    /// <summary>How often a spill re-reads and re-merges the shard's marker when concurrent spills keep replacing it.</summary>
    private const int MarkerMergeRounds = 5;

    /// <summary>The option that names the bucket, in errors about the bucket.</summary>
    private const string BucketOption = "S3SpillSinkOptions.BucketName";

    private readonly IAmazonS3 _client;
    private readonly S3SpillSinkOptions _options;
    private readonly DynamoDbAggregateSink? _table;
    private long _retries;

    /// <summary>Creates the sink.</summary>
    /// <param name="client">The S3 client; the sink does not dispose it.</param>
    /// <param name="options">Bucket, key prefix and retry bounds.</param>
    /// <param name="aggregateSink">
    /// The processor's DynamoDB sink, whose table the sink reads before spilling; null marks every spilled pair
    /// <c>outcomeUnknown</c> (the redrive then decides each from the item).
    /// </param>
    /// <exception cref="ArgumentNullException"><paramref name="client"/> is null.</exception>
    /// <exception cref="ArgumentException">The bucket name is empty or not a bucket name or ARN (white space, <c>s3://</c>, a key prefix).</exception>
    /// <exception cref="ArgumentOutOfRangeException">Attempts are below 1, or a retry delay is negative.</exception>
    public S3SpillSink(IAmazonS3 client, S3SpillSinkOptions options, DynamoDbAggregateSink? aggregateSink)
    {
        AwsSinkChecks.Validate(client, options.BucketName, nameof(options.BucketName), AwsSinkChecks.Target.Bucket, 1, options.Retry);
        _client = client;
        _options = options with { KeyPrefix = options.KeyPrefix ?? string.Empty };
        _table = aggregateSink;
        if (aggregateSink is not null)
        {
            // The live writes of that sink read the shard's marker, so that a later redrive can decide what this sink
            // spills with its outcome unknown (docs/failure-modes.md).
            aggregateSink.SpillMarkers = this;
        }
    }

    /// <summary>
    /// Per (shard, spill id): the items whose pairs an earlier attempt's spill, removed by <see cref="RemoveUnconfirmedAsync"/>,
    /// held with their outcome unknown. That attempt's put of them may still land (a request DynamoDB holds and applies
    /// seconds later), so this attempt's spill keeps them unknown too, however its own read of the item comes out.
    /// </summary>
    /// <remarks>The sets are never changed once stored (a union stores a new one), so a spill reads them without a lock.</remarks>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Shard, string SpillId), HashSet<(string Pk, string Sk)>> _inheritedUnknown = new();

    /// <summary>Most (shard, spill id) entries of <see cref="_inheritedUnknown"/> kept; past it they are dropped.</summary>
    internal const int MaxInheritedSpills = 4_096;

    /// <summary>How many removed spills' unknown pairs are remembered now (at most <see cref="MaxInheritedSpills"/>).</summary>
    internal int RememberedSpills => _inheritedUnknown.Count;

    /// <summary>Requests that failed transiently and were tried again, since the sink was created.</summary>
    internal long Retries => Interlocked.Read(ref _retries);

    /// <summary>Writes the spill as one object.</summary>
    /// <param name="spill">The pairs not durable; read only during the call.</param>
    /// <param name="cancellationToken">Cancelled at the invocation's deadline less its margin.</param>
    /// <returns>
    /// <see langword="true"/> once S3 confirmed the object (or nothing was left to spill); <see langword="false"/> when
    /// <paramref name="cancellationToken"/> ended it before any attempt failed.
    /// </returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> ended it after failed attempts:
    /// the last attempt's error is the inner exception (as the DynamoDB and quarantine sinks stop).</exception>
    /// <exception cref="ArgumentNullException"><paramref name="spill"/> is null.</exception>
    /// <exception cref="AmazonS3Exception">A non-transient error (missing bucket, access denied); or a transient one
    /// (throttling, a server error) when a request still failed after <see cref="AwsRetryOptions.MaxAttempts"/> attempts
    /// with time left: the last such error, whatever its type (a broken connection is an
    /// <see cref="System.Net.Http.HttpRequestException"/>).</exception>
    /// <exception cref="IOException">Concurrent spills of the shard (another concurrent batch) kept replacing its marker
    /// while this one merged into it.</exception>
    public async Task<bool> WriteAsync(SpillBatch spill, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spill);
        try
        {
            return await WriteCoreAsync(spill, cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonS3Exception e) when (S3Errors.NamingTheBucket(e, _options.BucketName, BucketOption) is { } named)
        {
            throw named;
        }
    }

    private async Task<bool> WriteCoreAsync(SpillBatch spill, CancellationToken cancellationToken)
    {
        AggregateBatch batch = spill.Batch;
        var keys = new List<PairKey>(spill.Pairs.Count);
        foreach (SpilledPair pair in spill.Pairs)
        {
            keys.Add(PairKey.From(batch, pair.Index));
        }

        Dictionary<(string Pk, string Sk), Dictionary<string, AttributeValue>?>? items = null;
        // The read decides which pairs are in the table already. When the live write just before got no answer at all
        // (a full outage), it is skipped: every pair is spilled whole, its outcome unknown, as when the read fails, and
        // the invocation does not wait a second more for a table that is down.
        if (_table is not null && !_table.LastWriteGotNoAnswer(spill.ShardId))
        {
            using var budget = new CancellationTokenSource(s_readBudget, _options.Retry.TimeProvider);
            using var read = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, budget.Token);
            try
            {
                items = await _table.ReadForSpillAsync(keys, read.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException && !cancellationToken.IsCancellationRequested)
            {
                // DynamoDB does not answer: every pair is spilled whole, its outcome unknown.
            }
        }

        _inheritedUnknown.TryGetValue((spill.ShardId, spill.SpillId), out HashSet<(string Pk, string Sk)>? inherited);
        string? stream = DynamoDbItem.StreamOf(spill.EventSourceArn);
        var pairs = new List<(PairKey, bool, IReadOnlyList<SpilledSample>)>(keys.Count);
        for (int i = 0; i < keys.Count; i++)
        {
            PairKey key = keys[i];
            IReadOnlyList<SpilledSample> samples = spill.Pairs[i].Samples;
            if (items is not null && items.TryGetValue((key.Pk, key.Sk), out Dictionary<string, AttributeValue>? item) && !_table!.WasAmbiguous(key.Pk, key.Sk) &&
                !(inherited is not null && inherited.Contains((key.Pk, key.Sk))))
            {
                // Decided: keep only what the item does not hold yet. An item of another stream holds none of this
                // batch (the sink refuses to write it), and its watermarks, per shard id, say nothing about this stream.
                if (DynamoDbItem.OtherStream(item, stream) is null)
                {
                    samples = PastWatermarks(samples, item, spill.ShardId);
                }

                if (samples.Count > 0)
                {
                    pairs.Add((key, false, samples));
                }
            }
            else
            {
                pairs.Add((key, true, samples));
            }
        }

        if (pairs.Count == 0)
        {
            return true;
        }

        var buffer = new ArrayBufferWriter<byte>(16 * 1024);
        string objectKey = SpillObject.Key(_options.KeyPrefix, spill.EventSourceArn, spill.ShardId, spill.SpillId);
        SpillObject.WriteBody(spill, pairs, buffer, _table?.TableName, _options.BucketName, objectKey, _table?.PerShardWatermarkOnly ?? false);
        if (!await PutAsync(objectKey, buffer.WrittenSpan.ToArray(), cancellationToken).ConfigureAwait(false))
        {
            return false;
        }

        // The object now holds those pairs unknown itself: a later removal reads them from it.
        _inheritedUnknown.TryRemove((spill.ShardId, spill.SpillId), out _);

        // Pairs whose outcome is unknown: the shard's marker asks the live writes to keep what decides them. The spill
        // counts as made only with the marker written (else the batch is retried, and the retry removes the object).
        string? last = null;
        var windows = new HashSet<string>(StringComparer.Ordinal);
        foreach ((PairKey key, bool unknown, IReadOnlyList<SpilledSample> samples) in pairs)
        {
            if (unknown)
            {
                windows.Add(key.Sk);
                foreach (SpilledSample sample in samples)
                {
                    last = last is null || SequenceNumber.Compare(sample.SequenceNumber, last) > 0 ? sample.SequenceNumber : last;
                }
            }
        }

        if (last is null)
        {
            return true;
        }

        // Read, merge, write only over what was read (a conditional put): a concurrent spill of the same shard (another
        // lane at ParallelizationFactor above 1) that wrote in between makes the put fail, and the merge starts again.
        string markerKey = SpillMarker.Key(_options.KeyPrefix, spill.EventSourceArn, spill.ShardId);
        for (int round = 0; round < MarkerMergeRounds; round++)
        {
            // Concurrent spills that keep replacing each other's marker back off, each by its own jitter (keyed by the
            // spill, so a seeded jitter does not send them back in step): without it ten concurrent batches of a shard
            // gave up a spill now and then (the emulator, ParallelizationFactor 10, S3 at 20 ms).
            if (round > 0 && !await RetryPolicy.TryDelayAsync(_options.Retry, round, markerKey + "#" + spill.SpillId, cancellationToken).ConfigureAwait(false))
            {
                return false;
            }

            (SpillMarker? Marker, string? ETag) existing = default;
            if (!await WithRetriesAsync(markerKey, async token => existing = await GetMarkerAsync(markerKey, token).ConfigureAwait(false), cancellationToken).ConfigureAwait(false))
            {
                return false;
            }

            bool replaced = true;
            bool written = await WithRetriesAsync(
                markerKey,
                async token =>
                {
                    try
                    {
                        await PutObjectAsync(markerKey, SpillMarker.Merge(existing.Marker, last, windows).ToJson(spill.SpillId), existing.ETag ?? string.Empty, token).ConfigureAwait(false);
                    }
                    catch (AmazonS3Exception e) when (e.StatusCode is System.Net.HttpStatusCode.PreconditionFailed or System.Net.HttpStatusCode.Conflict or System.Net.HttpStatusCode.NotFound)
                    {
                        // Written (or removed by a redrive) since it was read: read it again.
                        replaced = false;
                    }
                },
                cancellationToken).ConfigureAwait(false);
            if (!written)
            {
                return false;
            }

            if (replaced)
            {
                return true;
            }
        }

        AwsThrowHelper.ThrowIO(
            $"The shard's spill marker (s3://{_options.BucketName}/{markerKey}) was replaced by other spills {MarkerMergeRounds} times in a row " +
            "while this spill merged into it: the spill is not confirmed, and the batch is re-delivered from its first record.");
        return false;
    }

    /// <summary>
    /// Reads the shard's spill marker for a live write: one attempt, at most a second. No marker when there is none or it
    /// could not be read; with the bucket's error when S3 refused the read for the bucket itself (found by review: a
    /// bucket that did not exist read as "no marker", and a role without <c>s3:ListBucket</c> as "not known", both
    /// without a word, so a spill bucket that could never take a spill showed nothing until the outage it was for).
    /// </summary>
    async Task<MarkerRead> ISpillMarkerSource.ReadMarkerAsync(string shardId, string? eventSourceArn, CancellationToken cancellationToken)
    {
        using var budget = new CancellationTokenSource(s_readBudget, _options.Retry.TimeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, budget.Token);
        try
        {
            return new MarkerRead((await GetMarkerAsync(SpillMarker.Key(_options.KeyPrefix, eventSourceArn, shardId), linked.Token).ConfigureAwait(false)).Marker, null);
        }
        catch (AmazonS3Exception e) when (S3Errors.NamingTheBucket(e, _options.BucketName, BucketOption) is { } named)
        {
            return new MarkerRead(null, named);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Not known (a slow or failing S3): the write keeps nothing, and a redrive reports what that leaves undecided.
            return default;
        }
    }

    /// <summary>The marker and its ETag; (null, null) when there is none (a 404 but for a bucket that does not exist).</summary>
    private async Task<(SpillMarker? Marker, string? ETag)> GetMarkerAsync(string key, CancellationToken token)
    {
        try
        {
            using GetObjectResponse got = await _client.GetObjectAsync(new GetObjectRequest { BucketName = _options.BucketName, Key = key }, token).ConfigureAwait(false);
            using var body = new MemoryStream();
            await got.ResponseStream.CopyToAsync(body, token).ConfigureAwait(false);
            return (SpillMarker.Read(body.GetBuffer().AsSpan(0, (int)body.Length)), got.ETag);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound && e.ErrorCode != "NoSuchBucket")
        {
            return (null, null);
        }
    }

    private Task<bool> PutAsync(string objectKey, byte[] content, CancellationToken cancellationToken) =>
        WithRetriesAsync(objectKey, token => PutObjectAsync(objectKey, content, null, token), cancellationToken);

    /// <summary>One PutObject of a JSON body, unconditional (<paramref name="ifMatch"/> null), only if the key is absent
    /// (empty: <c>If-None-Match: *</c>), or only over that ETag (<c>If-Match</c>).</summary>
    private async Task PutObjectAsync(string objectKey, byte[] content, string? ifMatch, CancellationToken token)
    {
        using var body = new MemoryStream(content, writable: false);
        var request = new PutObjectRequest
        {
            BucketName = _options.BucketName,
            Key = objectKey,
            InputStream = body,
            AutoCloseStream = false,
            ContentType = "application/json",
            UseChunkEncoding = false,
        };
        if (ifMatch is { Length: > 0 })
        {
            request.IfMatch = ifMatch;
        }
        else if (ifMatch is not null)
        {
            request.IfNoneMatch = "*";
        }

        await _client.PutObjectAsync(request, token).ConfigureAwait(false);
    }

    /// <summary>Deletes the object an unconfirmed spill with this id may have left.</summary>
    /// <param name="shardId">The shard.</param>
    /// <param name="eventSourceArn">The stream ARN, when the event carried it.</param>
    /// <param name="spillId">The first sequence number of the batch now being processed.</param>
    /// <param name="cancellationToken">Cancelled at the invocation's deadline less its margin.</param>
    /// <returns>
    /// <see langword="true"/> once S3 confirmed the delete (deleting a key that does not exist succeeds), or answered that
    /// the bucket does not exist (it holds no spill: S3 deletes only empty buckets); <see langword="false"/> when
    /// <paramref name="cancellationToken"/> ended it before any attempt failed.
    /// </returns>
    /// <remarks>
    /// A missing bucket does not stop the table: the processor calls this before it writes a batch old enough to be
    /// spilled, and an error here keeps the batch from the table. Its absence is reported by the first spill
    /// (<see cref="BatchSummary.SpillError"/>, naming the bucket and the option).
    /// </remarks>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="AmazonS3Exception">A non-transient error (access denied, named with the bucket and its option); or
    /// the last transient one when the delete still failed after <see cref="AwsRetryOptions.MaxAttempts"/> attempts with
    /// time left.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> ended it after failed attempts:
    /// the last attempt's error is the inner exception.</exception>
    public async Task<bool> RemoveUnconfirmedAsync(string shardId, string? eventSourceArn, string spillId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(shardId);
        ArgumentNullException.ThrowIfNull(spillId);
        string objectKey = SpillObject.Key(_options.KeyPrefix, eventSourceArn, shardId, spillId);
        try
        {
            // Its unknown pairs first (found by review: an earlier attempt's put, held by DynamoDB and applied after this
            // attempt's spill read the item, made that spill's decided samples count twice at redrive).
            HashSet<(string Pk, string Sk)>? unknown = null;
            if (!await WithRetriesAsync(objectKey, async token => unknown = await UnknownPairsAsync(objectKey, token).ConfigureAwait(false), cancellationToken).ConfigureAwait(false))
            {
                return false;
            }

            if (unknown is { Count: > 0 })
            {
                if (_inheritedUnknown.Count >= MaxInheritedSpills)
                {
                    // Bounded memory: entries of batches that were then written live (whose puts are version-conditional)
                    // are never consumed; losing one matters only if a put of its long-gone attempt is still held.
                    _inheritedUnknown.Clear();
                }

                // A new set, never one changed in place: a spill may be reading the one stored.
                _inheritedUnknown.AddOrUpdate((shardId, spillId), unknown, (_, known) => [.. known, .. unknown]);
            }

            return await WithRetriesAsync(objectKey, token => DeleteAsync(objectKey, token), cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonS3Exception e) when (S3Errors.NamingTheBucket(e, _options.BucketName, BucketOption) is { } named)
        {
            throw named;
        }
    }

    /// <summary>The items of an object's pairs whose outcome is unknown; empty when there is no such object or it cannot be read as one.</summary>
    private async Task<HashSet<(string Pk, string Sk)>> UnknownPairsAsync(string objectKey, CancellationToken token)
    {
        var unknown = new HashSet<(string Pk, string Sk)>();
        try
        {
            using GetObjectResponse got = await _client.GetObjectAsync(new GetObjectRequest { BucketName = _options.BucketName, Key = objectKey }, token).ConfigureAwait(false);
            using var body = new MemoryStream();
            await got.ResponseStream.CopyToAsync(body, token).ConfigureAwait(false);
            if (SpillObject.TryRead(body.GetBuffer().AsMemory(0, (int)body.Length), out SpillObjectContent? content, out _))
            {
                foreach (SpillObjectPair pair in content!.Pairs)
                {
                    if (pair.OutcomeUnknown)
                    {
                        unknown.Add((pair.Key.Pk, pair.Key.Sk));
                    }
                }
            }
        }
        catch (AmazonS3Exception e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            // No earlier attempt's spill (NoSuchKey), or no bucket to hold one (NoSuchBucket): nothing inherited.
        }

        return unknown;
    }

    private async Task DeleteAsync(string objectKey, CancellationToken token)
    {
        try
        {
            await _client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = _options.BucketName, Key = objectKey }, token).ConfigureAwait(false);
        }
        catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchBucket")
        {
            // Nothing to remove: a spill could only be in a bucket that exists.
        }
    }

    /// <summary>The samples whose record is past its partition key's watermark in the item (all of them for no item).</summary>
    private static List<SpilledSample> PastWatermarks(IReadOnlyList<SpilledSample> samples, Dictionary<string, AttributeValue>? item, string shardId)
    {
        string? floor = DynamoDbItem.GetWatermark(item, shardId);
        Dictionary<string, AttributeValue>? marks = DynamoDbItem.GetKeyWatermarks(item, shardId);
        var kept = new List<SpilledSample>(samples.Count);
        foreach (SpilledSample s in samples)
        {
            string? mark = marks is not null && marks.TryGetValue(s.PartitionKey, out AttributeValue? m) ? m.S : null;
            if ((floor is null || SequenceNumber.Compare(s.SequenceNumber, floor) > 0) && (mark is null || SequenceNumber.Compare(s.SequenceNumber, mark) > 0))
            {
                kept.Add(s);
            }
        }

        return kept;
    }

    /// <summary>
    /// Sends the request until it succeeds (true), time runs out (false; after failed attempts, a cancellation holding the
    /// last one's error), or <see cref="AwsRetryOptions.MaxAttempts"/>
    /// attempts failed transiently with time left: then the last error is thrown, as the quarantine sink does, so the
    /// invocation's log line says why the spill failed (a bare <c>false</c> left <c>spillError</c> empty).
    /// </summary>
    private async Task<bool> WithRetriesAsync(string objectKey, Func<CancellationToken, Task> request, CancellationToken token)
    {
        Exception? last = null;
        for (int attempt = 0; attempt < _options.Retry.MaxAttempts; attempt++)
        {
            if (attempt > 0)
            {
                Interlocked.Increment(ref _retries);
                if (!await RetryPolicy.TryDelayAsync(_options.Retry, attempt, objectKey, token).ConfigureAwait(false))
                {
                    ThrowStopped(attempt, last!, token);
                }
            }

            try
            {
                await request(token).ConfigureAwait(false);
                return true;
            }
            catch (Exception e) when (RetryPolicy.IsTransient(e, token))
            {
                last = e;
            }
            catch (Exception) when (token.IsCancellationRequested)
            {
                // Out of time: whether the request landed is unknown, so it is not counted; after failed attempts, a
                // time-out with their last error, as the other AWS sinks give it.
                if (last is not null)
                {
                    ThrowStopped(attempt, last, token);
                }

                return false;
            }
        }

        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(last!);
        return false;
    }

    /// <summary>
    /// Out of time after failed attempts: a cancellation whose inner exception is the last attempt's error, so the
    /// invocation's line names it (found by review: a bare false left a throttled spill bucket's line at Warn, with no
    /// error, while the table and quarantine sinks said what failed).
    /// </summary>
    private void ThrowStopped(int attempts, Exception last, CancellationToken token) =>
        AwsThrowHelper.ThrowStoppedAfterFailures(
            string.Format(CultureInfo.InvariantCulture, "The spill to bucket '{0}' (S3SpillSinkOptions.BucketName) was stopped after {1} failed attempt(s) (its time was up, or the invocation was cancelled); the last is the inner exception.", _options.BucketName, attempts),
            last,
            token);
}
