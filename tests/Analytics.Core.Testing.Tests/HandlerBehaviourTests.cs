using System.Text;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// What a consumer's own handler may do that the sample does not: answer more than Lambda lets a function answer,
/// or break the <see cref="ILambdaHandler"/> contract outright. Each outcome is what Lambda (or its .NET runtime) makes
/// of it.
/// </summary>
public sealed class HandlerBehaviourTests
{
    private const int SixMb = 6 * 1024 * 1024;

    private static EmulatorScenario OneRecord() => Emulate.Texts("one") with
    {
        DurationSeconds = 10,
        Mapping = new() { MaximumRetryAttempts = 0, OnFailure = OnFailureDestination.Sqs },
    };

    // Lambda's invocation payload limit: "Invocation payload (request and response): 6 MB each for request and response
    // (synchronous)"; a bigger response fails the invocation (Function.ResponseSizeTooLarge), as the Runtime API host
    // already answers a process that posts one. The exact bound is 6 MiB and 100 bytes: Lambda's Runtime API (RAPID,
    // published as aws/aws-lambda-runtime-interface-emulator, lambda/interop/model.go) has "MaxPayloadSize =
    // 6*1024*1024 + 100 // 6 MiB + 100 bytes" and fails only a longer response, and functions on AWS report "exceeded
    // maximum allowed payload size (6291556 bytes)". Whitespace, so the body alone would be a success ("an empty
    // response").
    [Theory]
    [InlineData(SixMb, InvocationOutcome.Success)]
    [InlineData(SixMb + 100, InvocationOutcome.Success)]
    [InlineData(SixMb + 101, InvocationOutcome.Error)]
    public void AResponseOver6Mb_FailsTheInvocation(int size, InvocationOutcome expected)
    {
        byte[] body = new byte[size];
        Array.Fill(body, (byte)' ');
        EmulationRecording recording = Emulate.Run(OneRecord(), _ => new DelegateHandler((_, _, _) => Task.FromResult<ReadOnlyMemory<byte>>(body)), out EmulationSummary summary);

        InvocationReport invocation = Assert.Single(recording.Invocations);
        Assert.Equal(expected, invocation.Outcome);
        Assert.Equal(expected == InvocationOutcome.Success ? 1 : 0, summary.RecordsOut);
        Assert.Equal(expected == InvocationOutcome.Success ? 0 : 1, summary.RecordsToDestination);
        if (expected == InvocationOutcome.Error)
        {
            Assert.Contains("\"functionError\":\"Unhandled\"", Assert.Single(recording.Destination).Json, StringComparison.Ordinal);
        }
    }

    // The ILambdaHandler contract is a task; a handler that returns null instead (a DelegateHandler's lambda with a
    // forgotten return path, say) is what Lambda's .NET runtime makes of it: a NullReferenceException, a function error
    // at once. It used to be taken for a handler still running: the invocation waited out its whole timeout and
    // replaced the environment, as if the function had hung.
    [Fact]
    public void AHandlerThatReturnsNoTask_FailsAtOnce_AsAFunctionError()
    {
        EmulatorScenario scenario = OneRecord() with { Function = new() { TimeoutSeconds = 60 } };
        EmulationRecording recording = Emulate.Run(scenario, _ => new DelegateHandler((_, _, _) => null!), out EmulationSummary summary);

        InvocationReport invocation = Assert.Single(recording.Invocations);
        Assert.Equal(InvocationOutcome.Error, invocation.Outcome);
        Assert.Equal(1, invocation.EndMs - invocation.StartMs);
        Assert.Equal(0, summary.Timeouts);
        Assert.Equal(1, summary.RecordsToDestination);
        Assert.Equal(("InvalidOperationException", "DelegateHandler.InvokeAsync returned null instead of a task."), (invocation.ErrorType, invocation.ErrorMessage));
    }

    // An invocation ends when its handler's task completes (plus its compute time): two handlers that one event
    // completes (a shared client's answer, here one clock timer that completes what each awaits) end at that instant,
    // both of them, and the run stays reproducible. Each awaits a task of its own: two awaits of one task resume the
    // second on the thread pool (.NET runs only the first continuation inline), off the virtual clock, which the run
    // counts (docs/emulator.md, the contract for handler authors).
    [Fact]
    public void TwoHandlersCompletedByOneEvent_EndTogether()
    {
        (string first, string other) = Emulate.KeysOnTwoShards();
        EmulatorScenario scenario = new()
        {
            StartTime = Emulate.Start,
            DurationSeconds = 10,
            Stream = new() { ShardCount = 2 },
            Records = [ExplicitRecord.Text(first, "a", 0), ExplicitRecord.Text(other, "b", 0)],
        };
        var answers = new List<TaskCompletionSource>();
        EmulationRecording recording = Emulate.Run(scenario, clock => new DelegateHandler(async (_, _, _) =>
        {
            var answer = new TaskCompletionSource();
            answers.Add(answer);
            if (answers.Count == 1)
            {
                clock.CreateTimer(_ => answers.ForEach(a => a.SetResult()), null, TimeSpan.FromMilliseconds(50), Timeout.InfiniteTimeSpan);
            }

            await answer.Task;
            return ReadOnlyMemory<byte>.Empty;
        }), out EmulationSummary summary);

        Assert.Equal([(0L, 50L), (0L, 50L)], recording.Invocations.Select(i => (i.StartMs, i.EndMs)));
        Assert.All(recording.Invocations, i => Assert.Equal(InvocationOutcome.Success, i.Outcome));
        Assert.True(summary.Reproducible);
    }

    // PutFunctionConcurrency: ReservedConcurrentExecutions "Minimum value of 0"; 0 throttles every invocation (the
    // function's off switch). The mapping retries throttles until the records expire, without using the retry quota:
    // here MaximumRecordAgeInSeconds sends them to the destination as RecordAgeExceeded.
    [Fact]
    public void ReservedConcurrencyZero_ThrottlesEveryInvocation_UntilTheRecordsExpire()
    {
        EmulatorScenario scenario = Emulate.Texts("one", "two") with
        {
            DurationSeconds = 90,
            Mapping = new() { MaximumRecordAgeInSeconds = 60, OnFailure = OnFailureDestination.Sqs },
            Function = new() { ReservedConcurrency = 0 },
        };
        EmulationRecording recording = Emulate.Run(scenario, _ => Emulate.Succeed(), out EmulationSummary summary);

        Assert.Empty(recording.Invocations);
        Assert.Equal(0, summary.MaxConcurrency);
        Assert.Equal(61, summary.Throttles); // a poll each second, 0 to 60; at 61 s the records are past 60 s
        DestinationRecord record = Assert.Single(recording.Destination);
        Assert.Equal("RecordAgeExceeded", record.Condition);
        Assert.Equal(2, record.SequenceNumbers.Count);
    }

    [Fact]
    public void ReservedConcurrencyBelowZero_IsRefused_NamingTheRange()
    {
        var exception = Assert.Throws<ArgumentOutOfRangeException>(() => (Emulate.Texts("one") with { Function = new() { ReservedConcurrency = -1 } }).Validate());
        Assert.Equal("ReservedConcurrency", exception.ParamName);
        Assert.Contains("0 to ", exception.Message, StringComparison.Ordinal);
    }

    // EmulatorScenario.Validate: "the message names it and the range"; a bad ComputeMsPerInvocation was reported as
    // ComputeMsPerRecord (and replay then pointed at $.function.computeMsPerRecord).
    [Theory]
    [InlineData(-1.0, 0.0, "ComputeMsPerInvocation")]
    [InlineData(0.0, 900_001.0, "ComputeMsPerRecord")]
    [InlineData(double.NaN, 0.0, "ComputeMsPerInvocation")]
    public void ABadComputeTime_IsRefused_NamingTheSettingAndItsValue(double perInvocation, double perRecord, string setting)
    {
        EmulatorScenario scenario = Emulate.Texts("one") with { Function = new() { ComputeMsPerInvocation = perInvocation, ComputeMsPerRecord = perRecord } };
        var exception = Assert.Throws<ArgumentOutOfRangeException>(scenario.Validate);
        Assert.Equal(setting, exception.ParamName);
        Assert.Contains("0 to 900000", exception.Message, StringComparison.Ordinal);
        Assert.Contains(setting == "ComputeMsPerInvocation" ? perInvocation.ToString(System.Globalization.CultureInfo.InvariantCulture) : "900001", exception.Message, StringComparison.Ordinal);
    }
}
