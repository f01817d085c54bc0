using Analytics.Core.Tests;
using PublicApiGenerator;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The package's public API is tracked in a committed file (as the other packages' are, in the core tests), so every
/// change to it shows up in review. When this fails, review <c>PublicAPI.received.txt</c> and copy it over the
/// approved file.
/// </summary>
public class PublicApiTests
{
    [Fact]
    public void PublicApi_MatchesApprovedFile()
    {
        string api = typeof(StreamEmulator).Assembly.GeneratePublicApi(new ApiGeneratorOptions
        {
            ExcludeAttributes = ["System.Runtime.Versioning.TargetFrameworkAttribute", "System.Reflection.AssemblyMetadataAttribute", "System.Runtime.CompilerServices.SkipLocalsInitAttribute"],
        }).ReplaceLineEndings("\n");
        string path = Path.Combine(RepoPaths.Root, "src/Analytics.Core.Testing/PublicAPI.approved.txt");
        string approved = File.Exists(path) ? File.ReadAllText(path).ReplaceLineEndings("\n") : string.Empty;
        if (approved != api)
        {
            File.WriteAllText(Path.ChangeExtension(path, ".received.txt"), api);
        }

        Assert.Equal(approved, api);
    }

    [Fact]
    public void PublicApi_EveryPublicTypeIsInThePackagesNamespace_AndNoInternalsLeak()
    {
        // The consumer sees one namespace; emulation internals (records, batches, lanes, the event writer) stay internal.
        Type[] exported = typeof(StreamEmulator).Assembly.GetExportedTypes();
        Assert.All(exported, t => Assert.Equal("Analytics.Core.Testing", t.Namespace));
        string[] internalOnly = ["SimRecord", "Batch", "Lane", "ShardState", "Invocation", "EventWriter", "LambdaJson", "FaultPlan", "DynamoValue"];
        Assert.DoesNotContain(exported, t => internalOnly.Contains(t.Name));
    }
}
