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
/// <para><b>Table layout.</b> One item per (series, window):</para>
/// <list type="bullet">
/// <item><c>pk</c> (S, partition key): the series as <c>metric|k1=v1|k2=v2</c>, dimensions in the series key's
/// canonical (ordinal) order, with <c>\</c>, <c>|</c> and <c>=</c> escaped by a backslash, so the form is unique per
/// series and reads like the data. A series whose form exceeds DynamoDB's 2048-byte key limit is stored as
/// <c>metric|\#sha256:&lt;hex SHA-256 of the encoded series key&gt;</c> (<c>\#</c> never occurs in the readable form).</item>
/// <item><c>sk</c> (S, sort key): window start, ISO-8601 UTC with milliseconds (<c>2024-05-01T12:00:00.000Z</c>),
/// fixed width so string order is time order.</item>
/// <item><c>metric</c> (S), <c>dimensions</c> (M of S; absent for a series without dimensions),
/// <c>windowStart</c> and <c>windowEnd</c> (S, ISO-8601 UTC; end exclusive).</item>
/// <item><c>count</c>, <c>sum</c>, <c>min</c>, <c>max</c> (N): readable copies. A value outside DynamoDB's number range
/// (magnitude 1E-130 to 9.99E+125) is left out.</item>
/// <item><c>sketch</c> (B): the whole <see cref="MetricAggregate"/> in its binary form, the source of truth when merging.</item>
/// <item><c>wm</c> (M of S): per shard id, the highest sequence number applied to this item, as a string
/// (sequence numbers exceed the 38 digits of a DynamoDB number).</item>
/// <item><c>ver</c> (N): the item's version, incremented by every write (optimistic concurrency).</item>
/// </list>
/// <para><b>Algorithm.</b> For each pair of a batch the sink reads the item (BatchGetItem, consistent reads),
/// takes <c>wm[shardId]</c> as the watermark, asks the batch for the aggregate of only the records past it
/// (<see cref="AggregateBatch.TryGetAggregateAfter"/>), merges that into the stored aggregate and writes the whole item
/// with one conditional PutItem: <c>attribute_not_exists(pk)</c> for a new item, else <c>ver = :expected</c>; the new
/// item has <c>ver + 1</c> and <c>wm[shardId]</c> = the pair's last sequence number. A failed condition means another
/// writer (another shard, or a write of ours whose response was lost) got there first: the sink re-reads and
/// repeats. Throttling, server errors and timeouts are retried with full-jitter exponential backoff, all within the
/// cancellation token. Each pair written (or found already applied) is marked durable; pairs left unmarked are
/// re-delivered by Lambda from the checkpoint the pipeline reports.</para>
/// <para><b>Guarantee.</b> Exactly once per shard as long as the records of a shard are applied in sequence order,
/// which holds with ParallelizationFactor 1. With ParallelizationFactor greater than 1 Lambda processes several
/// batches of one shard at once; a later batch can raise <c>wm[shardId]</c> of an item past the records of an earlier
/// batch that has not been applied yet, and those records are then skipped: lost, never double counted. Use
/// ParallelizationFactor 1 with this sink.</para>
/// </remarks>
public sealed class DynamoDbAggregateSink : IAggregateSink
{
    private const int BatchGetLimit = 100;

    private readonly IAmazonDynamoDB _client;
    private readonly DynamoDbAggregateSinkOptions _options;
    private long _retries;
    private long _conflicts;

    /// <summary>Creates the sink.</summary>
    /// <param name="client">The DynamoDB client; the sink does not dispose it. Give it few retries of its own.</param>
    /// <param name="options">Table name, aggregator options, retry and concurrency bounds.</param>
    /// <exception cref="ArgumentNullException"><paramref name="client"/> is null.</exception>
    /// <exception cref="ArgumentException">The table name is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException">Concurrency or attempts are below 1, or a retry delay is negative.</exception>
    public DynamoDbAggregateSink(IAmazonDynamoDB client, DynamoDbAggregateSinkOptions options)
    {
        AwsSinkChecks.Validate(client, options.TableName, nameof(options.TableName), options.MaxConcurrency, options.Retry);
        _client = client;
        _options = options;
    }

    /// <summary>Requests that failed transiently and were tried again, since the sink was created.</summary>
    internal long Retries => Interlocked.Read(ref _retries);

    /// <summary>Conditional puts that lost to another write and were redone after a re-read.</summary>
    internal long Conflicts => Interlocked.Read(ref _conflicts);

    /// <summary>Applies the batch's aggregates and marks each durable pair.</summary>
    /// <param name="batch">The batch; read only during the call.</param>
    /// <param name="cancellationToken">Cancelled at the invocation's deadline less its margin: the sink then returns,
    /// leaving the pairs it could not confirm unmarked.</param>
    /// <returns>A task that completes when every pair is written, found already applied, or given up on.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="batch"/> is null.</exception>
    /// <exception cref="AmazonDynamoDBException">A non-transient error (missing table, validation); pairs marked before it stay marked.</exception>
    /// <exception cref="InvalidDataException">A stored item is not in this sink's layout.</exception>
    /// <exception cref="InvalidOperationException">The batch cannot be split at a stored watermark (see <see cref="AggregateBatch.TryGetAggregateAfter"/>).</exception>
    public async Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        int count = batch.Count;
        if (count == 0)
        {
            return;
        }

        var pairs = new PairState[count];
        for (int i = 0; i < count; i++)
        {
            pairs[i] = new PairState(PairKey.From(batch, i), Encoding.UTF8.GetString(batch.GetLastSequenceNumber(i)));
        }

        // Read phase: one BatchGetItem per 100 pairs. Pairs it could not read are read one by one later.
        // A failure of either phase stops both and is rethrown; pairs marked before it stay marked.
        int chunks = (count + BatchGetLimit - 1) / BatchGetLimit;
        await BoundedWorkers.RunAsync(
            chunks,
            _options.MaxConcurrency,
            static () => 0,
            async (c, _, token) =>
            {
                await ReadChunkAsync(pairs, c * BatchGetLimit, Math.Min(count, (c + 1) * BatchGetLimit), token).ConfigureAwait(false);
                return true;
            },
            cancellationToken).ConfigureAwait(false);

        // Write phase: one conditional put per pair, in parallel. A pair that could not be confirmed stays unmarked.
        // The batch's options are the processor's: a sink configured with others cannot disagree with them.
        await BoundedWorkers.RunAsync(
            count,
            _options.MaxConcurrency,
            () => new WriterScratch(batch.AggregatorOptions),
            async (i, scratch, token) =>
            {
                if (await ApplyPairAsync(batch, i, pairs[i], scratch, token).ConfigureAwait(false))
                {
                    batch.MarkDurable(i);
                }

                return true;
            },
            cancellationToken).ConfigureAwait(false);
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
            }
            catch (Exception e) when (RetryPolicy.IsTransient(e, token))
            {
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
        CancellationToken token)
    {
        (MetricAggregate fresh, MetricAggregate merged, ArrayBufferWriter<byte> buffer) = (scratch.Fresh, scratch.Merged, scratch.Buffer);
        bool loaded = state.Loaded;
        Dictionary<string, AttributeValue>? item = state.Item;
        for (int attempt = 0; attempt < _options.Retry.MaxAttempts; attempt++)
        {
            try
            {
                if (!loaded)
                {
                    GetItemResponse got = await _client.GetItemAsync(
                        new GetItemRequest { TableName = _options.TableName, Key = state.Key.ToKey(), ConsistentRead = true },
                        token).ConfigureAwait(false);
                    item = got.IsItemSet && got.Item is { Count: > 0 } ? got.Item : null;
                    loaded = true;
                }

                string? watermark = DynamoDbItem.GetWatermark(item, batch.ShardId);
                if (!batch.TryGetAggregateAfter(pair, watermark is null ? default : Encoding.ASCII.GetBytes(watermark), fresh))
                {
                    // Every record of this pair is already in the item: a re-delivery, or our own earlier write.
                    return true;
                }

                long version = DynamoDbItem.GetVersion(item);
                merged.Clear();
                if (item is not null)
                {
                    DynamoDbItem.ReadAggregate(item, merged);
                }

                merged.Merge(fresh);
                var put = new PutItemRequest
                {
                    TableName = _options.TableName,
                    Item = DynamoDbItem.Build(state.Key, merged, buffer, item, batch.ShardId, state.LastSequenceNumber, version + 1),
                };
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

                await _client.PutItemAsync(put, token).ConfigureAwait(false);
                return true;
            }
            catch (ConditionalCheckFailedException)
            {
                // Someone wrote the item since we read it (maybe our own put whose response was lost): read again.
                Interlocked.Increment(ref _conflicts);
                loaded = false;
            }
            catch (Exception e) when (RetryPolicy.IsTransient(e, token))
            {
                // The put may or may not have landed; retrying with the same expected version is safe either way.
                if (!await BackoffAsync(attempt + 1, state.Key.Pk + "|" + state.Key.Sk, token).ConfigureAwait(false))
                {
                    return false;
                }
            }
            catch (Exception) when (token.IsCancellationRequested)
            {
                return false;
            }
        }

        return false;
    }

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

    private sealed class PairState(PairKey key, string lastSequenceNumber)
    {
        public PairKey Key { get; } = key;

        public string LastSequenceNumber { get; } = lastSequenceNumber;

        public Dictionary<string, AttributeValue>? Item { get; set; }

        public bool Loaded { get; set; }
    }
}
