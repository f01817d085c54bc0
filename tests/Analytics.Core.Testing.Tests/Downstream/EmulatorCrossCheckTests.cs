using System.Buffers;
using Amazon.DynamoDBv2;
using Amazon.S3;
using Analytics.Core.Tests;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// One stream-level scenario run twice by the emulator with the same function (the real pipeline and sinks): once
/// writing to the DynamoDB and S3 models in virtual time, once to the local servers (dynalite, s3rver) in real time.
/// The runs must invoke the function alike and end with equal tables and equal objects; on the models, the DynamoDB
/// model's direct client and its HTTP client give the same run.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class EmulatorCrossCheckTests(LocalServersFixture servers)
{
    private static EmulatorScenario Scenario => new()
    {
        Seed = 17,
        StartTime = new DateTimeOffset(2025, 1, 20, 10, 0, 30, TimeSpan.Zero), // windows of the aggregator cross a minute
        DurationSeconds = 45,
        Stream = new StreamOptions { ShardCount = 2 },
        Producers = [new ProducerOptions { RatePerSecond = 12, PartitionKeys = 5, Generator = RecordGenerators.WithPoison(RecordGenerators.Metric(3), 0.05) }],
        Mapping = new MappingOptions { BatchSize = 25, ReportBatchItemFailures = true, ParallelizationFactor = 2 },
        Function = new FunctionOptions { TimeoutSeconds = 60, InitMs = 200, MemoryMb = 1024, ComputeMsPerInvocation = 40, ComputeMsPerRecord = 1 },
    };

    [Fact]
    public async Task SampleScenario_OnTheModelsInVirtualTime_AndOnTheLocalServersInRealTime_EndsWithEqualTablesAndObjects()
    {
        // The models, in virtual time (as replay's sample handler runs), through both of the DynamoDB model's clients:
        // the direct one (item operations handed over as objects) and the HTTP one (the SDK's pipeline and JSON).
        EmulatorScenario scenario = Scenario;
        ModelRun direct = await RunOnModelsAsync(scenario, http: false);
        ModelRun http = await RunOnModelsAsync(scenario, http: true);

        // The local servers, in real time: the emulator waits for each invocation's real I/O before time moves on.
        string table = await servers.CreateTableAsync("emu-xcheck");
        string bucket = await servers.CreateBucketAsync("emu-xcheck");
        using AmazonDynamoDBClient realDynamo = servers.CreateDynamoDbClient();
        using AmazonS3Client realS3 = servers.CreateS3Client();
        StreamEmulator realEmulator = null!;
        realEmulator = new StreamEmulator(scenario with { RealTimeSettle = TimeSpan.FromSeconds(30) }, _ => Function(realDynamo, realS3, table, bucket, realEmulator.Clock));
        var realRun = new Outputs();
        EmulationSummary realSummary = await Task.Run(() => realEmulator.Run(realRun));
        List<string> realTable = await ModelCrossCheckTests.ReadTableAsync(realDynamo, table);
        List<(string Key, string Body)> realObjects = await ModelCrossCheckTests.ReadBucketAsync(realS3, bucket);

        // The same invocations with the same outcomes, so the same writes were asked of both downstreams.
        Assert.True(direct.Summary.RecordsOut > 400, $"only {direct.Summary.RecordsOut} records processed");
        Assert.NotEmpty(realTable);
        Assert.NotEmpty(realObjects);
        Assert.Equal(direct.Run.PoisonDelivered.Count, realObjects.Count); // every poison record delivered is quarantined once
        foreach (ModelRun model in (ModelRun[])[direct, http])
        {
            // The first invocation that differs says more than the summaries do.
            int differs = Enumerable.Range(0, Math.Min(realRun.Invocations.Count, model.Run.Invocations.Count)).FirstOrDefault(i => realRun.Invocations[i] != model.Run.Invocations[i], -1);
            Assert.True(
                differs < 0 && realRun.Invocations.Count == model.Run.Invocations.Count,
                differs < 0 ? $"{realRun.Invocations.Count} invocations on the servers, {model.Run.Invocations.Count} on the models" : $"invocation {differs}: on the servers\n{realRun.Invocations[differs]}\non the models\n{model.Run.Invocations[differs]}");
            // The run on the servers waits on real time (RealTimeSettle), so it is never called reproducible; all else is equal.
            Assert.Equal(realSummary, model.Summary with { Reproducible = false });
            Assert.True(model.Summary.Reproducible);
            Assert.Equal(realRun.Invocations, model.Run.Invocations);
            Assert.Equal(realTable, model.Table);
            Assert.Equal(realObjects, model.Objects);
        }

        Assert.Equal(http.Requests, direct.Requests);
    }

    private static async Task<ModelRun> RunOnModelsAsync(EmulatorScenario scenario, bool http)
    {
        const string Table = "aggregates";
        const string Bucket = "quarantine";
        AmazonDynamoDBClient? modelDynamo = null;
        AmazonS3Client? modelS3 = null;
        StreamEmulator modelEmulator = null!;
        modelEmulator = new StreamEmulator(scenario, _ => Function(modelDynamo!, modelS3!, Table, Bucket, modelEmulator.Clock));
        using var dynamoModel = new DynamoDbModel(modelEmulator.Clock, DynamoDbModelOptions.Default with { Seed = scenario.Seed });
        using var s3Model = new S3Model(modelEmulator.Clock, S3ModelOptions.Default with { Seed = scenario.Seed });
        using (modelDynamo = http ? dynamoModel.CreateHttpClient() : dynamoModel.CreateClient())
        using (modelS3 = s3Model.CreateClient())
        {
            // Set up before the clock moves (no latency configured: the requests complete at once).
            await DynamoDbTable.CreateAsync(modelDynamo, Table, TimeProvider.System, CancellationToken.None);
            await modelS3.PutBucketAsync(Bucket);
            var modelRun = new Outputs();
            EmulationSummary modelSummary = modelEmulator.Run(modelRun);
            long requests = dynamoModel.Counters.Requests;
            return new ModelRun(
                modelSummary,
                modelRun,
                await ModelCrossCheckTests.ReadTableAsync(modelDynamo, Table),
                await ModelCrossCheckTests.ReadBucketAsync(modelS3, Bucket),
                requests);
        }
    }

    private static ILambdaHandler Function(IAmazonDynamoDB dynamoDb, IAmazonS3 s3, string table, string bucket, TimeProvider clock)
    {
        // One function per execution environment, as Lambda builds it at init; retries wait on the emulator's clock.
        AwsRetryOptions retry = AwsRetryOptions.Default with { TimeProvider = clock, JitterSeed = 17 };
        var aggregates = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = retry });
        var quarantine = new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = bucket, Retry = retry });
        return new ProcessorHandler(new KinesisBatchProcessor(aggregates, quarantine, ProcessorOptions.Default with { TimeProvider = clock }));
    }

    private sealed class ProcessorHandler(KinesisBatchProcessor processor) : ILambdaHandler
    {
        public async Task<ReadOnlyMemory<byte>> InvokeAsync(ReadOnlyMemory<byte> utf8Event, DateTimeOffset deadline, CancellationToken cancellationToken)
        {
            var response = new ArrayBufferWriter<byte>();
            await processor.ProcessAsync(utf8Event, deadline, response, cancellationToken).ConfigureAwait(false);
            return response.WrittenMemory;
        }
    }

    private sealed record ModelRun(EmulationSummary Summary, Outputs Run, List<string> Table, List<(string Key, string Body)> Objects, long Requests);

    private sealed class Outputs : IEmulationObserver
    {
        private readonly HashSet<string> _poison = new(StringComparer.Ordinal);

        public List<string> Invocations { get; } = [];

        public HashSet<string> PoisonDelivered { get; } = new(StringComparer.Ordinal);

        public void OnRecord(StreamRecord record)
        {
            if (!record.Data.Span.SequenceEqual("not json"u8))
            {
                return;
            }

            _poison.Add(record.SequenceNumber);
        }

        public void OnInvocation(InvocationReport invocation)
        {
            Invocations.Add($"{invocation.Invocation} {invocation.ShardId}/{invocation.Lane} {invocation.StartMs}-{invocation.EndMs} {invocation.Outcome} {invocation.Checkpoint} "
                + string.Join(",", invocation.Records.Select(r => r.SequenceNumber)));
            foreach (DeliveredRecord record in invocation.Records)
            {
                if (_poison.Contains(record.SequenceNumber))
                {
                    PoisonDelivered.Add(record.SequenceNumber);
                }
            }
        }

        public void OnDestination(DestinationRecord record)
        {
        }

        public void OnSecond(ShardSecond metrics)
        {
        }
    }
}
