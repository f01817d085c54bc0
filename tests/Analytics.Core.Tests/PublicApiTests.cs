using PublicApiGenerator;

namespace Analytics.Core.Tests;

/// <summary>
/// The public API is tracked in a committed file, so every change to it shows up in review.
/// When this fails, review <c>*.received.txt</c> and copy it over the approved file.
/// </summary>
public class PublicApiTests
{
    [Theory]
    [InlineData(typeof(KinesisBatchProcessor), "src/Analytics.Core/PublicAPI.approved.txt")]
    [InlineData(typeof(DynamoDbAggregateSink), "src/Analytics.Core.Aws/PublicAPI.approved.txt")]
    [InlineData(typeof(LoggerJsonLogWriter), "src/Analytics.Core.Logging/PublicAPI.approved.txt")]
    public void PublicApi_MatchesApprovedFile(Type anyTypeOfAssembly, string approvedPath)
    {
        string api = anyTypeOfAssembly.Assembly.GeneratePublicApi(new ApiGeneratorOptions
        {
            ExcludeAttributes = ["System.Runtime.Versioning.TargetFrameworkAttribute", "System.Reflection.AssemblyMetadataAttribute", "System.Runtime.CompilerServices.SkipLocalsInitAttribute"],
        }).ReplaceLineEndings("\n");
        string path = Path.Combine(RepoPaths.Root, approvedPath);
        string approved = File.Exists(path) ? File.ReadAllText(path).ReplaceLineEndings("\n") : string.Empty;
        if (approved != api)
        {
            File.WriteAllText(Path.ChangeExtension(path, ".received.txt"), api);
        }

        Assert.Equal(approved, api);
    }
}
