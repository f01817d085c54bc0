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

    /// <summary>Files whose throws are still to move to the helper; each must still hold one, so a fixed file leaves the list.</summary>
    private static readonly string[] s_notYetMoved =
    [
        "src/Analytics.Core/Hosting/KinesisFunctionSettings.cs",
    ];

    [Theory]
    [InlineData("src/Analytics.Core")]
    [InlineData("src/Analytics.Core.Aws")]
    [InlineData("src/Analytics.Core.Logging")]
    public void LibrarySource_ThrowsOnlyThroughItsThrowHelper(string project)
    {
        var offending = new List<string>();
        var stillThrowing = new HashSet<string>(StringComparer.Ordinal);
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
                    if (s_notYetMoved.Contains(relative))
                    {
                        stillThrowing.Add(relative);
                    }
                    else
                    {
                        offending.Add($"{relative}:{i + 1}: {lines[i].Trim()}");
                    }
                }
            }
        }

        Assert.Empty(offending);
        Assert.Equal(s_notYetMoved.Where(f => f.StartsWith(project + "/", StringComparison.Ordinal)).Order(), stillThrowing.Order());
    }

    /// <summary>A <c>throw new</c> in code (a statement or an expression); a rethrow (<c>throw;</c>) keeps the original.</summary>
    [GeneratedRegex(@"^(?!\s*///?).*\bthrow\s+new\b")]
    private static partial Regex ThrowNew();
}
