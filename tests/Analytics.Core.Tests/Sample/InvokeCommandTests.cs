using System.Globalization;
using System.Text;
using System.Text.Json;
using Analytics.SampleLambda;

namespace Analytics.Core.Tests.Sample;

public sealed class InvokeCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("analytics-invoke-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string OutDir => Path.Combine(_dir, "out");

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = await InvokeCommand.RunAsync(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    public static TheoryData<string[]> BadArguments => [[], ["--event"], ["--event", "x.json", "--timeout-ms", "soon"]];

    [Theory]
    [MemberData(nameof(BadArguments))]
    public async Task RunAsync_BadArguments_ExitsTwoWithUsageOnStderr(string[] args)
    {
        (int code, string stdout, string stderr) = await RunAsync(args);

        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.StartsWith("error: ", stderr);
        Assert.EndsWith("see 'bootstrap invoke --help'" + Environment.NewLine, stderr);
    }

    [Fact]
    public async Task RunAsync_Help_PrintsUsageAndExitsZero()
    {
        (int code, string stdout, _) = await RunAsync("--help");

        Assert.Equal(0, code);
        Assert.Contains("invoke [options]", stdout);
        Assert.All(new[] { "--event", "--out", "--timeout-ms", "--dynamodb-endpoint", "--table", "--s3-endpoint", "--quarantine-bucket" }, o => Assert.Contains(o, stdout));
    }

    [Fact]
    public async Task RunAsync_MissingEventFile_ExitsTwoAndWritesNothing()
    {
        string missing = Path.Combine(_dir, "nope.json");

        (int code, string stdout, string stderr) = await RunAsync("--event", missing, "--out", OutDir);

        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal($"error: --event '{missing}' not found" + Environment.NewLine, stderr);
        Assert.False(Directory.Exists(OutDir));
    }

    [Theory]
    [InlineData("""{"detail-type":"Scheduled Event","source":"aws.events"}""")]
    [InlineData("this is not JSON")]
    public async Task RunAsync_NotAKinesisEvent_ExitsTwoWithMessage(string content)
    {
        string path = Path.Combine(_dir, "foreign.json");
        await File.WriteAllTextAsync(path, content);

        (int code, string stdout, string stderr) = await RunAsync("--event", path, "--out", OutDir);

        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.StartsWith($"error: --event '{path}': Not a Kinesis event: ", stderr);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(1, CountOf(stderr, "Kinesis event"));
    }

    [Fact]
    public async Task RunAsync_BasicEvent_PrintsOnlyTheResponseAndWritesOneLinePerSeriesAndWindow()
    {
        (int code, string stdout, _) = await RunAsync("--event", SampleEventsTests.EventPath("kinesis-basic.json"), "--out", OutDir);

        Assert.Equal(0, code);
        using (JsonDocument response = JsonDocument.Parse(stdout))
        {
            Assert.Equal(0, response.RootElement.GetProperty("batchItemFailures").GetArrayLength());
        }

        Dictionary<string, Expected> expected = ExpectedAggregates(SampleEventFactory.BasicRecords(), TimeSpan.FromSeconds(60));
        string[] lines = File.ReadAllLines(Path.Combine(OutDir, "aggregates.jsonl"));
        Assert.Equal(expected.Count, lines.Length);
        foreach (string line in lines)
        {
            using JsonDocument json = JsonDocument.Parse(line);
            JsonElement root = json.RootElement;
            string key = Key(root.GetProperty("metric").GetString()!, root.GetProperty("dimensions").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!), root.GetProperty("windowStart").GetString()!);
            Assert.True(expected.TryGetValue(key, out Expected? e), "unexpected aggregate " + line);
            Assert.Equal(e.WindowEnd, root.GetProperty("windowEnd").GetString());
            Assert.Equal(e.Count, root.GetProperty("count").GetInt64());
            Assert.Equal(e.Sum, root.GetProperty("sum").GetDouble(), 9);
            Assert.Equal(e.Min, root.GetProperty("min").GetDouble());
            Assert.Equal(e.Max, root.GetProperty("max").GetDouble());
            foreach (string q in new[] { "p50", "p90", "p95", "p99" })
            {
                Assert.InRange(root.GetProperty(q).GetDouble(), e.Min * 0.99, e.Max * 1.01);
            }
        }

        Assert.Empty(File.ReadAllLines(Path.Combine(OutDir, "quarantine.jsonl")));
    }

    [Fact]
    public async Task RunAsync_PoisonEvent_QuarantinesEachPillWithItsOriginalData()
    {
        (int code, string stdout, _) = await RunAsync("--event", SampleEventsTests.EventPath("kinesis-poison.json"), "--out", OutDir);

        Assert.Equal(0, code);
        using (JsonDocument response = JsonDocument.Parse(stdout))
        {
            Assert.Equal(0, response.RootElement.GetProperty("batchItemFailures").GetArrayLength());
        }

        IReadOnlyList<SampleEventFactory.ExampleRecord> records = SampleEventFactory.PoisonRecords();
        var expected = records.Select((r, i) => (Record: r, Sequence: SampleEventFactory.SequenceNumber(100 + i))).Where(x => x.Record.ExpectedPoison is not null).ToList();
        string[] lines = File.ReadAllLines(Path.Combine(OutDir, "quarantine.jsonl"));
        Assert.Equal(expected.Count, lines.Length);
        for (int i = 0; i < lines.Length; i++)
        {
            using JsonDocument json = JsonDocument.Parse(lines[i]);
            JsonElement root = json.RootElement;
            Assert.Equal(SampleEventFactory.ShardId, root.GetProperty("shardId").GetString());
            Assert.Equal(expected[i].Sequence, root.GetProperty("sequenceNumber").GetString());
            Assert.Equal(expected[i].Record.PartitionKey, root.GetProperty("partitionKey").GetString());
            Assert.Equal(expected[i].Record.ExpectedPoison, root.GetProperty("reason").GetString());
            Assert.Equal(expected[i].Record.Base64Data, root.GetProperty("data").GetString());
            Assert.False(string.IsNullOrEmpty(root.GetProperty("detail").GetString()));
        }

        // The good records still count: one line per distinct (metric, dimensions, minute window) among them.
        int expectedPairs = records.Where(r => r.ExpectedPoison is null).Select(r =>
        {
            using JsonDocument sample = JsonDocument.Parse(Convert.FromBase64String(r.Base64Data));
            JsonElement s = sample.RootElement;
            string dims = s.TryGetProperty("dimensions", out JsonElement d) ? d.GetRawText() : "";
            return (s.GetProperty("metric").GetString(), dims, s.GetProperty("timestamp").GetInt64() / 60_000);
        }).Distinct().Count();
        Assert.Equal(expectedPairs, File.ReadAllLines(Path.Combine(OutDir, "aggregates.jsonl")).Length);
    }

    [Fact]
    public async Task RunAsync_KplEvent_DeaggregatesAndQuarantinesThePoisonUserRecordAlone()
    {
        (int code, string stdout, _) = await RunAsync("--event", SampleEventsTests.EventPath("kinesis-kpl.json"), "--out", OutDir);

        Assert.Equal(0, code);
        using (JsonDocument response = JsonDocument.Parse(stdout))
        {
            Assert.Equal(0, response.RootElement.GetProperty("batchItemFailures").GetArrayLength());
        }

        // The container's second user record ("value":"slow") is the only poison; it keeps its own bytes and index.
        string line = Assert.Single(File.ReadAllLines(Path.Combine(OutDir, "quarantine.jsonl")));
        using JsonDocument q = JsonDocument.Parse(line);
        Assert.Equal(SampleEventFactory.SequenceNumber(301), q.RootElement.GetProperty("sequenceNumber").GetString());
        Assert.Equal(1, q.RootElement.GetProperty("subSequenceNumber").GetInt32());
        Assert.Equal("user-2", q.RootElement.GetProperty("partitionKey").GetString());
        Assert.Equal(nameof(PoisonReason.WrongType), q.RootElement.GetProperty("reason").GetString());
        Assert.Contains("\"slow\"", Encoding.UTF8.GetString(Convert.FromBase64String(q.RootElement.GetProperty("data").GetString()!)), StringComparison.Ordinal);

        // Every other user record counts: latency 20, 12, 18 at 10:09; latency 30 and orders 1 and 3 at 10:10.
        var lines = File.ReadAllLines(Path.Combine(OutDir, "aggregates.jsonl"))
            .Select(l => JsonDocument.Parse(l).RootElement)
            .ToDictionary(e => e.GetProperty("metric").GetString() + "@" + e.GetProperty("windowStart").GetString(), e => (e.GetProperty("count").GetInt64(), e.GetProperty("sum").GetDouble()));
        Assert.Equal((3L, 50.0), lines["api.latency_ms@2025-01-20T10:09:00Z"]);
        Assert.Equal((1L, 30.0), lines["api.latency_ms@2025-01-20T10:10:00Z"]);
        Assert.Equal((2L, 4.0), lines["orders.placed@2025-01-20T10:10:00Z"]);
        Assert.Equal(3, lines.Count);
    }

    [Fact]
    public async Task RunAsync_Twice_ReplacesTheFilesInsteadOfAppending()
    {
        string[] args = ["--event", SampleEventsTests.EventPath("kinesis-poison.json"), "--out", OutDir];
        (int code1, string stdout1, _) = await RunAsync(args);
        string aggregates1 = File.ReadAllText(Path.Combine(OutDir, "aggregates.jsonl"));
        string quarantine1 = File.ReadAllText(Path.Combine(OutDir, "quarantine.jsonl"));

        (int code2, string stdout2, _) = await RunAsync(args);

        Assert.Equal((0, 0), (code1, code2));
        Assert.Equal(stdout1, stdout2);
        Assert.NotEmpty(quarantine1);
        Assert.Equal(aggregates1, File.ReadAllText(Path.Combine(OutDir, "aggregates.jsonl")));
        Assert.Equal(quarantine1, File.ReadAllText(Path.Combine(OutDir, "quarantine.jsonl")));
    }

    internal static int CountOf(string text, string part) => (text.Length - text.Replace(part, "", StringComparison.Ordinal).Length) / part.Length;

    private sealed record Expected(string WindowEnd, long Count, double Sum, double Min, double Max);

    private static string Key(string metric, IReadOnlyDictionary<string, string> dimensions, string windowStart) =>
        metric + "|" + string.Join(",", dimensions.OrderBy(d => d.Key, StringComparer.Ordinal).Select(d => d.Key + "=" + d.Value)) + "|" + windowStart;

    /// <summary>Exact per-(series, window) figures computed straight from the example's samples.</summary>
    private static Dictionary<string, Expected> ExpectedAggregates(IEnumerable<SampleEventFactory.ExampleRecord> records, TimeSpan window)
    {
        var samples = new List<(string Key, string End, double Value)>();
        long windowMs = (long)window.TotalMilliseconds;
        foreach (SampleEventFactory.ExampleRecord record in records)
        {
            foreach (string line in Encoding.UTF8.GetString(Convert.FromBase64String(record.Base64Data)).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                using JsonDocument json = JsonDocument.Parse(line);
                JsonElement root = json.RootElement;
                long start = root.GetProperty("timestamp").GetInt64() / windowMs * windowMs;
                var dims = root.TryGetProperty("dimensions", out JsonElement d) ? d.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!) : [];
                samples.Add((Key(root.GetProperty("metric").GetString()!, dims, Iso(start)), Iso(start + windowMs), root.GetProperty("value").GetDouble()));
            }
        }

        return samples.GroupBy(s => s.Key).ToDictionary(
            g => g.Key,
            g => new Expected(g.First().End, g.Count(), g.Sum(s => s.Value), g.Min(s => s.Value), g.Max(s => s.Value)));
    }

    private static string Iso(long epochMs) => DateTimeOffset.FromUnixTimeMilliseconds(epochMs).UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
}

public class InvokeObservabilityTests
{
    [Fact]
    public async Task RunAsync_PoisonEvent_WritesEmfInvocationStageAndPoisonLinesToStderrOnly()
    {
        string outDir = Directory.CreateTempSubdirectory("invoke-obs").FullName;
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        try
        {
            int code = await InvokeCommand.RunAsync(["--event", SampleEventsTests.EventPath("kinesis-poison.json"), "--out", outDir], stdout, stderr);
            Assert.Equal(0, code);
        }
        finally
        {
            Directory.Delete(outDir, recursive: true);
        }

        // stdout holds exactly the response.
        using (JsonDocument response = JsonDocument.Parse(stdout.ToString()))
        {
            Assert.True(response.RootElement.TryGetProperty("batchItemFailures", out _));
        }

        JsonElement[] lines = [.. stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement)];
        JsonElement emf = Assert.Single(lines, l => l.TryGetProperty("_aws", out _));
        Assert.Equal(SampleEventFactory.PoisonRecords().Count, emf.GetProperty("RecordsIn").GetInt32());
        Assert.Single(lines, l => l.TryGetProperty("message", out JsonElement m) && m.GetString() == "invocation");
        Assert.Contains(lines, l => l.TryGetProperty("stage", out _));
        int poisonLines = lines.Count(l => l.TryGetProperty("message", out JsonElement m) && m.GetString() == "poison");
        Assert.Equal(SampleEventFactory.PoisonRecords().Count(r => r.ExpectedPoison is not null), poisonLines);

        // No payload reaches the logs.
        foreach (SampleEventFactory.ExampleRecord r in SampleEventFactory.PoisonRecords().Where(r => r.ExpectedPoison is not null))
        {
            Assert.DoesNotContain(r.Base64Data, stderr.ToString(), StringComparison.Ordinal);
        }
    }
}
