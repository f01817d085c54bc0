using Analytics.Core.Tests.Pipeline;

namespace Analytics.Core.Tests.Hosting;

/// <summary>
/// Review of ba5099a (a failed write of the function's lines does not fail the invocation). The new catch lets every
/// OperationCanceledException through, not only the caller's: an Output whose write is cancelled by itself (a
/// PipeWriter stream whose flush was cancelled, a wrapper with its own write timeout) still fails an invocation whose
/// sinks wrote, and Lambda retries the batch: the very case the change meant to end. Only a cancellation of the
/// invocation's own token should pass.
/// </summary>
public sealed class OutputOwnCancellationTests
{
    [Fact]
    public async Task OutputWhoseWriteIsCancelledByItself_DoesNotFailTheInvocation()
    {
        var aggregates = new RecordingAggregateSink();
        using var function = new KinesisFunction(aggregates, new RecordingQuarantineSink(), KinesisFunctionOptions.Default with { Output = new SelfCancellingOutput() });
        byte[] evt = TestEvents.Build([new TestRecord(TestEvents.Seq(1), TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival - 1000)), TestEvents.Arrival)]);

        Exception? thrown = await Record.ExceptionAsync(() => function.HandleAsync(new MemoryStream(evt), TimeSpan.FromSeconds(30)));

        Assert.Single(aggregates.Seen);
        Assert.Null(thrown);
    }

    private sealed class SelfCancellingOutput : MemoryStream
    {
        public override void Write(byte[] buffer, int offset, int count) => throw new OperationCanceledException("The write was canceled");

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => throw new OperationCanceledException("The write was canceled");

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => throw new OperationCanceledException("The write was canceled");
    }
}
