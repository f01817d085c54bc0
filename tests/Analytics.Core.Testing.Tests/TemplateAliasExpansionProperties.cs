using System.Text;
using Analytics.Replay.Incident;
using FsCheck.Xunit;
using YamlDotNet.RepresentationModel;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The template reader bounds what a template's YAML aliases expand to by counting nodes from the parser's events,
/// each anchor's size once, without expanding anything. Checked against an independent count: YamlDotNet's loaded
/// document, whose aliases are the anchored nodes themselves, walked node by node (so each alias is walked again).
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

    private static long Walk(YamlNode node) => node switch
    {
        YamlSequenceNode list => 1 + list.Children.Sum(Walk),
        YamlMappingNode map => 1 + map.Children.Sum(p => Walk(p.Key) + Walk(p.Value)),
        _ => 1,
    };

    [Property(MaxTest = 300)]
    public void TheCount_IsTheExpandedDocumentsNodes_AndTheBoundStopsJustPastIt(int seed)
    {
        string yaml = Document(new Random(seed));
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        long expected = Walk(stream.Documents[0].RootNode);

        Assert.Equal((expected, 0L), SamTemplate.ExpandedNodes(yaml, long.MaxValue));
        Assert.Equal((expected, 0L), SamTemplate.ExpandedNodes(yaml, expected));
        (long past, long line) = SamTemplate.ExpandedNodes(yaml, expected - 1);
        Assert.True(line > 0, yaml);
        Assert.True(past > expected - 1, yaml);
    }
}
