using System.Text;
using System.Text.Json;
using Analytics.Core.Tests;
using Analytics.Replay;
using Analytics.Replay.Incident;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// What replay takes from its inputs (scenario, template, command line) and where it writes: a bad input exits 2 naming
/// the field and the reason, never an exception, and no run's output is lost or mixed with another's.
/// </summary>
public class ReplayInputTests
{
    private static string Temp() => ReplayHarness.Temp();

    private static (int Exit, string Out, string Error) Replay(params string[] args) => ReplayHarness.Replay(args);

    /// <summary>A scenario next to a copy of the sample's template whose Kinesis event starts AT_TIMESTAMP with <paramref name="timestamp"/>.</summary>
    private static string TemplateScenario(string directory, string timestamp)
    {
        string yaml = File.ReadAllText(Path.Combine(RepoPaths.Root, "samples", "Analytics.SampleLambda", "template.yaml")).Replace("\r\n", "\n", StringComparison.Ordinal);
        const string Latest = "            StartingPosition: LATEST\n";
        Assert.Contains(Latest, yaml, StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(directory, "tpl.yaml"), yaml.Replace(Latest, $"            StartingPosition: AT_TIMESTAMP\n            StartingPositionTimestamp: {timestamp}\n", StringComparison.Ordinal));
        string scenario = Path.Combine(directory, "s.json");
        File.WriteAllText(scenario, """{"template":"tpl.yaml","durationSeconds":5,"producers":[{"ratePerSecond":5}],"handler":{"kind":"sample"}}""");
        return scenario;
    }

    [Theory]
    [InlineData("\"2025-01-20T10:00:00Z\"")]
    [InlineData("1e300")]
    [InlineData("-1e20")]
    [InlineData("-1")]
    [InlineData("NaN")]
    [InlineData("221845392001")]
    public void ATemplateTimestampThatIsNotAUnixTimeInSeconds_Exits2_NamingIt(string timestamp)
    {
        string directory = Directory.CreateTempSubdirectory("replay-template-").FullName;
        try
        {
            (int exit, string stdout, string error) = Replay("--scenario", TemplateScenario(directory, timestamp), "--out", Temp());
            Assert.Equal(2, exit);
            Assert.Contains("bad scenario: $.template: ", error, StringComparison.Ordinal);
            Assert.Contains(".Properties.Events.Stream.Properties.StartingPositionTimestamp: ", error, StringComparison.Ordinal);
            Assert.Contains("is not a Unix time in seconds from 0 (1970-01-01T00:00:00Z) to 221845392000 (9000-01-01T00:00:00Z)", error, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
            Assert.Equal(string.Empty, stdout);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void ATemplateTimestamp_IsUnixSeconds_AsAwsDocumentsIt()
    {
        string directory = Directory.CreateTempSubdirectory("replay-template-").FullName;
        try
        {
            LoadedScenario loaded = ScenarioLoader.Load(TemplateScenario(directory, "1735689599.5"));
            Assert.Equal(StartingPosition.AtTimestamp, loaded.Scenario.Mapping.StartingPosition);
            Assert.Equal(new DateTimeOffset(2024, 12, 31, 23, 59, 59, 500, TimeSpan.Zero), loaded.Scenario.Mapping.StartingPositionTimestamp);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Writes a small sample-handler scenario at <paramref name="path"/> (its directories created).</summary>
    private static string SmallScenario(string path, int rate)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, $$$"""{"durationSeconds":20,"producers":[{"ratePerSecond":{{{rate}}},"partitionKeys":3}],"handler":{"kind":"sample"}}""");
        return path;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void Compare_ScenariosWithTheSameFileName_EachGetTheirOwnDirectory_InArgumentOrder(int jobs)
    {
        // a/s.json and b/s.json both wanted DIR/s/: their files were mixed (or one run's replaced) under one table row
        // name. The later one gets s-2, or the next suffix no other scenario's name has (c/s-2.json keeps s-2).
        string root = Temp();
        string output = Path.Combine(root, "out");
        try
        {
            string[] files = [SmallScenario(Path.Combine(root, "a", "s.json"), 5), SmallScenario(Path.Combine(root, "b", "s.json"), 7), SmallScenario(Path.Combine(root, "c", "s-2.json"), 9)];
            (int exit, string stdout, string error) = Replay(["compare", .. files.SelectMany(f => (string[])["--scenario", f]), "--out", output, "--jobs", jobs.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            Assert.True(exit == 0, error);
            Assert.Equal(["s", "s-2", "s-3"], Directory.GetDirectories(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
            Assert.Contains($"== s-3 ({files[1]})", stdout, StringComparison.Ordinal);
            foreach (string name in (string[])["| s |", "| s-3 |", "| s-2 |"])
            {
                Assert.Contains(name, File.ReadAllText(Path.Combine(output, "comparison.md")), StringComparison.Ordinal);
            }

            // Each directory holds its own scenario's run: the same invocations as that scenario run alone.
            foreach ((string file, string directory) in files.Zip((string[])["s", "s-3", "s-2"]))
            {
                string alone = Path.Combine(root, "alone-" + directory);
                Assert.Equal(0, Replay("--scenario", file, "--out", alone, "--no-chart", "--no-records").Exit);
                Assert.Equal(File.ReadAllText(Path.Combine(alone, "invocations.jsonl")), File.ReadAllText(Path.Combine(output, directory, "invocations.jsonl")));
            }
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>
    /// Each scenario of a comparison tells its first function error on stderr, under its name, as a single replay does
    /// (found by review: compare told none until its summaries).
    /// </summary>
    [Fact]
    public void Compare_TellsEachScenariosFirstFunctionError_UnderItsName()
    {
        string root = Temp();
        try
        {
            string failing = Path.Combine(root, "failing.json");
            Directory.CreateDirectory(root);
            File.WriteAllText(failing, """{"durationSeconds":5,"records":[{"partitionKey":"a","text":"not json","atMs":100}],"mapping":{"MaximumRetryAttempts":0},"handler":{"kind":"naive"}}""");
            string fine = SmallScenario(Path.Combine(root, "fine.json"), 5);
            (int exit, string output, string error) = Replay(["compare", "--scenario", failing, "--scenario", fine, "--out", Path.Combine(root, "out"), "--jobs", "2"]);

            Assert.True(exit == 0, error);
            string line = Assert.Single(error.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries), l => l.Contains("first function error", StringComparison.Ordinal));
            Assert.StartsWith("failing: first function error: invocation 1 (shardId-000000000000, at ", line, StringComparison.Ordinal);
            // The naive function throws on a record it cannot parse.
            Assert.Contains("Exception: ", line, StringComparison.Ordinal);
            Assert.Contains("first function error", output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Compare_AScenarioFileWithoutAName_GetsADirectoryOfItsOwn()
    {
        // ".json" has an empty name: its run wrote straight into DIR, beside the comparison's own files.
        string root = Temp();
        string output = Path.Combine(root, "out");
        try
        {
            string[] files = [SmallScenario(Path.Combine(root, "a", ".json"), 5), SmallScenario(Path.Combine(root, "b", "other.json"), 7)];
            (int exit, _, string error) = Replay(["compare", .. files.SelectMany(f => (string[])["--scenario", f]), "--out", output, "--jobs", "1"]);
            Assert.True(exit == 0, error);
            Assert.Equal(["other", "scenario"], Directory.GetDirectories(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
            Assert.False(File.Exists(Path.Combine(output, "invocations.jsonl")));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Compare_AScenarioNamedLikeTheComparisonsOwnFiles_GetsADirectoryBesideThem()
    {
        // Review: its directory, named comparison.md, made the comparison fail with an exception after every run.
        string root = Temp();
        string output = Path.Combine(root, "out");
        try
        {
            string[] files = [SmallScenario(Path.Combine(root, "a", "comparison.md.json"), 5), SmallScenario(Path.Combine(root, "b", "iterator-age-compare.png.json"), 7)];
            (int exit, string stdout, string error) = Replay(["compare", .. files.SelectMany(f => (string[])["--scenario", f]), "--out", output, "--jobs", "1"]);
            Assert.True(exit == 0, error);
            Assert.Equal(["comparison.md-2", "iterator-age-compare.png-2"], Directory.GetDirectories(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
            Assert.True(File.Exists(Path.Combine(output, "comparison.md")) && File.Exists(Path.Combine(output, "iterator-age-compare.png")));
            Assert.Contains("comparison.md-2", File.ReadAllText(Path.Combine(output, "comparison.md")), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Theory]
    [InlineData("2025-01-20T10:00:00Z", 0)]
    [InlineData("2025-01-20T15:30:00+05:30", 0)]
    [InlineData("2025-01-20T15:00:00+05", 0)]
    [InlineData("2025-01-20T05:00:00.000-05:00", 0)]
    [InlineData("2025-01-20T10:00:00.5Z", 500)]
    public void AStartTimeWithItsZone_InAnyIsoForm_IsTheSameInstant(string startTime, int ms)
    {
        // The diff review found "+05" refused as if it had no zone.
        string directory = Directory.CreateTempSubdirectory("replay-zone-").FullName;
        try
        {
            string scenario = Path.Combine(directory, "s.json");
            File.WriteAllText(scenario, $$$"""{"startTime":"{{{startTime}}}","durationSeconds":5,"producers":[{"ratePerSecond":5}],"handler":{"kind":"sample"}}""");
            Assert.Equal(new DateTimeOffset(2025, 1, 20, 10, 0, 0, ms, TimeSpan.Zero), ScenarioLoader.Load(scenario).Scenario.StartTime);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void Compare_NamesAnEarlierComparisonsRunLeftInItsDirectory()
    {
        // Review: "compare a b" then "compare a c" into one directory left b/ complete beside c/, unnamed.
        string root = Temp();
        string output = Path.Combine(root, "out");
        try
        {
            string a = SmallScenario(Path.Combine(root, "a.json"), 5), b = SmallScenario(Path.Combine(root, "b.json"), 6), c = SmallScenario(Path.Combine(root, "c.json"), 7);
            (int exit, string stdout, string error) = Replay("compare", "--scenario", a, "--scenario", b, "--out", output, "--jobs", "1");
            Assert.True(exit == 0, error);
            Assert.DoesNotContain("note:", stdout, StringComparison.Ordinal);
            (exit, stdout, error) = Replay("compare", "--scenario", a, "--scenario", c, "--out", output, "--jobs", "1");
            Assert.True(exit == 0, error);
            Assert.Contains($"note: {Path.Combine(output, "b")} holds an earlier run's files; it is not part of this comparison", stdout, StringComparison.Ordinal);
            Assert.DoesNotContain($"note: {Path.Combine(output, "a")} ", stdout, StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(output, "b", "invocations.jsonl")), "left as it was");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Compare_AChartPathThatCannotBeWritten_IsRefusedBeforeTheRuns_WithExit2()
    {
        // A directory given as --chart failed only after every run had finished, with an exception.
        string root = Temp();
        string output = Path.Combine(root, "out");
        string directory = Path.Combine(root, "existing");
        try
        {
            Directory.CreateDirectory(directory);
            string scenario = SmallScenario(Path.Combine(root, "s.json"), 5);
            (int exit, string stdout, string error) = Replay("compare", "--scenario", scenario, "--out", output, "--chart", directory);
            Assert.Equal(2, exit);
            Assert.StartsWith($"error: --chart {directory}: cannot write there: ", error, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
            Assert.Equal(string.Empty, stdout);
            Assert.False(Directory.Exists(Path.Combine(output, "s")), "no run started");

            // A chart in a directory that does not exist yet is made, as before.
            string chart = Path.Combine(root, "charts", "c.png");
            (exit, _, error) = Replay("compare", "--scenario", scenario, "--out", output, "--chart", chart);
            Assert.True(exit == 0, error);
            Assert.True(new FileInfo(chart).Length > 0);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Theory]
    [InlineData("svc\"quoted")]
    [InlineData("back\\slash")]
    [InlineData("tab\there")]
    public void ServiceMetricRecords_WithAKeyThatJsonEscapes_AreValidJson_WithTheKeyAsTheService(string key)
    {
        byte[] data = IncidentRecords.ServiceMetric(4)(0, key, new DateTimeOffset(2025, 1, 20, 10, 0, 0, TimeSpan.Zero), new Random(1));
        using JsonDocument record = JsonDocument.Parse(data);
        Assert.Equal(key, record.RootElement.GetProperty("dimensions").GetProperty("service").GetString());
    }

    [Fact]
    public void ServiceMetricRecords_WithAPlainKey_AreUnchanged()
    {
        // The records of the incident scenarios (keys without characters to escape) stay byte for byte what they were.
        byte[] data = IncidentRecords.ServiceMetric(4)(0, "svc-1", new DateTimeOffset(2025, 1, 20, 10, 0, 0, TimeSpan.Zero), new Random(1));
        Assert.Contains("\"dimensions\":{\"service\":\"svc-1\",\"region\":\"eu-west-1\"", Encoding.UTF8.GetString(data), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("a/b")]
    [InlineData("")]
    [InlineData("stream name")]
    [InlineData("ström")]
    public void StreamNames_OutsideKinesissRule_AreRefused(string name)
    {
        var scenario = new EmulatorScenario { Stream = new StreamOptions { StreamName = name } };
        ArgumentException error = Assert.Throws<ArgumentException>(scenario.Validate);
        Assert.Equal("StreamName", error.ParamName);
        Assert.Contains("1 to 128 characters from a-z, A-Z, 0-9, '_', '.' and '-'", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new EmulatorScenario { Stream = new StreamOptions { StreamName = new string('s', 129) } }.Validate());
    }

    [Fact]
    public void StreamNames_InsideKinesissRule_AreAccepted()
    {
        new EmulatorScenario { Stream = new StreamOptions { StreamName = "Analytics_prod.v2-events" } }.Validate();
        new EmulatorScenario { Stream = new StreamOptions { StreamName = new string('s', 128) } }.Validate();
    }

    [Theory]
    [InlineData("Region", "us-east-1\"")]
    [InlineData("Region", "US-EAST-1")]
    [InlineData("Region", "")]
    [InlineData("AccountId", "12345678901\"")]
    [InlineData("AccountId", "12345678901")]
    [InlineData("AccountId", "1234567890123")]
    public void RegionsAndAccountIds_OutsideAwssRule_AreRefused(string setting, string value)
    {
        // Both go into the stream ARN that the event's JSON and the destination records carry as they are: a quote
        // made the events of a tumbling-window run invalid JSON.
        var stream = setting == "Region" ? new StreamOptions { Region = value } : new StreamOptions { AccountId = value };
        ArgumentException error = Assert.Throws<ArgumentException>(new EmulatorScenario { Stream = stream }.Validate);
        Assert.Equal(setting, error.ParamName);
        Assert.Contains("'" + value + "'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RegionsAndAccountIds_AwsUses_AreAccepted()
    {
        foreach (string region in (string[])["us-east-1", "eu-central-2", "ap-southeast-3", "us-gov-west-1", "us-isob-east-1", "il-central-1", "eusc-de-east-1"])
        {
            new EmulatorScenario { Stream = new StreamOptions { Region = region, AccountId = "000000000000" } }.Validate();
        }
    }

    [Theory]
    [InlineData("""{"function":{"functionName":"my function"},"handler":{"kind":"sample"}}""", "$.function.functionName", "FunctionName must be 1 to 64 characters")]
    [InlineData("""{"function":{"functionName":"a\"b"},"handler":{"kind":"sample"}}""", "$.function.functionName", "FunctionName must be 1 to 64 characters")]
    [InlineData("""{"function":{"functionName":""},"handler":{"kind":"sample"}}""", "$.function.functionName", "FunctionName must be 1 to 64 characters")]
    [InlineData("""{"mapping":{"UUID":"not-a-uuid"},"handler":{"kind":"sample"}}""", "$.mapping.UUID", "Uuid must be a UUID")]
    [InlineData("""{"mapping":{"UUID":"0f8b6c2e-1111-4222-8333-44445555666\""},"handler":{"kind":"sample"}}""", "$.mapping.UUID", "Uuid must be a UUID")]
    public void FunctionNamesAndMappingUuids_OutsideLambdasRule_AreRefused_NamingTheField(string json, string field, string reason)
    {
        ScenarioException error = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(Encoding.UTF8.GetBytes(json)));
        Assert.Equal(field, error.Field);
        Assert.Contains(reason, error.Reason, StringComparison.Ordinal);
    }

    /// <summary>
    /// Scenarios a review found accepted, then failing or silently changed (found by review): a stream write limit above
    /// Kinesis's let a producer's rate pass the overload bound and the run fill memory; a template or poison text over
    /// 1 MiB ended the run with exit 1 and a stack trace; a schedule step, an explicit record, a throttling episode or an
    /// outage without one of its fields took 0 for it (a producer stopped, an episode throttled nothing).
    /// </summary>
    [Theory]
    [InlineData("""{"stream":{"writeRecordsPerSecond":1001},"handler":{"kind":"sample"}}""", "$.stream.writeRecordsPerSecond", "1000")]
    [InlineData("""{"producers":[{"ratePerSecond":1,"generator":{"kind":"text","template":"TEMPLATE"}}],"handler":{"kind":"sample"}}""", "$.producers[0].generator.template", "Kinesis takes at most 1 MiB (1048576 bytes)")]
    [InlineData("""{"producers":[{"ratePerSecond":1,"generator":{"kind":"text","template":"{key}{n}{key}","poisonFraction":0.5,"poison":"TEMPLATE"}}],"handler":{"kind":"sample"}}""", "$.producers[0].generator.poison", "Kinesis takes at most 1 MiB (1048576 bytes)")]
    [InlineData("""{"producers":[{"ratePerSecond":1,"schedule":[{"fromSecond":5}]}],"handler":{"kind":"sample"}}""", "$.producers[0].schedule[0]", "ratePerSecond")]
    [InlineData("""{"producers":[{"ratePerSecond":1,"schedule":[{"ratePerSecond":5}]}],"handler":{"kind":"sample"}}""", "$.producers[0].schedule[0]", "fromSecond")]
    [InlineData("""{"records":[{"partitionKey":"a","text":"x"}],"handler":{"kind":"sample"}}""", "$.records[0]", "atMs")]
    [InlineData("""{"downstream":{"dynamodb":{"throttleEpisodes":[{"fromSecond":1,"toSecond":5}]}},"handler":{"kind":"sample"}}""", "$.downstream.dynamodb.throttleEpisodes[0]", "fraction")]
    [InlineData("""{"downstream":{"dynamodb":{"outages":[{"toSecond":5}]}},"handler":{"kind":"sample"}}""", "$.downstream.dynamodb.outages[0]", "fromSecond")]
    [InlineData("""{"handler":{"kind":"sample","rules":[{"action":"raise"}]}}""", "$.handler.rules", "this handler is 'sample'")]
    [InlineData("""{"handler":{"kind":"scripted","rules":[],"command":["bootstrap"]}}""", "$.handler.command", "this handler is 'scripted'")]
    [InlineData("""{"handler":{"kind":"scripted","rules":[{"action":"raise","whenData":"x","ms":5}]}}""", "$.handler.rules[0].ms", "only a sleepMs rule has ms")]
    [InlineData("""{"handler":{"kind":"scripted","rules":[{"action":"report","whenData":"x","body":"{}"}]}}""", "$.handler.rules[0].body", "only a respond rule has a body")]
    [InlineData("""{"handler":{"kind":"scripted","rules":[{"action":"sleepMs","ms":5,"body":"{}"}]}}""", "$.handler.rules[0].body", "only a respond rule has a body")]
    [InlineData("""{"producers":[{"ratePerSecond":10,"schedule":[{"fromSecond":2,"ratePerSecond":-3}]}],"handler":{"kind":"sample"}}""", "$.producers[0].schedule[0].ratePerSecond", "A rate must be 0 or more")]
    [InlineData("""{"producers":[{"ratePerSecond":10,"schedule":[{"fromSecond":2,"ratePerSecond":5},{"fromSecond":3,"ratePerSecond":1e9}]}],"handler":{"kind":"sample"}}""", "$.producers[0].schedule[1].ratePerSecond", "at most")]
    [InlineData("""{"producers":[{"ratePerSecond":1e9}],"handler":{"kind":"sample"}}""", "$.producers[0].ratePerSecond", "at most")]
    public void ScenariosTheRunCouldNotTakeAsWritten_AreRefused_NamingTheField(string json, string field, string reason)
    {
        json = json.Replace("TEMPLATE", new string('x', (1024 * 1024) - 2), StringComparison.Ordinal);
        ScenarioException error = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(Encoding.UTF8.GetBytes(json)));
        Assert.Equal(field, error.Field);
        Assert.Contains(reason, error.Reason, StringComparison.Ordinal);
    }

    /// <summary>
    /// The bound on shards × seconds is what its message and the docs say (found by review: 100 shards × 500,000 s,
    /// exactly 50 million, was refused with a message saying at most 50 million).
    /// </summary>
    [Theory]
    [InlineData(100, 500_000, true)]
    [InlineData(10_000, 5_000, true)]
    [InlineData(100, 500_001, false)]
    public void ShardSeconds_UpTo50Million_AreAccepted(int shards, int seconds, bool accepted)
    {
        var scenario = new EmulatorScenario { DurationSeconds = seconds, Stream = new StreamOptions { ShardCount = shards } };
        if (accepted)
        {
            scenario.Validate();
        }
        else
        {
            Assert.Throws<ArgumentOutOfRangeException>(scenario.Validate);
        }
    }

    /// <summary>A scenario saved with a UTF-8 byte order mark, as some editors save JSON, is read (found by review: "'0xEF' is an invalid start of a value").</summary>
    [Fact]
    public void AScenarioWithAByteOrderMark_IsRead()
    {
        byte[] json = [.. "\uFEFF"u8, .. """{"durationSeconds":7,"handler":{"kind":"sample"}}"""u8];
        Assert.Equal(7, ScenarioLoader.Parse(json).Scenario.DurationSeconds);
    }

    /// <summary>
    /// A scenario saved as UTF-16 (Windows Notepad, PowerShell's Out-File) or UTF-32 exits 2 with one line saying so
    /// (found by review: "'0xFF' is an invalid start of a value").
    /// </summary>
    [Theory]
    [InlineData("utf-16LE", true, "UTF-16 (little-endian, with a byte order mark)")]
    [InlineData("utf-16BE", true, "UTF-16 (big-endian, with a byte order mark)")]
    [InlineData("utf-32LE", true, "UTF-32 (little-endian, with a byte order mark)")]
    [InlineData("utf-32BE", true, "UTF-32 (big-endian, with a byte order mark)")]
    [InlineData("utf-16LE", false, "UTF-16 (little-endian)")]
    [InlineData("utf-32BE", false, "UTF-32 (big-endian)")]
    public void AScenarioInUtf16OrUtf32_Exits2_SayingSo(string encoding, bool byteOrderMark, string named)
    {
        string scenario = Path.GetTempFileName();
        try
        {
            Encoding text = Encoding.GetEncoding(encoding);
            File.WriteAllBytes(scenario, [.. byteOrderMark ? text.GetPreamble() : [], .. text.GetBytes("""{"durationSeconds":5,"handler":{"kind":"sample"}}""")]);

            (int exit, string stdout, string stderr) = ReplayHarness.Replay("--scenario", scenario, "--out", ReplayHarness.Temp());

            Assert.Equal(2, exit);
            Assert.Equal($"error: bad scenario: $: the file is {named}, not UTF-8: JSON is UTF-8 (RFC 8259); save it as UTF-8 (PowerShell: Out-File -Encoding utf8)", stderr.TrimEnd('\n'));
            Assert.Equal(string.Empty, stdout);
        }
        finally
        {
            File.Delete(scenario);
        }
    }

    /// <summary>A file that only begins with a zero byte (a corrupt one) is not called UTF-16: the JSON reader names the byte.</summary>
    [Fact]
    public void AScenarioThatOnlyBeginsWithAZeroByte_IsNotCalledUtf16()
    {
        byte[] json = [0, .. "{\"durationSeconds\":5}"u8];

        string message = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(json)).Message;

        Assert.DoesNotContain("UTF-16", message, StringComparison.Ordinal);
        Assert.Contains("0x00", message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A directory where the run writes one of its files is refused before the run with exit 2, naming it (found by
    /// review: the run started, then ended with exit 1 and a stack trace).
    /// </summary>
    [Theory]
    [InlineData("metrics.csv")]
    [InlineData("records.jsonl")]
    [InlineData("iterator-age.png")]
    public void AnOutputFileThatCannotBeWritten_Exits2_BeforeTheRun(string name)
    {
        string directory = Path.Combine(Path.GetTempPath(), "replay-out-" + Guid.NewGuid().ToString("N"));
        string scenario = Path.GetTempFileName();
        try
        {
            Directory.CreateDirectory(Path.Combine(directory, name));
            File.WriteAllText(scenario, """{"durationSeconds":5,"producers":[{"ratePerSecond":5}],"handler":{"kind":"scripted","rules":[]}}""");
            var stdout = new StringWriter();
            var stderr = new StringWriter();

            int exit = ReplayCommand.Run(["--scenario", scenario, "--out", directory], stdout, stderr);

            Assert.Equal(2, exit);
            Assert.Contains(name + " there is a directory", stderr.ToString(), StringComparison.Ordinal);
            Assert.Equal(string.Empty, stdout.ToString());
        }
        finally
        {
            File.Delete(scenario);
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>The same before a comparison's runs: its own file, and each run's files in its subdirectory (found by review).</summary>
    [Theory]
    [InlineData("comparison.md")]
    [InlineData("a/metrics.csv")]
    public void Compare_AnOutputFileThatCannotBeWritten_Exits2_BeforeTheRuns(string name)
    {
        string directory = Path.Combine(Path.GetTempPath(), "replay-compare-out-" + Guid.NewGuid().ToString("N"));
        string scenarios = Path.Combine(Path.GetTempPath(), "replay-compare-in-" + Guid.NewGuid().ToString("N"));
        try
        {
            Directory.CreateDirectory(Path.Combine(directory, name));
            Directory.CreateDirectory(scenarios);
            foreach (string scenario in (string[])["a", "b"])
            {
                File.WriteAllText(Path.Combine(scenarios, scenario + ".json"), """{"durationSeconds":5,"producers":[{"ratePerSecond":5}],"handler":{"kind":"sample"}}""");
            }

            var stdout = new StringWriter();
            var stderr = new StringWriter();

            int exit = ReplayCommand.Run(["compare", "--scenario", Path.Combine(scenarios, "a.json"), "--scenario", Path.Combine(scenarios, "b.json"), "--out", directory], stdout, stderr);

            Assert.Equal(2, exit);
            Assert.Contains(name + " there is a directory", stderr.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
            Directory.Delete(scenarios, recursive: true);
        }
    }

    [Fact]
    public void ATemplateAndPoisonUnder1MiB_WithTheirKeys_AreAccepted()
    {
        // 1 MiB less the longest key (pk-9: 4 bytes) and the template's {n} at its longest (20 digits).
        string template = new string('x', (1024 * 1024) - 4 - 20) + "{n}";
        LoadedScenario loaded = ScenarioLoader.Parse(Encoding.UTF8.GetBytes(
            $$$"""{"producers":[{"ratePerSecond":1,"partitionKeys":10,"generator":{"kind":"text","template":"{{{template}}}","poisonFraction":0.5,"poison":"{{{new string('p', (1024 * 1024) - 4)}}}"}}],"handler":{"kind":"sample"}}"""));
        Assert.Single(loaded.Scenario.Producers);
    }

    [Fact]
    public void FunctionNamesAndMappingUuids_LambdaAccepts_AreAccepted()
    {
        LoadedScenario loaded = ScenarioLoader.Parse("""
            {"function":{"functionName":"Orders_aggregator-2"},"mapping":{"UUID":"0f8b6c2e-1111-4222-8333-444455556666"},"handler":{"kind":"sample"}}
            """u8);
        Assert.Equal("Orders_aggregator-2", loaded.Scenario.Function.FunctionName);
        new EmulatorScenario { Function = new FunctionOptions { FunctionName = new string('f', 64) } }.Validate();
        Assert.Throws<ArgumentException>(() => new EmulatorScenario { Function = new FunctionOptions { FunctionName = new string('f', 65) } }.Validate());
    }

    [Fact]
    public void AShorterDuration_DropsOutagesAndEpisodesPastItsEnd_ButRefusesRecordsPastIt()
    {
        // --duration is for quick runs of long scenarios (an incident's first seconds): what would happen after the
        // shorter end does not happen, as if the run had been stopped. An explicit record past the end is refused,
        // as the emulator refuses it in any scenario.
        LoadedScenario faults = ScenarioLoader.Parse("""
            {"durationSeconds":120,"handler":{"kind":"sample"},"downstream":{
              "dynamodb":{"outages":[{"fromSecond":60,"toSecond":90}],"throttleEpisodes":[{"fromSecond":30,"toSecond":90,"fraction":0.2}]},
              "s3":{"outages":[{"fromSecond":100,"toSecond":110}]}}}
            """u8);
        Assert.Equal(20, faults.WithDuration(20).Scenario.DurationSeconds);

        LoadedScenario records = ScenarioLoader.Parse("""{"durationSeconds":120,"records":[{"partitionKey":"k","text":"x","atMs":60000}],"handler":{"kind":"sample"}}"""u8);
        ScenarioException error = Assert.Throws<ScenarioException>(() => records.WithDuration(20));
        Assert.Equal("--duration", error.Field);
        Assert.Contains("before the end of the run", error.Reason, StringComparison.Ordinal);
    }
}
