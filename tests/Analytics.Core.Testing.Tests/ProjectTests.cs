namespace Analytics.Core.Testing.Tests;

public class ProjectTests
{
    [Fact]
    public void Assembly_IsNamedForThePackage() =>
        Assert.Equal("Analytics.Core.Testing", typeof(Analytics.Core.Testing.AssemblyMarker).Assembly.GetName().Name);
}
