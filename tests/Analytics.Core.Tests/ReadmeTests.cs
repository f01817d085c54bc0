using System.Buffers;
using System.Text.RegularExpressions;

namespace Analytics.Core.Tests;

/// <summary>The README's examples are this file's code: a test keeps them identical, so they always compile and run.</summary>
public partial class ReadmeTests
{
    // Not CallerFilePath: CI builds map source paths to /_/ for deterministic output.
    private static string ThisFile() => Path.Combine(RepoPaths.Root, "tests", "Analytics.Core.Tests", "ReadmeTests.cs");

    [Fact]
    public async Task UseExample_RunsAndAnswersLambda()
    {
        byte[] eventBytes = File.ReadAllBytes(Path.Combine(RepoPaths.Root, "samples", "events", "kinesis-poison.json"));
        DateTimeOffset deadline = DateTimeOffset.UtcNow.AddMinutes(1);

        // README:use:start
        // Once per sandbox: the processor keeps its buffers across invocations.
        var processor = new KinesisBatchProcessor(
            new JsonLinesAggregateSink("/tmp/aggregates.jsonl"),   // or DynamoDbAggregateSink
            new JsonLinesQuarantineSink("/tmp/quarantine.jsonl"),  // or S3QuarantineSink
            ProcessorOptions.Default with { Aggregator = AggregatorOptions.Default with { WindowSize = TimeSpan.FromMinutes(1) } });

        // Per invocation: the raw event bytes (or a Stream) and the Lambda-Runtime-Deadline-Ms deadline.
        var response = new ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(eventBytes, deadline, response);
        // response now holds {"batchItemFailures":[...]} (and "state" for a tumbling-window event): return it to Lambda.
        // README:use:end

        Assert.Equal("{\"batchItemFailures\":[]}", System.Text.Encoding.UTF8.GetString(response.WrittenSpan));
        Assert.True(summary.PoisonRecords > 0);
        processor.Dispose();
        File.Delete("/tmp/aggregates.jsonl");
        File.Delete("/tmp/quarantine.jsonl");
    }

    [Fact]
    public void LowerLayersExample_Runs()
    {
        byte[] eventBytes = File.ReadAllBytes(Path.Combine(RepoPaths.Root, "samples", "events", "kinesis-poison.json"));
        var errors = new StringWriter();
        TextWriter saved = Console.Error;
        Console.SetError(errors);
        try
        {
            // README:lower:start
            var reader = new KinesisEventReader(eventBytes);
            var validator = new RecordValidator(new MetricSchema(MetricParserOptions.Default with { MetricField = "name" }));
            while (reader.Read())
            {
                RecordVerdict verdict = validator.Validate(reader.Current);
                if (!verdict.IsValid) Console.Error.WriteLine($"{reader.Current.GetSequenceNumberString()}: {verdict.Reason} {verdict.Detail}");
            }
            // README:lower:end
        }
        finally
        {
            Console.SetError(saved);
        }

        Assert.Contains("MissingField", errors.ToString(), StringComparison.Ordinal); // "metric" is not "name"
    }

    [Theory]
    [InlineData("use", 0)]
    [InlineData("lower", 1)]
    public void Readme_ShowsTheTestedCode(string region, int blockIndex)
    {
        string source = File.ReadAllText(ThisFile());
        Match m = Regex.Match(source, $@"// README:{region}:start\r?\n(.*?)\r?\n\s*// README:{region}:end", RegexOptions.Singleline);
        Assert.True(m.Success);
        string code = Normalize(m.Groups[1].Value);
        string readme = File.ReadAllText(Path.Combine(RepoPaths.Root, "README.md"));
        // The README's first example starts with the using directive, which cannot stand inside a test method.
        string[] blocks = [.. CSharpBlocks().Matches(readme).Select(b => Normalize(b.Groups[1].Value.Replace("using Analytics.Core;", "", StringComparison.Ordinal)))];
        Assert.Equal(code, blocks[blockIndex]);
    }

    private static string Normalize(string code) =>
        string.Join("\n", code.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0));

    [GeneratedRegex("```csharp\\r?\\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlocks();
}
