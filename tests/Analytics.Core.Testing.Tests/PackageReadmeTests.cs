using System.Text.RegularExpressions;

namespace Analytics.Core.Testing.Tests;

/// <summary>The package README's example is this file's code: a test keeps them identical, so it compiles and runs.</summary>
public partial class PackageReadmeTests
{
    private sealed class MyHandler(TimeProvider clock) : ILambdaHandler
    {
        public async Task<ReadOnlyMemory<byte>> InvokeAsync(ReadOnlyMemory<byte> utf8Event, DateTimeOffset deadline, CancellationToken cancellationToken)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(5), clock, cancellationToken);
            return "{\"batchItemFailures\":[]}"u8.ToArray();
        }
    }

    [Fact]
    public void Example_Runs()
    {
        // README:package:start
        var scenario = new EmulatorScenario
        {
            Seed = 1,
            DurationSeconds = 300,
            Stream = new StreamOptions { ShardCount = 2 },
            Producers = [new ProducerOptions { RatePerSecond = 200, PartitionKeys = 50 }],
            Records = [ExplicitRecord.Text("sensor-1", "poison", atMs: 60_000)],
            Mapping = new MappingOptions { ReportBatchItemFailures = true, BisectBatchOnFunctionError = true, MaximumRetryAttempts = 3, OnFailure = OnFailureDestination.S3 },
            Function = new FunctionOptions { TimeoutSeconds = 30, InitMs = 350, MemoryMb = 512, ComputeMsPerRecord = 0.5 },
        };

        StreamEmulator emulator = null!;
        // One handler per execution environment; it gets the emulator's clock as its TimeProvider.
        emulator = new StreamEmulator(scenario, environment => new MyHandler(emulator.Clock));
        var recording = new EmulationRecording();           // or new EmulationFiles("out") for JSON lines and CSV
        EmulationSummary summary = emulator.Run(recording);

        // recording.Invocations, recording.Destination, recording.Records, recording.Seconds: assert on them.
        // README:package:end

        Assert.Equal(summary.RecordsIn, recording.Records.Count);
        Assert.True(summary.RecordsOut > 50_000);
        Assert.Equal(summary.Invocations, recording.Invocations.Count);
    }

    [Fact]
    public void PackageReadme_ShowsTheTestedCode()
    {
        string root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Analytics.Core.sln")))
        {
            root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("repository root not found");
        }

        string source = File.ReadAllText(Path.Combine(root, "tests", "Analytics.Core.Testing.Tests", "PackageReadmeTests.cs"));
        Match region = Regex.Match(source, @"// README:package:start\r?\n(.*?)\r?\n\s*// README:package:end", RegexOptions.Singleline);
        Assert.True(region.Success);
        string readme = File.ReadAllText(Path.Combine(root, "src", "Analytics.Core.Testing", "README.md"));
        Match block = CSharpBlock().Match(readme);
        Assert.True(block.Success);
        Assert.Equal(Normalize(region.Groups[1].Value), Normalize(block.Groups[1].Value.Replace("using Analytics.Core.Testing;", "", StringComparison.Ordinal)));
    }

    private static string Normalize(string code) =>
        string.Join('\n', code.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0));

    [GeneratedRegex("```csharp\\r?\\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();
}
