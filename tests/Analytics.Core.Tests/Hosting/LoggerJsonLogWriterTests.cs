using System.Text;
using System.Text.Json;
using Analytics.Core.Tests.Pipeline;
using Microsoft.Extensions.Logging;

namespace Analytics.Core.Tests.Hosting;

/// <summary>The Microsoft.Extensions.Logging bridge, with a capturing logger.</summary>
public class LoggerJsonLogWriterTests
{
    private sealed record Entry(LogLevel Level, EventId EventId, IReadOnlyList<KeyValuePair<string, object?>> State, string Message, string? StateText);

    private sealed class CapturingLogger(LogLevel minimum) : ILogger
    {
        public List<Entry> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var fields = (IReadOnlyList<KeyValuePair<string, object?>>)state!;
            Entries.Add(new Entry(logLevel, eventId, [.. fields], formatter(state, exception), state!.ToString()));
        }
    }

    [Fact]
    public async Task FunctionLines_ReachTheLogger_WithLevelEventIdAndFields()
    {
        const long arrival = 1_737_367_200_000;
        byte[] utf8Event = TestEvents.Build(
        [
            new TestRecord(TestEvents.Seq(1), TestEvents.Utf8(TestEvents.Sample("m", 1, arrival - 1000)), arrival),
            new TestRecord(TestEvents.Seq(2), TestEvents.Utf8("[\"SECRET\"]"), arrival),
        ]);
        var logger = new CapturingLogger(LogLevel.Debug);
        var output = new MemoryStream();
        using var function = new KinesisFunction(new RecordingAggregateSink(), new RecordingQuarantineSink(), KinesisFunctionOptions.Default with
        {
            Output = output,
            LogWriter = new LoggerJsonLogWriter(logger),
        });

        await function.HandleAsync(new MemoryStream(utf8Event), TimeSpan.FromSeconds(30));

        Assert.Equal([LogLevel.Warning, LogLevel.Information, LogLevel.Information, LogLevel.Information, LogLevel.Information, LogLevel.Information], logger.Entries.Select(e => e.Level));
        Assert.Equal([3, 1, 2, 2, 2, 2], logger.Entries.Select(e => e.EventId.Id));
        Entry poison = logger.Entries[0];
        Assert.Equal("poison", poison.EventId.Name);
        Assert.Equal("InvalidJson", poison.State.Single(f => f.Key == "reason").Value);
        Assert.Equal(TestEvents.Seq(2), poison.State.Single(f => f.Key == "sequenceNumber").Value);
        // No {OriginalFormat}: a provider would read the line as a message template (LoggerJsonLogWriterProviderTests).
        Assert.DoesNotContain(poison.State, f => f.Key == "{OriginalFormat}");
        Assert.Equal(poison.Message, poison.StateText);
        Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(poison.Message).RootElement.ValueKind);
        Entry invocation = logger.Entries[1];
        Assert.Equal(2L, invocation.State.Single(f => f.Key == "recordsIn").Value);
        Assert.Equal(false, invocation.State.Single(f => f.Key == "deadlineReached").Value);
        Assert.Equal("{\"InvalidJson\":1}", invocation.State.Single(f => f.Key == "poisonByReason").Value);
        Assert.DoesNotContain(logger.Entries, e => e.Message.Contains("SECRET", StringComparison.Ordinal));
        // The metrics line stays on the output, where CloudWatch reads it as EMF.
        Assert.Contains("\"_aws\"", Encoding.UTF8.GetString(output.ToArray()), StringComparison.Ordinal);
    }

    [Fact]
    public void LevelsBelowTheLoggersMinimum_AreNotFormatted()
    {
        var logger = new CapturingLogger(LogLevel.Warning);
        var writer = new LoggerJsonLogWriter(logger);
        writer.WriteLine(JsonLogLevel.Info, "{\"level\":\"Info\",\"message\":\"stage\"}"u8);
        writer.WriteLine(JsonLogLevel.Error, "{\"level\":\"Error\",\"message\":\"other\",\"x\":1.5}"u8);
        Entry entry = Assert.Single(logger.Entries);
        Assert.Equal(LogLevel.Error, entry.Level);
        Assert.Equal(0, entry.EventId.Id);
        Assert.Equal(1.5, entry.State.Single(f => f.Key == "x").Value);
    }
}
