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

    // Lambda's invocation payload limit, the response's as the request's: "Invocation payload (request and response):
    // 6 MB each for request and response (synchronous)"; a bigger response fails the invocation
    // (Function.ResponseSizeTooLarge), as the Runtime API host already answers a process that posts one. Whitespace,
    // so the body alone would be a success ("an empty response").
    [Theory]
    [InlineData(SixMb, InvocationOutcome.Success)]
    [InlineData(SixMb + 1, InvocationOutcome.Error)]
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
}
