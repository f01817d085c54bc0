using System.Diagnostics;
using Analytics.Core.Tests;
using Analytics.Replay;
using Analytics.Replay.Incident;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Found by a review (2026-12-07) of the second round of fixes to replay's templates: aliases before their anchors and
/// anchors defined twice (which sam deploy's reader refuses, and which reached YamlDotNet's resolution past the count:
/// a stack overflow, merges the count did not see), nesting without aliases, and merge keys with overriding keys.
/// </summary>
public class ReplayHostileInputTests4
{
    private static readonly string s_template = File.ReadAllText(Path.Combine(RepoPaths.Root, "samples", "Analytics.SampleLambda", "template.yaml")).Replace("\r\n", "\n", StringComparison.Ordinal);

    private static ScenarioException Refused(string yaml) => Assert.Throws<ScenarioException>(() => SamTemplate.Parse(yaml, "t.yaml"));

    /// <summary>An alias used as a key before its anchor: YamlDotNet resolved it at the document's end, and comparing the key recursed forever.</summary>
    [Theory]
    [InlineData("x-a: &a v\n")]
    [InlineData("x-a: &a [*b]\nx-b: &b [*a]\n")]
    public void AnAliasBeforeItsAnchor_IsRefused_NamingIt(string tail)
    {
        ScenarioException error = Refused("? *a\n: 1\n" + s_template + tail);

        Assert.Contains("the alias *a at line 1 comes before its anchor &a", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void AnAnchorDefinedTwice_IsRefused_AndAMergeNeverTakesTheLaterOne()
    {
        string yaml = s_template.Replace("Parameters:\n", "x-common: &common\n  ANALYTICS_WINDOW_SECONDS: \"300\"\nParameters:\n", StringComparison.Ordinal)
            .Replace("          ANALYTICS_WINDOW_SECONDS: \"60\"\n", "          <<: *common\n", StringComparison.Ordinal)
            + "x-later: &common\n  ANALYTICS_WINDOW_SECONDS: \"120\"\n";

        Assert.Contains("the anchor &common at line", Refused(yaml).Reason, StringComparison.Ordinal);
        Assert.Contains("is defined a second time", Refused(yaml).Reason, StringComparison.Ordinal);
    }

    /// <summary>40,000 nested lists in 95 KB, no alias: loading walks recursively and overflowed the stack.</summary>
    [Fact]
    public void DeepNesting_IsRefused()
    {
        ScenarioException error = Refused(s_template + "x-deep: " + new string('[', 40_000) + new string(']', 40_000) + "\n");

        Assert.Contains("it nests lists and mappings more than 1,000 deep", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void NestingAsDeepAsTheBound_IsRead()
    {
        Assert.Equal(100, SamTemplate.Parse(s_template + "x-deep: " + new string('[', 990) + new string(']', 990) + "\n", "t.yaml").Mapping.BatchSize);
    }

    /// <summary>Merges count as what they add: 12 merges of a 10,000-key mapping add 240,000 nodes.</summary>
    [Fact]
    public void MergesOfALargeMapping_AreCountedAsWhatTheyAdd()
    {
        string rows = string.Concat(Enumerable.Range(0, 10_000).Select(i => $"  k{i}: {i}\n"));
        string merges = string.Concat(Enumerable.Range(0, 12).Select(j => $"x-m{j}: {{<<: *big}}\n"));
        string yaml = s_template.Replace("Parameters:\n", "x-big: &big\n" + rows + merges + "Parameters:\n", StringComparison.Ordinal);

        Assert.Contains("its aliases expand to more than 100,000 nodes", Refused(yaml).Reason, StringComparison.Ordinal);
    }

    /// <summary>Two mappings merging each other (33 bytes) ran to the merging parser's 4 million events: 10 s, 515 MB.</summary>
    [Fact]
    public void MergeKeysThatMergeEachOther_AreRefusedAtOnce_NamingTheAlias()
    {
        var watch = Stopwatch.StartNew();

        ScenarioException error = Refused(s_template + "x-p: &p {<<: *q}\nx-q: &q {<<: *p}\n");

        // Half the 10 s the bug took on an idle machine (the refusal takes about 0.5 s on a loaded one): a bound, not a timing.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"{watch.Elapsed.TotalSeconds:N1} s");
        Assert.Contains("the alias *q at line", error.Reason, StringComparison.Ordinal);
    }

    /// <summary>A merge key's own use, a common mapping with one key overridden, was refused as a duplicate key; sam deploy keeps the explicit value.</summary>
    [Fact]
    public void AMergeKey_WithAnOverridingKey_IsReadAsSamDeployReadsIt()
    {
        string yaml = s_template.Replace("Parameters:\n", "x-common: &common\n  ANALYTICS_WINDOW_SECONDS: \"300\"\n  ANALYTICS_SPILL_AFTER_SECONDS: \"120\"\nParameters:\n", StringComparison.Ordinal)
            .Replace("          ANALYTICS_WINDOW_SECONDS: \"60\"\n", "          <<: *common\n          ANALYTICS_WINDOW_SECONDS: \"180\"\n", StringComparison.Ordinal)
            .Replace("          ANALYTICS_SPILL_AFTER_SECONDS: \"60\"\n", string.Empty, StringComparison.Ordinal);

        TemplateSettings settings = SamTemplate.Parse(yaml, "t.yaml");

        Assert.Equal((180, (int?)120), (settings.WindowSeconds, settings.SpillAfterSeconds));
    }

    /// <summary>In a list of merged mappings the earlier one's key wins, as PyYAML merges.</summary>
    [Fact]
    public void AListOfMergedMappings_TakesTheEarliersKey()
    {
        string yaml = s_template.Replace("Parameters:\n", "x-a: &a\n  ANALYTICS_WINDOW_SECONDS: \"300\"\nx-b: &b\n  ANALYTICS_WINDOW_SECONDS: \"120\"\n  ANALYTICS_SPILL_AFTER_SECONDS: \"240\"\nParameters:\n", StringComparison.Ordinal)
            .Replace("          ANALYTICS_WINDOW_SECONDS: \"60\"\n", "          <<: [*a, *b]\n", StringComparison.Ordinal)
            .Replace("          ANALYTICS_SPILL_AFTER_SECONDS: \"60\"\n", string.Empty, StringComparison.Ordinal);

        TemplateSettings settings = SamTemplate.Parse(yaml, "t.yaml");

        Assert.Equal((300, (int?)240), (settings.WindowSeconds, settings.SpillAfterSeconds));
    }

    [Fact]
    public void AMergeKeyOfAScalar_IsRefused_NamingIt()
    {
        string yaml = s_template.Replace("Parameters:\n", "x-s: &s just-text\nParameters:\n", StringComparison.Ordinal)
            .Replace("          ANALYTICS_WINDOW_SECONDS: \"60\"\n", "          <<: *s\n", StringComparison.Ordinal);

        Assert.Contains("a merge key (<<) takes a mapping or a list of mappings, not 'just-text'", Refused(yaml).Reason, StringComparison.Ordinal);
    }
}
