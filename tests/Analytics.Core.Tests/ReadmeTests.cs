using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Analytics.Core.Tests;

/// <summary>
/// Every C# block of the READMEs is code of <c>tests/consumer-net8</c>, the fresh net8.0 consumer that CI builds
/// against the packed packages (C# 12, warnings as errors) and runs; these tests keep the two identical, and keep the
/// package READMEs fit for a package page.
/// </summary>
public partial class ReadmeTests
{
    private static readonly string[] s_readmes =
    [
        "README.md",
        "src/Analytics.Core/README.md",
        "src/Analytics.Core.Aws/README.md",
        "src/Analytics.Core.Logging/README.md",
        "src/Analytics.Core.Testing/README.md",
    ];

    public static TheoryData<string> Readmes() => [.. s_readmes];

    public static TheoryData<string> Packages() => ["Analytics.Core", "Analytics.Core.Aws", "Analytics.Core.Logging", "Analytics.Core.Testing"];

    [Theory]
    [MemberData(nameof(Readmes))]
    public void EveryCSharpBlock_IsCodeTheNet8ConsumerRuns(string readme)
    {
        HashSet<string> regions = ConsumerRegions();
        string text = File.ReadAllText(Path.Combine(RepoPaths.Root, readme));
        string[] blocks = [.. CSharpBlocks().Matches(text).Select(b => Normalize(b.Groups[1].Value))];
        Assert.NotEmpty(blocks);
        foreach (string block in blocks)
        {
            Assert.True(regions.Contains(block), $"{readme}: this block is not a README region of tests/consumer-net8:\n{block}");
        }
    }

    [Fact]
    public void EveryConsumerRegion_IsInAReadme()
    {
        string all = string.Concat(s_readmes.Select(r => File.ReadAllText(Path.Combine(RepoPaths.Root, r))));
        HashSet<string> blocks = [.. CSharpBlocks().Matches(all).Select(b => Normalize(b.Groups[1].Value))];
        Assert.All(ConsumerRegions(), region => Assert.Contains(region, blocks));
    }

    [Theory]
    [MemberData(nameof(Packages))]
    public void PackageReadme_IsItsOwn_AndItsLinksWorkFromAPackagePage(string package)
    {
        string dir = Path.Combine(RepoPaths.Root, "src", package);
        XDocument project = XDocument.Load(Path.Combine(dir, package + ".csproj"));
        Assert.Equal("README.md", project.Descendants("PackageReadmeFile").Single().Value);
        Assert.Contains(project.Descendants("None"), n => (string?)n.Attribute("Include") == "README.md" && (string?)n.Attribute("Pack") == "true");

        string readme = File.ReadAllText(Path.Combine(dir, "README.md"));
        Assert.StartsWith("# " + package + "\n", readme.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.Contains("dotnet add package " + package, readme, StringComparison.Ordinal);
        foreach (Match link in MarkdownLinks().Matches(readme))
        {
            Assert.StartsWith("https://", link.Groups[1].Value, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void CoreReadme_NamesTheSupportedRuntimes()
    {
        string readme = File.ReadAllText(Path.Combine(RepoPaths.Root, "src", "Analytics.Core", "README.md"));
        Assert.Contains("`dotnet8`", readme, StringComparison.Ordinal);
        Assert.Contains("`provided.al2023`", readme, StringComparison.Ordinal);
        Assert.Contains("Native AOT", readme, StringComparison.Ordinal);
    }

    /// <summary>The code between <c>// README:start</c> and <c>// README:end</c> in the consumer's sources.</summary>
    private static HashSet<string> ConsumerRegions()
    {
        var regions = new HashSet<string>(StringComparer.Ordinal);
        foreach (string file in Directory.EnumerateFiles(Path.Combine(RepoPaths.Root, "tests", "consumer-net8", "Examples"), "*.cs"))
        {
            foreach (Match m in Regions().Matches(File.ReadAllText(file)))
            {
                regions.Add(Normalize(m.Groups[1].Value));
            }
        }

        Assert.NotEmpty(regions);
        return regions;
    }

    private static string Normalize(string code) =>
        string.Join("\n", code.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0));

    [GeneratedRegex("```csharp\\r?\\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlocks();

    [GeneratedRegex(@"// README:start\r?\n(.*?)\r?\n\s*// README:end", RegexOptions.Singleline)]
    private static partial Regex Regions();

    [GeneratedRegex(@"\]\(([^)\s]+)\)")]
    private static partial Regex MarkdownLinks();
}
