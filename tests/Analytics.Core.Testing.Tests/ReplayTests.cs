using System.Text;
using System.Text.Json;
using Analytics.Replay;

namespace Analytics.Core.Testing.Tests;

/// <summary>The replay command: scenarios from samples/, bad scenarios, outputs and their determinism.</summary>
public class ReplayTests
{
    private static string Temp() => ReplayHarness.Temp();

    private static (int Exit, string Out, string Error) Replay(params string[] args) => ReplayHarness.Replay(args);

    private static string Root([System.Runtime.CompilerServices.CallerFilePath] string file = "")
    {
        // CI maps source paths to /_/; then look from the working directory up.
        string? directory = File.Exists(file) ? Path.GetDirectoryName(file) : Directory.GetCurrentDirectory();
        while (directory is not null && !File.Exists(Path.Combine(directory, "Analytics.Core.sln")))
        {
            directory = Path.GetDirectoryName(directory);
        }

        return directory ?? throw new InvalidOperationException("repository root not found");
    }

    private const string Prefix254 = "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp";

    private const string Name129 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    [Theory]
    [InlineData("{\"mapping\":{\"BatchSize\":0},\"handler\":{\"kind\":\"scripted\",\"rules\":[]}}", "$.mapping.BatchSize", "1 to 10000")]
    [InlineData("{\"mapping\":{\"ParallelizationFactor\":11},\"handler\":{\"kind\":\"scripted\",\"rules\":[]}}", "$.mapping.ParallelizationFactor", "1 to 10")]
    [InlineData("{\"mapping\":{\"MaximumRecordAgeInSeconds\":30},\"handler\":{\"kind\":\"scripted\",\"rules\":[]}}", "$.mapping.MaximumRecordAgeInSeconds", "-1 or 60 to 604800")]
    [InlineData("{\"mapping\":{\"DestinationConfig\":{\"OnFailure\":{\"Destination\":\"sns\"}}},\"handler\":{\"kind\":\"sample\"}}", "$.mapping.DestinationConfig.OnFailure.Destination", "not sqs or s3")]
    [InlineData("{\"mapping\":{\"BatchSiz\":10},\"handler\":{\"kind\":\"sample\"}}", "$.mapping", "BatchSiz")]
    [InlineData("{\"stream\":{\"shards\":0},\"handler\":{\"kind\":\"sample\"}}", "$.stream.shards", "1 to 10000")]
    [InlineData("{\"function\":{\"timeoutSeconds\":901},\"handler\":{\"kind\":\"sample\"}}", "$.function.timeoutSeconds", "1 to 900")]
    [InlineData("{\"durationSeconds\":\"long\",\"handler\":{\"kind\":\"sample\"}}", "$.durationSeconds", "")]
    [InlineData("{\"handler\":{\"kind\":\"scripted\",\"rules\":[{\"action\":\"explode\"}]}}", "$.handler.rules[0].action", "not raise, report, respond or sleepMs")]
    [InlineData("{\"handler\":{\"kind\":\"scripted\",\"rules\":[{\"action\":\"raise\"}]}}", "$.handler.rules[0].whenData", "missing")]
    [InlineData("{\"records\":[{\"partitionKey\":\"k\",\"data\":\"%%%\",\"atMs\":0}],\"handler\":{\"kind\":\"sample\"}}", "$.records[0].data", "base64")]
    [InlineData("{\"records\":[{\"partitionKey\":\"\",\"text\":\"x\",\"atMs\":0}],\"handler\":{\"kind\":\"sample\"}}", "$.records[0].partitionKey", "1 to 256")]
    [InlineData("{}", "$.handler", "missing")]
    [InlineData("{\"durationSeconds\":10,\"records\":[{\"partitionKey\":\"k\",\"text\":\"late\",\"atMs\":10000}],\"handler\":{\"kind\":\"sample\"}}", "$.records[0]", "before the end of the run")]
    [InlineData("{\"durationSeconds\":604801,\"handler\":{\"kind\":\"sample\"}}", "$.durationSeconds", "1 to 604800")]
    [InlineData("[1]", "$", "")]
    [InlineData("{\"startTime\":\"9999-12-31T23:59:00Z\",\"handler\":{\"kind\":\"sample\"}}", "$.startTime", "from 1970-01-01T00:00:00Z to 9000-01-01T00:00:00Z")]
    [InlineData("{\"startTime\":\"1969-12-31T23:59:59Z\",\"handler\":{\"kind\":\"sample\"}}", "$.startTime", "from 1970-01-01T00:00:00Z")]
    [InlineData("{\"startTime\":\"1970-01-01T00:00:05Z\",\"records\":[{\"partitionKey\":\"k\",\"text\":\"x\",\"atMs\":-5001}],\"handler\":{\"kind\":\"sample\"}}", "$.records[0]", "before 1970-01-01T00:00:00Z")]
    [InlineData("{\"function\":{\"computeMsPerRecord\":1e300},\"handler\":{\"kind\":\"sample\"}}", "$.function.computeMsPerRecord", "0 to 900000 ms")]
    [InlineData("{\"function\":{\"computeMsPerRecord\":2,\"measureCompute\":true},\"handler\":{\"kind\":\"sample\"}}", "$.function.measureCompute", "set the model or MeasureCompute, not both")]
    [InlineData("{\"producers\":[{\"generator\":{\"kind\":\"metric\",\"metrics\":-3}}],\"handler\":{\"kind\":\"sample\"}}", "$.producers[0].generator.metrics", "must be 1 or more")]
    [InlineData("{\"producers\":[{\"generator\":{\"kind\":\"service-metric\",\"metrics\":0}}],\"handler\":{\"kind\":\"sample\"}}", "$.producers[0].generator.metrics", "must be 1 or more")]
    [InlineData("{\"producers\":[{\"ratePerSecond\":5,\"partitionKeys\":1000,\"keyPrefix\":\"" + Prefix254 + "\"}],\"handler\":{\"kind\":\"sample\"}}", "$.producers[0].keyPrefix", "at most 256 characters, as Kinesis requires; with this keyPrefix (254 characters) and 1000 keys the longest is 257")]
    [InlineData("{\"stream\":{\"shards\":2},\"producers\":[{\"ratePerSecond\":10},{\"ratePerSecond\":1e12}],\"handler\":{\"kind\":\"sample\"}}", "$.producers[1].ratePerSecond", "at most 100 times what the stream accepts (2000 records per second")]
    [InlineData("{\"producers\":[{\"ratePerSecond\":10,\"schedule\":[{\"fromSecond\":5,\"ratePerSecond\":100001}]}],\"handler\":{\"kind\":\"sample\"}}", "$.producers[0].schedule[0].ratePerSecond", "got 100001")]
    [InlineData("{\"stream\":{\"shards\":0},\"producers\":[{\"ratePerSecond\":10}],\"handler\":{\"kind\":\"sample\"}}", "$.stream.shards", "1 to 10000")]
    [InlineData("{\"producers\":[{\"ratePerSecond\":60000},{\"ratePerSecond\":10,\"schedule\":[{\"fromSecond\":30,\"ratePerSecond\":50000}]}],\"handler\":{\"kind\":\"sample\"}}", "$.producers", "add up to 110000 records per second from second 30")]
    // Review: each of these was taken without a word (the machine's zone; the default generator; no poison; a step
    // that never took effect; 100 records a second).
    [InlineData("{\"durationSeconds\":10,\"records\":[{\"partitionKey\":\"k\",\"text\":\"a\",\"atMs\":0},{\"partitionKey\":\"k\",\"text\":\"b\",\"atMs\":1},{\"partitionKey\":\"k\",\"text\":\"late\",\"atMs\":10001}],\"handler\":{\"kind\":\"sample\"}}", "$.records[2]: a record's atMs", "before the end of the run (10000 ms); got 10001")]
    [InlineData("{\"durationSeconds\":10.5,\"handler\":{\"kind\":\"sample\"}}", "$.durationSeconds", "expected a whole number; got a value of another kind")]
    [InlineData("{\"mapping\":{\"BisectBatchOnFunctionError\":\"true\"},\"handler\":{\"kind\":\"sample\"}}", "$.mapping.BisectBatchOnFunctionError", "expected true or false")]
    [InlineData("{\"producers\":{\"ratePerSecond\":5},\"handler\":{\"kind\":\"sample\"}}", "$.producers", "expected a list")]
    [InlineData("{\"startTime\":\"2025-01-20T10:00:00\",\"handler\":{\"kind\":\"sample\"}}", "$.startTime", "with its zone")]
    [InlineData("{\"startTime\":\"2025-01-20\",\"handler\":{\"kind\":\"sample\"}}", "$.startTime", "with its zone")]
    [InlineData("{\"mapping\":{\"StartingPosition\":\"AT_TIMESTAMP\",\"StartingPositionTimestamp\":\"2025-01-20T09:00:00\"},\"startTime\":\"2025-01-20T10:00:00Z\",\"handler\":{\"kind\":\"sample\"}}", "$.mapping.StartingPositionTimestamp", "with its zone")]
    [InlineData("{\"producers\":[{\"ratePerSecond\":5,\"generator\":{\"template\":\"reading {n}\"}}],\"handler\":{\"kind\":\"sample\"}}", "$.producers[0].generator.template", "the text generator's; this generator is 'metric'")]
    [InlineData("{\"producers\":[{\"ratePerSecond\":5,\"generator\":{\"kind\":\"text\",\"template\":\"x\",\"metrics\":3}}],\"handler\":{\"kind\":\"sample\"}}", "$.producers[0].generator.metrics", "a text generator's records come from its template")]
    [InlineData("{\"producers\":[{\"ratePerSecond\":5,\"generator\":{\"poison\":\"bad\"}}],\"handler\":{\"kind\":\"sample\"}}", "$.producers[0].generator.poison", "needs poisonFraction")]
    [InlineData("{\"producers\":[{\"ratePerSecond\":5,\"schedule\":[{\"fromSecond\":60,\"ratePerSecond\":5},{\"fromSecond\":30,\"ratePerSecond\":50}]}],\"handler\":{\"kind\":\"sample\"}}", "$.producers[0].schedule[1].fromSecond", "must be after the step before it (60)")]
    [InlineData("{\"producers\":[{\"ratePerSecond\":5,\"schedule\":[{\"fromSecond\":30,\"ratePerSecond\":5},{\"fromSecond\":30,\"ratePerSecond\":50}]}],\"handler\":{\"kind\":\"sample\"}}", "$.producers[0].schedule[1].fromSecond", "must be after the step before it (30)")]
    [InlineData("{\"producers\":[{\"partitionKeys\":3}],\"handler\":{\"kind\":\"sample\"}}", "$.producers[0].ratePerSecond", "missing")]
    [InlineData("{\"handler\":{\"kind\":\"process\",\"command\":[\"/nonexistent/bootstrap\"]}}", "$.handler.command[0]", "/nonexistent/bootstrap: no such executable file")]
    [InlineData("{\"handler\":{\"kind\":\"process\",\"command\":[\"no-such-command-in-path\",\"invoke\"]}}", "$.handler.command[0]", "no-such-command-in-path: no such executable file")]
    [InlineData("{\"handler\":{\"kind\":\"sample\",\"environment\":{\"ANALYTICS_WINDOW_SECONDS\":\"300\"}}}", "$.handler.environment", "the process handler's; this handler is 'sample'")]
    [InlineData("{\"handler\":{\"kind\":\"process\",\"command\":[\"/bin/sh\"],\"environment\":{\"A=B\":\"x\"}}}", "$.handler.environment", "'A=B' is not a variable name")]
    [InlineData("{\"handler\":{\"kind\":\"process\",\"command\":[\"/bin/sh\"],\"environment\":{\"A\":null}}}", "$.handler.environment.A", "expected a string")]
    [InlineData("{\"handler\":{\"kind\":\"process\",\"command\":[\"/bin/sh\"],\"environment\":{\"A\":5}}}", "$.handler.environment.A", "expected")]
    [InlineData("{\"durationSeconds\":5,\"producers\":[{\"ratePerSecond\":5}],\"handler\":{\"kind\":\"sample\"},\"downstream\":{\"s3\":{\"latencyMs\":{\"p50\":0,\"p99\":2000}}}}", "$.downstream.s3.latencyMs", "P50 > 0 unless both are 0")]
    [InlineData("{\"handler\":{\"kind\":\"sample\"},\"downstream\":{\"dynamodb\":{\"latencyMs\":{\"p99\":2000}}}}", "$.downstream.dynamodb.latencyMs", "missing required field(s) 'p50'")]
    [InlineData("{\"handler\":{\"kind\":\"sample\"},\"downstream\":{\"dynamodb\":{\"latencyMs\":{}}}}", "$.downstream.dynamodb.latencyMs", "missing required field(s) 'p50', 'p99'")]
    [InlineData("{\"mapping\":{\"batchSize\":5},\"handler\":{\"kind\":\"sample\"}}", "$.mapping.batchSize", "unknown field 'batchSize' (field names are case-sensitive")]
    [InlineData("{\"handler\":{\"kind\":\"sample\"},\"downstream\":{\"s3\":{\"latencyMs\":{\"p50\":0.000001,\"p99\":2000}}}}", "$.downstream.s3.latencyMs", "P50 > 0 unless both are 0")]
    [InlineData("{\"handler\":{\"kind\":\"sample\"},\"downstream\":{\"s3\":{\"latencyMs\":{\"p50\":20,\"p99\":10}}}}", "$.downstream.s3.latencyMs", "0 <= P50 <= P99")]
    [InlineData("{\"handler\":{\"kind\":\"sample\"},\"downstream\":{\"s3\":{\"latencyMs\":{\"p50\":1e300,\"p99\":1e300}}}}", "$.downstream.s3.latencyMs.p50", "0 to 900000 ms")]
    [InlineData("{\"handler\":{\"kind\":\"sample\"},\"downstream\":{\"dynamodb\":{\"latencyMs\":{\"p50\":5,\"p99\":1e308}}}}", "$.downstream.dynamodb.latencyMs.p99", "0 to 900000 ms")]
    [InlineData("{\"handler\":{\"kind\":\"sample\"},\"downstream\":{\"dynamodb\":{\"latencyMs\":{\"p50\":-1,\"p99\":5}}}}", "$.downstream.dynamodb.latencyMs.p50", "0 to 900000 ms")]
    [InlineData("{\"stream\":{\"streamName\":\"a/b\"},\"handler\":{\"kind\":\"sample\"}}", "$.stream.streamName", "1 to 128 characters from a-z, A-Z, 0-9, '_', '.' and '-'")]
    [InlineData("{\"stream\":{\"streamName\":\"" + Name129 + "\"},\"handler\":{\"kind\":\"sample\"}}", "$.stream.streamName", "1 to 128 characters")]
    [InlineData("{\"stream\":{\"streamName\":\"\"},\"handler\":{\"kind\":\"sample\"}}", "$.stream.streamName", "1 to 128 characters")]
    [InlineData("{\"mapping\":{\"BatchSize\":0,\"BatchSize\":10},\"handler\":{\"kind\":\"sample\"}}", "$.mapping.BatchSize", "Duplicate property 'BatchSize'")]
    [InlineData("{\"seed\":1,\"handler\":{\"kind\":\"sample\"},\"seed\":2}", "$.seed", "Duplicate property 'seed'")]
    [InlineData("{\"durationSeconds\":604800,\"stream\":{\"shards\":10000},\"handler\":{\"kind\":\"sample\"}}", "$.durationSeconds", "at most 50,000,000 (each shard's per-second measurements are kept for the whole run); got 10,000 shards × 604,800 s")]
    [InlineData("{\"records\":[null],\"handler\":{\"kind\":\"sample\"}}", "$.records[0]", "null; expected an object")]
    [InlineData("{\"producers\":[{\"ratePerSecond\":5},null],\"handler\":{\"kind\":\"sample\"}}", "$.producers[1]", "null; expected an object")]
    [InlineData("{\"producers\":[{\"ratePerSecond\":5,\"schedule\":[null]}],\"handler\":{\"kind\":\"sample\"}}", "$.producers[0].schedule[0]", "null; expected an object")]
    [InlineData("{\"handler\":{\"kind\":\"scripted\",\"rules\":[null]}}", "$.handler.rules[0]", "null; expected an object")]
    [InlineData("{\"handler\":{\"kind\":\"sample\"},\"downstream\":{\"dynamodb\":{\"outages\":[{\"fromSecond\":1,\"toSecond\":2},null]}}}", "$.downstream.dynamodb.outages[1]", "null; expected an object")]
    [InlineData("{\"handler\":{\"kind\":\"sample\"},\"downstream\":{\"dynamodb\":{\"throttleEpisodes\":[null]}}}", "$.downstream.dynamodb.throttleEpisodes[0]", "null; expected an object")]
    [InlineData("{\"handler\":{\"kind\":\"sample\"},\"downstream\":{\"s3\":{\"outages\":[null]}}}", "$.downstream.s3.outages[0]", "null; expected an object")]
    [InlineData("{\"startTime\":\"2025-01-20T10:00:00Z\",\"mapping\":{\"StartingPosition\":\"AT_TIMESTAMP\",\"StartingPositionTimestamp\":\"2025-01-20T10:00:01Z\"},\"handler\":{\"kind\":\"sample\"}}", "$.mapping.StartingPositionTimestamp", "cannot be in the future")]
    public void BadScenario_Exits2_NamingTheFieldAndTheReason(string json, string field, string reason)
    {
        (int exit, string error) = ReplayScenarioText(json);
        Assert.Equal(2, exit);
        Assert.Contains($"bad scenario: {field}", error);
        Assert.Contains(reason, error);
        // In the scenario's terms, never the runtime's (found by review: ".NET member", "System.Nullable`1").
        Assert.DoesNotContain(".NET", error, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", error, StringComparison.Ordinal);
    }

    /// <summary>Arguments that are almost right get the command's own words (found by review).</summary>
    [Theory]
    [InlineData("10s", "--duration must be a whole number of seconds, not '10s'")]
    [InlineData("99999999999", "--duration 99999999999 is too large")]
    public void AnAlmostRightDuration_Exits2_InTheCommandsWords(string value, string expected)
    {
        (int exit, string error) = ReplayScenarioText("{\"durationSeconds\":5,\"handler\":{\"kind\":\"scripted\",\"rules\":[]}}", "--duration", value);
        Assert.Equal(2, exit);
        Assert.Contains(expected, error, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", error, StringComparison.Ordinal);
    }

    [Fact]
    public void ADirectoryAsTheScenario_Exits2_NamingIt()
    {
        (int exit, _, string error) = Replay("--scenario", Path.GetTempPath(), "--out", Temp());
        Assert.Equal(2, exit);
        Assert.Contains("is a directory; give the scenario's JSON file", error, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", error, StringComparison.Ordinal);
    }

    /// <summary>Runs replay on <paramref name="json"/> written to a temporary file, with <paramref name="more"/> arguments; its exit code and stderr.</summary>
    private static (int Exit, string Error) ReplayScenarioText(string json, params string[] more)
    {
        string file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, json);
            (int exit, _, string error) = Replay(["--scenario", file, "--out", Temp(), .. more]);
            return (exit, error);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void AProcessCommandThatIsNotExecutable_IsABadScenario()
    {
        // A bootstrap copied without its execute bit: named before the run, not a run of failed starts.
        if (OperatingSystem.IsWindows())
        {
            return; // no execute bit there
        }

        string bootstrap = Path.GetTempFileName();
        string file = Path.GetTempFileName();
        try
        {
            File.SetUnixFileMode(bootstrap, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.WriteAllText(file, $$$"""{"handler":{"kind":"process","command":[{{{JsonSerializer.Serialize(bootstrap)}}}]}}""");
            (int exit, _, string error) = Replay("--scenario", file, "--out", Temp());
            Assert.Equal(2, exit);
            Assert.Contains($"bad scenario: $.handler.command[0]: {bootstrap}: the file is not executable (chmod +x)", error, StringComparison.Ordinal);

            File.SetUnixFileMode(bootstrap, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            File.WriteAllText(file, $$$"""{"durationSeconds":1,"handler":{"kind":"process","command":[{{{JsonSerializer.Serialize(bootstrap)}}}]}}""");
            Assert.Equal(0, Replay("--scenario", file, "--out", Temp(), "--no-chart").Exit); // no records: never started
        }
        finally
        {
            File.Delete(bootstrap);
            File.Delete(file);
        }
    }

    [Fact]
    public void AProcessThatExitsAtOnce_IsAColdStartOnANewEnvironmentEachTime()
    {
        // A bootstrap that crashes at start: every attempt fails with the process's exit, and Lambda resets the
        // environment after it, so each retry is a cold start that pays the init time again (docs/emulator.md).
        if (OperatingSystem.IsWindows())
        {
            return; // /bin/sh
        }

        string file = Path.GetTempFileName();
        string output = Temp();
        try
        {
            File.WriteAllText(file, """
                {"durationSeconds":3,"records":[{"partitionKey":"k","text":"a","atMs":0}],"function":{"initMs":500},
                 "handler":{"kind":"process","command":["/bin/sh","-c","echo broken >&2; exit 3"]}}
                """);
            (int exit, string stdout, string error) = Replay("--scenario", file, "--out", output, "--no-chart");
            Assert.True(exit == 0, error + stdout);
            JsonElement[] invocations = [.. File.ReadAllLines(Path.Combine(output, "invocations.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)];
            Assert.InRange(invocations.Length, 4, 6); // about 3 s / 501 ms
            Assert.All(invocations, i => Assert.Equal(("error", true), (i.GetProperty("outcome").GetString(), i.GetProperty("coldStart").GetBoolean())));
            Assert.Equal(Enumerable.Range(1, invocations.Length), invocations.Select(i => i.GetProperty("environment").GetInt32()));
            Assert.All(invocations, i => Assert.Equal(501, i.GetProperty("endMs").GetInt64() - i.GetProperty("startMs").GetInt64()));
        }
        finally
        {
            File.Delete(file);
            Directory.Delete(output, recursive: true);
        }
    }

    [Fact]
    public void AProcessPastItsDeadline_TimesOutAtTheDeadline_AndTheNextInvocationIsAColdStartOnANewEnvironment()
    {
        // A bootstrap that takes the event of "hang" and never answers: the Runtime API host ends it at the real deadline
        // (3 s: the answered invocation's curl calls also run in real time, and with 1 s this test failed once while builds
        // loaded the machine). As in
        // Lambda, that invocation times out (outcome timeout, lasting the function's timeout, not an error of no
        // duration), and the environment is replaced: the next invocation pays the init time again (docs/emulator.md).
        if (OperatingSystem.IsWindows())
        {
            return; // bash and curl
        }

        const string Bootstrap = """
            api="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
            while true; do
              id=$(curl -sS -D - -o /tmp/replay-timeout-body-$$ "$api/invocation/next" | grep -i '^Lambda-Runtime-Aws-Request-Id:' | cut -d' ' -f2 | tr -d '\r')
              if grep -q aGFuZw /tmp/replay-timeout-body-$$; then sleep 30; fi # "hang" in base64
              curl -sS -X POST -d '{}' "$api/invocation/$id/response" >/dev/null
            done
            """;
        string file = Path.GetTempFileName();
        string output = Temp();
        try
        {
            File.WriteAllText(file, $$$"""
                {"durationSeconds":5,"records":[{"partitionKey":"k","text":"hang","atMs":0},{"partitionKey":"k","text":"ok","atMs":0}],
                 "mapping":{"BatchSize":1,"MaximumRetryAttempts":0,"DestinationConfig":{"OnFailure":{"Destination":"sqs"} } },"function":{"initMs":200,"timeoutSeconds":3},
                 "handler":{"kind":"process","command":["/bin/bash","-c",{{{JsonSerializer.Serialize(Bootstrap)}}}]}}
                """);
            (int exit, string stdout, string error) = Replay("--scenario", file, "--out", output, "--no-chart");
            Assert.True(exit == 0, error + stdout);
            JsonElement[] invocations = [.. File.ReadAllLines(Path.Combine(output, "invocations.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)];
            Assert.Equal(2, invocations.Length);
            (string, long, int, bool) Seen(JsonElement i) =>
                (i.GetProperty("outcome").GetString()!, i.GetProperty("endMs").GetInt64() - i.GetProperty("startMs").GetInt64(),
                 i.GetProperty("environment").GetInt32(), i.GetProperty("coldStart").GetBoolean());
            Assert.Equal(("timeout", 3200L, 1, true), Seen(invocations[0])); // init 200 ms, then the 3 s timeout
            Assert.Equal(("success", 201L, 2, true), Seen(invocations[1])); // a new environment: init again, then 1 ms
            Assert.Single(File.ReadAllLines(Path.Combine(output, "destination.jsonl")));
            Assert.Contains("\"functionError\":\"Unhandled\"", File.ReadAllText(Path.Combine(output, "destination.jsonl")), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
            Directory.Delete(output, recursive: true);
        }
    }

    [Fact]
    public void AMappingWithoutReportBatchItemFailures_WhoseFunctionReportsFailures_IsCalledOutInTheSummary()
    {
        // The careless operator's mapping: the sample function reports what its table could not take (DynamoDB answers
        // after 1.5 s, past its budget), but without ReportBatchItemFailures Lambda ignores the list and checkpoints:
        // the records are lost, and the summary says why instead of showing a clean run.
        string file = Path.GetTempFileName();
        string output = Temp();
        try
        {
            foreach (bool report in (bool[])[false, true])
            {
                string mapping = report ? "\"mapping\":{\"FunctionResponseTypes\":[\"ReportBatchItemFailures\"]}," : string.Empty;
                File.WriteAllText(file, "{\"durationSeconds\":5," + mapping + "\"producers\":[{\"ratePerSecond\":5}],\"handler\":{\"kind\":\"sample\"},"
                    + "\"downstream\":{\"dynamodb\":{\"latencyMs\":{\"p50\":1500,\"p99\":1500}}}}");
                (int exit, string stdout, string error) = Replay("--scenario", file, "--out", output, "--no-chart");
                Assert.True(exit == 0, error);
                if (report)
                {
                    Assert.DoesNotContain("WARNING", stdout, StringComparison.Ordinal);
                    Assert.Contains("  lost (checked against the truth)          0", stdout, StringComparison.Ordinal);
                }
                else
                {
                    Assert.Matches(@"WARNING: failures ignored +[1-9]\d* invocation\(s\) reported batchItemFailures, but the mapping lacks FunctionResponseTypes", stdout);
                    Assert.Matches(@"  lost \(checked against the truth\) +[1-9]", stdout);
                }
            }
        }
        finally
        {
            File.Delete(file);
            Directory.Delete(output, recursive: true);
        }
    }

    [Fact]
    public void MissingArguments_Exit2()
    {
        (int exit, _, string error) = Replay("--out", Temp());
        Assert.Equal(2, exit);
        Assert.Contains("--scenario", error);
    }

    [Fact]
    public void RetryStormScenario_WritesEveryOutput_AndTheChart()
    {
        string output = Temp();
        try
        {
            (int exit, string stdout, _) = Replay("--scenario", Path.Combine(Root(), "samples/scenarios/retry-storm.json"), "--out", output);
            Assert.Equal(0, exit);
            foreach (string name in (string[])["invocations.jsonl", "destination.jsonl", "metrics.csv", "records.jsonl", "iterator-age.png"])
            {
                Assert.True(new FileInfo(Path.Combine(output, name)).Length > 0, name);
            }

            byte[] png = File.ReadAllBytes(Path.Combine(output, "iterator-age.png"));
            Assert.Equal((byte[])[0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
            Assert.Contains("records to on-failure destination    1", stdout);

            // The poison record blocks its shard: the iterator age there climbs past a minute, the other shard stays young.
            string[] rows = File.ReadAllLines(Path.Combine(output, "metrics.csv"))[1..];
            long Oldest(string shard) => rows.Where(r => r.Contains(shard)).Max(r => long.Parse(r.Split(',')[3]));
            string poisonShard = JsonDocument.Parse(File.ReadAllLines(Path.Combine(output, "destination.jsonl"))[0]).RootElement.GetProperty("KinesisBatchInfo").GetProperty("shardId").GetString()!;
            Assert.True(Oldest(poisonShard) > 60_000);
            string other = poisonShard.EndsWith('0') ? "shardId-000000000001" : "shardId-000000000000";
            Assert.True(Oldest(other) < 5_000);
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    [Fact]
    public void Compare_OneScenarioAtATime_GivesTheSameTableAndFiles_AsAllAtOnce()
    {
        string oneAtATime = Temp();
        string allAtOnce = Temp();
        try
        {
            string[] scenarios = ["incident-before", "incident-after"];
            string[] common = [.. scenarios.SelectMany(s => (string[])["--scenario", Path.Combine(Root(), $"samples/scenarios/{s}.json")]), "--duration", "20", "--shards", "1"];
            (int exit, string stdout, string error) = Replay(["compare", .. common, "--out", oneAtATime, "--jobs", "1"]);
            Assert.True(exit == 0, error);
            Assert.Equal(0, Replay(["compare", .. common, "--out", allAtOnce, "--jobs", "2"]).Exit);
            Assert.Equal(File.ReadAllText(Path.Combine(allAtOnce, "comparison.md")), File.ReadAllText(Path.Combine(oneAtATime, "comparison.md")));
            Assert.Contains("| incident-before |", stdout, StringComparison.Ordinal);

            // incident-before has no on-failure destination, incident-after has one: the given-up cell says which.
            string Cell(string scenario, string column)
            {
                string[] lines = File.ReadAllLines(Path.Combine(oneAtATime, "comparison.md"));
                string[] header = lines[0].Split('|').Select(c => c.Trim()).ToArray();
                string[] row = lines.Single(l => l.StartsWith("| " + scenario + " |", StringComparison.Ordinal)).Split('|').Select(c => c.Trim()).ToArray();
                return row[Array.IndexOf(header, column)];
            }

            Assert.Equal("0 (no destination: dropped)", Cell("incident-before", "records given up (on-failure destination)"));
            Assert.Equal("0", Cell("incident-after", "records given up (on-failure destination)"));
            foreach (string scenario in scenarios)
            {
                foreach (string name in (string[])["invocations.jsonl", "metrics.csv", "quarantine.jsonl"])
                {
                    Assert.True(File.ReadAllBytes(Path.Combine(oneAtATime, scenario, name)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(allAtOnce, scenario, name))), $"{scenario}/{name}");
                }
            }
        }
        finally
        {
            Directory.Delete(oneAtATime, recursive: true);
            Directory.Delete(allAtOnce, recursive: true);
        }
    }

    [Fact]
    public void Compare_NoJobs_IsRefused()
    {
        (int exit, _, string error) = Replay("compare", "--scenario", Path.Combine(Root(), "samples/scenarios/incident-before.json"), "--out", Temp(), "--jobs", "0");
        Assert.NotEqual(0, exit);
        Assert.Contains("--jobs must be 1 or more", error, StringComparison.Ordinal);
    }

    [Fact]
    public void AnOutputPathThatCannotBeWritten_IsRefusedBeforeTheRun_WithExit2()
    {
        string file = Temp();
        File.WriteAllText(file, "not a directory");
        try
        {
            foreach (string[] args in (string[][])[
                ["--scenario", Path.Combine(Root(), "samples/scenarios/retry-storm.json"), "--out", file],
                ["compare", "--scenario", Path.Combine(Root(), "samples/scenarios/incident-after.json"), "--out", file]])
            {
                (int exit, string stdout, string error) = Replay(args);
                Assert.Equal(2, exit);
                Assert.Equal($"error: --out {file}: cannot write there: it is a file, not a directory; --out names the directory the run writes its files into (made when missing).", error.TrimEnd('\n'));
                Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
                Assert.Equal(string.Empty, stdout);
            }
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void ADirectoryAnotherReplayIsWriting_IsRefusedWithExit2_AndFreeAgainAfterIt()
    {
        // Two careless runs into one directory would interleave their files and both exit 0. The first holds
        // .replay-lock open exclusively while it runs (held here as that first run would).
        string output = Temp();
        string scenario = Path.Combine(Root(), "samples/scenarios/retry-storm.json");
        try
        {
            Directory.CreateDirectory(output);
            using (new FileStream(Path.Combine(output, ".replay-lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
            {
                foreach (string[] args in (string[][])[
                    ["--scenario", scenario, "--out", output, "--no-chart"],
                    ["compare", "--scenario", Path.Combine(Root(), "samples/scenarios/incident-after.json"), "--out", output]])
                {
                    (int exit, string stdout, string error) = Replay(args);
                    Assert.Equal(2, exit);
                    Assert.StartsWith($"error: --out {output}: cannot write there: ", error, StringComparison.Ordinal);
                    Assert.Contains(".replay-lock", error, StringComparison.Ordinal);
                    Assert.Equal(string.Empty, stdout);
                }

                Assert.Equal([".replay-lock"], Directory.GetFiles(output).Select(Path.GetFileName));
            }

            (int after, _, string afterError) = Replay("--scenario", scenario, "--out", output, "--no-chart");
            Assert.True(after == 0, afterError);
            Assert.False(File.Exists(Path.Combine(output, ".replay-lock")), "the lock goes with the run");
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    [Fact]
    public void ARunIntoAnEarlierRunsDirectory_LeavesNoFileOfThatRun()
    {
        // A careless rerun into the same directory: a scripted run, without records or chart, after a sample-handler run.
        // Every file in the directory must then be this run's: no chart, table or records of the other scenario.
        string output = Temp();
        try
        {
            Assert.Equal(0, Replay("--scenario", Path.Combine(Root(), "samples/scenarios/sample-metrics.json"), "--out", output).Exit);
            string[] before = [.. Directory.GetFiles(output).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];
            Assert.Equal(["aggregates.jsonl", "destination.jsonl", "invocations.jsonl", "iterator-age.png", "metrics.csv", "quarantine.jsonl", "records.jsonl", "spill.jsonl"], before);

            (int exit, _, string error) = Replay("--scenario", Path.Combine(Root(), "samples/scenarios/retry-storm.json"), "--out", output, "--no-chart", "--no-records");
            Assert.True(exit == 0, error);
            string[] after = [.. Directory.GetFiles(output).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];
            Assert.Equal(["destination.jsonl", "invocations.jsonl", "metrics.csv"], after);
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    [Fact]
    public void SampleHandlerScenario_IsByteReproducible_AndQuarantinesThePoison()
    {
        string first = Temp();
        string second = Temp();
        try
        {
            string scenario = Path.Combine(Root(), "samples/scenarios/sample-metrics.json");
            Assert.Equal(0, Replay("--scenario", scenario, "--out", first, "--no-chart").Exit);
            Assert.Equal(0, Replay("--scenario", scenario, "--out", second, "--no-chart").Exit);
            foreach (string name in (string[])["invocations.jsonl", "destination.jsonl", "metrics.csv", "records.jsonl", "aggregates.jsonl", "quarantine.jsonl"])
            {
                Assert.True(File.ReadAllBytes(Path.Combine(first, name)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(second, name))), name);
            }

            // Every "not json" record produced is quarantined exactly once, with its sequence number.
            string[] records = File.ReadAllLines(Path.Combine(first, "records.jsonl"));
            string[] poison = records.Select(l => JsonDocument.Parse(l).RootElement)
                .Where(r => Encoding.UTF8.GetString(r.GetProperty("data").GetBytesFromBase64()) == "not json")
                .Select(r => r.GetProperty("sequenceNumber").GetString()!).Order().ToArray();
            string[] quarantined = File.ReadAllLines(Path.Combine(first, "quarantine.jsonl"))
                .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("sequenceNumber").GetString()!).Order().ToArray();
            Assert.NotEmpty(poison);
            Assert.Equal(poison, quarantined);
            Assert.NotEmpty(File.ReadAllLines(Path.Combine(first, "aggregates.jsonl")));
        }
        finally
        {
            Directory.Delete(first, recursive: true);
            Directory.Delete(second, recursive: true);
        }
    }

    [Fact]
    public void SampleHandler_ThrottledSlowAndFailingDownstream_IsByteReproducible_AndStoresEachPoisonOnce()
    {
        const string Scenario = """
            {
              "seed": 11, "startTime": "2025-01-20T10:00:00Z", "durationSeconds": 60, "stream": { "shards": 2 },
              "producers": [ { "ratePerSecond": 40, "partitionKeys": 6, "generator": { "kind": "metric", "metrics": 2, "poisonFraction": 0.02, "poison": "not json" } } ],
              "mapping": { "BatchSize": 40, "FunctionResponseTypes": ["ReportBatchItemFailures"], "ParallelizationFactor": 2 },
              "function": { "timeoutSeconds": 10, "computeMsPerInvocation": 5 },
              "handler": { "kind": "sample" },
              "downstream": {
                "dynamodb": { "latencyMs": { "p50": 8, "p99": 40 }, "throttleFraction": 0.3, "outages": [ { "fromSecond": 20, "toSecond": 25 } ] },
                "s3": { "latencyMs": { "p50": 20, "p99": 90 }, "throttleFraction": 0.3, "outages": [ { "fromSecond": 30, "toSecond": 36, "unanswered": true } ] }
              }
            }
            """;
        string file = Path.GetTempFileName();
        string first = Temp();
        string second = Temp();
        try
        {
            File.WriteAllText(file, Scenario);
            (int exit, string stdout, string error) = Replay("--scenario", file, "--out", first, "--no-chart");
            Assert.True(exit == 0, error);
            Assert.Equal(0, Replay("--scenario", file, "--out", second, "--no-chart").Exit);
            foreach (string name in (string[])["invocations.jsonl", "destination.jsonl", "metrics.csv", "records.jsonl", "aggregates.jsonl", "quarantine.jsonl"])
            {
                Assert.True(File.ReadAllBytes(Path.Combine(first, name)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(second, name))), name);
            }

            // The faults happened: both models throttled, DynamoDB failed in its outage, S3 left requests unanswered in
            // its own, and the summary says so.
            Assert.DoesNotContain("not modeled", stdout);
            Assert.True(Counted(stdout, "DynamoDB model requests", "throttled") > 0, stdout);
            Assert.True(Counted(stdout, "DynamoDB model requests", "in outages") > 0, stdout);
            Assert.True(Counted(stdout, "S3 model requests", "throttled") > 0, stdout);
            Assert.True(Counted(stdout, "S3 model requests", "in outages") > 0, stdout);

            // Each quarantined object is a produced poison record, stored once whatever the retries.
            HashSet<string> poison = File.ReadAllLines(Path.Combine(first, "records.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)
                .Where(r => Encoding.UTF8.GetString(r.GetProperty("data").GetBytesFromBase64()) == "not json")
                .Select(r => r.GetProperty("sequenceNumber").GetString()!).ToHashSet();
            string[] quarantined = File.ReadAllLines(Path.Combine(first, "quarantine.jsonl"))
                .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("sequenceNumber").GetString()!).ToArray();
            Assert.NotEmpty(quarantined);
            Assert.Equal(quarantined.Length, quarantined.Distinct().Count());
            Assert.All(quarantined, q => Assert.Contains(q, poison));
            Assert.NotEmpty(File.ReadAllLines(Path.Combine(first, "aggregates.jsonl")));
        }
        finally
        {
            File.Delete(file);
            Directory.Delete(first, recursive: true);
            Directory.Delete(second, recursive: true);
        }
    }

    /// <summary>The number before <paramref name="what"/> in the summary row <paramref name="row"/>.</summary>
    private static long Counted(string stdout, string row, string what)
    {
        string line = stdout.Split('\n').Single(l => l.StartsWith(row, StringComparison.Ordinal));
        System.Text.RegularExpressions.Match m = System.Text.RegularExpressions.Regex.Match(line, @"([\d,]+) " + what);
        Assert.True(m.Success, line);
        return long.Parse(m.Groups[1].Value.Replace(",", string.Empty, StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public void ProcessHandler_RunsTheCommandThroughTheRuntimeApiHost_InRealTime()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        // A custom runtime in bash and curl: an event holding the record "raise" (base64 cmFpc2U=) fails, others succeed.
        const string Runtime = """
            #!/usr/bin/env bash
            set -u
            api="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
            work=$(mktemp -d)
            # The scenario's environment is the function's configuration; replay's own is not passed.
            [ "${GREETING:-}" = "hello" ] || exit 8
            [ -z "${TESTS_REPLAY_ENV_PROBE:-}" ] || exit 9
            while true; do
              curl -sS -D "$work/h" -o "$work/b" "$api/invocation/next" || exit 7
              id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$work/h" | head -1 | cut -d' ' -f2- | tr -d '\r')
              case "$(cat "$work/b")" in
                *cmFpc2U=*) curl -sS -X POST -d '{"errorMessage":"boom","errorType":"Failure","stackTrace":[]}' "$api/invocation/$id/error" >/dev/null ;;
                *) curl -sS -X POST -d '{"batchItemFailures":[]}' "$api/invocation/$id/response" >/dev/null ;;
              esac
            done
            """;
        string directory = Directory.CreateTempSubdirectory("replay-process-").FullName;
        string output = Temp();
        try
        {
            string bootstrap = Path.Combine(directory, "bootstrap");
            File.WriteAllText(bootstrap, Runtime.Replace("\r\n", "\n", StringComparison.Ordinal));
            File.SetUnixFileMode(bootstrap, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            string scenario = Path.Combine(directory, "scenario.json");
            File.WriteAllText(scenario, $$"""
                {
                  "seed": 5, "startTime": "2025-01-20T10:00:00Z", "durationSeconds": 5, "stream": { "shards": 1 },
                  "records": [
                    { "partitionKey": "a", "text": "ok-1", "atMs": 0 },
                    { "partitionKey": "b", "text": "raise", "atMs": 1000 },
                    { "partitionKey": "c", "text": "ok-2", "atMs": 2000 }
                  ],
                  "mapping": { "BatchSize": 1, "MaximumRetryAttempts": 0, "DestinationConfig": { "OnFailure": { "Destination": "sqs" } } },
                  "function": { "timeoutSeconds": 10 },
                  "handler": { "kind": "process", "command": [{{JsonSerializer.Serialize(bootstrap)}}], "environment": { "GREETING": "hello" } }
                }
                """);

            Environment.SetEnvironmentVariable("TESTS_REPLAY_ENV_PROBE", "from-replay");
            (int exit, string stdout, string error) = Replay("--scenario", scenario, "--out", output, "--no-chart");
            Environment.SetEnvironmentVariable("TESTS_REPLAY_ENV_PROBE", null);
            Assert.True(exit == 0, error + stdout);
            Assert.Contains("REAL for the process", stdout);
            Assert.Contains("NO: the process runs in real time", stdout);

            JsonElement[] invocations = File.ReadAllLines(Path.Combine(output, "invocations.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
            Assert.Equal(["success", "error", "success"], invocations.Select(i => i.GetProperty("outcome").GetString()));
            Assert.Equal(["a", "b", "c"], invocations.Select(i => i.GetProperty("records")[0].GetProperty("partitionKey").GetString()));
            string raised = File.ReadAllLines(Path.Combine(output, "records.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)
                .Single(r => r.GetProperty("partitionKey").GetString() == "b").GetProperty("sequenceNumber").GetString()!;
            string destination = Assert.Single(File.ReadAllLines(Path.Combine(output, "destination.jsonl")));
            Assert.Contains(raised, destination);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
            if (Directory.Exists(output))
            {
                Directory.Delete(output, recursive: true);
            }
        }
    }
}
