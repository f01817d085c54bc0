using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Amazon.DynamoDBv2.Model;
using Analytics.Replay;
using Analytics.Replay.Incident;
using Analytics.Core.Tests;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Microsoft.Extensions.Time.Testing;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Issue 15, the incident: the naive handler, the scenarios that read the SAM template, the independent comparison,
/// and the scenarios in a shortened form that asserts the direction of every figure of the comparison table.
/// </summary>
public class IncidentTests
{
    private static readonly string s_scenarios = Path.Combine(RepoPaths.Root, "samples", "scenarios");
    private static readonly string s_template = Path.Combine(RepoPaths.Root, "samples", "Analytics.SampleLambda", "template.yaml");

    private static string Temp() => Path.Combine(Path.GetTempPath(), "incident-" + Guid.NewGuid().ToString("N"));

    // Read the template's numbers with a plain line scan, independent of the YAML reader under test.
    private static string TemplateValue(string name)
    {
        Match match = Regex.Match(File.ReadAllText(s_template), $@"^\s+{name}:\s*(\S+)\s*$", RegexOptions.Multiline);
        Assert.True(match.Success, $"{name} not in the template");
        return match.Groups[1].Value.Trim('"');
    }

    [Fact]
    public void AfterScenario_TakesMappingMemoryTimeoutAndWindow_FromTheSamTemplate()
    {
        LoadedScenario after = ScenarioLoader.Load(Path.Combine(s_scenarios, "incident-after.json"));
        MappingOptions mapping = after.Scenario.Mapping;
        Assert.Equal(int.Parse(TemplateValue("BatchSize")), mapping.BatchSize);
        Assert.Equal(int.Parse(TemplateValue("MaximumBatchingWindowInSeconds")), mapping.MaximumBatchingWindowInSeconds);
        Assert.Equal(int.Parse(TemplateValue("ParallelizationFactor")), mapping.ParallelizationFactor);
        Assert.Equal(bool.Parse(TemplateValue("BisectBatchOnFunctionError")), mapping.BisectBatchOnFunctionError);
        Assert.Equal(int.Parse(TemplateValue("MaximumRetryAttempts")), mapping.MaximumRetryAttempts);
        Assert.Equal(TemplateValue("StartingPosition") == "LATEST" ? StartingPosition.Latest : StartingPosition.TrimHorizon, mapping.StartingPosition);
        Assert.True(mapping.ReportBatchItemFailures);
        Assert.Equal(OnFailureDestination.S3, mapping.OnFailure);
        Assert.Equal(int.Parse(TemplateValue("MemorySize")), after.Scenario.Function.MemoryMb);
        Assert.Equal(int.Parse(TemplateValue("Timeout")), after.Scenario.Function.TimeoutSeconds);
        Assert.Equal(int.Parse(TemplateValue("ANALYTICS_WINDOW_SECONDS")), after.WindowSeconds);
        Assert.Equal(int.Parse(TemplateValue("ANALYTICS_SPILL_AFTER_SECONDS")), after.SpillAfterSeconds);

        // The pf10 scenario is the same run with only the factor (and the adversarial key assignment) changed.
        LoadedScenario pf10 = ScenarioLoader.Load(Path.Combine(s_scenarios, "incident-after-pf10.json"));
        Assert.Equal(mapping with { ParallelizationFactor = 10 }, pf10.Scenario.Mapping);
        Assert.Equal(after.Scenario.Function, pf10.Scenario.Function);
    }

    [Theory]
    [InlineData("            MaximumRetryAttempts: 3\n", "            MaximumRetryAttempts: 3\n            FilterCriteria:\n              Filters: []\n", "FilterCriteria", "do not carry")]
    [InlineData("          Type: Kinesis\n", "          Type: SQS\n", "Resources", "exactly one")]
    [InlineData("      MemorySize: 1024\n", "", "MemorySize", "missing")]
    [InlineData("            BatchSize: 100\n", "            BatchSize: many\n", "BatchSize", "not a whole number")]
    [InlineData("                Type: S3\n", "                Type: EventBridge\n", "OnFailure.Type", "not SQS, SNS or S3")]
    public void Template_ThatChangesShape_IsAnError_NamingWhere(string find, string replace, string where, string reason)
    {
        string yaml = File.ReadAllText(s_template).Replace("\r\n", "\n");
        Assert.Contains(find, yaml);
        ScenarioException error = Assert.Throws<ScenarioException>(() => SamTemplate.Parse(yaml.Replace(find, replace), "template.yaml"));
        Assert.Equal("$.template", error.Field);
        Assert.Contains(where, error.Reason);
        Assert.Contains(reason, error.Reason);
    }

    /// <summary>
    /// The template's spilling reaches the sample handler: without ANALYTICS_SPILL_BUCKET none; with it and no age, the
    /// library's default (the sample's own default); an age out of range is an error naming the variable.
    /// </summary>
    [Fact]
    public void Template_SpillSettings_AreCarried_OrRefusedNamingTheVariable()
    {
        string yaml = File.ReadAllText(s_template).Replace("\r\n", "\n");
        const string bucket = "          ANALYTICS_SPILL_BUCKET:\n            Ref: QuarantineBucket\n";
        const string age = "          ANALYTICS_SPILL_AFTER_SECONDS: \"60\"\n";
        Assert.Contains(bucket, yaml);
        Assert.Contains(age, yaml);

        Assert.Null(SamTemplate.Parse(yaml.Replace(bucket, string.Empty).Replace(age, string.Empty), "t").SpillAfterSeconds);
        Assert.Equal((int)ProcessorOptions.Default.SpillAfterAge.TotalSeconds, SamTemplate.Parse(yaml.Replace(age, string.Empty), "t").SpillAfterSeconds);
        ScenarioException error = Assert.Throws<ScenarioException>(() => SamTemplate.Parse(yaml.Replace(age, "          ANALYTICS_SPILL_AFTER_SECONDS: \"0\"\n"), "t"));
        Assert.Contains("ANALYTICS_SPILL_AFTER_SECONDS", error.Reason);
    }

    /// <summary>
    /// SAM's Globals section is read (found by review: MemorySize under Globals.Function was reported missing): a
    /// function's own property wins, and its environment variables are added to the globals'.
    /// </summary>
    [Fact]
    public void Template_Globals_AreReadUnderTheFunctionsOwnSettings()
    {
        string yaml = File.ReadAllText(s_template).Replace("\r\n", "\n");
        const string memory = "      MemorySize: 1024\n", timeout = "      Timeout: 120\n", window = "          ANALYTICS_WINDOW_SECONDS: \"60\"\n";
        Assert.Contains(memory, yaml);
        Assert.Contains(timeout, yaml);
        Assert.Contains(window, yaml);
        TemplateSettings own = SamTemplate.Parse(yaml, "t");

        string globals = "Globals:\n  Function:\n    MemorySize: 2048\n    Timeout: 30\n    Environment:\n      Variables:\n        ANALYTICS_WINDOW_SECONDS: \"300\"\n        ANALYTICS_MAX_PAIRS: \"7\"\n";
        TemplateSettings fromGlobals = SamTemplate.Parse(globals + yaml.Replace(memory, string.Empty).Replace(timeout, string.Empty).Replace(window, string.Empty), "t");
        TemplateSettings overridden = SamTemplate.Parse(globals + yaml, "t");

        Assert.Equal((2048, 30, 300, 7), (fromGlobals.MemoryMb, fromGlobals.TimeoutSeconds, fromGlobals.WindowSeconds, fromGlobals.MaxPairs));
        Assert.Equal((own.MemoryMb, own.TimeoutSeconds, own.WindowSeconds, (int?)7), (overridden.MemoryMb, overridden.TimeoutSeconds, overridden.WindowSeconds, overridden.MaxPairs));
        // A bad value is named where it was set (found by review: a Globals variable was named at the function's path).
        ScenarioException bad = Assert.Throws<ScenarioException>(() => SamTemplate.Parse(globals.Replace("\"300\"", "\"abc\"") + yaml.Replace(window, string.Empty), "t"));
        Assert.Contains("Globals.Function.Environment.Variables.ANALYTICS_WINDOW_SECONDS: 'abc'", bad.Reason, StringComparison.Ordinal);
        ScenarioException missing = Assert.Throws<ScenarioException>(() => SamTemplate.Parse(yaml.Replace(memory, string.Empty), "t"));
        Assert.Contains("MemorySize: missing (here and in Globals.Function)", missing.Reason, StringComparison.Ordinal);
    }

    /// <summary>
    /// The template's pair cap reaches the sample handler (found by review: it was checked and then dropped, so a replay
    /// hid the early stops it causes, which the deployed function makes).
    /// </summary>
    [Fact]
    public void Template_PairCap_IsCarried_AndStopsTheSampleEarly()
    {
        string yaml = File.ReadAllText(s_template).Replace("\r\n", "\n");
        const string age = "          ANALYTICS_SPILL_AFTER_SECONDS: \"60\"\n";
        Assert.Contains(age, yaml);
        Assert.Null(SamTemplate.Parse(yaml, "t").MaxPairs);
        Assert.Equal(1, SamTemplate.Parse(yaml.Replace(age, age + "          ANALYTICS_MAX_PAIRS: \"1\"\n"), "t").MaxPairs);
        Assert.False(SamTemplate.Parse(yaml, "t").PerShardWatermarkOnly);
        Assert.True(SamTemplate.Parse(yaml.Replace(age, age + "          ANALYTICS_PER_SHARD_WATERMARK_ONLY: \"true\"\n"), "t").PerShardWatermarkOnly);
        using (var downstream = new SampleDownstream(new VirtualClock(Emulate.Start), 1, Emulate.Start, null))
        {
            // Carried to the sink replay's sample handler builds (found by review: only the parse was checked).
            Assert.True(downstream.CreateAggregateSink(perShardWatermarkOnly: true).Options.PerShardWatermarkOnly);
            Assert.False(new SampleHandler(downstream, new VirtualClock(Emulate.Start)).Sink.Options.PerShardWatermarkOnly);
            Assert.True(new SampleHandler(downstream, new VirtualClock(Emulate.Start), perShardWatermarkOnly: true).Sink.Options.PerShardWatermarkOnly);
        }

        LoadedScenario loaded = Shortened("incident-after.json", durationSeconds: 20);
        string output = Temp();
        try
        {
            ReplayResult uncapped = ReplayRun.Run(loaded, Path.Combine(output, "uncapped"), TextWriter.Null, writeRecords: false, chart: false);
            ReplayResult capped = ReplayRun.Run(loaded with { MaxPairs = 1 }, Path.Combine(output, "capped"), TextWriter.Null, writeRecords: false, chart: false);

            // One pair per invocation: every batch with records of two series stops early and is retried from there.
            Assert.True(capped.Summary.Errors > uncapped.Summary.Errors + 10, $"capped {capped.Summary.Errors} failed invocations, uncapped {uncapped.Summary.Errors}");
            Assert.True(capped.Summary.RecordsOut < uncapped.Summary.RecordsOut, $"capped {capped.Summary.RecordsOut} processed, uncapped {uncapped.Summary.RecordsOut}");
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    /// <summary>
    /// The template's variables are read as the function reads them (found by review): a blank spill bucket, which the
    /// function refuses at init, turned spilling on in the run; a spill bucket without a table, its init error too.
    /// </summary>
    [Theory]
    [InlineData("          ANALYTICS_SPILL_BUCKET:\n            Ref: QuarantineBucket\n", "          ANALYTICS_SPILL_BUCKET: \"\"\n", "ANALYTICS_SPILL_BUCKET is set but empty")]
    [InlineData("          ANALYTICS_AGGREGATE_TABLE:\n            Ref: AggregateTable\n", "", "ANALYTICS_SPILL_BUCKET needs ANALYTICS_AGGREGATE_TABLE")]
    [InlineData("          ANALYTICS_SPILL_BUCKET:\n            Ref: QuarantineBucket\n", "", "ANALYTICS_SPILL_AFTER_SECONDS needs ANALYTICS_SPILL_BUCKET")]
    [InlineData("          ANALYTICS_WINDOW_SECONDS:", "          ANALYTICS_WINDOW_SIZE:", "ANALYTICS_WINDOW_SIZE is not a setting of this function")]
    public void Template_VariablesTheFunctionRefuses_AreAnError_NotARunItWouldNeverMake(string find, string replace, string reason)
    {
        string yaml = File.ReadAllText(s_template).Replace("\r\n", "\n");
        Assert.Contains(find, yaml);

        ScenarioException error = Assert.Throws<ScenarioException>(() => SamTemplate.Parse(yaml.Replace(find, replace), "t"));

        Assert.Contains("the function would fail its init: " + reason, error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void ServiceMetricRecords_Are200To300Bytes_AndValidForTheLibrary()
    {
        RecordGenerator generator = IncidentRecords.ServiceMetric(4);
        var random = new Random(1);
        var validator = new RecordValidator();
        for (int i = 0; i < 2000; i++)
        {
            string key = "svc-" + random.Next(1000);
            byte[] data = generator(i, key, new DateTimeOffset(2025, 1, 20, 10, 0, 0, TimeSpan.Zero).AddMilliseconds(i), random);
            Assert.InRange(data.Length, 200, 300);
            Assert.True(validator.ValidateData(data, new DateTimeOffset(2025, 1, 20, 10, 0, 0, TimeSpan.Zero).AddMilliseconds(i).ToUnixTimeMilliseconds()).IsValid, Encoding.UTF8.GetString(data));
        }
    }

    [Fact]
    public async Task NaiveHandler_AddsOncePerRecord_AndThrowsOnAPoisonRecord_AfterStartingTheWritesBeforeIt()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2025, 1, 20, 10, 0, 0, TimeSpan.Zero));
        using var model = new DynamoDbModel(clock, DynamoDbModelOptions.Default);
        model.CreateTable("tbl", NaiveTable.PartitionKey, NaiveTable.SortKey);
        using Amazon.DynamoDBv2.AmazonDynamoDBClient client = model.CreateClient();
        var handler = new NaiveHandler(client, "tbl", clock, seed: 1);
        string Metric(double value, long ts) => $"{{\"metric\":\"m\",\"value\":{value},\"timestamp\":{ts},\"dimensions\":{{\"service\":\"a\"}}}}";
        long t0 = clock.GetUtcNow().ToUnixTimeMilliseconds();
        byte[] Event(params string[] data) => TestEvents.Build(data.Select((d, i) => new Analytics.Core.Tests.TestRecord(TestEvents.Seq(i + 1), Encoding.UTF8.GetBytes(d), t0)));
        byte[] good = Event(Metric(1.5, t0), Metric(2, t0 + 1), Metric(4, t0 + 60_000));
        await handler.InvokeAsync(good, clock.GetUtcNow().AddSeconds(30), CancellationToken.None);

        Dictionary<(string, long), long> counts = IncidentLedger.NaiveCounts(model.GetItems("tbl"), out int other);
        Assert.Equal(0, other);
        long window = t0 - (t0 % 60_000);
        Assert.Equal([2L, 1L], counts.OrderBy(c => c.Key.Item2).Select(c => c.Value));
        Assert.Equal(window, counts.Keys.Min(k => k.Item2));
        Dictionary<string, AttributeValue> first = model.GetItems("tbl").Single(i => i[NaiveTable.SortKey].S == window.ToString());
        Assert.Equal("3.5", first[NaiveTable.Sum].N);

        // The same batch with a poison record third: the first two are written (again), then the batch throws.
        byte[] poisoned = Event(Metric(1.5, t0), Metric(2, t0 + 1), "{\"metric\":\"m\",\"val", Metric(4, t0 + 60_000));
        await Assert.ThrowsAnyAsync<System.Text.Json.JsonException>(() => handler.InvokeAsync(poisoned, clock.GetUtcNow().AddSeconds(30), CancellationToken.None));
        clock.Advance(TimeSpan.FromSeconds(1));
        counts = IncidentLedger.NaiveCounts(model.GetItems("tbl"), out _);
        Assert.Equal([4L, 1L], counts.OrderBy(c => c.Key.Item2).Select(c => c.Value));
    }

    /// <summary>
    /// The comparison's arithmetic against a table built from the truth with known changes: every count added to a pair
    /// is reported doubled, every count taken from a pair the mapping has passed is reported lost, and a pair still
    /// ahead of the mapping is never called lost.
    /// </summary>
    [Property(MaxTest = 100)]
    public Property Ledger_ReportsExactlyTheCountsAddedAndRemoved(PositiveInt pairs, int seed)
    {
        var random = new Random(seed);
        int n = Math.Min(pairs.Get, 40);
        var start = new DateTimeOffset(2025, 1, 20, 10, 0, 0, TimeSpan.Zero);
        var ledger = new IncidentLedger(start, 3600, 60_000);
        var produced = new Dictionary<(string, long), long>();
        for (int p = 0; p < n; p++)
        {
            int records = random.Next(1, 5);
            for (int r = 0; r < records; r++)
            {
                long ts = start.ToUnixTimeMilliseconds() + p * 60_000L + random.Next(60_000);
                string data = $"{{\"metric\":\"m{p % 3}\",\"value\":1,\"timestamp\":{ts},\"dimensions\":{{\"service\":\"s{p}\"}}}}";
                ledger.OnRecord(new StreamRecord("shardId-000000000000", (p * 10 + r).ToString(), "k", Encoding.UTF8.GetBytes(data), start.AddMilliseconds(p * 60_000L + 30_000)));
            }

            ledger.OnRecord(new StreamRecord("shardId-000000000000", "9" + p, "k", "not json"u8.ToArray(), start.AddMilliseconds(p * 60_000L)));
            produced[($"m{p % 3}\u001fservice\u001es{p}", p * 60_000L + start.ToUnixTimeMilliseconds())] = records;
        }

        // The mapping has passed the first `done` pairs (everything that arrived before that minute).
        int done = random.Next(0, n + 1);
        ledger.OnSecond(new ShardSecond { Second = (done * 60) - 1 < 0 ? 0 : (done * 60) - 1, ShardId = "shardId-000000000000", IteratorAgeMs = -1, OldestUnprocessedAgeMs = done == 0 ? 1000 : 0, Invocations = 0, Errors = 0, Timeouts = 0, Throttles = 0, Concurrency = 0, DestinationRecords = 0, RecordsIn = 0, ThrottledPuts = 0, RecordsOut = 0, RecordsExpired = 0 });
        var table = new Dictionary<(string, long), long>();
        long added = 0, removed = 0;
        int index = 0;
        foreach (KeyValuePair<(string, long), long> pair in produced)
        {
            int change = random.Next(-2, 3);
            bool passed = index++ < done;
            long stored = Math.Max(0, pair.Value + change);
            if (!passed && stored < pair.Value)
            {
                stored = pair.Value; // ahead of the mapping a shortfall is pending work, not a loss: keep the property exact
            }

            added += Math.Max(0, stored - pair.Value);
            removed += Math.Max(0, pair.Value - stored);
            if (stored > 0)
            {
                table[pair.Key] = stored;
            }
        }

        Verdict verdict = ledger.Compare(table, new Dictionary<string, string>(), "s");
        return (verdict.Doubled == added && verdict.Lost == removed && verdict.Poison == n && verdict.ValidRecords == produced.Values.Sum())
            .Label($"doubled {verdict.Doubled} vs {added}, lost {verdict.Lost} vs {removed}");
    }

    // The committed scenario in a shortened form for CI: two virtual minutes, 2 shards at 100 records/s each over
    // 100 keys, a poison record in 1,000 (so a few arrive), the throttling episode moved into the run. Nothing else
    // changes: handler, mapping (from the template for "after"), function, latency. A lower rate where a test needs
    // fewer requests.
    internal static LoadedScenario Shortened(string name, int durationSeconds = 120, int ratePerSecond = 200)
    {
        string path = Path.Combine(s_scenarios, name);
        JsonNode json = JsonNode.Parse(File.ReadAllText(path))!;
        json["durationSeconds"] = durationSeconds;
        json["stream"]!["shards"] = 2;
        JsonNode producer = json["producers"]![0]!;
        producer["ratePerSecond"] = ratePerSecond;
        producer["partitionKeys"] = 100;
        producer["generator"]!["poisonFraction"] = 0.001;
        json["downstream"]!["dynamodb"]!["throttleEpisodes"] = JsonNode.Parse("[{\"fromSecond\":20,\"toSecond\":100,\"fraction\":0.2}]");
        return ScenarioLoader.Parse(Encoding.UTF8.GetBytes(json.ToJsonString()), s_scenarios);
    }

    /// <summary>
    /// The after scenario runs the sample with the template's spilling: through a 9-minute DynamoDB outage its shards keep
    /// moving. Iterator age is bounded by the first attempt of the outage, which is not yet old enough to spill and so
    /// retries to its deadline (the template's 120 s), plus the spill age (60 s) and the spilling invocation: about 3
    /// minutes however long the outage. What was spilled is missing from the table until a redrive, never doubled.
    /// </summary>
    [Fact]
    public void ShortenedAfter_ThroughAFullOutage_SpillsWithTheTemplatesAge_AndTheShardKeepsMoving()
    {
        LoadedScenario loaded = Shortened("incident-after.json", durationSeconds: 660);
        Assert.Equal(60, loaded.SpillAfterSeconds);

        Verdict v = RunThroughAnOutage(loaded, fromSecond: 30, toSecond: 570).Figures!.Verdict;

        Assert.True(v.MaxIteratorAgeMs < (120 + 60 + 30) * 1000, $"max iterator age {v.MaxIteratorAgeMs} ms through a 540 s outage");
        // What was spilled is counted as such, not as lost (found by review: the summary had no spill figure and
        // counted every spilled record lost).
        Assert.True(v.Spilled > 0, "nothing was spilled");
        Assert.True(v.Spilled > 10 * v.Lost, $"spilled {v.Spilled}, lost {v.Lost}");
        Assert.Equal(0, v.Doubled);
    }

    /// <summary>
    /// The same at a busy shard's full rate, 1,000 records/s: through an 8-minute outage the spilling keeps pace, so
    /// iterator age stays below the spill age plus the template's timeout (records wait to be old enough to spill; the
    /// attempt before that waits for the table) however long the outage. When every batch probed the table for a second
    /// and the spill read the items for another, a shard spilled 458 records/s and its age grew all through an outage
    /// (384 s after 10 minutes).
    /// </summary>
    [Fact]
    public void AfterAtAFullShardsRate_ThroughAFullOutage_TheSpillKeepsPace()
    {
        LoadedScenario loaded = Shortened("incident-after.json", durationSeconds: 660);
        loaded = loaded with
        {
            Scenario = loaded.Scenario with
            {
                Stream = loaded.Scenario.Stream with { ShardCount = 1 },
                Producers = [loaded.Scenario.Producers[0] with { RatePerSecond = 1000 }],
            },
        };

        ReplayResult result = RunThroughAnOutage(loaded, fromSecond: 120, toSecond: 600);
        Verdict v = result.Figures!.Verdict;

        Assert.True(result.Summary.RecordsIn > 600_000, $"records in {result.Summary.RecordsIn}");
        Assert.True(v.MaxIteratorAgeMs < (60 + 120) * 1000, $"max iterator age {v.MaxIteratorAgeMs} ms through a 480 s outage at 1,000 records/s");
        // What was spilled is counted as such, not as lost (found by review: the summary had no spill figure and
        // counted every spilled record lost).
        Assert.True(v.Spilled > 0, "nothing was spilled");
        Assert.True(v.Spilled > 10 * v.Lost, $"spilled {v.Spilled}, lost {v.Lost}");
        Assert.Equal(0, v.Doubled);
    }

    /// <summary>Runs <paramref name="loaded"/> with DynamoDB down (HTTP 500) from <paramref name="fromSecond"/> to <paramref name="toSecond"/>, S3 as the scenario has it.</summary>
    private static ReplayResult RunThroughAnOutage(LoadedScenario loaded, int fromSecond, int toSecond)
    {
        string output = Temp();
        try
        {
            LoadedScenario outage = loaded with
            {
                Downstream = new DownstreamFile
                {
                    Dynamodb = new ServiceModelFile { LatencyMs = new LatencyFile { P50 = 6, P99 = 40 }, Outages = [new OutageFile { FromSecond = fromSecond, ToSecond = toSecond }] },
                    S3 = loaded.Downstream?.S3,
                },
            };
            return ReplayRun.Run(outage, output, TextWriter.Null, writeRecords: false, chart: false);
        }
        finally
        {
            if (Directory.Exists(output))
            {
                Directory.Delete(output, recursive: true);
            }
        }
    }

    [Fact]
    public void ShortenedIncident_BeforeIsWorseThanAfter_InEveryFigure()
    {
        string output = Temp();
        try
        {
            ReplayResult before = ReplayRun.Run(Shortened("incident-before.json"), Path.Combine(output, "before"), TextWriter.Null, writeRecords: false, chart: false);
            ReplayResult after = ReplayRun.Run(Shortened("incident-after.json"), Path.Combine(output, "after"), TextWriter.Null, writeRecords: false, chart: false);
            Verdict b = before.Figures!.Verdict, a = after.Figures!.Verdict;

            // Poison arrived, and the mapping passed some in the after run.
            Assert.True(b.Poison > 0 && a.Poison == b.Poison, $"poison {b.Poison} / {a.Poison}");

            // Iterator age: before climbs (the last 10 s bucket is the highest), after stays low.
            double[] climb = [.. before.Figures.IteratorAgePerBucket.Where(age => !double.IsNaN(age))]; // NaN: no invocation ended in that bucket
            Assert.True(b.MaxIteratorAgeMs > 60_000, $"before max {b.MaxIteratorAgeMs} ms");
            Assert.True(climb[^1] >= climb.Max() - 10, $"before's age does not climb to the end: {string.Join(",", climb)}");
            Assert.True(a.MaxIteratorAgeMs < b.MaxIteratorAgeMs && a.P99IteratorAgeMs < b.P99IteratorAgeMs, $"after {a.P99IteratorAgeMs}/{a.MaxIteratorAgeMs} ms");
            Assert.True(a.P99IteratorAgeMs < 10_000, $"after p99 {a.P99IteratorAgeMs} ms");

            // Invocations that failed and timed out; records sent to the destination.
            Assert.True(before.Summary.Errors > 0 && after.Summary.Errors == 0, $"errors {before.Summary.Errors} / {after.Summary.Errors}");
            Assert.True(after.Summary.Timeouts == 0 && after.Summary.Timeouts <= before.Summary.Timeouts);
            Assert.Equal(0, after.Summary.RecordsToDestination);
            Assert.Equal(0, before.Summary.RecordsToDestination); // no destination configured: nothing is ever let go

            // Lost and doubled, measured against the truth; the after run checked a real share of its records.
            Assert.True(b.Doubled > 0, "before doubled nothing");
            Assert.Equal(0, a.Doubled);
            Assert.Equal(0, a.Lost);
            Assert.True(a.CheckedRecords >= a.ValidRecords / 3, $"after checked {a.CheckedRecords} of {a.ValidRecords}");

            // Every poison record the after run passed is in the quarantine with its data; before quarantines none.
            Assert.True(a.PoisonReached > 0 && a.PoisonQuarantined >= a.PoisonReached, $"quarantined {a.PoisonQuarantined} of {a.PoisonReached}");
            Assert.Equal(0, b.PoisonQuarantined);

            // DynamoDB: more requests and more write capacity per 1,000 records processed before than after.
            double Per1000(ReplayResult r, double value) => value * 1000.0 / r.Summary.RecordsOut;
            Assert.True(Per1000(before, before.Figures.DynamoDbRequests) > Per1000(after, after.Figures.DynamoDbRequests));
            Assert.True(Per1000(before, before.Figures.WriteCapacityUnits) > Per1000(after, after.Figures.WriteCapacityUnits));
            Assert.True(before.Figures.DynamoDbThrottles > 0 && after.Figures.DynamoDbThrottles > 0, "the throttling episode did not happen");
            Assert.Equal(0, before.Figures.OtherItems);
        }
        finally
        {
            if (Directory.Exists(output))
            {
                Directory.Delete(output, recursive: true);
            }
        }
    }
}
