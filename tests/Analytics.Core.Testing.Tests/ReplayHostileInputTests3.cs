using System.Diagnostics;
using System.Text;
using Analytics.Core.Tests;
using Analytics.Replay;
using Analytics.Replay.Incident;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Found by a review (2026-12-07) of the first fixes to replay's inputs: an alias inside its own anchor's node, a long
/// scalar aliased many times, merge keys, keys printed expanded, a piped scenario's template, the progress timer.
/// </summary>
public class ReplayHostileInputTests3
{
    private static readonly string s_template = File.ReadAllText(Path.Combine(RepoPaths.Root, "samples", "Analytics.SampleLambda", "template.yaml")).Replace("\r\n", "\n", StringComparison.Ordinal);



    /// <summary>
    /// An alias inside the node its anchor names (<c>? &amp;a [*a]</c>) was counted as one node, but YamlDotNet makes it a
    /// list that holds itself, and hashing it as a key overflowed the stack: the process died ("Stack overflow.").
    /// </summary>
    [Fact]
    public void AnAliasToTheNodeItIsIn_IsOneError_NotAStackOverflow()
    {
        ScenarioException error = Assert.Throws<ScenarioException>(() => SamTemplate.Parse(s_template.Replace("Parameters:\n", "Metadata:\n  ? &a [*a]\n  : 1\nParameters:\n", StringComparison.Ordinal), "t.yaml"));

        Assert.Equal("$.template", error.Field);
        Assert.Contains("the alias *a at line", error.Reason, StringComparison.Ordinal);
        Assert.Contains("stands inside the node its anchor names", error.Reason, StringComparison.Ordinal);
    }

    /// <summary>
    /// The bound counted nodes, not characters: a 400,000-character scalar aliased 90,000 times is 90,001 nodes, and
    /// the reader printed nodes whole (ToString()): 36 billion characters. Here, at a safe scale, a 45 KB template whose
    /// aliases add 50 million characters is refused before anything is expanded.
    /// </summary>
    [Fact]
    public void AliasesOfALongScalar_AreNotConcatenated()
    {
        string yaml = s_template.Replace("Parameters:\n", "x-s: &s \"" + new string('A', 10_000) + "\"\nParameters:\n", StringComparison.Ordinal)
            .Replace("ANALYTICS_WINDOW_SECONDS: \"60\"", "ANALYTICS_WINDOW_SECONDS: [" + string.Join(",", Enumerable.Repeat("*s", 5_000)) + "]", StringComparison.Ordinal);
        long before = GC.GetAllocatedBytesForCurrentThread();

        ScenarioException error = Assert.Throws<ScenarioException>(() => SamTemplate.Parse(yaml, "t.yaml"));

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains("its aliases expand to more than 100,000 nodes or 10,000,000 characters", error.Reason, StringComparison.Ordinal);
        Assert.True(allocated < 32L * 1024 * 1024, $"a {yaml.Length:N0}-character template allocated {allocated:N0} bytes");
    }

    /// <summary>
    /// Merge keys: sam deploy and aws cloudformation package load templates with PyYAML's SafeLoader,
    /// which merges <c>&lt;&lt;: *common</c>. The reader kept <c>&lt;&lt;</c> as an ordinary key: the window and the spill
    /// age set through it were silently dropped (60 s and the library's 300 s instead of 300 s and 120 s).
    /// </summary>
    [Fact]
    public void AMergeKey_IsReadAsSamDeployReadsIt()
    {
        string yaml = s_template.Replace("Parameters:\n", "x-common: &common\n  ANALYTICS_WINDOW_SECONDS: \"300\"\n  ANALYTICS_SPILL_AFTER_SECONDS: \"120\"\nParameters:\n", StringComparison.Ordinal)
            .Replace("          ANALYTICS_WINDOW_SECONDS: \"60\"\n", "          <<: *common\n", StringComparison.Ordinal)
            .Replace("          ANALYTICS_SPILL_AFTER_SECONDS: \"60\"\n", string.Empty, StringComparison.Ordinal);

        TemplateSettings settings = SamTemplate.Parse(yaml, "t.yaml");

        Assert.Equal((300, (int?)120), (settings.WindowSeconds, settings.SpillAfterSeconds));
    }

    /// <summary>The same in the event's Properties was refused as a setting "the scenarios do not carry" (<c>&lt;&lt;</c>).</summary>
    [Fact]
    public void AMergeKeyInTheEventsProperties_IsRead()
    {
        string yaml = s_template.Replace("Parameters:\n", "x-esm: &esm\n  StartingPosition: LATEST\n  BatchSize: 250\nParameters:\n", StringComparison.Ordinal)
            .Replace("            StartingPosition: LATEST\n            BatchSize: 100\n", "            <<: *esm\n", StringComparison.Ordinal);

        Assert.Equal(250, SamTemplate.Parse(yaml, "t.yaml").Mapping.BatchSize);
    }

    /// <summary>
    /// A template with no alias at all, 642 KB (under the 1 MiB bound) with a Mappings table of 20,000 rows, was
    /// refused: "its aliases expand to more than 100,000 nodes". Only what aliases add is bounded.
    /// </summary>
    [Fact]
    public void ATemplateWithNoAlias_IsNotRefusedForItsAliases()
    {
        string rows = string.Concat(Enumerable.Range(0, 20_000).Select(i => $"    r{i}: {{a: {i}, b: {i}}}\n"));
        string yaml = s_template.Replace("Parameters:\n", "Mappings:\n  Big:\n" + rows + "Parameters:\n", StringComparison.Ordinal);
        Assert.True(Encoding.UTF8.GetByteCount(yaml) < SamTemplate.MaxBytes);
        var parser = new YamlDotNet.Core.Parser(new StringReader(yaml));
        while (parser.MoveNext())
        {
            Assert.IsNotType<YamlDotNet.Core.Events.AnchorAlias>(parser.Current);
        }

        Exception? error = Record.Exception(() => SamTemplate.Parse(yaml, "t.yaml"));

        Assert.Null(error);
    }

    /// <summary>
    /// Error messages quoted a non-scalar value by its kind, but not a key: an unknown event property whose key is an
    /// alias of a 49,000-item list printed the list expanded, an error "line" of 381 KB.
    /// </summary>
    [Fact]
    public void AKeyThatIsAList_IsQuotedByItsKind()
    {
        string yaml = s_template.Replace("Parameters:\n", "x-big: &big [" + string.Join(", ", Enumerable.Range(0, 49_000).Select(i => $"v{i}")) + "]\nParameters:\n", StringComparison.Ordinal)
            .Replace("            BatchSize: 100\n", "            BatchSize: 100\n            ? *big\n            : 1\n", StringComparison.Ordinal);

        ScenarioException error = Assert.Throws<ScenarioException>(() => SamTemplate.Parse(yaml, "t.yaml"));

        Assert.True(error.Reason.Length < 1_000, $"{error.Reason.Length:N0} characters: {error.Reason[..Math.Min(300, error.Reason.Length)]}");
    }

    /// <summary>
    /// A scenario may be piped in (<c>--scenario /dev/stdin</c>), but its relative template was looked for under /dev:
    /// each shipped scenario with a template failed ("cannot read /dev/../Analytics.SampleLambda/template.yaml"), even
    /// from a file redirect (&lt; file), whose template is now found next to the file, and a pipe's in the working directory.
    /// </summary>
    [Theory]
    [InlineData("cat outage-minute.json | dotnet '{0}' --scenario /dev/stdin --out '{1}' --no-chart --duration 2")]
    [InlineData("dotnet '{0}' --scenario /dev/stdin --out '{1}' --no-chart --duration 2 < outage-minute.json")]
    public void AShippedScenarioPipedIn_FindsItsTemplate(string script)
    {
        string output = Path.Combine(Path.GetTempPath(), "s64e-review-" + Guid.NewGuid().ToString("N"));
        try
        {
            (int exit, string stdout, string stderr) = ReplayHarness.Shell(string.Format(System.Globalization.CultureInfo.InvariantCulture, script, ReplayHarness.ReplayDll, output), Path.Combine(RepoPaths.Root, "samples", "scenarios"), TimeSpan.FromSeconds(60));

            Assert.True(exit == 0, $"exit {exit}; stderr: {stderr}");
        }
        finally
        {
            if (Directory.Exists(output))
            {
                Directory.Delete(output, recursive: true);
            }
        }
    }

    /// <summary>A writer whose lines take a while (a terminal over ssh, a pipe being read slowly), recording when each line lands.</summary>
    private sealed class SlowWriter : TextWriter
    {
        public List<long> Landed { get; } = [];

        public override Encoding Encoding => Encoding.UTF8;

        public override void WriteLine(string? value)
        {
            Thread.Sleep(30);
            lock (Landed)
            {
                Landed.Add(Stopwatch.GetTimestamp());
            }
        }
    }

    /// <summary>
    /// Runs 120 virtual seconds of a small scenario with a progress line every 5 ms told to <paramref name="progress"/>;
    /// the summary, after the run's files were checked.
    /// </summary>
    private static string RunWithProgress(TextWriter progress)
    {
        LoadedScenario loaded = ScenarioLoader.Parse("""
            {"seed":3,"durationSeconds":120,"stream":{"shards":2},
             "producers":[{"ratePerSecond":2000,"partitionKeys":50,"generator":{"kind":"metric","metrics":3}}],
             "handler":{"kind":"scripted","rules":[]}}
            """u8);
        string output = Path.Combine(Path.GetTempPath(), "replay-progress-" + Guid.NewGuid().ToString("N"));
        try
        {
            var summary = new StringWriter();
            ReplayRun.Run(loaded, output, summary, writeRecords: false, chart: false, progress: progress, progressEvery: TimeSpan.FromMilliseconds(5));
            Assert.True(File.Exists(Path.Combine(output, "metrics.csv")));
            return summary.ToString();
        }
        finally
        {
            if (Directory.Exists(output))
            {
                Directory.Delete(output, recursive: true);
            }
        }
    }

    /// <summary>
    /// Disposing the progress timer did not wait for callbacks already running: progress lines landed after Run
    /// returned, after the summary.
    /// </summary>
    [Fact]
    public void NoProgressLine_LandsAfterTheRunReturned()
    {
        var progress = new SlowWriter();

        RunWithProgress(progress);
        long returned = Stopwatch.GetTimestamp();
        Thread.Sleep(1_000);

        int late;
        lock (progress.Landed)
        {
            late = progress.Landed.Count(t => t > returned);
        }

        Assert.True(late == 0, $"{late} progress line(s) written after ReplayRun.Run returned");
    }

    private sealed class FailingWriter(Func<Exception> failure) : TextWriter
    {
        public int Attempts { get; private set; }

        public override Encoding Encoding => Encoding.UTF8;

        public override void WriteLine(string? value)
        {
            Attempts++;
            throw failure();
        }
    }

    /// <summary>
    /// The progress line was written from a timer's thread with no handler: when stderr could not be written (a full
    /// disk, 2&gt;/dev/full: IOException; a stderr open read-only, 2&lt;/dev/null: UnauthorizedAccessException, found by
    /// the next review), the first line's exception killed the process (exit 134) with no summary and no files.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AProgressLineThatCannotBeWritten_DoesNotKillTheRun_AndIsNotTriedAgain(bool readOnly)
    {
        var progress = new FailingWriter(() => readOnly ? new UnauthorizedAccessException("Access to the path is denied.") : new IOException("No space left on device"));

        string summary = RunWithProgress(progress);

        Assert.Contains("records in", summary, StringComparison.Ordinal);
        Assert.True(progress.Attempts <= 1, $"{progress.Attempts} attempts");
    }
}
