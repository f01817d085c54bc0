using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Analytics.Core.Tests.Sample;

/// <summary>
/// The example events in samples/events/ are what <see cref="SampleEventFactory"/> builds. When a test here fails,
/// review the <c>*.received.txt</c> it wrote beside the event and copy it over the event file.
/// </summary>
public class SampleEventsTests
{
    public static TheoryData<string> GeneratedFiles => ["kinesis-basic.json", "kinesis-poison.json", "kinesis-kpl.json", "tumbling-window-1.json", "kinesis-aws-docs.json"];

    internal static string EventPath(string name) => Path.Combine(RepoPaths.Root, "samples", "events", name);

    [Theory]
    [MemberData(nameof(GeneratedFiles))]
    public void CommittedEvent_EqualsGenerator(string name)
    {
        string expected = name switch
        {
            "kinesis-basic.json" => SampleEventFactory.KinesisBasic(),
            "kinesis-poison.json" => SampleEventFactory.KinesisPoison(),
            "tumbling-window-1.json" => SampleEventFactory.TumblingWindow1(),
            "kinesis-kpl.json" => SampleEventFactory.KinesisKpl(),
            _ => SampleEventFactory.AwsDocumentationExample(),
        };
        AssertCommitted(name, expected);
    }

    [Fact]
    public async Task TumblingWindow2_CarriesTheStateWindow1Returns()
    {
        // The final invocation of a window receives the state the previous invocation returned.
        var processor = new KinesisBatchProcessor(new Pipeline.RecordingAggregateSink(), new Pipeline.RecordingQuarantineSink(), ProcessorOptions.Default);
        var response = new ArrayBufferWriter<byte>();
        await processor.ProcessAsync(File.ReadAllBytes(EventPath("tumbling-window-1.json")), DateTimeOffset.UtcNow.AddMinutes(2), response);
        using JsonDocument document = JsonDocument.Parse(response.WrittenMemory);
        string state = document.RootElement.GetProperty("state").GetRawText();

        AssertCommitted("tumbling-window-2.json", SampleEventFactory.TumblingWindow2(state));
    }

    [Theory]
    [InlineData("kinesis-basic.json")]
    [InlineData("tumbling-window-1.json")]
    [InlineData("tumbling-window-2.json")]
    public void GoodEvent_EverySampleIsValidAndWithinTheArrivalBounds(string name)
    {
        using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(EventPath(name)));
        int samples = 0;
        foreach (JsonElement record in document.RootElement.GetProperty("Records").EnumerateArray())
        {
            JsonElement kinesis = record.GetProperty("kinesis");
            DateTimeOffset arrival = DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Round(kinesis.GetProperty("approximateArrivalTimestamp").GetDouble() * 1000));
            string text = Encoding.UTF8.GetString(Convert.FromBase64String(kinesis.GetProperty("data").GetString()!));
            foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                using JsonDocument sample = JsonDocument.Parse(line);
                JsonElement root = sample.RootElement;
                Assert.False(string.IsNullOrEmpty(root.GetProperty("metric").GetString()));
                Assert.True(double.IsFinite(root.GetProperty("value").GetDouble()));
                DateTimeOffset timestamp = DateTimeOffset.FromUnixTimeMilliseconds(root.GetProperty("timestamp").GetInt64());
                Assert.InRange(timestamp, arrival - TimeSpan.FromHours(24), arrival + TimeSpan.FromMinutes(5));
                samples++;
            }
        }

        Assert.True(samples >= 2);
    }

    [Fact]
    public void AwsDocsEvent_HasTheDocumentedRecords()
    {
        using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(EventPath("kinesis-aws-docs.json")));
        JsonElement[] records = [.. document.RootElement.GetProperty("Records").EnumerateArray()];
        Assert.Equal(2, records.Length);
        Assert.Equal("Hello, this is a test.", Encoding.UTF8.GetString(Convert.FromBase64String(records[0].GetProperty("kinesis").GetProperty("data").GetString()!)));
        Assert.Equal("Hello, this is a test 123.", Encoding.UTF8.GetString(Convert.FromBase64String(records[1].GetProperty("kinesis").GetProperty("data").GetString()!)));
        Assert.Equal(1607497475d, records[0].GetProperty("kinesis").GetProperty("approximateArrivalTimestamp").GetDouble());
        Assert.StartsWith("shardId-000000000006:4959", records[0].GetProperty("eventID").GetString());
    }

    private static void AssertCommitted(string name, string expected)
    {
        string path = EventPath(name);
        string committed = File.Exists(path) ? File.ReadAllText(path).ReplaceLineEndings("\n") : string.Empty;
        if (committed != expected)
        {
            File.WriteAllText(path + ".received.txt", expected);
        }

        Assert.Equal(expected, committed);
    }
}

public class SampleEventsValidationTests
{
    /// <summary>Runs the library's own reader and validator over a committed example event.</summary>
    private static List<(string PartitionKey, RecordVerdict Verdict)> Validate(string name)
    {
        byte[] bytes = File.ReadAllBytes(SampleEventsTests.EventPath(name));
        var validator = new RecordValidator();
        var verdicts = new List<(string, RecordVerdict)>();
        var reader = new KinesisEventReader(bytes);
        while (reader.Read())
        {
            KinesisRecord record = reader.Current;
            verdicts.Add((Encoding.UTF8.GetString(record.RawPartitionKey), validator.Validate(record)));
        }

        return verdicts;
    }

    [Theory]
    [InlineData("kinesis-basic.json")]
    [InlineData("tumbling-window-1.json")]
    [InlineData("tumbling-window-2.json")]
    public void GoodEvent_EveryRecordIsValid(string name)
    {
        List<(string PartitionKey, RecordVerdict Verdict)> verdicts = Validate(name);

        Assert.NotEmpty(verdicts);
        Assert.All(verdicts, v => Assert.True(v.Verdict.IsValid, $"{name}: {v.Verdict}"));
    }

    [Fact]
    public void PoisonEvent_EachPillIsPoisonForItsIntendedReason()
    {
        List<(string PartitionKey, RecordVerdict Verdict)> verdicts = Validate("kinesis-poison.json");

        IReadOnlyList<SampleEventFactory.ExampleRecord> expected = SampleEventFactory.PoisonRecords();
        Assert.Equal(expected.Count, verdicts.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].ExpectedPoison ?? nameof(PoisonReason.None), verdicts[i].Verdict.Reason.ToString());
        }
    }

    [Fact]
    public void AwsDocsEvent_PlainTextRecordsAreInvalidJson()
    {
        List<(string PartitionKey, RecordVerdict Verdict)> verdicts = Validate("kinesis-aws-docs.json");

        Assert.Equal([PoisonReason.InvalidJson, PoisonReason.InvalidJson], verdicts.Select(v => v.Verdict.Reason));
    }
}
