using System.Diagnostics;
using System.Text;
using Analytics.Replay;
using Analytics.Replay.Incident;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Found by a careless-operator review of replay (2026-12-07): inputs that must exit 2 with the field and a short
/// reason, at once, and took hours, gigabytes or a stack trace instead.
/// </summary>
public class ReplayHostileInputTests2
{
    /// <summary>
    /// A SAM template of a few hundred bytes whose YAML anchors nest <paramref name="depth"/> levels of ten aliases each
    /// ("billion laughs"): anything that walks or prints a node walks every path, 10^depth leaves.
    /// </summary>
    private static string Bomb(int depth, string use)
    {
        var lines = new StringBuilder("Bombs:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for (int i = 1; i <= depth; i++)
        {
            lines.Append("  a").Append(i).Append(": &a").Append(i).Append(" [")
                .Append(string.Join(", ", Enumerable.Repeat($"*a{i - 1}", 10))).Append("]\n");
        }

        return lines + use;
    }

    private const string Function = """
        Resources:
          F:
            Type: AWS::Serverless::Function
            Properties:
              MemorySize: 1024
              Timeout: 120
              Events:
                S:
                  Type: Kinesis
                  Properties:
                    StartingPosition: LATEST

        """;

    /// <summary>As a value: the refusal quoted the value, the whole expansion (3.4 million characters at depth 5; at depth 11, 6.3 GB and a stack trace).</summary>
    [Fact]
    public void ATemplateValueThatIsAnAliasBomb_IsRefusedWithAShortMessage()
    {
        string yaml = Bomb(5, Function + "            BatchSize: *a5\n");

        ScenarioException error = Assert.Throws<ScenarioException>(() => SamTemplate.Parse(yaml, "t.yaml"));

        Assert.Equal("$.template", error.Field);
        Assert.Contains("a YAML alias (*a0) at line 3", error.Reason, StringComparison.Ordinal);
        Assert.True(error.Reason.Length < 200, error.Reason);
    }

    /// <summary>As a key under an unrelated section: reading took ten times longer per level (5.4 s at depth 8; a 1 KB template of depth 12 did not end in 60 s).</summary>
    [Fact]
    public async Task ATemplateKeyThatIsAnAliasBomb_IsRefusedAtOnce()
    {
        string yaml = Bomb(8, "  ? *a8\n  : boom\n" + Function);
        var watch = Stopwatch.StartNew();
        Task<ScenarioException> parse = Task.Run(() => Assert.Throws<ScenarioException>(() => SamTemplate.Parse(yaml, "t.yaml")));

        bool ended = await Task.WhenAny(parse, Task.Delay(TimeSpan.FromSeconds(5))) == parse;

        Assert.True(ended, $"SamTemplate.Parse of a {yaml.Length}-character template still runs after {watch.Elapsed.TotalSeconds:F1} s");
        Assert.Contains("alias", (await parse).Reason, StringComparison.Ordinal);
    }

    /// <summary>A value that is written out but is not a scalar is named by its kind, not printed.</summary>
    [Fact]
    public void ATemplateValueThatIsAList_IsNamedByItsKind()
    {
        string yaml = Function + "            BatchSize: [" + string.Join(", ", Enumerable.Repeat("1", 5_000)) + "]\n";

        ScenarioException error = Assert.Throws<ScenarioException>(() => SamTemplate.Parse(yaml, "t.yaml"));

        Assert.EndsWith("BatchSize: a list is not a whole number", error.Reason, StringComparison.Ordinal);
    }

    /// <summary>Kinesis takes at most 1 MiB per second per shard; writeRecordsPerSecond was held to its 1,000, writeBytesPerSecond took anything.</summary>
    [Theory]
    [InlineData(1_048_577)]
    [InlineData(int.MaxValue)]
    [InlineData(0)]
    public void AWriteByteRateOutsideKinesissPerShardLimit_IsRefused(int bytesPerSecond)
    {
        string json = $$$"""{"stream":{"writeBytesPerSecond":{{{bytesPerSecond}}}},"handler":{"kind":"scripted","rules":[]}}""";

        ScenarioException error = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(Encoding.UTF8.GetBytes(json)));

        Assert.Equal("$.stream.writeBytesPerSecond", error.Field);
        Assert.StartsWith("must be 1 to 1048576 (1 MiB, Kinesis's per-shard write limit)", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void KinesissOwnWriteByteRate_IsTaken()
    {
        string json = """{"stream":{"writeBytesPerSecond":1048576},"handler":{"kind":"scripted","rules":[]}}""";

        Assert.Equal(1_048_576, ScenarioLoader.Parse(Encoding.UTF8.GetBytes(json)).Scenario.Stream.WriteBytesPerSecond);
    }

    /// <summary>The template reader refused pipes and devices; the scenario loader read /dev/zero until it ran out of memory.</summary>
    [Fact]
    public void AScenarioPathThatIsADevice_IsRefusedNamingIt()
    {
        if (!File.Exists("/dev/zero"))
        {
            return;
        }

        ScenarioException error = Assert.Throws<ScenarioException>(() => ScenarioLoader.Load("/dev/zero"));

        Assert.Equal("--scenario", error.Field);
        Assert.Contains("not a regular file", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void AScenarioThroughALink_IsReadAsTheFileItLeadsTo()
    {
        string directory = Directory.CreateTempSubdirectory("scenario-link-").FullName;
        try
        {
            string file = Path.Combine(directory, "s.json");
            File.WriteAllText(file, """{"durationSeconds":7,"handler":{"kind":"scripted","rules":[]}}""");
            string link = Path.Combine(directory, "link.json");
            File.CreateSymbolicLink(link, file);

            Assert.Equal(7, ScenarioLoader.Load(link).Scenario.DurationSeconds);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>An unknown kind given with rules was reported as a mistake of the rules.</summary>
    [Fact]
    public void AnUnknownHandlerKind_WithRules_IsReportedAsTheKind()
    {
        string json = """{"handler":{"kind":"scripty","rules":[]}}""";

        ScenarioException error = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(Encoding.UTF8.GetBytes(json)));

        Assert.Equal(("$.handler.kind", "'scripty' is not sample, naive, scripted or process"), (error.Field, error.Reason));
    }
}
