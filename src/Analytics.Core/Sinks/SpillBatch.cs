namespace Analytics.Core;

/// <summary>What a <see cref="ISpillSink"/> keeps: the pairs of a batch that are not durable, each with its samples.</summary>
/// <remarks>Valid only during <see cref="ISpillSink.WriteAsync"/>: it refers to the batch, which the pipeline reuses.</remarks>
public sealed class SpillBatch
{
    internal SpillBatch(AggregateBatch batch, string spillId, IReadOnlyList<SpilledPair> pairs)
    {
        Batch = batch;
        SpillId = spillId;
        Pairs = pairs;
    }

    /// <summary>The batch the pairs belong to: series keys, windows, aggregator options, shard and stream.</summary>
    public AggregateBatch Batch { get; }

    /// <summary>The shard.</summary>
    public string ShardId => Batch.ShardId;

    /// <summary>The stream ARN, when the event carried it.</summary>
    public string? EventSourceArn => Batch.EventSourceArn;

    /// <summary>
    /// The spill's id, unique per shard: the sequence number of the batch's first record. When a spill is not
    /// confirmed the pipeline reports this record as the checkpoint, so every retry begins here and first calls
    /// <see cref="ISpillSink.RemoveUnconfirmedAsync"/> with it.
    /// </summary>
    public string SpillId { get; }

    /// <summary>The pairs not durable, in batch order.</summary>
    public IReadOnlyList<SpilledPair> Pairs { get; }
}

/// <summary>One pair of a <see cref="SpillBatch"/>: its index in the batch and every sample behind it.</summary>
public sealed class SpilledPair
{
    internal SpilledPair(int index, IReadOnlyList<SpilledSample> samples)
    {
        Index = index;
        Samples = samples;
    }

    /// <summary>The pair's index in <see cref="SpillBatch.Batch"/>.</summary>
    public int Index { get; }

    /// <summary>The pair's samples in record order, each with its record's sequence number and partition key.</summary>
    public IReadOnlyList<SpilledSample> Samples { get; }
}

/// <summary>One sample of a spilled pair.</summary>
/// <param name="SequenceNumber">The record's sequence number (decimal digits).</param>
/// <param name="PartitionKey">The record's partition key (the Kinesis record's, unescaped), as <see cref="AggregateBatch.GetPartitionKeyText"/> gives it: a key that is not text is U+FFFD and its bytes in base64.</param>
/// <param name="Value">The sample's value.</param>
public readonly record struct SpilledSample(string SequenceNumber, string PartitionKey, double Value);
