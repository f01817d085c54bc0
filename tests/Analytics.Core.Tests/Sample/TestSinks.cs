namespace Analytics.Core.Tests.Sample;

/// <summary>An aggregate sink that keeps nothing and makes every pair durable.</summary>
internal sealed class AcceptAllAggregateSink : IAggregateSink
{
    public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
    {
        for (int i = 0; i < batch.Count; i++)
        {
            batch.MarkDurable(i);
        }

        return Task.CompletedTask;
    }
}

/// <summary>A quarantine sink that keeps the records in memory.</summary>
internal sealed class ListQuarantineSink : IQuarantineSink
{
    public List<QuarantinedRecord> Records { get; } = [];

    public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken)
    {
        Records.AddRange(records);
        return Task.FromResult(records.Count);
    }
}
