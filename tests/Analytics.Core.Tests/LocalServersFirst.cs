using Xunit.Abstractions;

namespace Analytics.Core.Tests;

/// <summary>
/// Starts the local-server collections before the others. Each is a chain of classes that run one after another, much of
/// it waiting on the servers or on real-time bounds, while the classes of no collection share the cores freely. In the
/// default order one chain started 105 s into a 162 s run and was its tail, with a core idle.
/// </summary>
public sealed class LocalServersFirst : ITestCollectionOrderer
{
    /// <inheritdoc/>
    public IEnumerable<ITestCollection> OrderTestCollections(IEnumerable<ITestCollection> testCollections) =>
        testCollections.OrderBy(c => c.DisplayName is LocalServersCollection.Name or LocalServersCollection.Second ? 0 : 1);
}
