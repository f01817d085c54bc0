using System.Text.Json;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// A failed invocation says why, as Lambda's function error does (errorType, errorMessage): found by review, a consumer
/// whose function threw an <c>ObjectDisposedException</c> at every invocation saw only "error" in every output.
/// </summary>
public class InvocationErrorTests
{
    private static readonly ReadOnlyMemory<byte> s_ok = "{\"batchItemFailures\":[]}"u8.ToArray();

    private static EmulatorScenario Scenario() => Emulate.Texts("good", "bad") with
    {
        DurationSeconds = 5,
        Mapping = new() { BatchSize = 1, MaximumRetryAttempts = 0 },
        Function = new() { TimeoutSeconds = 3 },
    };

    private static ILambdaHandler FailOn(string text, Func<Task<ReadOnlyMemory<byte>>> fail) => new DelegateHandler((e, _, _) =>
    {
        using JsonDocument document = JsonDocument.Parse(e);
        return Emulate.Texts(document.RootElement)[0] == text ? fail() : Task.FromResult(s_ok);
    });

    public static TheoryData<string, string, string> Failures => new()
    {
        { "exception", "ObjectDisposedException", "Cannot access a disposed object.\nObject name: 'my-function'." },
        { "timeout", "Sandbox.Timedout", "Task timed out after 3.00 seconds" },
        { "response over 6 MB", "Function.ResponseSizeTooLarge", "Response payload size (6291557 bytes) exceeded maximum allowed payload size (6291556 bytes)." },
        // Through the Runtime API host: the errorType the process posted, or its init error's (found by review: the
        // host's exception type was reported instead).
        { "process's function error", "Function.MyError", "Unable to parse record" },
        { "process's init error", "Runtime.NoTable", "bootstrap posted an init error: Runtime.NoTable: no table" },
        // An async handler's own cancellation (a downstream call that gave up), as awaiting its task rethrows it (found
        // by review: reported as "TaskCanceledException: A task was canceled."); a task made cancelled without one says so.
        { "cancellation", "OperationCanceledException", "the downstream call gave up after 2 s" },
        { "HttpClient's time-out", "TaskCanceledException", "The request was canceled due to the configured HttpClient.Timeout of 2 seconds elapsing." },
        { "a cancelled task", "TaskCanceledException", "A task was canceled." },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public void AFunctionError_IsReportedWithItsTypeAndMessage_AndASuccessWithNone(string kind, string type, string message)
    {
        EmulationRecording run = Emulate.Run(Scenario(), clock => FailOn("bad", () => Fail(kind, clock)));

        Assert.Equal(2, run.Invocations.Count);
        InvocationReport good = run.Invocations[0], bad = run.Invocations[1];
        Assert.Equal(InvocationOutcome.Success, good.Outcome);
        Assert.Null(good.ErrorType);
        Assert.Null(good.ErrorMessage);
        Assert.Equal(kind == "timeout" ? InvocationOutcome.Timeout : InvocationOutcome.Error, bad.Outcome);
        Assert.Equal(type, bad.ErrorType);
        Assert.Equal(message, bad.ErrorMessage);
    }

    private static async Task<ReadOnlyMemory<byte>> Fail(string kind, TimeProvider clock)
    {
        switch (kind)
        {
            case "exception":
                throw new ObjectDisposedException("my-function");
            case "process's function error":
                throw new FunctionErrorException("Unable to parse record", "Function.MyError", []);
            case "process's init error":
                throw new RuntimeApiHostException("bootstrap posted an init error: Runtime.NoTable: no table") { ErrorType = "Runtime.NoTable" };
            case "timeout":
                await Task.Delay(TimeSpan.FromSeconds(10), clock);
                return s_ok;
            case "cancellation":
                await Task.Delay(TimeSpan.FromMilliseconds(5), clock);
                throw new OperationCanceledException("the downstream call gave up after 2 s");
            case "HttpClient's time-out":
                throw new TaskCanceledException("The request was canceled due to the configured HttpClient.Timeout of 2 seconds elapsing.", new TimeoutException("The operation was canceled."));
            case "a cancelled task":
                return await Task.FromCanceled<ReadOnlyMemory<byte>>(new CancellationToken(canceled: true));
            default:
                return new byte[6 * 1024 * 1024 + 101]; // one byte over Lambda's response limit, 6 MiB + 100
        }
    }

    [Fact]
    public void AFailedInit_IsReportedWithTheInitsException()
    {
        EmulationRecording recording = new();
        var emulator = new StreamEmulator(Scenario(), _ => throw new InvalidOperationException("ANALYTICS_TABLE is not set"));
        emulator.Run(recording);

        Assert.NotEmpty(recording.Invocations);
        Assert.All(recording.Invocations, i =>
        {
            Assert.Equal("InvalidOperationException", i.ErrorType);
            Assert.Equal("ANALYTICS_TABLE is not set", i.ErrorMessage);
        });
    }

    [Fact]
    public void PartialAndUnreadableResponses_AreNoFunctionError()
    {
        // Lambda reports no function error for these: the mapping reads the response and retries from the checkpoint.
        EmulatorScenario scenario = Scenario() with { Mapping = new() { BatchSize = 2, MaximumRetryAttempts = 0, ReportBatchItemFailures = true } };
        EmulationRecording partial = Emulate.Run(scenario, _ => new DelegateHandler((e, _, _) =>
        {
            using JsonDocument document = JsonDocument.Parse(e);
            // The batch's last record: the first event holds two, and the rest (one record) is invoked again on its own.
            JsonElement records = document.RootElement.GetProperty("Records");
            string last = records[records.GetArrayLength() - 1].GetProperty("kinesis").GetProperty("sequenceNumber").GetString()!;
            return Task.FromResult<ReadOnlyMemory<byte>>(System.Text.Encoding.UTF8.GetBytes("{\"batchItemFailures\":[{\"itemIdentifier\":\"" + last + "\"}]}"));
        }));
        EmulationRecording unreadable = Emulate.Run(scenario, _ => new DelegateHandler((_, _, _) => Task.FromResult<ReadOnlyMemory<byte>>("{\"batchItemFailures\":[{}]}"u8.ToArray())));

        Assert.Equal(InvocationOutcome.Partial, partial.Invocations[0].Outcome);
        Assert.Equal(InvocationOutcome.Error, unreadable.Invocations[0].Outcome);
        Assert.All(partial.Invocations.Concat(unreadable.Invocations), i => Assert.Null(i.ErrorType));
        Assert.Null(partial.Invocations[0].ResponseProblem);
        Assert.Equal("batchItemFailures[0] has no \"itemIdentifier\" (the name is case-sensitive)", unreadable.Invocations[0].ResponseProblem);
    }

    /// <summary>
    /// A rejected response says why in <c>invocations.jsonl</c> too, as <c>responseProblem</c> beside no function error
    /// (found by review: not JSON, an empty identifier, a mistyped key or a window response without state all ended as
    /// "error" with no reason anywhere); a line of any other invocation has no such field.
    /// </summary>
    [Fact]
    public void InvocationsJsonl_CarriesTheResponseProblemOnTheRejectedLineOnly()
    {
        string directory = Path.Combine(Path.GetTempPath(), "invocation-problems-" + Guid.NewGuid().ToString("N"));
        try
        {
            using (var files = new EmulationFiles(directory))
            {
                EmulatorScenario scenario = Scenario() with { Mapping = new() { BatchSize = 1, MaximumRetryAttempts = 0, ReportBatchItemFailures = true } };
                var emulator = new StreamEmulator(scenario, _ => FailOn("bad", () => Task.FromResult<ReadOnlyMemory<byte>>("not json"u8.ToArray())));
                emulator.Run(files);
            }

            string[] lines = File.ReadAllLines(Path.Combine(directory, "invocations.jsonl"));
            Assert.Equal(2, lines.Length);
            using JsonDocument good = JsonDocument.Parse(lines[0]), bad = JsonDocument.Parse(lines[1]);
            Assert.False(good.RootElement.TryGetProperty("responseProblem", out _));
            Assert.Equal("error", bad.RootElement.GetProperty("outcome").GetString());
            Assert.False(bad.RootElement.TryGetProperty("errorType", out _));
            Assert.Equal("the response is not JSON", bad.RootElement.GetProperty("responseProblem").GetString());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void InvocationsJsonl_CarriesTheErrorOnTheFailedLineOnly()
    {
        string directory = Path.Combine(Path.GetTempPath(), "invocation-errors-" + Guid.NewGuid().ToString("N"));
        try
        {
            using (var files = new EmulationFiles(directory))
            {
                StreamEmulator emulator = null!;
                emulator = new StreamEmulator(Scenario(), _ => FailOn("bad", () => throw new FormatException("record \"bad\" is not a metric")));
                emulator.Run(files);
            }

            string[] lines = File.ReadAllLines(Path.Combine(directory, "invocations.jsonl"));
            Assert.Equal(2, lines.Length);
            using JsonDocument good = JsonDocument.Parse(lines[0]), bad = JsonDocument.Parse(lines[1]);
            Assert.False(good.RootElement.TryGetProperty("errorType", out _));
            Assert.False(good.RootElement.TryGetProperty("errorMessage", out _));
            Assert.Equal("FormatException", bad.RootElement.GetProperty("errorType").GetString());
            Assert.Equal("record \"bad\" is not a metric", bad.RootElement.GetProperty("errorMessage").GetString());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
