using System.Text.RegularExpressions;

namespace Analytics.Core.Tests;

/// <summary>
/// "Every throw of the library goes through a throw helper", checked over the source, since no analyzer does: hot
/// methods stay small, and every exception type and message is found in one place per assembly.
/// </summary>
public sealed partial class ThrowHelperRuleTests
{
    /// <summary>The files that may throw: the helpers themselves (and the Debug-only invariant check).</summary>
    private static readonly string[] s_helpers =
    [
        "src/Analytics.Core/Internal/ThrowHelper.cs",
        "src/Analytics.Core/Internal/CoreAssert.cs",
        "src/Analytics.Core.Aws/Internal/AwsThrowHelper.cs",
    ];

    [Theory]
    [InlineData("src/Analytics.Core")]
    [InlineData("src/Analytics.Core.Aws")]
    [InlineData("src/Analytics.Core.Logging")]
    public void LibrarySource_ThrowsOnlyThroughItsThrowHelper(string project)
    {
        var offending = new List<string>();
        foreach (string path in Directory.EnumerateFiles(Path.Combine(RepoPaths.Root, project), "*.cs", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(RepoPaths.Root, path).Replace('\\', '/');
            if (relative.Contains("/obj/", StringComparison.Ordinal) || relative.Contains("/bin/", StringComparison.Ordinal) || s_helpers.Contains(relative))
            {
                continue;
            }

            string[] lines = File.ReadAllLines(path);
            for (int i = 0; i < lines.Length; i++)
            {
                if (ThrowNew().IsMatch(lines[i]))
                {
                    offending.Add($"{relative}:{i + 1}: {lines[i].Trim()}");
                }
            }
        }

        Assert.Empty(offending);
    }

    /// <summary>A <c>throw new</c> in code (a statement or an expression); a rethrow (<c>throw;</c>) keeps the original.</summary>
    [GeneratedRegex(@"^(?!\s*///?).*\bthrow\s+new\b")]
    private static partial Regex ThrowNew();
}
