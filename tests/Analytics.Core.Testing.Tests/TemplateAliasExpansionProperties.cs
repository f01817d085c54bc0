using System.Text;
using Analytics.Replay.Incident;
using FsCheck.Xunit;
using YamlDotNet.RepresentationModel;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The template reader bounds what a template's YAML aliases add when expanded (nodes and scalar characters), counted
/// from the parser's events, each anchor's size once, without expanding anything. Checked against an independent
/// count: YamlDotNet's loaded document, whose aliases are the anchored nodes themselves, walked node by node (so each
/// alias is walked again), less what the text writes out.
/// </summary>
public class TemplateAliasExpansionProperties
{
    /// <summary>A document of lists and mappings, flow and block, with anchors and aliases to earlier anchors, at most 3 elements at most 8 deep.</summary>
    private static string Document(Random random)
    {
        var anchors = new List<string>();
        var yaml = new StringBuilder("root:\n");
        int items = random.Next(1, 9);
        for (int i = 0; i < items; i++)
        {
            string Element(int e) => anchors.Count > 0 && random.Next(2) == 0 ? "*" + anchors[random.Next(anchors.Count)] : $"s{i}x{e}";
            int kind = random.Next(4);
            if (kind == 1 && anchors.Count > 0)
            {
                // An alias carries no anchor of its own.
                yaml.Append("  - *").Append(anchors[random.Next(anchors.Count)]).Append('\n');
                continue;
            }

            string anchor = random.Next(2) == 0 ? $"&a{i} " : string.Empty;
            int elements = random.Next(0, 4);
            yaml.Append("  - ").Append(anchor).Append(kind switch
            {
                2 => "[" + string.Join(", ", Enumerable.Range(0, elements).Select(Element)) + "]",
                3 => "{" + string.Join(", ", Enumerable.Range(0, elements).Select(e => $"k{e}: {Element(e)}")) + "}",
                _ => $"s{i}",
            }).Append('\n');
            if (anchor.Length > 0)
            {
                anchors.Add($"a{i}");
            }
        }

        return yaml.ToString();
    }

    private static (long Nodes, long Characters) Walk(YamlNode node) => node switch
    {
        YamlSequenceNode list => list.Children.Select(Walk).Aggregate((Nodes: 1L, Characters: 0L), (a, b) => (a.Nodes + b.Nodes, a.Characters + b.Characters)),
        YamlMappingNode map => map.Children.SelectMany(p => new[] { Walk(p.Key), Walk(p.Value) }).Aggregate((Nodes: 1L, Characters: 0L), (a, b) => (a.Nodes + b.Nodes, a.Characters + b.Characters)),
        YamlScalarNode scalar => (1, scalar.Value?.Length ?? 0),
        _ => (1, 0),
    };

    /// <summary>What the text writes out: its nodes and scalar characters, aliases not followed.</summary>
    private static (long Nodes, long Characters) Written(string yaml)
    {
        var parser = new YamlDotNet.Core.Parser(new StringReader(yaml));
        (long nodes, long characters) = (0, 0);
        while (parser.MoveNext())
        {
            switch (parser.Current)
            {
                case YamlDotNet.Core.Events.Scalar scalar:
                    (nodes, characters) = (nodes + 1, characters + scalar.Value.Length);
                    break;
                case YamlDotNet.Core.Events.SequenceStart or YamlDotNet.Core.Events.MappingStart:
                    nodes++;
                    break;
            }
        }

        return (nodes, characters);
    }

    [Property(MaxTest = 300)]
    public void TheCounts_AreTheExpandedDocuments_AndTheBoundsStopJustPastThem(int seed)
    {
        string yaml = Document(new Random(seed));
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        (long nodes, long characters) = Walk(stream.Documents[0].RootNode);
        (long writtenNodes, long writtenCharacters) = Written(yaml);
        (long aliasNodes, long aliasCharacters) = (nodes - writtenNodes, characters - writtenCharacters);

        Assert.Equal((nodes, aliasNodes, aliasCharacters, (string?)null), SamTemplate.Expansion(yaml, long.MaxValue, long.MaxValue));
        Assert.Null(SamTemplate.Expansion(yaml, aliasNodes, aliasCharacters).Problem);
        if (aliasNodes > 0)
        {
            Assert.Contains("its aliases expand to more than", SamTemplate.Expansion(yaml, aliasNodes - 1, long.MaxValue).Problem, StringComparison.Ordinal);
        }

        if (aliasCharacters > 0)
        {
            Assert.Contains("its aliases expand to more than", SamTemplate.Expansion(yaml, long.MaxValue, aliasCharacters - 1).Problem, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("k:\n  ? &a [*a]\n  : 1\n")]
    [InlineData("k: &a\n  x: [1, *a]\n")]
    [InlineData("k: &a [[*a]]\n")]
    public void AnAliasInsideTheNodeItsAnchorNames_IsRefused(string yaml)
    {
        Assert.Contains("stands inside the node its anchor names", SamTemplate.Expansion(yaml, long.MaxValue, long.MaxValue).Problem, StringComparison.Ordinal);
    }
}
