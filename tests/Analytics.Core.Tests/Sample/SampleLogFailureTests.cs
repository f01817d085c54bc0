using System.Buffers;
using System.Text;
using System.Text.Json;
using Analytics.Core.Tests.Pipeline;

namespace Analytics.Core.Tests.Sample;

/// <summary>
/// Found by a hostile-producer review (2026-12-07): the sample's handler wrote its log lines after the sinks had
/// written and let the write's failure fail the invocation, so Lambda delivered the batch again and the file sinks
/// appended its aggregates a second time (with DynamoDB, every invocation failed while the log was broken).
/// <see cref="KinesisFunction"/> already kept such a failure from the invocation; the sample now does too.
/// </summary>
public class SampleLogFailureTests
{
    private static TestRecord Good(int n) => new(TestEvents.Seq(n), TestEvents.Utf8(TestEvents.Sample("m", n, TestEvents.Arrival - 1000)), TestEvents.Arrival);

    private sealed class BrokenWriter : TextWriter
    {
        public int Writes { get; private set; }

        public override Encoding Encoding => Encoding.UTF8;

        public override void Write(char value)
        {
            Writes++;
            throw new IOException("No space left on device");
        }

        public override Task WriteAsync(string? value)
        {
            Writes++;
            throw new IOException("No space left on device");
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => throw new IOException("No space left on device");
    }

    [Fact]
    public async Task ALogThatCannotBeWritten_DoesNotFailTheInvocation_SoNothingIsWrittenTwice()
    {
        string dir = Directory.CreateTempSubdirectory("sample-log-").FullName;
        try
        {
            string aggregates = Path.Combine(dir, "aggregates.jsonl");
            string quarantine = Path.Combine(dir, "quarantine.jsonl");
            var log = new BrokenWriter();
            await using (var handler = new Analytics.SampleLambda.FunctionHandler(new JsonLinesAggregateSink(aggregates), new JsonLinesQuarantineSink(quarantine), ProcessorOptions.Default, log))
            {
                var response = new ArrayBufferWriter<byte>();
                await handler.HandleAsync(TestEvents.Build([Good(1), Good(2), new TestRecord(TestEvents.Seq(3), TestEvents.Utf8("{"), TestEvents.Arrival)]), DateTimeOffset.UtcNow.AddSeconds(30), response, CancellationToken.None);

                using JsonDocument answer = JsonDocument.Parse(response.WrittenMemory);
                Assert.Equal(0, answer.RootElement.GetProperty("batchItemFailures").GetArrayLength());
                Assert.Equal((2, 1), (handler.LastSummary!.ValidRecords, handler.LastSummary.Quarantined));

                // The next invocation is handled too, and tries the log again.
                int writes = log.Writes;
                response.ResetWrittenCount();
                await handler.HandleAsync(TestEvents.Build([Good(4)]), DateTimeOffset.UtcNow.AddSeconds(30), response, CancellationToken.None);
                Assert.True(log.Writes > writes);
            }

            // One aggregate line per (series, window) per invocation: the first invocation's pair is there once.
            string[] lines = File.ReadAllLines(aggregates);
            Assert.Equal(2, lines.Length);
            Assert.Single(File.ReadAllLines(quarantine));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task AFailedWindowInvocation_WithALogThatCannotBeWritten_FailsWithItsOwnException()
    {
        var aggregates = new RecordingAggregateSink { Durable = _ => false, Throw = new IOException("table down") };
        await using var handler = new Analytics.SampleLambda.FunctionHandler(aggregates, new RecordingQuarantineSink(), ProcessorOptions.Default, new BrokenWriter());

        BatchFailedException e = await Assert.ThrowsAsync<BatchFailedException>(() => handler.HandleAsync(
            TestEvents.BuildWindow([Good(1)], "{}", final: true), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>(), CancellationToken.None));

        Assert.Same(e.Summary, handler.LastSummary);
    }
}
