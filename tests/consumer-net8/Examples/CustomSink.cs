namespace ConsumerNet8.Core;

// README:start
using Analytics.Core;

public sealed class TextAggregateSink(TextWriter output) : IAggregateSink
{
    public async Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
    {
        foreach (AggregatePair pair in batch.GetPairs()) // plain strings and numbers: fine across await
        {
            string dimensions = string.Join(",", pair.Dimensions.Select(d => $"{d.Key}={d.Value}"));
            await output.WriteLineAsync(
                $"{pair.Metric} [{dimensions}] {pair.WindowStart:O} count={pair.Count} sum={pair.Sum} " +
                $"min={pair.Min} max={pair.Max} p99={pair.GetQuantile(0.99)}");
        }

        // Only once they are stored: the records of an unmarked pair are reported, and Lambda delivers them again.
        batch.MarkAllDurable();
    }
}
// README:end
