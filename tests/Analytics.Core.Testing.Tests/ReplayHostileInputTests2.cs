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
        Assert.Contains("its aliases expand to more than 100,000 nodes", error.Reason, StringComparison.Ordinal);
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
        Assert.Contains("its aliases expand to more than 100,000 nodes", (await parse).Reason, StringComparison.Ordinal);
    }

    /// <summary>
    /// Aliases themselves are fine: sam deploy and aws cloudformation package expand them. A first fix refused every
    /// alias, and a template that ran before was refused (found by the next review).
    /// </summary>
    [Fact]
    public void ATemplateWithAnOrdinaryAlias_IsRead()
    {
        string yaml = File.ReadAllText(Path.Combine(Analytics.Core.Tests.RepoPaths.Root, "samples", "Analytics.SampleLambda", "template.yaml"))
            .Replace("ANALYTICS_WINDOW_SECONDS: \"60\"", "ANALYTICS_WINDOW_SECONDS: &window \"60\"", StringComparison.Ordinal)
            .Replace("ANALYTICS_SPILL_AFTER_SECONDS: \"60\"", "ANALYTICS_SPILL_AFTER_SECONDS: *window", StringComparison.Ordinal);
        Assert.Contains("*window", yaml, StringComparison.Ordinal);

        TemplateSettings settings = SamTemplate.Parse(yaml, "template.yaml");

        Assert.Equal(60, settings.SpillAfterSeconds);
    }

    /// <summary>An alias bomb just under the bound is read (the bound counts nodes, it does not refuse depth).</summary>
    [Fact]
    public void AliasesThatExpandToLessThanTheBound_AreRead()
    {
        string yaml = Bomb(3, Function + "            BatchSize: 100\n");

        Assert.Equal(100, SamTemplate.Parse(yaml, "t.yaml").Mapping.BatchSize);
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
        Assert.Contains("is empty or not a regular file (a named pipe, a device)", error.Reason, StringComparison.Ordinal);
    }

    /// <summary>
    /// A scenario piped in (<c>cat s.json | replay --scenario /dev/stdin</c>, a here-document, <c>&lt;(...)</c>) is read:
    /// a first fix took regular files only and refused it (found by the next review).
    /// </summary>
    [Theory]
    [InlineData("/proc/self/fd/")]
    [InlineData("/dev/fd/")]
    public void AScenarioPipedIn_IsRead(string directory)
    {
        if (!Directory.Exists("/proc/self/fd"))
        {
            return;
        }

        var server = new System.IO.Pipes.AnonymousPipeServerStream(System.IO.Pipes.PipeDirection.Out, HandleInheritability.None);
        using Microsoft.Win32.SafeHandles.SafePipeHandle reader = server.ClientSafePipeHandle;
        string path = directory + reader.DangerousGetHandle().ToInt64().ToString(System.Globalization.CultureInfo.InvariantCulture);
        server.Write(Encoding.UTF8.GetBytes("""{"durationSeconds":7,"handler":{"kind":"scripted","rules":[]}}"""));
        server.Dispose(); // the writer is done: the reader sees the pipe's end

        Assert.Equal(7, ScenarioLoader.Load(path).Scenario.DurationSeconds);
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
