using System.Buffers;
using System.Text;
using System.Text.Json;
using Analytics.Core.Tests.Pipeline;
using Xunit.Abstractions;

namespace Analytics.Core.Tests.Observability;

/// <summary>
/// Found by a review of payload leaks and invisible errors (2026-12-07). Every text that leaves the library is grepped for a secret planted in
/// a record's data, partition key, metric name, dimension value and field values; every sink or callback failure must be
/// visible in the invocation's log line and its metrics.
/// </summary>
public sealed class PayloadAndVisibilityTests(ITestOutputHelper output)
{
    internal const string Secret = "SECRET";

    internal static TestRecord Valid(int n, string metric, string pk, params (string, string)[] dims) =>
        new(TestEvents.Seq(n), TestEvents.Utf8(TestEvents.Sample(metric, n, TestEvents.Arrival - 1000, dims)), TestEvents.Arrival, pk);

    internal static TestRecord Raw(int n, byte[] data, string pk = "SECRET-PK-123") => new(TestEvents.Seq(n), data, TestEvents.Arrival, pk);

    internal static TestRecord Raw(int n, string data, string pk = "SECRET-PK-123") => Raw(n, TestEvents.Utf8(data), pk);

    /// <summary>Records whose data, keys and field values hold the secret, valid and poison of every kind the brief names.</summary>
    internal static List<TestRecord> HostileRecords()
    {
        int n = 0;
        var records = new List<TestRecord>
        {
            Valid(++n, "SECRET-METRIC-1", "SECRET-PK-123", ("user", "SECRET-DIM-1")),
            Valid(++n, "m", "SECRET-PK-\u0001\u001b[31m", ("SECRET-DIMKEY", "v")),
            Raw(++n, "{\"metric\":\"SECRET-J-1\","),                                               // truncated JSON
            Raw(++n, "{\"metric\":\"SECRET-J-2\" \"value\":1}"),                                   // missing comma
            Raw(++n, "{\"metric\":\"SECRET-J-3\",\"value\":\"SECRET-V\",\"timestamp\":1737367199000}"), // value not a number
            Raw(++n, "{\"metric\":\"m\",\"value\":1,\"timestamp\":\"SECRET-T\"}"),                   // timestamp not a date
            Raw(++n, "{\"metric\":\"m\",\"value\":1,\"timestamp\":1737367199000,\"dimensions\":{\"u\":42}}"),
            Raw(++n, "{\"metric\":\"" + string.Concat(Enumerable.Repeat("SECRET", 60)) + "\",\"value\":1,\"timestamp\":1737367199000}"),
            Raw(++n, "{\"metric\":\"m\",\"value\":1,\"timestamp\":1737367199000,\"dimensions\":{\"u\":\"" + string.Concat(Enumerable.Repeat("SECRET", 200)) + "\"}}"),
            Raw(++n, "{\"metric\":\"SECRET\u0000\u0007\",\"value\":1e999,\"timestamp\":1737367199000}"),
            Raw(++n, [.. "{\"metric\":\"SECRET-"u8.ToArray(), 0xC3, 0x28, 0xFF, .. "\",\"value\":1,\"timestamp\":1737367199000}"u8.ToArray()]), // invalid UTF-8
            Raw(++n, "{\"SECRET-FIELD\":1}"),
            Raw(++n, "SECRET-NOT-JSON"),
            Raw(++n, "{\"metric\":\"m\",\"value\":1,\"timestamp\":1737367199000}\n{\"metric\":\"SECRET-ND\",\"value\":\"x\"}"),
            Raw(++n, "{\"metric\":\"m\",\"value\":1,\"timestamp\":1737367199000,\"metric\":\"SECRET-TWICE\"}"),
            Raw(++n, "{\"metric\":\"m\\uD800SECRET\",\"value\":1,\"timestamp\":1737367199000}"),   // lone surrogate escape
            Raw(++n, "{\"metric\":\"m\",\"value\":1,\"timestamp\":\"2025-01-20T09:59:59SECRET\"}"),
            new(TestEvents.Seq(++n), [], TestEvents.Arrival, "SECRET-PK-123", RawBase64: "SECRET!!notbase64"),
        };

        // KPL: a broken checksum around a secret; a valid container with a poison user record and a secret key table.
        byte[] kplGood = TestEvents.Utf8(TestEvents.Sample("SECRET-KPL-M", 1, TestEvents.Arrival - 1000, ("u", "SECRET-KPL-D")));
        byte[] kplBad = TestEvents.Utf8("{\"metric\":\"SECRET-KPL-BAD\",");
        byte[] container = KplTestEncoder.Aggregate(
        [
            new KplTestUserRecord("SECRET-KPL-PK-1", null, kplGood, []),
            new KplTestUserRecord("SECRET-KPL-PK-2", "SECRET", kplBad, [new KplTestTag("SECRET-TAG", "SECRET-TAGV")]),
        ]);
        records.Add(Raw(++n, container));
        byte[] broken = (byte[])container.Clone();
        broken[^1] ^= 0xFF;
        records.Add(Raw(++n, broken));
        byte[] truncated = container[..(container.Length / 2)];
        records.Add(Raw(++n, KplTestEncoder.Wrap(truncated.AsSpan(4))));
        return records;
    }

    internal static void AssertNoSecret(string what, string text)
    {
        int at = text.IndexOf(Secret, StringComparison.OrdinalIgnoreCase);
        Assert.True(at < 0, $"{what} holds the secret: ...{text.Substring(Math.Max(0, at - 120), Math.Min(text.Length - Math.Max(0, at - 120), 260))}...");
    }

    /// <summary>Throws with the record's data in its message, from every callback the library takes.</summary>
    private sealed class QuotingException(string message) : InvalidOperationException(message);

    /// <summary>
    /// Coverage probe: hostile records through <see cref="KinesisFunction"/> (invocation, stage, poison and EMF lines), with a
    /// user OnPoison that throws the record's data: no secret in the output, the response or the summary's texts.
    /// </summary>
    [Fact]
    public async Task HostileRecords_ThroughKinesisFunction_NoSecretInLinesResponseOrSummary()
    {
        var outputStream = new MemoryStream();
        var aggregates = new RecordingAggregateSink();
        var quarantine = new RecordingQuarantineSink();
        using var function = new KinesisFunction(aggregates, quarantine, KinesisFunctionOptions.Default with
        {
            Output = outputStream,
            Log = JsonLogOptions.Default with { MinimumLevel = JsonLogLevel.Debug },
            Processor = ProcessorOptions.Default with
            {
                OnPoison = r => throw new QuotingException("cannot log " + r.PartitionKey + " " + Encoding.UTF8.GetString(Convert.FromBase64String(r.Data))),
            },
        });
        byte[] evt = TestEvents.Build(HostileRecords());

        Stream response = await function.HandleAsync(new MemoryStream(evt), TimeSpan.FromSeconds(30));

        string lines = Encoding.UTF8.GetString(outputStream.ToArray());
        string answer = new StreamReader(response).ReadToEnd();
        output.WriteLine(lines);
        Assert.True(quarantine.Records.Count >= 15, $"{quarantine.Records.Count} quarantined");
        Assert.Contains(quarantine.Records, r => r.PartitionKey == "SECRET-PK-123"); // the quarantine keeps it, as it must
        AssertNoSecret("the log and metric lines", lines);
        AssertNoSecret("the response", answer);
        BatchSummary s = function.LastSummary!;
        foreach (string? text in new[] { s.AggregateSinkError, s.QuarantineSinkError, s.SpillError, s.AggregateSinkIssue, s.PoisonCallbackError, s.ShardId, s.EventSourceArn })
        {
            AssertNoSecret("a summary text", text ?? string.Empty);
        }
    }

    /// <summary>
    /// Coverage probe: an event broken at every byte (truncated there, or that byte replaced by a quote, a backslash, a
    /// control character, an invalid UTF-8 byte): whatever the processor throws names no part of the secret.
    /// </summary>
    [Fact]
    public async Task MalformedEnvelopes_AtEveryByte_TheErrorQuotesNoFragment()
    {
        byte[] evt = TestEvents.Build([Valid(1, "SECRET-METRIC", "SECRET-PK-123", ("u", "SECRET-D"))]);
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default);
        var fragments = new[] { "SECRET", "ECRET", "SECR", "CRET", "PK-1", "K-12" };
        int thrown = 0;
        for (int i = 0; i < evt.Length; i++)
        {
            foreach (byte[] broken in new[]
            {
                evt[..i],
                Replace(evt, i, (byte)'"'),
                Replace(evt, i, (byte)'\\'),
                Replace(evt, i, 0x01),
                Replace(evt, i, 0xC3),
                Replace(evt, i, (byte)'}'),
            })
            {
                try
                {
                    await processor.ProcessAsync(broken, DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
                }
                catch (Exception e)
                {
                    thrown++;
                    string text = e.GetType().FullName + ": " + e.Message + " " + e.InnerException?.Message;
                    foreach (string f in fragments)
                    {
                        Assert.False(text.Contains(f, StringComparison.Ordinal), $"break at byte {i}: {text}");
                    }
                }
            }
        }

        output.WriteLine($"{thrown} malformed events refused");
        Assert.True(thrown > evt.Length);
    }

    private static byte[] Replace(byte[] evt, int i, byte b)
    {
        byte[] copy = (byte[])evt.Clone();
        copy[i] = b;
        return copy;
    }

    /// <summary>
    /// A quarantine sink that returns with time left having stored 2 of 5 poison records (a custom sink's bug, or a sink
    /// that swallows its own errors). Found by review: the line said <c>Completed</c>, no error, no issue, while the
    /// shard stopped at the third record on every re-delivery. It is a failure now, in the library's words, at Error,
    /// and counted in the EMF line's <c>SinkErrors</c>.
    /// </summary>
    [Fact]
    public async Task AQuarantineSinkThatStoresFewerWithTimeLeft_IsAFailureWithAReason()
    {
        var quarantine = new RecordingQuarantineSink { DurableCount = 2 };
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), quarantine, ProcessorOptions.Default);
        var records = Enumerable.Range(1, 5).Select(i => Raw(i, "not json " + i)).ToList();
        var lines = new ArrayBufferWriter<byte>();

        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build(records), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
        JsonLog.WriteInvocation(summary, JsonLogOptions.Default, lines);
        EmfMetrics.Write(summary, EmfOptions.Default, lines);
        string text = Encoding.UTF8.GetString(lines.WrittenSpan);
        output.WriteLine(text);

        Assert.Equal(2, summary.Quarantined);
        Assert.NotNull(summary.ReportedFailure);
        using JsonDocument line = JsonDocument.Parse(text.Split('\n')[0]);
        string outcome = line.RootElement.GetProperty("quarantineSink").GetString()!;
        Assert.Equal("Failed", outcome);
        Assert.Equal("The quarantine sink returned with 2 of 5 poison records stored, with time left, and gave no error.", line.RootElement.GetProperty("quarantineSinkError").GetString());
        Assert.Equal("Error", line.RootElement.GetProperty("level").GetString());
        using JsonDocument emf = JsonDocument.Parse(text.Split('\n').Single(l => l.StartsWith("{\"_aws\"", StringComparison.Ordinal)));
        Assert.Equal(1, emf.RootElement.GetProperty("SinkErrors").GetInt32());
    }

    /// <summary>The same sink storing all 5: Completed, no error, at Warn at most, and no <c>SinkErrors</c> metric at all.</summary>
    [Fact]
    public async Task AQuarantineSinkThatStoresAll_IsCompleted_AndPublishesNoErrorMetric()
    {
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default);
        var records = Enumerable.Range(1, 5).Select(i => Raw(i, "not json " + i)).ToList();
        var lines = new ArrayBufferWriter<byte>();

        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build(records), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
        JsonLog.WriteInvocation(summary, JsonLogOptions.Default, lines);
        EmfMetrics.Write(summary, EmfOptions.Default, lines);
        string[] lines2 = Encoding.UTF8.GetString(lines.WrittenSpan).Split('\n');
        string[] text = [lines2[0], lines2.Single(l => l.StartsWith("{\"_aws\"", StringComparison.Ordinal))];

        Assert.Equal(SinkOutcome.Completed, summary.QuarantineSinkOutcome);
        Assert.Null(summary.QuarantineSinkError);
        using JsonDocument line = JsonDocument.Parse(text[0]);
        Assert.NotEqual("Error", line.RootElement.GetProperty("level").GetString());
        Assert.DoesNotContain("SinkErrors", text[1], StringComparison.Ordinal);
        Assert.DoesNotContain("PoisonCallbackErrors", text[1], StringComparison.Ordinal);
    }

    /// <summary>
    /// A sink failure that leaves nothing to re-deliver (the DynamoDB sink's spill bucket that cannot be read, thrown once
    /// every pair is durable, as docs/observability.md's last table row says; here a sink that marks every pair and then
    /// throws the same way) and a poison callback that throws. Found by review: the log line was at Error, but the EMF
    /// line, the only metrics the library writes, was what a healthy invocation writes, so no metric alarm could fire.
    /// Both are counted now, and only they: the EMF line's metrics are the healthy ones plus <c>SinkErrors</c> 1 and
    /// <c>PoisonCallbackErrors</c> 1, each declared in the directive and present as a value.
    /// </summary>
    [Fact]
    public async Task ASinkFailureWithNothingToRedeliver_ShowsInTheMetrics()
    {
        var aggregates = new RecordingAggregateSink { Throw = new IOException("The shard's spill marker could not be read there, so no spill can be written") };
        using var processor = new KinesisBatchProcessor(aggregates, new RecordingQuarantineSink(), ProcessorOptions.Default with
        {
            OnPoison = _ => throw new FormatException("callback broke"),
        });
        var records = new List<TestRecord> { Valid(1, "m", "pk"), Raw(2, "not json") };
        var lines = new ArrayBufferWriter<byte>();

        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build(records), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
        EmfMetrics.Write(summary, EmfOptions.Default, lines);
        string emf = Encoding.UTF8.GetString(lines.WrittenSpan);
        output.WriteLine(emf);

        Assert.Equal(SinkOutcome.Failed, summary.AggregateSinkOutcome);
        Assert.Equal(1, summary.PoisonCallbackErrors);
        Assert.Null(summary.ReportedFailure);
        using JsonDocument doc = JsonDocument.Parse(emf);
        var metrics = doc.RootElement.GetProperty("_aws").GetProperty("CloudWatchMetrics")[0].GetProperty("Metrics").EnumerateArray()
            .Select(m => m.GetProperty("Name").GetString()!).ToList();
        Assert.Equal(1, doc.RootElement.GetProperty("SinkErrors").GetInt32());
        Assert.Equal(1, doc.RootElement.GetProperty("PoisonCallbackErrors").GetInt32());
        Assert.Equal(17, metrics.Count);
        Assert.Equal(["SinkErrors", "PoisonCallbackErrors"], metrics.Skip(15));
        Assert.All(metrics, m => Assert.True(doc.RootElement.TryGetProperty(m, out _), m));
    }

    /// <summary>
    /// The DynamoDB sink stopped by the deadline after every attempt failed (an endpoint that black-holes every request:
    /// a region typo on a slow network, a VPC with no route to DynamoDB) throws a cancellation whose inner exception is
    /// the last attempt's error, and the line keeps it as <c>aggregateSinkError</c>. Found by review: the line was at
    /// Warn, so the documented alarm on Error lines missed a misconfiguration that fails every invocation the same way
    /// (the same endpoint refusing at once gave Error). It stays <c>TimedOut</c> (it did run out of time), at Error,
    /// counted in <c>SinkErrors</c>.
    /// </summary>
    [Fact]
    public async Task ASinkThatRanOutOfTimeAfterEveryAttemptFailed_IsAnErrorLine()
    {
        var clock = new ManualTimeProvider(DateTimeOffset.Parse("2025-01-20T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var sink = new FailsUntilCancelledSink { Inner = new HttpRequestException("Connection refused (dynamodb.us-esat-1.amazonaws.com:443)") };
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = clock });

        Task<BatchSummary> run = processor.ProcessAsync(TestEvents.Build([Valid(1, "m", "pk")]), clock.GetUtcNow() + TimeSpan.FromSeconds(100), new ArrayBufferWriter<byte>());
        clock.Advance(TimeSpan.FromSeconds(90));
        BatchSummary summary = await run.WaitAsync(TimeSpan.FromSeconds(10));
        var lines = new ArrayBufferWriter<byte>();
        JsonLog.WriteInvocation(summary, JsonLogOptions.Default, lines);
        string invocation = Encoding.UTF8.GetString(lines.WrittenSpan).Split('\n')[0];
        output.WriteLine(invocation);

        Assert.Equal("System.Net.Http.HttpRequestException: Connection refused (dynamodb.us-esat-1.amazonaws.com:443)", summary.AggregateSinkError);
        using JsonDocument line = JsonDocument.Parse(invocation);
        Assert.Equal("Error", line.RootElement.GetProperty("level").GetString());
        Assert.Equal("TimedOut", line.RootElement.GetProperty("aggregateSink").GetString());
        Assert.Equal(1, summary.FailedSinks);
    }

    /// <summary>Fails every attempt until its time is up, then throws the cancellation with the last attempt's error, as the AWS sinks do.</summary>
    private sealed class FailsUntilCancelledSink : IAggregateSink
    {
        public required Exception Inner { get; init; }

        public async Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            try
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                throw new OperationCanceledException("stopped after failed attempts", Inner, cancellationToken);
            }
        }
    }

    /// <summary>
    /// Probe: the tumbling-window state the function returns to Lambda. It must hold the window's aggregates (their series
    /// come from the payload, by design); does it also carry the records' partition keys, which nothing in a window flush
    /// needs (the flush keeps the shard's floor, <c>wm</c>)?
    /// </summary>
    [Fact]
    public async Task WindowState_InTheResponse_CarriesNoPartitionKey()
    {
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default);
        var records = new List<TestRecord> { Valid(1, "m", "SECRET-PK-123", ("host", "a")), Valid(2, "m", "SECRET-PK-456", ("host", "a")) };
        JsonElement answer = await TestEvents.RunAsync(processor, TestEvents.BuildWindow(records, "{}"));
        output.WriteLine(answer.GetRawText());
        string decoded = string.Join("\n", answer.GetProperty("state").EnumerateObject().Select(p => Encoding.Latin1.GetString(Convert.FromBase64String(p.Value.GetString()!))));
        AssertNoSecret("the window state returned to Lambda (decoded)", decoded);
        AssertNoSecret("the response", answer.GetRawText());
    }
}

/// <summary>The sample's <c>invoke</c> with the AWS sinks against dynalite and s3rver, hostile records, sinks that fail.</summary>
[Collection(LocalServersCollection.Name)]
public sealed class SampleInvokeLeakTests(LocalServersFixture servers, ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("leak-invoke-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<string> TableWithHashKeyOnlyAsync()
    {
        string name = "leakkey-" + Guid.NewGuid().ToString("N")[..8];
        using Amazon.DynamoDBv2.AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        await client.CreateTableAsync(new Amazon.DynamoDBv2.Model.CreateTableRequest
        {
            TableName = name,
            BillingMode = Amazon.DynamoDBv2.BillingMode.PAY_PER_REQUEST,
            AttributeDefinitions = [new("pk", "S")],
            KeySchema = [new("pk", Amazon.DynamoDBv2.KeyType.HASH)],
        });
        await Task.Delay(700);
        return name;
    }

    private async Task<string> TableWithNumericMetricIndexAsync()
    {
        string name = "leakgsi-" + Guid.NewGuid().ToString("N")[..8];
        using Amazon.DynamoDBv2.AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        await client.CreateTableAsync(new Amazon.DynamoDBv2.Model.CreateTableRequest
        {
            TableName = name,
            BillingMode = Amazon.DynamoDBv2.BillingMode.PAY_PER_REQUEST,
            AttributeDefinitions = [new("pk", "S"), new("sk", "S"), new("metric", "N")],
            KeySchema = [new("pk", Amazon.DynamoDBv2.KeyType.HASH), new("sk", Amazon.DynamoDBv2.KeyType.RANGE)],
            GlobalSecondaryIndexes =
            [
                new Amazon.DynamoDBv2.Model.GlobalSecondaryIndex
                {
                    IndexName = "by-metric",
                    KeySchema = [new("metric", Amazon.DynamoDBv2.KeyType.HASH)],
                    Projection = new Amazon.DynamoDBv2.Model.Projection { ProjectionType = Amazon.DynamoDBv2.ProjectionType.KEYS_ONLY },
                },
            ],
        });
        for (int i = 0; i < 100; i++)
        {
            var described = await client.DescribeTableAsync(name);
            if (described.Table.TableStatus == Amazon.DynamoDBv2.TableStatus.ACTIVE)
            {
                break;
            }

            await Task.Delay(100);
        }

        return name;
    }

    /// <summary>
    /// Coverage probe: hostile records (secret partition keys, metric names, dimension values, malformed JSON, invalid
    /// UTF-8, KPL) through <c>invoke</c> into a table DynamoDB refuses every item of (a GSI keyed on <c>metric</c> as a
    /// number), a table that does not exist and an endpoint that refuses connections, with a quarantine bucket that does
    /// not exist: no secret on stdout or stderr, and each failure is in the invocation line with its type.
    /// </summary>
    [Theory]
    [InlineData("gsi")]
    [InlineData("missing")]
    [InlineData("down")]
    [InlineData("schema")]
    public async Task Invoke_HostileEvent_FailingSinks_NoSecret_AndTheFailuresAreNamed(string table)
    {
        string eventPath = Path.Combine(_dir, "event.json");
        await File.WriteAllBytesAsync(eventPath, TestEvents.Build(PayloadAndVisibilityTests.HostileRecords()));
        string name = table switch
        {
            "gsi" => await TableWithNumericMetricIndexAsync(),
            "schema" => await TableWithHashKeyOnlyAsync(),
            _ => "leak-missing-" + Guid.NewGuid().ToString("N")[..8],
        };
        string endpoint = table == "down" ? $"http://127.0.0.1:{LoopbackPorts.Unused()}" : servers.DynamoDbUrl.ToString();
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        int code = await Analytics.SampleLambda.InvokeCommand.RunAsync(
            ["--event", eventPath, "--out", Path.Combine(_dir, "out"), "--timeout-ms", "6000",
             "--dynamodb-endpoint", endpoint, "--table", name,
             "--s3-endpoint", servers.S3Url.ToString(), "--quarantine-bucket", "leak-no-such-bucket"],
            stdout,
            stderr);

        output.WriteLine(stderr.ToString());
        output.WriteLine(stdout.ToString());
        Assert.Equal(0, code);
        PayloadAndVisibilityTests.AssertNoSecret("stdout", stdout.ToString());
        PayloadAndVisibilityTests.AssertNoSecret("stderr", stderr.ToString());
        string invocation = stderr.ToString().Split('\n').Single(l => l.Contains("\"message\":\"invocation\"", StringComparison.Ordinal));
        using JsonDocument line = JsonDocument.Parse(invocation);
        JsonElement root = line.RootElement;
        Assert.Equal("Error", root.GetProperty("level").GetString());
        Assert.Equal("Failed", root.GetProperty("quarantineSink").GetString());
        Assert.Contains("bucket does not exist", root.GetProperty("quarantineSinkError").GetString() ?? string.Empty, StringComparison.Ordinal);
        Assert.NotEqual("Completed", root.GetProperty("aggregateSink").GetString());
        Assert.False(string.IsNullOrEmpty(root.GetProperty("aggregateSinkError").GetString()), "the aggregate sink's error is named");
    }
}

/// <summary>The DynamoDB sink against dynalite with records that make DynamoDB refuse or the sink bound a write.</summary>
[Collection(LocalServersCollection.Second)]
public sealed class DynamoDbSinkLeakTests(LocalServersFixture servers, ITestOutputHelper output)
{
    /// <summary>
    /// Coverage probe: a series key far past DynamoDB's 2,048-byte partition key (30 dimensions of 1,000 secret bytes), and
    /// 1,200 partition keys of 256 secret characters into one item (past the key and size bounds): the summary's texts
    /// and the log line hold no secret, and the refused pairs are a Failed sink with a reason.
    /// </summary>
    [Fact]
    public async Task OversizeKeysAndItems_TheErrorNamesNoSeriesOrKey()
    {
        string table = await servers.CreateTableAsync("leakbig");
        using Amazon.DynamoDBv2.AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        var dims = Enumerable.Range(0, 30).Select(i => ("SECRET-K" + i, string.Concat(Enumerable.Repeat("SECRET", 166)))).ToArray();
        var records = new List<TestRecord> { PayloadAndVisibilityTests.Valid(1, "SECRET-LONG-SERIES", "SECRET-PK-1", dims) };
        for (int i = 0; i < 1200; i++)
        {
            string pk = ("SECRET-PK-" + i + "-").PadRight(256, 'S');
            records.Add(PayloadAndVisibilityTests.Valid(i + 2, "SECRET-SHARED", pk, ("user", "SECRET-USER")));
        }

        var lines = new ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build(records), DateTimeOffset.UtcNow.AddSeconds(60), new ArrayBufferWriter<byte>());
        JsonLog.WriteInvocation(summary, JsonLogOptions.Default, lines);
        EmfMetrics.Write(summary, EmfOptions.Default, lines);
        string text = Encoding.UTF8.GetString(lines.WrittenSpan);
        output.WriteLine(text);

        PayloadAndVisibilityTests.AssertNoSecret("the log and metric lines", text);
        Assert.Equal(SinkOutcome.Failed, summary.AggregateSinkOutcome);
        Assert.Contains("partition-key watermarks", summary.AggregateSinkError, StringComparison.Ordinal);
        Assert.NotNull(summary.ReportedFailure);
        Assert.True(summary.AggregatesWritten >= 1, "the long series was written (hashed key)");
    }

    /// <summary>
    /// With the real sink: an endpoint that never answers (a Lambda in a VPC with no route to DynamoDB, a firewall that
    /// drops packets). Every attempt ends at the client's own timeout (1 s here) and the sink retries until the
    /// invocation's time is up. The line names the failed attempts (<c>aggregateSinkError</c>) and, since a review found
    /// it at Warn where the documented alarm on Error lines and the query never saw it, it is at Error.
    /// </summary>
    [Fact]
    public async Task AnEndpointThatNeverAnswers_EveryAttemptTimedOut_TheLineIsAnError()
    {
        string table = await servers.CreateTableAsync("leakdead");
        await using var proxy = new FaultProxy(servers.DynamoDbUrl, FaultProfile.None, seed: 65) { Mode = FaultMode.Dead };
        using Amazon.DynamoDBv2.AmazonDynamoDBClient client = servers.CreateDynamoDbClient(proxy.Url, timeout: TimeSpan.FromSeconds(1));
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = AwsRetryOptions.Default with { MaxAttempts = 1000 } });
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default with { MinSafetyMargin = TimeSpan.FromSeconds(2) });

        var lines = new ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build([PayloadAndVisibilityTests.Valid(1, "m", "pk")]), DateTimeOffset.UtcNow.AddSeconds(8), new ArrayBufferWriter<byte>());
        JsonLog.WriteInvocation(summary, JsonLogOptions.Default, lines);
        string invocation = Encoding.UTF8.GetString(lines.WrittenSpan).Split('\n')[0];
        output.WriteLine(invocation);
        output.WriteLine($"retries: {sink.Retries}, proxy requests: {proxy.Requests}");

        Assert.True(sink.Retries >= 2, $"{sink.Retries} retries: the attempts failed before the time ran out");
        Assert.Equal(SinkOutcome.TimedOut, summary.AggregateSinkOutcome);
        Assert.NotNull(summary.AggregateSinkError); // held: the failed attempts are named
        using JsonDocument line = JsonDocument.Parse(invocation);
        string level = line.RootElement.GetProperty("level").GetString()!;
        Assert.Equal("Error", level);
    }
}
