using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.S3;
using Analytics.Core;
using Analytics.Core.Testing;

namespace ConsumerNet8.Testing;

/// <summary>
/// What a consumer's test project does with the package's DynamoDB and S3 models on net8.0 (the package's net8.0 build
/// uses the AWS SDK 4.0 line): the library's own sinks, one per execution environment, write to the models through
/// the SDK clients, direct and over HTTP, under the emulator's clock; the table and the bucket then hold exactly what
/// the produced records say, computed here from the records alone.
/// </summary>
internal static class SinksOnModels
{
    public static string? Problem(bool httpClients)
    {
        var scenario = new EmulatorScenario
        {
            Seed = 7,
            DurationSeconds = 120,
            Stream = new StreamOptions { ShardCount = 2 },
            // 90 seconds of records, then 30 quiet ones in which the shards drain.
            Producers = [new ProducerOptions { Schedule = [new RateStep(0, 100), new RateStep(90, 0)], PartitionKeys = 20, Generator = RecordGenerators.WithPoison(RecordGenerators.Metric(3), 0.02) }],
            Mapping = new MappingOptions { ReportBatchItemFailures = true },
        };

        StreamEmulator emulator = null!;
        DynamoDbModel? table = null;
        S3Model? bucket = null;
        IAmazonDynamoDB? dynamoDb = null;
        IAmazonS3? s3 = null;
        emulator = new StreamEmulator(scenario, _ =>
        {
            // Two attempts per request against 30 % throttling: some pairs are left unwritten, their records reported and
            // delivered again, with pairs of the same records already written (the sink must not apply those twice).
            var retry = AwsRetryOptions.Default with { TimeProvider = emulator.Clock, JitterSeed = 7, MaxAttempts = 2 };
            var processor = new KinesisBatchProcessor(
                new DynamoDbAggregateSink(dynamoDb!, DynamoDbAggregateSinkOptions.Default with { TableName = "metrics", Retry = retry }),
                new S3QuarantineSink(s3!, S3QuarantineSinkOptions.Default with { BucketName = "quarantine", Retry = retry }),
                ProcessorOptions.Default with { TimeProvider = emulator.Clock });
            return new DelegateHandler(async (utf8Event, deadline, token) =>
            {
                var response = new ArrayBufferWriter<byte>();
                await processor.ProcessAsync(utf8Event, deadline, response, token);
                return response.WrittenMemory.ToArray();
            });
        });
        using (table = new DynamoDbModel(emulator.Clock, DynamoDbModelOptions.Default with { Seed = 7, ThrottleFraction = 0.3, Latency = LatencyDistribution.FromMilliseconds(8, 40) }))
        using (bucket = new S3Model(emulator.Clock, S3ModelOptions.Default with { Seed = 7 }))
        {
            table.CreateTable("metrics", "pk", "sk");
            bucket.CreateBucket("quarantine");
            dynamoDb = httpClients ? table.CreateHttpClient() : table.CreateClient();
            s3 = bucket.CreateClient();
            var recording = new EmulationRecording();
            EmulationSummary summary = emulator.Run(recording);
            // Every record processed (some delivered again after a partial response), none left, none sent to a destination.
            HashSet<(string Shard, string Sequence)> processed = StreamChecks.Processed(recording);
            int redelivered = recording.Invocations.Count(i => i.Outcome == InvocationOutcome.Partial);
            if (processed.Count != recording.Records.Count || summary.RecordsPending > 0 || summary.RecordsToDestination > 0 || redelivered == 0)
            {
                return $"{processed.Count} of {recording.Records.Count} processed, {summary.RecordsPending} pending, {summary.RecordsToDestination} sent to a destination, {redelivered} partial invocations";
            }

            // The truth, from the records: per (metric, service), the count and sum of values; the poison records.
            var truth = new Dictionary<(string, string), (long Count, double Sum)>();
            int poison = 0;
            foreach (StreamRecord record in recording.Records)
            {
                if (Encoding.UTF8.GetString(record.Data.Span) == "not json")
                {
                    poison++;
                    continue;
                }

                using JsonDocument sample = JsonDocument.Parse(record.Data);
                JsonElement root = sample.RootElement;
                var series = (root.GetProperty("metric").GetString()!, root.GetProperty("dimensions").GetProperty("service").GetString()!);
                (long count, double sum) = truth.GetValueOrDefault(series);
                truth[series] = (count + 1, sum + root.GetProperty("value").GetDouble());
            }

            var stored = new Dictionary<(string, string), (long Count, double Sum)>();
            foreach (Dictionary<string, AttributeValue> item in table.GetItems("metrics"))
            {
                var series = (item["metric"].S, item["dimensions"].M["service"].S);
                (long count, double sum) = stored.GetValueOrDefault(series);
                stored[series] = (count + long.Parse(item["count"].N, CultureInfo.InvariantCulture), sum + double.Parse(item["sum"].N, CultureInfo.InvariantCulture));
            }

            int quarantined = bucket.GetObjects("quarantine").Count;
            bool equal = truth.Count == stored.Count && truth.All(t => stored.TryGetValue(t.Key, out var s) && s.Count == t.Value.Count && s.Sum == t.Value.Sum);
            return equal && poison > 0 && quarantined == poison
                ? null
                : $"{truth.Count} series produced, {stored.Count} stored (equal: {equal}); {poison} poison records, {quarantined} quarantine objects";
        }
    }
}
