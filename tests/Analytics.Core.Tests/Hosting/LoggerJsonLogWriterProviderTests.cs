using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Analytics.Core.Tests.Pipeline;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using OpenTelemetry.Logs;
using Serilog.Core;
using Serilog.Events;
using Serilog.Extensions.Logging;

namespace Analytics.Core.Tests.Hosting;

/// <summary>
/// The logging bridge behind real providers: Serilog (which reads <c>{OriginalFormat}</c> as a message template), the
/// console's JSON formatter and OpenTelemetry. The JSON line must come out as the message unchanged, whatever the
/// shard ids and sink errors in it hold.
/// </summary>
public class LoggerJsonLogWriterProviderTests
{
    /// <summary>Text a hand-made event or a sink's exception can put in a line: template holes, escapes, control characters, a huge string.</summary>
    public static TheoryData<string> HostileValues => new()
    {
        "System.InvalidOperationException: size = {shardId} {{kept}} > {recordsIn:X4}",
        "a=}{{}}{x}",
        "= {0} {1} {@value} {$value} {message,-10}",
        "quote \" backslash \\ newline \n tab \t nul \u0000 bell \u0007 del \u007f",
        "café ✓ 😀 <tag> & 'single' +",
        new string('{', 5000) + "= {x}" + new string('}', 5000),
    };

    [Theory]
    [MemberData(nameof(HostileValues))]
    public void Serilog_RendersTheLineUnchanged_AndKeepsTheFieldValues(string hostile)
    {
        byte[] line = Line("Error", "invocation", hostile);
        var sink = new SerilogCapture();
        using (Serilog.Core.Logger serilog = new Serilog.LoggerConfiguration().MinimumLevel.Verbose().WriteTo.Sink(sink).CreateLogger())
        using (var factory = new SerilogLoggerFactory(serilog))
        {
            new LoggerJsonLogWriter(factory.CreateLogger("Analytics.Core")).WriteLine(JsonLogLevel.Error, line);
        }

        LogEvent logEvent = Assert.Single(sink.Events);
        Assert.Equal(LogEventLevel.Error, logEvent.Level);
        Assert.Equal(Encoding.UTF8.GetString(line), logEvent.RenderMessage());
        Assert.Equal(hostile, ((ScalarValue)logEvent.Properties["aggregateSinkError"]).Value);
        Assert.Equal(2L, ((ScalarValue)logEvent.Properties["recordsIn"]).Value);
    }

    [Fact]
    public async Task Serilog_RendersEveryFunctionLineUnchanged_WhenASinkErrorHoldsTemplateHoles()
    {
        const string error = "rejected: size > {shardId} {{kept}} {recordsIn:X4}";
        var sink = new SerilogCapture();
        var lines = new List<string>();
        using (Serilog.Core.Logger serilog = new Serilog.LoggerConfiguration().MinimumLevel.Verbose().WriteTo.Sink(sink).CreateLogger())
        using (var factory = new SerilogLoggerFactory(serilog))
        {
            var writer = new TeeWriter(lines, new LoggerJsonLogWriter(factory.CreateLogger("Analytics.Core")));
            await RunFunctionAsync(writer, new RecordingAggregateSink { Throw = new InvalidOperationException(error) });
        }

        Assert.Contains(lines, l => l.Contains(error, StringComparison.Ordinal));
        Assert.Equal(lines, sink.Events.Select(e => e.RenderMessage()));
        Assert.All(sink.Events, e => Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(e.RenderMessage()).RootElement.ValueKind));
    }

    [Theory]
    [MemberData(nameof(HostileValues))]
    public void JsonConsoleFormatter_WritesTheLineAsMessage_AndItsFieldsAsState(string hostile)
    {
        byte[] line = Line("Error", "invocation", hostile);
        using var provider = new JsonFormatterProvider();
        using (ILoggerFactory factory = LoggerFactory.Create(b => b.AddProvider(provider)))
        {
            new LoggerJsonLogWriter(factory.CreateLogger("Analytics.Core")).WriteLine(JsonLogLevel.Error, line);
        }

        JsonElement entry = Assert.Single(provider.Entries());
        Assert.Equal(1, entry.GetProperty("EventId").GetInt32());
        Assert.Equal("Error", entry.GetProperty("LogLevel").GetString());
        Assert.Equal(Encoding.UTF8.GetString(line), entry.GetProperty("Message").GetString());
        JsonElement state = entry.GetProperty("State");
        Assert.Equal(hostile, state.GetProperty("aggregateSinkError").GetString());
        Assert.Equal(2, state.GetProperty("recordsIn").GetInt32());
    }

    [Fact]
    public async Task JsonConsoleFormatter_ShowsEachEventId_WithTheConsumersScope_AndOnlyTheLineFieldsAsState()
    {
        using var provider = new JsonFormatterProvider();
        using (ILoggerFactory factory = LoggerFactory.Create(b => b.AddProvider(provider).SetMinimumLevel(LogLevel.Debug)))
        {
            ILogger logger = factory.CreateLogger("Analytics.Core");
            using (logger.BeginScope(new Dictionary<string, object> { ["awsRequestId"] = "req-1" }))
            {
                await RunFunctionAsync(new LoggerJsonLogWriter(logger), new RecordingAggregateSink());
            }
        }

        List<JsonElement> entries = provider.Entries();
        Assert.Equal([3, 1, 2, 2, 2, 2], entries.Select(e => e.GetProperty("EventId").GetInt32()));
        Assert.Equal(["Warning", "Information", "Information", "Information", "Information", "Information"], entries.Select(e => e.GetProperty("LogLevel").GetString()));
        foreach (JsonElement entry in entries)
        {
            JsonElement line = JsonDocument.Parse(entry.GetProperty("Message").GetString()!).RootElement;
            string[] expected = [.. line.EnumerateObject().Select(p => p.Name)];
            Assert.Equal(expected, entry.GetProperty("State").EnumerateObject().Select(p => p.Name));
            Assert.Equal(line.GetProperty("message").GetString(), entry.GetProperty("State").GetProperty("message").GetString());
            Assert.Equal("req-1", Assert.Single(entry.GetProperty("Scopes").EnumerateArray()).GetProperty("awsRequestId").GetString());
            Assert.DoesNotContain("SECRET", entry.GetRawText(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task AFactoryFilter_LeavesOnlyTheLinesAtOrAboveItsLevel()
    {
        using var provider = new JsonFormatterProvider();
        using (ILoggerFactory factory = LoggerFactory.Create(b => b.AddProvider(provider).AddFilter("Analytics.Core", LogLevel.Warning)))
        {
            await RunFunctionAsync(new LoggerJsonLogWriter(factory.CreateLogger("Analytics.Core")), new RecordingAggregateSink());
        }

        JsonElement entry = Assert.Single(provider.Entries());
        Assert.Equal(3, entry.GetProperty("EventId").GetInt32());
    }

    [Theory]
    [MemberData(nameof(HostileValues))]
    public void OpenTelemetry_TakesTheLineAsBody_AndItsFieldsAsAttributes(string hostile)
    {
        byte[] line = Line("Warn", "poison", hostile);
        var exported = new List<LogRecord>();
        using (ILoggerFactory factory = LoggerFactory.Create(b => b.AddOpenTelemetry(o => o.AddInMemoryExporter(exported))))
        {
            new LoggerJsonLogWriter(factory.CreateLogger("Analytics.Core")).WriteLine(JsonLogLevel.Warn, line);
        }

        LogRecord record = Assert.Single(exported);
        Assert.Equal(3, record.EventId.Id);
        Assert.Equal(LogLevel.Warning, record.LogLevel);
        Assert.Equal(Encoding.UTF8.GetString(line), record.Body);
        Assert.Equal(hostile, record.Attributes!.Single(a => a.Key == "aggregateSinkError").Value);
    }

    /// <summary>A line as <see cref="JsonLog"/> writes one: relaxed escaping, so braces, quotes' neighbours and symbols stay as they are.</summary>
    private static byte[] Line(string level, string message, string value)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("level", level);
            w.WriteString("message", message);
            w.WriteString("shardId", "shardId-000000000001");
            w.WriteNumber("recordsIn", 2);
            w.WriteString("aggregateSinkError", value);
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>One valid and one poison record through a <see cref="KinesisFunction"/> whose lines go to <paramref name="writer"/>.</summary>
    private static async Task RunFunctionAsync(IJsonLogWriter writer, RecordingAggregateSink aggregateSink)
    {
        const long arrival = 1_737_367_200_000;
        byte[] utf8Event = TestEvents.Build(
        [
            new TestRecord(TestEvents.Seq(1), TestEvents.Utf8(TestEvents.Sample("m", 1, arrival - 1000)), arrival),
            new TestRecord(TestEvents.Seq(2), TestEvents.Utf8("[\"SECRET\"]"), arrival),
        ]);
        using var function = new KinesisFunction(aggregateSink, new RecordingQuarantineSink(), KinesisFunctionOptions.Default with
        {
            Output = new MemoryStream(),
            LogWriter = writer,
        });
        await function.HandleAsync(new MemoryStream(utf8Event), TimeSpan.FromSeconds(30));
    }

    private sealed class TeeWriter(List<string> lines, IJsonLogWriter next) : IJsonLogWriter
    {
        public void WriteLine(JsonLogLevel level, ReadOnlySpan<byte> utf8Json)
        {
            lines.Add(Encoding.UTF8.GetString(utf8Json));
            next.WriteLine(level, utf8Json);
        }
    }

    private sealed class SerilogCapture : ILogEventSink
    {
        public List<LogEvent> Events { get; } = [];

        public void Emit(LogEvent logEvent) => Events.Add(logEvent);
    }

    /// <summary>
    /// The console provider's own JSON formatter (<c>AddJsonConsole</c>, scopes on) writing to a string instead of the
    /// console, which tests running in parallel share.
    /// </summary>
    private sealed class JsonFormatterProvider : ILoggerProvider, ISupportExternalScope
    {
        private readonly ServiceProvider _services;
        private readonly ConsoleFormatter _formatter;
        private readonly StringWriter _output = new();
        private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

        public JsonFormatterProvider()
        {
            _services = new ServiceCollection().AddLogging(b => b.AddJsonConsole(o => o.IncludeScopes = true)).BuildServiceProvider();
            _formatter = _services.GetServices<ConsoleFormatter>().Single(f => f.Name == ConsoleFormatterNames.Json);
        }

        public List<JsonElement> Entries() =>
            [.. _output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(l => JsonDocument.Parse(l).RootElement)];

        public ILogger CreateLogger(string categoryName) => new FormatterLogger(this, categoryName);

        public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

        public void Dispose() => _services.Dispose();

        private sealed class FormatterLogger(JsonFormatterProvider provider, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => provider._scopes.Push(state);

            public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                provider._formatter.Write(new LogEntry<TState>(logLevel, category, eventId, state, exception, formatter), provider._scopes, provider._output);
        }
    }
}
