using Analytics.Core.Testing;
using Analytics.Replay;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Analytics.Emulator.Benchmarks;

/// <summary>
/// The stream-level emulator on the speed scenario: 10 shards, 10,000 records/s from one producer over 1,000
/// partition keys (metric records, 4 metric names: 4,000 series), BatchSize 1,000 with a 1 s batching window,
/// ReportBatchItemFailures, 1,769 MB (one vCPU), modeled compute 5 ms per invocation and 0.02 ms per record. Each
/// operation runs <see cref="VirtualSeconds"/> virtual seconds and returns the records processed.
/// </summary>
/// <remarks>
/// <para><b>Scripted</b> (the baseline): a handler that reads nothing and succeeds, so the time is the emulator's own:
/// producing records, routing them to shards, batching, building events, the virtual clock, the measurements.</para>
/// <para><b>SampleHttp</b> (the baseline) and <b>Sample</b>: the sample function's handler (<c>FunctionHandler</c>: the real pipeline, the real
/// <c>DynamoDbAggregateSink</c> and <c>S3QuarantineSink</c> through the AWS SDK clients) writing to the DynamoDB and S3
/// models on the virtual clock, one handler per execution environment, as <c>replay</c>'s <c>sample</c> kind runs it;
/// SampleHttp with the models' HTTP clients (every request through the SDK's pipeline and the JSON protocol), Sample
/// with their direct clients (item operations handed to the model as objects and read from them), SampleMarshalled with
/// the direct client as it was before it read the objects (each item request marshalled to JSON and parsed back). All
/// three give the same run.</para>
/// <para><b>SampleFreeSinks</b>: the same function (the real pipeline in <c>FunctionHandler</c>) with sinks that take
/// no time and store nothing, every aggregate marked durable: what the run would cost if DynamoDB, S3, the sinks and
/// the models cost nothing, the floor that no faster sink or model can go below.</para>
/// <para>Outputs are counted, not written (replay's files are a separate cost).</para>
/// </remarks>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class EmulatorBenchmarks
{
    /// <summary>
    /// One operation is seconds long: one run per iteration (Monitoring), in process (the replay project makes the
    /// generated benchmark project slow to build on a busy machine), with an hour's timeout (the in-process toolchain's
    /// default, 5 minutes per benchmark, is less than the HTTP path's six runs on a busy machine).
    /// </summary>
    public sealed class Config : ManualConfig
    {
        public Config() =>
            AddJob(Job.Default.WithStrategy(RunStrategy.Monitoring).WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(5)
                .WithToolchain(new InProcessEmitToolchain(TimeSpan.FromHours(1), logOutput: true)));
    }

    /// <summary>Records per second from the producer.</summary>
    public const int RatePerSecond = 10_000;

    /// <summary>
    /// Virtual seconds per operation: 10, and 120, long enough for what grows through a run (the DynamoDB model's table,
    /// the collections that scan it) to count; an hour is measured whole (<c>--emulator sample 3600</c>).
    /// </summary>
    [Params(10, 120)]
    public int VirtualSeconds { get; set; } = 10;

    /// <summary>Shards in the scenario.</summary>
    public const int Shards = 10;

    /// <summary>
    /// The scenario of <paramref name="seconds"/> virtual seconds; with fewer <paramref name="shards"/>, the rate and the
    /// partition keys shrink in proportion, so each shard carries the same load (a part of the run, for measuring what
    /// running parts of it side by side would give).
    /// </summary>
    public static EmulatorScenario Scenario(int seconds, int shards = Shards) => new()
    {
        Seed = 11,
        StartTime = new DateTimeOffset(2025, 1, 20, 10, 0, 0, TimeSpan.Zero),
        DurationSeconds = seconds,
        Stream = new StreamOptions { ShardCount = shards },
        Producers = [new ProducerOptions { RatePerSecond = RatePerSecond / Shards * shards, PartitionKeys = 1000 / Shards * shards, Generator = RecordGenerators.Metric(4) }],
        Mapping = new MappingOptions { BatchSize = 1000, MaximumBatchingWindowInSeconds = 1, ReportBatchItemFailures = true },
        Function = new FunctionOptions { TimeoutSeconds = 30, InitMs = 350, MemoryMb = 1769, ComputeMsPerInvocation = 5, ComputeMsPerRecord = 0.02 },
    };

    [Benchmark]
    public long Scripted() => RunScripted(VirtualSeconds).RecordsOut;

    [Benchmark(Baseline = true)]
    public long SampleHttp() => RunSample(VirtualSeconds, httpClients: true).Summary.RecordsOut;

    [Benchmark]
    public long SampleMarshalled() => RunSample(VirtualSeconds, marshalItemRequests: true).Summary.RecordsOut;

    [Benchmark]
    public long Sample() => RunSample(VirtualSeconds).Summary.RecordsOut;

    [Benchmark]
    public long SampleFreeSinks() => RunSampleFreeSinks(VirtualSeconds).RecordsOut;

    /// <summary>A run of the sample function's pipeline with sinks that cost nothing (see the class's remarks).</summary>
    public static EmulationSummary RunSampleFreeSinks(int seconds, int shards = Shards)
    {
        StreamEmulator emulator = null!;
        emulator = new StreamEmulator(Scenario(seconds, shards), _ => new FreeSinksHandler(emulator.Clock));
        return emulator.Run();
    }

    /// <summary>A run with a scripted handler without rules (every invocation succeeds).</summary>
    public static EmulationSummary RunScripted(int seconds, int shards = Shards)
    {
        StreamEmulator emulator = null!;
        emulator = new StreamEmulator(Scenario(seconds, shards), _ => new ScriptedHandler(emulator.Clock, []));
        return emulator.Run();
    }

    /// <summary>A run with the sample handler; the downstream counters tell the requests per record.</summary>
    /// <param name="seconds">Virtual seconds.</param>
    /// <param name="httpClients">Every DynamoDB request through the SDK's pipeline and the JSON protocol.</param>
    /// <param name="marshalItemRequests">The direct client as it was before it read request objects: each item request marshalled to JSON and parsed back.</param>
    /// <param name="shards">Shards (see <see cref="Scenario"/>).</param>
    public static (EmulationSummary Summary, DynamoDbModelCounters DynamoDb) RunSample(int seconds, bool httpClients = false, bool marshalItemRequests = false, int shards = Shards)
    {
        EmulatorScenario scenario = Scenario(seconds, shards);
        StreamEmulator emulator = null!;
        SampleDownstream? downstream = null;
        emulator = new StreamEmulator(scenario, _ => new SampleHandler(downstream!, emulator.Clock));
        using (downstream = new SampleDownstream(emulator.Clock, scenario.Seed, scenario.StartTime, null, httpClients))
        {
            downstream.DynamoDb.MarshalItemRequests = marshalItemRequests;
            EmulationSummary summary = emulator.Run();
            return (summary, downstream.DynamoDb.Counters);
        }
    }
}

/// <summary>The sample function's handler with sinks that take no time and keep nothing.</summary>
internal sealed class FreeSinksHandler(TimeProvider clock) : ILambdaHandler
{
    private readonly Analytics.SampleLambda.FunctionHandler _handler = new(
        new FreeAggregateSink(),
        new FreeQuarantineSink(),
        Analytics.Core.ProcessorOptions.Default with
        {
            TimeProvider = clock,
            Aggregator = Analytics.Core.AggregatorOptions.Default with { WindowSize = TimeSpan.FromSeconds(60) },
        },
        TextWriter.Null);

    private readonly System.Buffers.ArrayBufferWriter<byte> _response = new(1024);

    public async Task<ReadOnlyMemory<byte>> InvokeAsync(ReadOnlyMemory<byte> utf8Event, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        _response.ResetWrittenCount();
        await _handler.HandleAsync(utf8Event, deadline, _response, cancellationToken).ConfigureAwait(false);
        return _response.WrittenMemory.ToArray();
    }

    private sealed class FreeAggregateSink : Analytics.Core.IAggregateSink
    {
        public Task WriteAsync(Analytics.Core.AggregateBatch batch, CancellationToken cancellationToken)
        {
            for (int pair = 0; pair < batch.Count; pair++)
            {
                batch.MarkDurable(pair);
            }

            return Task.CompletedTask;
        }
    }

    private sealed class FreeQuarantineSink : Analytics.Core.IQuarantineSink
    {
        public Task<int> WriteAsync(IReadOnlyList<Analytics.Core.QuarantinedRecord> records, CancellationToken cancellationToken) => Task.FromResult(records.Count);
    }
}
