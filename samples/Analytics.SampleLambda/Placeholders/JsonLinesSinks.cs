// TEMPORARY: stand-ins for the JSON-lines sinks that land in src/Analytics.Core/Sinks/ on main. They exist only so
// this sample compiles before that; delete this file when merging main brings the real ones.
namespace Analytics.Core;

internal sealed class JsonLinesAggregateSink(string path) : IAggregateSink, IDisposable, IAsyncDisposable
{
    public string Path { get; } = path;

    public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken) => throw new NotImplementedException();

    public void Dispose()
    {
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

internal sealed class JsonLinesQuarantineSink(string path) : IQuarantineSink, IDisposable, IAsyncDisposable
{
    public string Path { get; } = path;

    public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken) => throw new NotImplementedException();

    public void Dispose()
    {
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
