namespace Analytics.Core.Benchmarks;

/// <summary>Marks every aggregate durable and stores nothing: the pipeline without network or files.</summary>
public sealed class DurableNoOpAggregateSink : IAggregateSink
{
    public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
    {
        for (int pair = 0; pair < batch.Count; pair++)
        {
            batch.MarkDurable(pair);
        }

        return Task.CompletedTask;
    }
}

/// <summary>Accepts every poison record as durable (the benchmark events have none).</summary>
public sealed class DurableNoOpQuarantineSink : IQuarantineSink
{
    public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken) => Task.FromResult(records.Count);
}
