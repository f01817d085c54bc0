using System.Buffers;
using System.Net;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.Runtime;
using Analytics.Replay;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Exactly once at the stream level when DynamoDB applies a put but its answer never reaches the function (the hard case
/// of docs/failure-modes.md): the DynamoDB model applies every write after its latency and then answers, so without this
/// the stream-level properties never meet a write that landed while its caller saw it fail. Here a seeded share of the
/// sink's PutItem requests is applied by the model and then answered with HTTP 500, or not answered at all (the caller
/// waits until it gives up), under the same random shards, keys, ParallelizationFactor 1 to 10, bisection, throttling,
/// outages and timeouts as <see cref="ExactlyOnceStreamProperties"/>. Once drained, the table must equal the aggregates
/// computed from the records produced.
/// </summary>
public class LostAnswerStreamProperties
{
    /// <remarks>
    /// Unanswered puts take the invocation's whole remaining time: at half of them, with the 0.5 s a late-answering
    /// function has, a shard moves too slowly to drain in the run (seen: 449 of 1,200 records pending, nothing doubled),
    /// so they stay at a fifth at most.
    /// </remarks>
    [Fact]
    public void PutsThatLandButWhoseAnswersAreLost_TheTableEqualsTheTrueAggregates()
    {
        Gen<(ExactlyOnceStreamProperties.StreamCase Case, int Percent, bool Hang)> gen =
            from c in ExactlyOnceStreamProperties.AnyCase(1, 10).Generator
            from hang in ArbMap.Default.GeneratorFor<bool>()
            from percent in hang ? Gen.Elements(5, 20) : Gen.Elements(5, 20, 50)
            select (c, percent, hang);
        int cases = int.TryParse(Environment.GetEnvironmentVariable("TESTS_SOAK_CASES"), out int n) && n > 0 ? n : 6;
        long allLost = 0;
        Prop.ForAll(ExactlyOnceStreamProperties.ShrinkingCase(gen, x => x.Case, (x, c) => x with { Case = c }), x =>
            {
                var lost = new long[1];
                ExactlyOnceStreamProperties.Outcome outcome = ExactlyOnceStreamProperties.Check(x.Case, handler: (downstream, clock) => new LostAnswerFunction(downstream, clock, x.Case.Seed, x.Percent, x.Hang, lost))
                    .Record(nameof(PutsThatLandButWhoseAnswersAreLost_TheTableEqualsTheTrueAggregates), ("lostPercent", x.Percent), ("hang", x.Hang), ("lostAnswers", lost[0]));
                allLost += lost[0];
                return outcome.Holds.Label($"{outcome.Detail}; lost answers {x.Percent}% hang={x.Hang}: {lost[0]} puts landed unanswered");
            })
            .Check(Config.QuickThrowOnFailure.WithMaxTest(cases).WithQuietOnSuccess(true));

        // The cases mean something only if puts did land unanswered.
        Assert.True(allLost > 0, "no put landed unanswered in any case");
    }

    /// <summary>
    /// The sink's one watermark per shard (<c>PerShardWatermarkOnly</c>, what the README advises for many keys per item) at
    /// ParallelizationFactor 1, the only factor it is meant for, under the same faults, with lost answers or without
    /// (no stream-level property ran this layout under faults).
    /// </summary>
    [Fact]
    public void PerShardWatermarkOnly_AtParallelizationFactor1_WithLostAnswersOrNot_TheTableEqualsTheTrueAggregates()
    {
        Gen<(ExactlyOnceStreamProperties.StreamCase Case, int Percent, bool Hang)> gen =
            from c in ExactlyOnceStreamProperties.AnyCase(1, 1).Generator
            from hang in ArbMap.Default.GeneratorFor<bool>()
            from percent in Gen.Elements(0, 5, 20)
            select (c, percent, hang);
        int cases = int.TryParse(Environment.GetEnvironmentVariable("TESTS_SOAK_CASES"), out int n) && n > 0 ? n : 6;
        Prop.ForAll(ExactlyOnceStreamProperties.ShrinkingCase(gen, x => x.Case, (x, c) => x with { Case = c }), x =>
            {
                var lost = new long[1];
                ExactlyOnceStreamProperties.Outcome outcome = ExactlyOnceStreamProperties.Check(x.Case, handler: (downstream, clock) => new LostAnswerFunction(downstream, clock, x.Case.Seed, x.Percent, x.Hang, lost, perShardWatermarkOnly: true))
                    .Record(nameof(PerShardWatermarkOnly_AtParallelizationFactor1_WithLostAnswersOrNot_TheTableEqualsTheTrueAggregates), ("lostPercent", x.Percent), ("hang", x.Hang), ("lostAnswers", lost[0]));
                return outcome.Holds.Label($"{outcome.Detail}; per-shard watermark; lost answers {x.Percent}% hang={x.Hang}: {lost[0]} puts landed unanswered");
            })
            .Check(Config.QuickThrowOnFailure.WithMaxTest(cases).WithQuietOnSuccess(true));
    }

    /// <summary>
    /// Tumbling-window mode at ParallelizationFactor 1 (the factor it is exact at), retries unbounded, with lost answers on
    /// the flushes' puts, and a batching window of 0 to 5 s (no stream-level property set one): a flush that landed
    /// unanswered fails its invocation, and the retry's flush must add nothing twice.
    /// </summary>
    [Fact]
    public void TumblingWindows_WithLostAnswersAndABatchingWindow_AtParallelizationFactor1_TheTableEqualsTheTrueAggregates()
    {
        Gen<(ExactlyOnceStreamProperties.StreamCase Case, int Percent, bool Hang, int BatchingWindow)> gen =
            from c in ExactlyOnceStreamProperties.AnyCase(1, 1).Generator
            from hang in ArbMap.Default.GeneratorFor<bool>()
            from percent in Gen.Elements(5, 20)
            from batchingWindow in Gen.Elements(0, 1, 5)
            select (c with { Shards = Math.Min(c.Shards, 2), Adversarial = false }, percent, hang, batchingWindow);
        int cases = int.TryParse(Environment.GetEnvironmentVariable("TESTS_SOAK_CASES"), out int n) && n > 0 ? n : 6;
        Prop.ForAll(ExactlyOnceStreamProperties.ShrinkingCase(gen, x => x.Case, (x, c) => x with { Case = c }), x =>
            {
                var lost = new long[1];
                ExactlyOnceStreamProperties.Outcome outcome = ExactlyOnceStreamProperties.Check(
                    x.Case,
                    s => s with { Mapping = s.Mapping with { TumblingWindowInSeconds = 15, MaximumBatchingWindowInSeconds = x.BatchingWindow } },
                    (downstream, clock) => new LostAnswerFunction(downstream, clock, x.Case.Seed, x.Percent, x.Hang, lost))
                    .Record(nameof(TumblingWindows_WithLostAnswersAndABatchingWindow_AtParallelizationFactor1_TheTableEqualsTheTrueAggregates), ("lostPercent", x.Percent), ("hang", x.Hang), ("batchingWindow", x.BatchingWindow), ("lostAnswers", lost[0]));
                return outcome.Holds.Label($"{outcome.Detail}; tumbling 15 s, batching window {x.BatchingWindow} s; lost answers {x.Percent}% hang={x.Hang}: {lost[0]} puts landed unanswered");
            })
            .Check(Config.QuickThrowOnFailure.WithMaxTest(cases).WithQuietOnSuccess(true));
    }

    /// <summary>
    /// The exactly-once property with a batching window of 1 to 5 s (records gather across invocations, batches are full
    /// more often), at ParallelizationFactor 1 to 10, with lost answers.
    /// </summary>
    [Fact]
    public void ABatchingWindow_WithLostAnswers_TheTableEqualsTheTrueAggregates()
    {
        Gen<(ExactlyOnceStreamProperties.StreamCase Case, int Percent, int BatchingWindow)> gen =
            from c in ExactlyOnceStreamProperties.AnyCase(1, 10).Generator
            from percent in Gen.Elements(0, 5, 20)
            from batchingWindow in Gen.Elements(1, 5)
            select (c, percent, batchingWindow);
        int cases = int.TryParse(Environment.GetEnvironmentVariable("TESTS_SOAK_CASES"), out int n) && n > 0 ? n : 6;
        Prop.ForAll(ExactlyOnceStreamProperties.ShrinkingCase(gen, x => x.Case, (x, c) => x with { Case = c }), x =>
            {
                var lost = new long[1];
                ExactlyOnceStreamProperties.Outcome outcome = ExactlyOnceStreamProperties.Check(
                    x.Case,
                    s => s with { Mapping = s.Mapping with { MaximumBatchingWindowInSeconds = x.BatchingWindow } },
                    (downstream, clock) => new LostAnswerFunction(downstream, clock, x.Case.Seed, x.Percent, hang: false, lost))
                    .Record(nameof(ABatchingWindow_WithLostAnswers_TheTableEqualsTheTrueAggregates), ("lostPercent", x.Percent), ("batchingWindow", x.BatchingWindow), ("lostAnswers", lost[0]));
                return outcome.Holds.Label($"{outcome.Detail}; batching window {x.BatchingWindow} s; lost answers {x.Percent}%: {lost[0]} puts landed unanswered");
            })
            .Check(Config.QuickThrowOnFailure.WithMaxTest(cases).WithQuietOnSuccess(true));
    }

    /// <summary>
    /// A put sent and never answered that DynamoDB applies later, after its invocation has timed out and its retry may have
    /// read the item (a request already on the wire outlives the sandbox that sent it; the model applies a write only when
    /// its latency has passed, and the emulator stops a timed-out invocation's timers, so it never lands then).
    /// </summary>
    [Fact]
    public void PutsThatLandLate_AfterTheirInvocationEnded_TheTableEqualsTheTrueAggregates()
    {
        Gen<(ExactlyOnceStreamProperties.StreamCase Case, int Percent, int DelayMs)> gen =
            from c in ExactlyOnceStreamProperties.AnyCase(1, 10).Generator
            from percent in Gen.Elements(5, 20)
            from delay in Gen.Elements(200, 1_500, 4_000)
            select (c, percent, delay);
        int cases = int.TryParse(Environment.GetEnvironmentVariable("TESTS_SOAK_CASES"), out int n) && n > 0 ? n : 6;
        long allLate = 0;
        Prop.ForAll(Arb.From(gen, ShrinkLatePuts), x =>
            {
                var lost = new long[2];
                ExactlyOnceStreamProperties.Outcome outcome = ExactlyOnceStreamProperties.Check(x.Case, handler: (downstream, clock) => new LostAnswerFunction(downstream, clock, x.Case.Seed, x.Percent, hang: true, lost, landAfterMs: x.DelayMs))
                    .Record(nameof(PutsThatLandLate_AfterTheirInvocationEnded_TheTableEqualsTheTrueAggregates), ("lostPercent", x.Percent), ("delayMs", x.DelayMs), ("lostAnswers", lost[0]), ("landedLate", lost[1]));
                allLate += lost[1];
                return outcome.Holds.Label($"{outcome.Detail}; {x.Percent}% of puts land {x.DelayMs} ms late, unanswered: {lost[0]} sent, {lost[1]} applied");
            })
            .Check(Config.QuickThrowOnFailure.WithMaxTest(cases).WithQuietOnSuccess(true));
        Assert.True(allLate > 0, "no put was applied late");
    }

    /// <summary>
    /// Shrinks a late-put case: the stream case's own shrinks, then fewer held puts (5 %), then the shortest hold (200 ms).
    /// Without it a failure printed the drawn share and delay, never the smallest that still fails.
    /// </summary>
    internal static IEnumerable<(ExactlyOnceStreamProperties.StreamCase Case, int Percent, int DelayMs)> ShrinkLatePuts((ExactlyOnceStreamProperties.StreamCase Case, int Percent, int DelayMs) x)
    {
        foreach (ExactlyOnceStreamProperties.StreamCase c in ExactlyOnceStreamProperties.Shrink(x.Case))
        {
            yield return x with { Case = c };
        }

        if (x.Percent > 5)
        {
            yield return x with { Percent = 5 };
        }

        if (x.DelayMs > 200)
        {
            yield return x with { DelayMs = 200 };
        }
    }

    /// <summary>
    /// A case <see cref="PutsThatLandLate_AfterTheirInvocationEnded_TheTableEqualsTheTrueAggregates"/> drew: one
    /// partition key (so one lane carries all 1,200 records at ParallelizationFactor 10), batches of 5, timeouts, and a
    /// fifth of the puts unanswered until the invocation gives up. Nearly every other invocation timed out, and the shard
    /// still held 129 records when it was judged at 1,800 s: the table was short by exactly those, nothing doubled. It
    /// drains well within the 3,600 s that cases with timeouts now run.
    /// </summary>
    [Fact]
    public void Regression_OneKeyOfSmallBatchesWithHungPuts_Drains()
    {
        var lost = new long[2];
        ExactlyOnceStreamProperties.Outcome outcome = ExactlyOnceStreamProperties.Check(
            new ExactlyOnceStreamProperties.StreamCase(Seed: 871867, Shards: 1, PartitionKeys: 1, Factor: 10, Bisect: true, Adversarial: true, ThrottlePercent: 0, Outage: false, Timeouts: true, BatchSize: 5),
            handler: (downstream, clock) => new LostAnswerFunction(downstream, clock, 871867, 20, hang: true, lost, landAfterMs: 200));
        Assert.True(outcome.Holds, outcome.Detail);
        Assert.True(lost[1] > 0, "no put was applied late");
    }

    /// <summary>
    /// A case a soak of <see cref="PutsThatLandLate_AfterTheirInvocationEnded_TheTableEqualsTheTrueAggregates"/> drew
    /// (2026-12-07, one in 723): one shard at ParallelizationFactor 1, batches of 5, bisection, timeouts, an unanswered
    /// outage, 10 % throttling, and a fifth of the puts held and applied 4 s late. At the 3,600 s cases with timeouts ran
    /// then, 106 records were still pending (1,317 invocations, 528 timeouts): the table short by exactly their samples,
    /// nothing doubled, the shard moving all the time (about 95 records per 300 s). It drains at about 3,900 s, within
    /// the 7,200 s such cases run now, and the table then equals the truth.
    /// </summary>
    [Fact]
    public void Regression_HeldPutsLanding4sLate_Drains()
    {
        var lost = new long[2];
        var c = new ExactlyOnceStreamProperties.StreamCase(Seed: 6084, Shards: 1, PartitionKeys: 8082, Factor: 1, Bisect: true, Adversarial: true, ThrottlePercent: 10, Outage: true, Timeouts: true, BatchSize: 5, KeyPrefix: "\uFFFD", Unanswered: true, Redelivery: 0.1);
        ExactlyOnceStreamProperties.Outcome outcome = ExactlyOnceStreamProperties.Check(
            c,
            handler: (downstream, clock) => new LostAnswerFunction(downstream, clock, c.Seed, 20, hang: true, lost, landAfterMs: 4_000));
        Assert.True(outcome.Holds, outcome.Detail);
        Assert.True(lost[1] > 0, "no put was applied late");
    }

    /// <summary>The library's processor with the sample's sinks, its DynamoDB client behind <see cref="LostAnswers"/>.</summary>
    internal sealed class LostAnswerFunction : ILambdaHandler
    {
        private readonly KinesisBatchProcessor _processor;
        private readonly ArrayBufferWriter<byte> _response = new(1024);

        public LostAnswerFunction(SampleDownstream downstream, TimeProvider clock, int seed, int percent, bool hang, long[] lost, bool perShardWatermarkOnly = false, int landAfterMs = 0)
        {
            var client = new ModelDynamoDbClient(new AnonymousAWSCredentials(), ModelSdkClients.DynamoDbConfig(new LostAnswers(downstream.DynamoDb.HttpHandler, clock, seed, percent, hang, lost, landAfterMs)));
            var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with
            {
                TableName = SampleDownstream.TableName,
                PerShardWatermarkOnly = perShardWatermarkOnly,
                Retry = DynamoDbAggregateSinkOptions.Default.Retry with { TimeProvider = clock, JitterSeed = seed },
            });
            _processor = new KinesisBatchProcessor(sink, downstream.CreateQuarantineSink(), ProcessorOptions.Default with { TimeProvider = clock });
        }

        public async Task<ReadOnlyMemory<byte>> InvokeAsync(ReadOnlyMemory<byte> utf8Event, DateTimeOffset deadline, CancellationToken cancellationToken)
        {
            _response.ResetWrittenCount();
            await _processor.ProcessAsync(utf8Event, deadline, _response, cancellationToken).ConfigureAwait(false);
            return _response.WrittenMemory.ToArray();
        }
    }

    /// <summary>
    /// In front of the DynamoDB model: a seeded share of PutItem requests that the model applied (answered 200) are
    /// answered HTTP 500 instead, or (<paramref name="hang"/>) not at all until the caller cancels.
    /// </summary>
    private sealed class LostAnswers(HttpMessageHandler model, TimeProvider clock, int seed, int percent, bool hang, long[] lost, int landAfterMs = 0) : DelegatingHandler(model)
    {
        private static readonly byte[] s_serverError = Encoding.UTF8.GetBytes("{\"__type\":\"com.amazonaws.dynamodb.v20120810#InternalServerError\",\"message\":\"Internal server error\"}");
        private long _puts;

        private async Task LandLateAsync(HttpRequestMessage copy)
        {
            if (await HeldPuts.ApplyAfterAsync(InnerHandler!, copy, TimeSpan.FromMilliseconds(landAfterMs), clock).ConfigureAwait(false) && lost.Length > 1)
            {
                Interlocked.Increment(ref lost[1]);
            }
        }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            bool put = request.Headers.TryGetValues("X-Amz-Target", out IEnumerable<string>? values) && (values.FirstOrDefault() ?? string.Empty).EndsWith(".PutItem", StringComparison.Ordinal);
            if (put && landAfterMs > 0)
            {
                if (SeededMix.Below(seed, Interlocked.Increment(ref _puts), percent))
                {
                    await HeldPuts.HoldAsync(request, LandLateAsync, cancellationToken).ConfigureAwait(false);

                    Interlocked.Increment(ref lost[0]);
                    await ClockDelay.WaitAsync(clock, Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false);
                    cancellationToken.ThrowIfCancellationRequested();
                }

                return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            }

            HttpResponseMessage answer = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (!put || answer.StatusCode != HttpStatusCode.OK)
            {
                return answer;
            }

            if (!SeededMix.Below(seed, Interlocked.Increment(ref _puts), percent))
            {
                return answer;
            }

            answer.Dispose();
            Interlocked.Increment(ref lost[0]);
            if (hang)
            {
                await ClockDelay.WaitAsync(clock, Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
            }

            var response = new HttpResponseMessage(HttpStatusCode.InternalServerError) { RequestMessage = request, Content = new ByteArrayContent(s_serverError) };
            response.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-amz-json-1.0");
            return response;
        }
    }
}
