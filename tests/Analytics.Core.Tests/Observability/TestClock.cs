namespace Analytics.Core.Tests;

/// <summary>A clock that always says the same time.</summary>
internal sealed class TestClock(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}
