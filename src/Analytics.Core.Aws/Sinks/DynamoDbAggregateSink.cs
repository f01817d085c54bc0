using System.Buffers;
using System.Globalization;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;

namespace Analytics.Core;

/// <summary>
/// Stores windowed aggregates in Amazon DynamoDB, applying each record of a Kinesis shard exactly once even though
/// Lambda re-delivers batches on every retry and bisection.
/// </summary>
/// <remarks>
/// <para><b>Table layout and algorithm.</b> One item per (series, window), keyed <c>pk</c> (the series) and <c>sk</c> (the
/// window start), holding readable count, sum, min and max, the whole aggregate as <c>sketch</c>, the watermarks
/// <c>wk</c> (per shard and partition key) and <c>wm</c> (per shard), and a version <c>ver</c>. Each pair of a batch is
/// read, the records past their own key's watermark merged in
/// (<see cref="AggregateBatch.TryGetAggregateAfter(int, IReadOnlyList{string}, MetricAggregate)"/>), and the item
/// written with one PutItem conditional on its version; a lost race re-reads and repeats; throttling and server errors
/// are retried with full-jitter backoff within the cancellation token; pairs written are marked durable. The layout
/// attribute by attribute and the algorithm step by step are in docs/dynamodb.md, their one description.</para>
/// <para><b>Guarantee.</b> Each record's samples are in the table exactly once at any ParallelizationFactor (1 to 10):
/// Lambda keeps the order per partition key, and each key has its own watermark. Bounds: an item holds at most
/// <see cref="DynamoDbAggregateSinkOptions.MaxPartitionKeysPerItem"/> key watermarks and 350 KB; a write past either
/// is not made and reported (the pair stays unmarked, <see cref="WriteAsync"/> throws). One table serves one stream
/// (shard ids repeat across streams): each item records its stream, and a write from another is refused the same
/// way. Tumbling-window flushes carry
/// no per-record log and are exact with ParallelizationFactor 1 only. Details in docs/dynamodb.md.</para>
/// </remarks>
public sealed partial class DynamoDbAggregateSink : IAggregateSink
{
    private const int BatchGetLimit = 100;

    private static readonly Task<MarkerRead> s_noMarker = Task.FromResult<MarkerRead>(default);

    private readonly IAmazonDynamoDB _client;
    private readonly DynamoDbAggregateSinkOptions _options;

    /// <summary>The options the sink was built with (tests read how a host configured it).</summary>
    internal DynamoDbAggregateSinkOptions Options => _options;
    private long _retries;
    private long _conflicts;
    private long _capacityExceeded;

    // Items whose put, in the last WriteAsync, failed in a way that leaves open whether it was applied (a spill of them
    // is marked "outcome unknown"; see S3SpillSink).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Pk, string Sk), bool> _ambiguous = new();

    /// <summary>The shard of the last <see cref="WriteAsync"/>, and whether the table answered any of its requests (1).</summary>
    private string? _lastWriteShard;
    private int _lastWriteAnswered;

    /// <summary>
    /// Shards, other than the last write's, whose own last write got no answer (at most 1,024; a hint): a processor that
    /// serves two shards alternates between them, and with only the last write remembered a spill of a table that did
    /// not answer this shard waited out its read's second whenever another shard's write came between.
    /// </summary>
    private readonly HashSet<string> _shardsWithoutAnswer = new(StringComparer.Ordinal);

    /// <summary>Most shards <see cref="_shardsWithoutAnswer"/> holds; the next one starts it afresh.</summary>
    internal const int MaxShardsWithoutAnswer = 1024;

    /// <summary>
    /// The last transient error (throttled, a server error, unanswered) of a pair of the current write given up after one:
    /// a pair whose attempts all lost their conditional puts is reported as that, and a chunk read's error, retried away
    /// or followed by each pair's own read, belongs to no pair given up.
    /// </summary>
    private Exception? _lastTransient;

    /// <summary>The last transient error of any read or put of this call: the cause given with a time-out.</summary>
    private Exception? _lastFailure;

    /// <summary>Creates the sink.</summary>
    /// <param name="client">The DynamoDB client; the sink does not dispose it. Give it few retries of its own.</param>
    /// <param name="options">Table name, aggregator options, retry and concurrency bounds.</param>
    /// <exception cref="ArgumentNullException"><paramref name="client"/> is null.</exception>
    /// <exception cref="ArgumentException">The table name is empty or not a table name or ARN (white space, a scheme, other characters).</exception>
    /// <exception cref="ArgumentOutOfRangeException">Concurrency or attempts are below 1, a retry delay is negative, or <see cref="DynamoDbAggregateSinkOptions.MaxPartitionKeysPerItem"/> is not 1 to 10,000.</exception>
    public DynamoDbAggregateSink(IAmazonDynamoDB client, DynamoDbAggregateSinkOptions options)
    {
        AwsSinkChecks.Validate(client, options.TableName, nameof(options.TableName), AwsSinkChecks.Target.Table, options.MaxConcurrency, options.Retry);
        if (options.MaxPartitionKeysPerItem is < 1 or > 10_000)
        {
            AwsThrowHelper.ThrowArgumentOutOfRange(nameof(options), $"MaxPartitionKeysPerItem must be 1 to 10,000; it is {options.MaxPartitionKeysPerItem}.");
        }

        _client = client;
        _options = options;
    }

    /// <summary>
    /// Where each write reads its shard's <see cref="SpillMarker"/> (set by an <see cref="S3SpillSink"/> given this sink);
    /// null: no spills, no marker to read.
    /// </summary>
    internal ISpillMarkerSource? SpillMarkers { get; set; }

    /// <summary>
    /// Set by <c>redrive</c>'s destination phase before each event it runs through the pipeline (see
    /// <see cref="DestinationRedriveEvent"/>). Every write then also keeps, per key whose watermark it moves, the range of
    /// records it applied (<c>dr</c>: from the key's first record in the event above its watermark to its last in the
    /// pair), which the spill redrive honours. Null (a live write): none kept.
    /// </summary>
    internal DestinationRedriveEvent? DestinationRedrive { get; set; }

    /// <summary>Requests that failed transiently and were tried again, since the sink was created.</summary>
    internal long Retries => Interlocked.Read(ref _retries);

    /// <summary>Conditional puts that lost to another write and were redone after a re-read.</summary>
    internal long Conflicts => Interlocked.Read(ref _conflicts);

    /// <summary>Writes not made because the item would pass <see cref="DynamoDbAggregateSinkOptions.MaxPartitionKeysPerItem"/> or the size bound.</summary>
    internal long CapacityExceeded => Interlocked.Read(ref _capacityExceeded);

    /// <summary>Applies the batch's aggregates and marks each durable pair.</summary>
    /// <param name="batch">The batch; read only during the call.</param>
    /// <param name="cancellationToken">Cancelled at the invocation's deadline less its margin: the sink then returns,
    /// leaving the pairs it could not confirm unmarked; or, when attempts of those pairs had failed, throws an
    /// <see cref="OperationCanceledException"/> whose inner exception is the last failure (the processor's time-out
    /// error).</param>
    /// <returns>A task that completes when every pair is written, found already applied, or given up on.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="batch"/> is null.</exception>
    /// <exception cref="AmazonDynamoDBException">A non-transient error (missing table, validation); pairs marked before it stay marked.
    /// Also a transient one (throttling, a server error) when a pair was given up after
    /// <see cref="AwsRetryOptions.MaxAttempts"/> attempts with time left: thrown after every other pair is done, the last
    /// such error, whatever its type (a broken connection is an <see cref="System.Net.Http.HttpRequestException"/>).</exception>
    /// <exception cref="InvalidDataException">A stored item is not in this sink's layout.</exception>
    /// <exception cref="InvalidOperationException">The batch cannot be split at a stored watermark (see
    /// <see cref="AggregateBatch.TryGetAggregateAfter(int, ReadOnlySpan{byte}, MetricAggregate)"/>), or an item would
    /// pass <see cref="DynamoDbAggregateSinkOptions.MaxPartitionKeysPerItem"/> or the item size bound, or an item holds
    /// another stream's records: thrown after every other pair is done; those pairs stay unmarked. Also when pairs lost their conditional put to
    /// other writers on every attempt.</exception>
    public async Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        try
        {
            await WriteCoreAsync(batch, cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonDynamoDBException e) when (NamingTheTable(e) is { } named)
        {
            throw named;
        }
    }

    /// <summary>
    /// A missing table or one with another key schema, as the same exception (type, error code, status) with a message
    /// that names the table and the option: DynamoDB's own ("Requested resource not found", "The provided key element
    /// does not match the schema") names neither. Null for any other error.
    /// </summary>
    private AmazonDynamoDBException? NamingTheTable(AmazonDynamoDBException e)
    {
        string table = "Table '" + _options.TableName + "' (DynamoDbAggregateSinkOptions.TableName) ";
        return e switch
        {
            ResourceNotFoundException => new ResourceNotFoundException(
                table + "was not found in the client's account and region: " + e.Message, e, e.ErrorType, e.ErrorCode, e.RequestId, e.StatusCode),
            _ when e.GetType() == typeof(AmazonDynamoDBException) && e.ErrorCode == "ValidationException" &&
                   e.Message.Contains("key element does not match the schema", StringComparison.Ordinal) => new AmazonDynamoDBException(
                table + "does not have the sink's key schema, pk (S, HASH) and sk (S, RANGE): " + e.Message, e, e.ErrorType, e.ErrorCode, e.RequestId, e.StatusCode),
            _ => null,
        };
    }

    private async Task WriteCoreAsync(AggregateBatch batch, CancellationToken cancellationToken)
    {
        int count = batch.Count;
        if (count == 0)
        {
            return;
        }

        _ambiguous.Clear();
        _lastTransient = null;
        _lastFailure = null;
        RememberLastWriteAnswer();
        _lastWriteShard = batch.ShardId;
        Volatile.Write(ref _lastWriteAnswered, 0);
        var pairs = new PairState[count];
        for (int i = 0; i < count; i++)
        {
            int keys = batch.GetPartitionKeyCount(i);
            string[] partitionKeys = new string[keys];
            string[] lastByKey = new string[keys];
            for (int k = 0; k < keys; k++)
            {
                partitionKeys[k] = batch.GetPartitionKeyText(i, k);
                lastByKey[k] = Encoding.ASCII.GetString(batch.GetLastSequenceNumber(i, k));
            }

            pairs[i] = new PairState(PairKey.From(batch, i), Encoding.UTF8.GetString(batch.GetLastSequenceNumber(i)), partitionKeys, lastByKey);
        }

        // The shard's spill marker is read beside the items (one S3 GET, in parallel with the first reads).
        Task<MarkerRead> marker = SpillMarkers is { } source ? source.ReadMarkerAsync(batch.ShardId, batch.EventSourceArn, cancellationToken) : s_noMarker;

        // One pool of workers, one request each at a time, takes the steps in order: a BatchGetItem per 100 pairs, each
        // one chunk ahead of its pairs, and one read-merge-conditional-put per pair. A chunk's pairs are written while the
        // next is read: with all reads first, a batch too big for its time (a new environment with no learnt cost
        // reads the whole of it) ended with nothing durable. Pairs a read could not read are read one by one. A failure of
        // any step stops them all and is rethrown; pairs marked before it stay marked. The batch's options are the
        // processor's: a sink configured with others cannot disagree with them.
        int chunks = (count + BatchGetLimit - 1) / BatchGetLimit;
        var reads = new Gate[chunks];
        for (int c = 0; c < chunks; c++)
        {
            reads[c] = new Gate();
        }

        // The marker's task has one awaiter; the pairs wait at its gate (see Gate).
        var markerRead = new Gate();
        Task markerWait = OpenWhenDoneAsync(marker, markerRead);

        string? stream = DynamoDbItem.StreamOf(batch.EventSourceArn);
        await BoundedWorkers.RunAsync(
            chunks + count,
            _options.MaxConcurrency,
            () => new WriterScratch(batch.AggregatorOptions),
            async (step, scratch, token) =>
            {
                (bool read, int index) = PipelineStep(step, chunks, count);
                if (read)
                {
                    await OpenWhenDoneAsync(ReadChunkAsync(pairs, index * BatchGetLimit, Math.Min(count, (index + 1) * BatchGetLimit), token), reads[index]).ConfigureAwait(false);
                    return true;
                }

                await reads[index / BatchGetLimit].WaitAsync().ConfigureAwait(false);
                await markerRead.WaitAsync().ConfigureAwait(false);
                SpillMarker? spillMarker = (await marker.ConfigureAwait(false)).Marker; // done: its gate is open
                if (await ApplyPairAsync(batch, index, pairs[index], scratch, spillMarker, stream, token).ConfigureAwait(false))
                {
                    batch.MarkDurable(index);
                }

                return true;
            },
            cancellationToken).ConfigureAwait(false);
        await markerWait.ConfigureAwait(false);

        int over = 0, others = 0;
        (int Keys, int Bytes) worst = default;
        string? owner = null;
        foreach (PairState state in pairs)
        {
            if (state.CapacityExceeded is { } exceeded)
            {
                over++;
                worst = (Math.Max(worst.Keys, exceeded.Keys), Math.Max(worst.Bytes, exceeded.Bytes));
            }

            if (state.OtherStream is { } other)
            {
                others++;
                owner ??= other;
            }
        }

        if (others > 0)
        {
            // Never silent, never judged by another stream's watermarks: the pairs stay unmarked (their records are
            // reported for re-delivery) and the invocation's log line and metrics carry this error.
            AwsThrowHelper.ThrowInvalidOperation(string.Format(
                CultureInfo.InvariantCulture,
                // Both streams before the table, whose name (an ARN, up to 1,024 characters) could push them out: the
                // invocation's log line keeps the first 300 characters of the error (BatchSummary.MaxErrorLength).
                "This batch's stream {4} is not stream {3}, which table '{2}' (DynamoDbAggregateSinkOptions.TableName) serves: {0} aggregate item(s) of shard {1} " +
                "were not written. The watermarks are kept per shard id, which repeats across streams, so one table serves one stream: " +
                "give this stream its own table (docs/dynamodb.md, 'One stream per table'). Their records are left for re-delivery.",
                others,
                batch.ShardId,
                _options.TableName,
                owner,
                stream));
        }

        if (over > 0)
        {
            // Never silent: the pairs stay unmarked (their records are reported for re-delivery) and the invocation's
            // log line and metrics carry this error. No series or key is named: they come from record payloads.
            AwsThrowHelper.ThrowInvalidOperation(string.Format(
                CultureInfo.InvariantCulture,
                "{0} aggregate item(s) of shard {1} were not written: the new item would hold {2} partition-key watermarks (MaxPartitionKeysPerItem is {3}) " +
                "or {4} bytes (at most {5}). Their records are left for re-delivery; see docs/dynamodb.md, 'Bounds'.",
                over,
                batch.ShardId,
                worst.Keys,
                _options.MaxPartitionKeysPerItem,
                worst.Bytes,
                DynamoDbItem.MaxItemBytes));
        }

        int unwritten = 0;
        for (int i = 0; i < count; i++)
        {
            unwritten += batch.IsDurable(i) ? 0 : 1;
        }

        if (unwritten > 0 && !cancellationToken.IsCancellationRequested)
        {
            // Pairs given up with time left: each tried MaxAttempts times. Never silent: the invocation's log line says
            // the sink failed and why (a time-out returns, or throws a cancellation with its cause, below: the processor
            // reports it as one).
            ThrowGivenUp(batch, unwritten);
        }

        if (unwritten > 0 && Volatile.Read(ref _lastFailure) is { } cause)
        {
            // Out of time after failed attempts: still a time-out, but with its cause (found by review: an endpoint that
            // refused every attempt, a region typo, showed only "TimedOut" and an empty error, and the operator was sent
            // to raise the timeout). The processor keeps the inner exception as the invocation's aggregateSinkError.
            AwsThrowHelper.ThrowStoppedAfterFailures(
                string.Format(
                    CultureInfo.InvariantCulture,
                    "{0} aggregate item(s) of shard {1} were not written before the sink was stopped (its time was up, or the invocation was cancelled); the last of the failed attempts is the inner exception.",
                    unwritten,
                    batch.ShardId),
                cause,
                cancellationToken);
        }

        if (unwritten == 0 && (await marker.ConfigureAwait(false)).BucketError is { } bucketError)
        {
            // Every pair is durable, and the spill bucket cannot be read: no spill could be written there either. Never
            // silent (found by review: a bucket that did not exist showed nothing until the table failed and the spill
            // with it); the invocation's log line carries this error, and its records are done.
            AwsThrowHelper.ThrowS3(
                bucketError,
                "The shard's spill marker could not be read there, so no spill can be written: all " +
                batch.Count.ToString(CultureInfo.InvariantCulture) + " aggregate item(s) of shard " + batch.ShardId + " were written to the table.");
        }
    }

    /// <summary>
    /// The pipeline's step <paramref name="step"/> of <paramref name="chunks"/> reads and <paramref name="count"/> pairs:
    /// the read of chunk 0, then per chunk c the read of chunk c + 1 (when there is one) and c's pairs. Each pair comes
    /// after its chunk's read, so a worker that waits for one never waits for a step not yet taken.
    /// </summary>
    internal static (bool Read, int Index) PipelineStep(int step, int chunks, int count)
    {
        if (step == 0)
        {
            return (true, 0);
        }

        // After step 0, chunk c's block is its successor's read (all but the last chunk) and its pairs. Only the last
        // block is short (no read after it), so rest / block never passes the last chunk: the steps end before.
        int rest = step - 1;
        int block = BatchGetLimit + 1;
        int c = rest / block;
        int offset = rest - (c * block);
        if (c < chunks - 1)
        {
            return offset == 0 ? (true, c + 1) : (false, (c * BatchGetLimit) + offset - 1);
        }

        return (false, (c * BatchGetLimit) + offset);
    }

    /// <summary>
    /// Awaits <paramref name="task"/>, its one awaiter, opens <paramref name="gate"/> as it ended, and ends as it did (a
    /// failed read stops the pool; the marker's read never fails).
    /// </summary>
    private static async Task OpenWhenDoneAsync(Task task, Gate gate)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            gate.Open(e);
            throw;
        }

        gate.Open(null);
    }

    /// <summary>
    /// The end of a step the pairs wait for (a chunk's read, the spill marker's): each waiter gets a task of its own,
    /// completed in order where the step ended. Not one task that all await: the runtime resumes only the first await
    /// of a task inline and the others on the thread pool, so under a virtual clock (the emulator's) they ran off its
    /// thread, at virtual times that real timing decided.
    /// </summary>
    private sealed class Gate
    {
        private List<TaskCompletionSource>? _waiters;
        private bool _open;
        private Exception? _error;

        /// <summary>Completes when the read has ended; faults with its error when it failed.</summary>
        public Task WaitAsync()
        {
            lock (this)
            {
                if (_open)
                {
                    return _error is null ? Task.CompletedTask : Task.FromException(_error);
                }

                // Not RunContinuationsAsynchronously: the waiter goes on in Open, on the thread where the read ended.
                var waiter = new TaskCompletionSource();
                (_waiters ??= []).Add(waiter);
                return waiter.Task;
            }
        }

        /// <summary>Ends the read (<paramref name="error"/> null: it read what it could) and resumes the waiters in order.</summary>
        public void Open(Exception? error)
        {
            List<TaskCompletionSource>? waiters;
            lock (this)
            {
                _open = true;
                _error = error;
                waiters = _waiters;
                _waiters = null;
            }

            foreach (TaskCompletionSource waiter in waiters ?? [])
            {
                if (error is null)
                {
                    waiter.TrySetResult();
                }
                else
                {
                    waiter.TrySetException(error);
                }
            }
        }
    }

    private async Task ReadChunkAsync(PairState[] pairs, int start, int end, CancellationToken token)
    {
        var byKey = new Dictionary<(string Pk, string Sk), int>(end - start);
        var keys = new List<Dictionary<string, AttributeValue>>(end - start);
        for (int i = start; i < end; i++)
        {
            byKey[(pairs[i].Key.Pk, pairs[i].Key.Sk)] = i;
            keys.Add(pairs[i].Key.ToKey());
        }

        for (int attempt = 0; attempt < _options.Retry.MaxAttempts && keys.Count > 0; attempt++)
        {
            if (attempt > 0 && !await BackoffAsync(attempt, keys[0][DynamoDbItem.PartitionKey].S, token).ConfigureAwait(false))
            {
                return;
            }

            BatchGetItemResponse response;
            try
            {
                response = await _client.BatchGetItemAsync(
                    new BatchGetItemRequest
                    {
                        RequestItems = new Dictionary<string, KeysAndAttributes>(StringComparer.Ordinal)
                        {
                            [_options.TableName] = new KeysAndAttributes { Keys = keys, ConsistentRead = true },
                        },
                    },
                    token).ConfigureAwait(false);
                Volatile.Write(ref _lastWriteAnswered, 1);
            }
            catch (Exception e) when (RetryPolicy.IsTransient(e, token))
            {
                NoteAnswer(e);
                Volatile.Write(ref _lastFailure, e);
                continue;
            }
            catch (Exception) when (token.IsCancellationRequested)
            {
                return;
            }

            List<Dictionary<string, AttributeValue>>? unprocessed = null;
            if (response.UnprocessedKeys is not null && response.UnprocessedKeys.TryGetValue(_options.TableName, out KeysAndAttributes? left) &&
                left.Keys is { Count: > 0 })
            {
                unprocessed = left.Keys;
            }

            if (response.Responses is not null && response.Responses.TryGetValue(_options.TableName, out List<Dictionary<string, AttributeValue>>? items) && items is not null)
            {
                foreach (Dictionary<string, AttributeValue> item in items)
                {
                    if (item.TryGetValue(DynamoDbItem.PartitionKey, out AttributeValue? pk) && item.TryGetValue(DynamoDbItem.SortKey, out AttributeValue? sk) &&
                        pk.S is not null && sk.S is not null && byKey.TryGetValue((pk.S, sk.S), out int index))
                    {
                        pairs[index].Item = item;
                    }
                }
            }

            // Every requested key that is not unprocessed has been read: found above, or absent (a new item).
            var stillUnread = new HashSet<(string, string)>();
            if (unprocessed is not null)
            {
                foreach (Dictionary<string, AttributeValue> k in unprocessed)
                {
                    stillUnread.Add((k[DynamoDbItem.PartitionKey].S, k[DynamoDbItem.SortKey].S));
                }
            }

            foreach (Dictionary<string, AttributeValue> k in keys)
            {
                (string, string) id = (k[DynamoDbItem.PartitionKey].S, k[DynamoDbItem.SortKey].S);
                if (!stillUnread.Contains(id))
                {
                    pairs[byKey[id]].Loaded = true;
                }
            }

            keys = unprocessed ?? [];
        }
    }

    /// <summary>Read-merge-conditional-put for one pair; true when the pair is durably applied.</summary>
    private async Task<bool> ApplyPairAsync(
        AggregateBatch batch,
        int pair,
        PairState state,
        WriterScratch scratch,
        SpillMarker? spillMarker,
        string? stream,
        CancellationToken token)
    {
        (MetricAggregate fresh, MetricAggregate merged, ArrayBufferWriter<byte> buffer) = (scratch.Fresh, scratch.Merged, scratch.Buffer);
        bool loaded = state.Loaded;
        Dictionary<string, AttributeValue>? item = state.Item;
        Exception? lastTransient = null;
        for (int attempt = 0; attempt < _options.Retry.MaxAttempts; attempt++)
        {
            bool putSent = false;
            try
            {
                if (!loaded)
                {
                    GetItemResponse got = await _client.GetItemAsync(
                        new GetItemRequest { TableName = _options.TableName, Key = state.Key.ToKey(), ConsistentRead = true },
                        token).ConfigureAwait(false);
                    Volatile.Write(ref _lastWriteAnswered, 1);
                    item = got.IsItemSet && got.Item is { Count: > 0 } ? got.Item : null;
                    loaded = true;
                }

                if (DynamoDbItem.OtherStream(item, stream) is { } owner)
                {
                    // Another stream's item: its watermarks say nothing about this stream's records (same shard ids).
                    state.OtherStream = owner;
                    return false;
                }

                if (!Split(_options.PerShardWatermarkOnly, batch, pair, state, item, fresh, out string? shardWatermark, out Dictionary<string, AttributeValue>? keyWatermarks))
                {
                    // Every record of this pair is already in the item: a re-delivery, or our own earlier write.
                    return true;
                }

                long version = DynamoDbItem.GetVersion(item);
                MetricAggregate stored = DynamoDbItem.MergeStored(item, fresh, merged);
                Dictionary<string, AttributeValue>? preWrite = spillMarker is null ? null
                    : keyWatermarks is not null ? PreWriteMarks(spillMarker, state, item, batch, pair, keyWatermarks)
                    : _options.PerShardWatermarkOnly && shardWatermark is not null && state.PartitionKeys.Length > 0 ? ShardPreWriteMarks(spillMarker, state, item, batch, pair, shardWatermark)
                    : null;
                Dictionary<string, AttributeValue>? applied = DestinationRedrive is { } redriven && keyWatermarks is not null ? DestinationRanges(redriven, state, item, batch.ShardId, keyWatermarks) : null;
                Dictionary<string, AttributeValue> next = DynamoDbItem.Build(state.Key, stored, buffer, item, batch.ShardId, shardWatermark, keyWatermarks, version + 1, null, preWrite, stream, applied);
                int keys = DynamoDbItem.CountKeyWatermarks(next);
                int size = DynamoDbItem.Size(next);
                if (preWrite is not null && size > DynamoDbItem.MaxItemBytes)
                {
                    // The pre-write entries never stop a write: without them, the redrive reports what they would have decided.
                    next = DynamoDbItem.Build(state.Key, stored, buffer, item, batch.ShardId, shardWatermark, keyWatermarks, version + 1, stream: stream, destinationMarks: applied);
                    size = DynamoDbItem.Size(next);
                }

                if (keys > _options.MaxPartitionKeysPerItem || size > DynamoDbItem.MaxItemBytes)
                {
                    // Not written: the pair stays unmarked and WriteAsync reports it once the other pairs are done.
                    Interlocked.Increment(ref _capacityExceeded);
                    state.CapacityExceeded = (keys, size);
                    return false;
                }

                var put = new PutItemRequest { TableName = _options.TableName, Item = next };
                if (item is null)
                {
                    put.ConditionExpression = "attribute_not_exists(pk)";
                }
                else
                {
                    put.ConditionExpression = "ver = :expected";
                    put.ExpressionAttributeValues = new Dictionary<string, AttributeValue>(StringComparer.Ordinal)
                    {
                        [":expected"] = new AttributeValue { N = version.ToString(CultureInfo.InvariantCulture) },
                    };
                }

                putSent = true;
                await _client.PutItemAsync(put, token).ConfigureAwait(false);
                Volatile.Write(ref _lastWriteAnswered, 1);
                return true;
            }
            catch (ConditionalCheckFailedException)
            {
                Volatile.Write(ref _lastWriteAnswered, 1);
                // Someone wrote the item since we read it (maybe our own put whose response was lost): read again.
                Interlocked.Increment(ref _conflicts);
                loaded = false;
            }
            catch (Exception e) when (RetryPolicy.IsTransient(e, token))
            {
                // The put may or may not have landed; retrying with the same expected version is safe either way.
                NoteAnswer(e);
                lastTransient = e;
                Volatile.Write(ref _lastFailure, e);
                NoteAmbiguous(state.Key, putSent, e);
                if (!await BackoffAsync(attempt + 1, state.Key.Pk + "|" + state.Key.Sk, token).ConfigureAwait(false))
                {
                    return false;
                }
            }
            catch (Exception e) when (token.IsCancellationRequested)
            {
                NoteAmbiguous(state.Key, putSent, e);
                return false;
            }
        }

        if (lastTransient is not null)
        {
            Volatile.Write(ref _lastTransient, lastTransient);
        }

        return false;
    }

    /// <summary>
    /// Reports pairs given up before the deadline: the last transient error when there was one (throttling, a server
    /// error, a broken connection: its type tells the operator which), else the lost conditional puts.
    /// </summary>
    private void ThrowGivenUp(AggregateBatch batch, int unwritten)
    {
        if (Volatile.Read(ref _lastTransient) is { } transient)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(transient);
        }

        AwsThrowHelper.ThrowInvalidOperation(string.Format(
            CultureInfo.InvariantCulture,
            "{0} aggregate item(s) of shard {1} were not written: each lost its conditional put to another writer on all {2} attempts. " +
            "Their records are left for re-delivery.",
            unwritten,
            batch.ShardId,
            _options.Retry.MaxAttempts));
    }

    /// <summary>
    /// Notes an item whose put failed without saying whether it was applied: any failure of a sent put but a throttling
    /// error (DynamoDB refuses those before applying anything).
    /// </summary>
    private void NoteAmbiguous(PairKey key, bool putSent, Exception e)
    {
        if (putSent && !IsThrottling(e))
        {
            _ambiguous[(key.Pk, key.Sk)] = true;
        }
    }

    /// <summary>A throttling error is an answer: the table is up, only busy (a spill may still read it).</summary>
    private void NoteAnswer(Exception e)
    {
        if (IsThrottling(e))
        {
            Volatile.Write(ref _lastWriteAnswered, 1);
        }
    }

    private static bool IsThrottling(Exception e) =>
        e is AmazonDynamoDBException { ErrorCode: "ProvisionedThroughputExceededException" or "ThrottlingException" or "RequestLimitExceeded" };

    /// <summary>
    /// Fills <paramref name="fresh"/> with what the item does not hold yet and says which watermarks the new item gets;
    /// false when there is nothing to apply.
    /// </summary>
    /// <remarks>
    /// A pair with a per-record log is split per partition key: a record is applied when its sequence number is above
    /// both the shard's floor (<c>wm[shard]</c>: written by the previous layout and by tumbling-window flushes) and its
    /// own key's watermark (<c>wk[shard][key]</c>) and redrive mark (<c>rk[shard][key]</c>). Only per-key order is promised when batches of a shard run
    /// concurrently, and per key it holds, so each key's watermark separates exactly its applied records from the
    /// rest. A tumbling-window flush has no per-record log: the pair is split at the highest of the shard's watermarks
    /// and raises the floor. <see cref="DynamoDbAggregateSinkOptions.PerShardWatermarkOnly"/> writes no key watermark:
    /// each key is still judged by its own stored marks (kept from before a switch to it) and the shard's floor, which
    /// the write raises (exact with ParallelizationFactor 1 only; see docs/dynamodb.md).
    /// </remarks>
    private static bool Split(
        bool perShardOnly,
        AggregateBatch batch,
        int pair,
        PairState state,
        Dictionary<string, AttributeValue>? item,
        MetricAggregate fresh,
        out string? shardWatermark,
        out Dictionary<string, AttributeValue>? keyWatermarks)
    {
        string? floor = DynamoDbItem.GetWatermark(item, batch.ShardId);
        Dictionary<string, AttributeValue>? stored = DynamoDbItem.GetKeyWatermarks(item, batch.ShardId);
        Dictionary<string, AttributeValue>? redriven = DynamoDbItem.GetRedriveMarks(item, batch.ShardId);
        string[] keys = state.PartitionKeys;
        if (keys.Length == 0)
        {
            string? highest = floor;
            foreach (AttributeValue mark in (stored?.Values ?? (IEnumerable<AttributeValue>)[]).Concat(redriven?.Values ?? (IEnumerable<AttributeValue>)[]))
            {
                highest = Max(highest, mark.S);
            }

            shardWatermark = state.LastSequenceNumber;
            keyWatermarks = null;
            return batch.TryGetAggregateAfter(pair, highest is null ? default : Encoding.ASCII.GetBytes(highest), fresh);
        }

        var watermarks = new string?[keys.Length];
        for (int k = 0; k < keys.Length; k++)
        {
            // A redrive mark (rk) counts too: what a redrive applied for the key is never applied again, whichever
            // path (a re-delivery, or redrive's destination phase through this sink) brings the record back.
            watermarks[k] = Max(
                Max(floor, stored is not null && stored.TryGetValue(keys[k], out AttributeValue? mark) ? mark.S : null),
                redriven is not null && redriven.TryGetValue(keys[k], out AttributeValue? redrive) ? redrive.S : null);
        }

        shardWatermark = null;
        keyWatermarks = null;
        if (perShardOnly)
        {
            // One watermark written per shard, but each key judged by its own floor: a key's watermark or redrive mark
            // says nothing of another key's records. Taken over all keys, the highest floor skipped, without a word, the
            // records of a key that lagged (another lane before a switch from ParallelizationFactor above 1, or a record
            // the key bound refused), which Lambda then re-delivered. Watermarks stored per key stay as they are.
            shardWatermark = state.LastSequenceNumber;
            return batch.TryGetAggregateAfter(pair, watermarks, fresh);
        }

        if (!batch.TryGetAggregateAfter(pair, watermarks, fresh))
        {
            return false;
        }

        keyWatermarks = stored is null
            ? new Dictionary<string, AttributeValue>(keys.Length, StringComparer.Ordinal)
            : new Dictionary<string, AttributeValue>(stored, StringComparer.Ordinal);
        for (int k = 0; k < keys.Length; k++)
        {
            string last = state.KeyLastSequenceNumbers[k];
            if (watermarks[k] is not { } mark || SequenceNumber.Compare(last, mark) > 0)
            {
                keyWatermarks[keys[k]] = new AttributeValue { S = last };
            }
        }

        return true;
    }

    /// <summary>
    /// Under <see cref="DynamoDbAggregateSinkOptions.PerShardWatermarkOnly"/>, the shard's pre-write entries after this
    /// write, or null to keep them as stored: when the marker asks for one and the write moves the shard's floor, one
    /// (after, before, from) entry for the floor itself (<see cref="DynamoDbItem.ShardFloorEntries"/>), up to
    /// <see cref="DynamoDbItem.MaxPreWriteEntries"/>.
    /// </summary>
    /// <remarks>
    /// With one watermark per shard, a write moves the floor of all its partition keys at once, so a spill's lost put is
    /// decided for the item, not per key: the floor before the first write after the spill equal to the spill's last
    /// unknown sample in the item says the put landed. <c>from</c> is the pair's first record: at ParallelizationFactor 1
    /// (the only factor this layout is exact at) a batch holds every record of the shard between its first and last.
    /// </remarks>
    private static Dictionary<string, AttributeValue>? ShardPreWriteMarks(SpillMarker marker, PairState state, Dictionary<string, AttributeValue>? item, AggregateBatch batch, int pair, string after)
    {
        string? before = DynamoDbItem.GetWatermark(item, batch.ShardId);
        if ((before is not null && SequenceNumber.Compare(after, before) <= 0) || !marker.Applies(state.Key.Sk, before))
        {
            return null;
        }

        Dictionary<string, List<(string After, string? Before, string? From)>> entries = DynamoDbItem.GetPreWriteMarks(item, batch.ShardId) ?? new(StringComparer.Ordinal);
        List<(string After, string? Before, string? From)> list = entries.TryGetValue(DynamoDbItem.ShardFloorEntries, out var l) ? l : entries[DynamoDbItem.ShardFloorEntries] = [];
        if (list.Count >= DynamoDbItem.MaxPreWriteEntries)
        {
            return null;
        }

        list.Add((after, before, Encoding.ASCII.GetString(batch.GetFirstSequenceNumber(pair))));
        return DynamoDbItem.ToPreWriteMarks(entries);
    }

    /// <summary>
    /// The shard's pre-write entries after this write, or null to keep them as stored: for each partition key whose
    /// watermark this write moves, an (after, before, from) entry when the marker asks for one (the first write of the
    /// key to a marked window since the spills), up to <see cref="DynamoDbItem.MaxPreWriteEntries"/> per key.
    /// </summary>
    /// <remarks>
    /// <c>from</c>, the key's first record in the pair, tells a redrive whether this write held a spilled batch's records
    /// itself (found by review: an earlier attempt's put of a larger batch, applied seconds after a bisected half of it
    /// was spilled, left an entry whose <c>before</c> read as "the spilled attempt's put did not land", and the redrive
    /// applied the spill's samples a second time). A batch holds every record of a key between its first and last of
    /// that key (Lambda keeps each key's order), so every record of the key in this item from <c>from</c> to
    /// <c>after</c> is in this pair, and applied when past <c>before</c>. Not the pair's first record: at
    /// ParallelizationFactor above 1 a key's earlier records may have been in another lane's batch.
    /// </remarks>
    private static Dictionary<string, AttributeValue>? PreWriteMarks(SpillMarker marker, PairState state, Dictionary<string, AttributeValue>? item, AggregateBatch batch, int pair, Dictionary<string, AttributeValue> keyWatermarks)
    {
        string shardId = batch.ShardId;
        string? floor = DynamoDbItem.GetWatermark(item, shardId);
        Dictionary<string, AttributeValue>? live = DynamoDbItem.GetKeyWatermarks(item, shardId);
        Dictionary<string, List<(string After, string? Before, string? From)>>? entries = null;
        bool added = false;
        for (int k = 0; k < state.PartitionKeys.Length; k++)
        {
            string key = state.PartitionKeys[k];
            string? stored = live is not null && live.TryGetValue(key, out AttributeValue? w) ? w.S : null;
            string? before = Max(floor, stored);
            if (!keyWatermarks.TryGetValue(key, out AttributeValue? next) || next.S is not { } after || after == stored || !marker.Applies(state.Key.Sk, before))
            {
                continue;
            }

            entries ??= DynamoDbItem.GetPreWriteMarks(item, shardId) ?? new(StringComparer.Ordinal);
            List<(string After, string? Before, string? From)> list = entries.TryGetValue(key, out var l) ? l : entries[key] = [];
            if (list.Count < DynamoDbItem.MaxPreWriteEntries)
            {
                list.Add((after, before, Encoding.ASCII.GetString(batch.GetFirstSequenceNumber(pair, k))));
                added = true;
            }
        }

        return added ? DynamoDbItem.ToPreWriteMarks(entries!) : null;
    }

    /// <summary>
    /// The shard's destination redrive ranges after this write (<see cref="DestinationRedrive"/>), or null to keep
    /// them as stored: for each partition key whose watermark this write moves, one range from the key's first record in
    /// the event above the key's watermark before the write (every record of the key the write applies is at or above
    /// it) to the key's last record in the pair. The event holds every record of the key between the two, so every
    /// record of the key in the range that belongs to this item is applied by this write.
    /// </summary>
    private static Dictionary<string, AttributeValue>? DestinationRanges(DestinationRedriveEvent destination, PairState state, Dictionary<string, AttributeValue>? item, string shardId, Dictionary<string, AttributeValue> keyWatermarks)
    {
        string? floor = DynamoDbItem.GetWatermark(item, shardId);
        Dictionary<string, AttributeValue>? live = DynamoDbItem.GetKeyWatermarks(item, shardId);
        Dictionary<string, AttributeValue>? redriven = DynamoDbItem.GetRedriveMarks(item, shardId);
        Dictionary<string, List<(string First, string Last)>>? ranges = null;
        for (int k = 0; k < state.PartitionKeys.Length; k++)
        {
            string key = state.PartitionKeys[k];
            string? stored = live is not null && live.TryGetValue(key, out AttributeValue? w) ? w.S : null;
            string? before = Max(Max(floor, stored), redriven is not null && redriven.TryGetValue(key, out AttributeValue? r) ? r.S : null);
            string last = state.KeyLastSequenceNumbers[k];
            if (!keyWatermarks.TryGetValue(key, out AttributeValue? next) || next.S != last || (before is not null && SequenceNumber.Compare(last, before) <= 0))
            {
                continue; // this write applies nothing of the key
            }

            // The key's first record in the event above the watermark; the last itself when the event does not say (a
            // range of one record is still exact).
            string first = last;
            if (destination.Records.TryGetValue(key, out string[]? sequences))
            {
                foreach (string sequence in sequences)
                {
                    if (before is null || SequenceNumber.Compare(sequence, before) > 0)
                    {
                        first = SequenceNumber.Compare(sequence, last) <= 0 ? sequence : last;
                        break;
                    }
                }
            }

            ranges ??= DynamoDbItem.GetDestinationMarks(item, shardId) ?? new(StringComparer.Ordinal);
            List<(string First, string Last)> list = ranges.TryGetValue(key, out var l) ? l : ranges[key] = [];

            // The same object's records of the key run in several events (RecordsPerEvent): the range the last of them
            // ended, at the watermark this write starts from, is extended. The object holds every record of the shard
            // between that end and this write's last, and each of them in this item is applied: one in an earlier event
            // moved the watermark past it (it is not past that end), one in this event is applied now.
            int joined = before is not null && sequences is not null &&
                destination.ObjectStarts.TryGetValue(key, out string? start) && SequenceNumber.Compare(before, start) >= 0
                ? list.FindIndex(r => SequenceNumber.Compare(r.Last, before) == 0)
                : -1;
            if (joined >= 0)
            {
                list[joined] = (list[joined].First, last);
            }
            else
            {
                list.Add((first, last));
            }
        }

        return ranges is null ? null : DynamoDbItem.ToDestinationMarks(ranges);
    }

    /// <summary>The higher of two sequence numbers (decimal digits); null counts as lowest.</summary>
    private static string? Max(string? a, string? b) =>
        a is null ? b : b is null ? a : SequenceNumber.Compare(a, b) >= 0 ? a : b;

    private Task<bool> BackoffAsync(int attempt, string requestKey, CancellationToken token)
    {
        Interlocked.Increment(ref _retries);
        return RetryPolicy.TryDelayAsync(_options.Retry, attempt, requestKey, token);
    }

    /// <summary>What one write worker reuses for all its pairs.</summary>
    private sealed class WriterScratch(AggregatorOptions aggregator)
    {
        public MetricAggregate Fresh { get; } = new(aggregator);

        public MetricAggregate Merged { get; } = new(aggregator);

        public ArrayBufferWriter<byte> Buffer { get; } = new(256);
    }

    private sealed class PairState(PairKey key, string lastSequenceNumber, string[] partitionKeys, string[] keyLastSequenceNumbers)
    {
        public PairKey Key { get; } = key;

        public string LastSequenceNumber { get; } = lastSequenceNumber;

        /// <summary>The partition keys of the pair's records (empty for a tumbling-window flush).</summary>
        public string[] PartitionKeys { get; } = partitionKeys;

        /// <summary>Per partition key, the sequence number of its last record in the pair.</summary>
        public string[] KeyLastSequenceNumbers { get; } = keyLastSequenceNumbers;

        /// <summary>Set when the stored item belongs to another stream: that stream.</summary>
        public string? OtherStream { get; set; }

        /// <summary>Set when the new item would pass a bound: its watermark count and size.</summary>
        public (int Keys, int Bytes)? CapacityExceeded { get; set; }

        public Dictionary<string, AttributeValue>? Item { get; set; }

        public bool Loaded { get; set; }
    }
}

/// <summary>What <c>redrive</c>'s destination phase tells the sink about the event it runs (<see cref="DynamoDbAggregateSink.DestinationRedrive"/>).</summary>
/// <param name="Records">Per partition key (as the item names it, <see cref="AggregateBatch.GetPartitionKeyText"/>), the
/// sequence numbers of the event's records of that key, ascending. The event holds, per key, only records of one
/// on-failure destination object, so that no record of the key between two of them is missing from it.</param>
/// <param name="ObjectStarts">Per partition key, the lowest sequence number of the on-failure destination object the
/// event's records of the key come from (the object holds every record of the shard from it to its last). A write whose
/// key watermark before it is the end of one of the key's ranges and lies in that object extends that range instead of
/// adding one: every record of the key between the two is in the object, and each of them in this item was applied by
/// an earlier event or by this write. Absent for a key: a new range.</param>
internal sealed record DestinationRedriveEvent(IReadOnlyDictionary<string, string[]> Records, IReadOnlyDictionary<string, string> ObjectStarts);
