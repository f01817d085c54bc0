using System.Globalization;
using System.Text.Json;
using Analytics.Replay;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Found by a hostile-producer review (2026-12-07): a producer whose bad release makes every record poison, at a
/// shard's full write rate (1,000 records/s) and ParallelizationFactor 1 (which tumbling windows need), made the shard
/// fall behind without limit: the S3 quarantine sink stores one object per record, at most 8 at once, so one shard
/// quarantined about 200 records/s whatever the batch size (iterator age 96 s after 120 s, still rising). The default
/// is now 64 uploads at once. One object per record stays (its key is the record's, so a re-delivery overwrites it),
/// and an invocation waits for its slowest upload, so at BatchSize 100 the shard is bound by the slowest of 100 PUTs
/// per invocation: docs/failure-modes.md, "A flood of poison".
/// </summary>
public class PoisonFloodTests
{
    private static string Scenario(int batchSize) => $$"""
        {
          "seed": 5,
          "startTime": "2025-01-20T10:00:00Z",
          "durationSeconds": 120,
          "stream": { "shards": 1 },
          "producers": [
            { "ratePerSecond": 1000, "partitionKeys": 50, "generator": { "kind": "metric", "metrics": 3, "poisonFraction": 1.0, "poison": "not json" } }
          ],
          "mapping": { "BatchSize": {{batchSize}}, "MaximumBatchingWindowInSeconds": 1, "FunctionResponseTypes": ["ReportBatchItemFailures"], "ParallelizationFactor": 1, "BisectBatchOnFunctionError": true, "MaximumRetryAttempts": 3 },
          "function": { "timeoutSeconds": 120, "initMs": 350, "memoryMb": 1024, "computeMsPerInvocation": 5, "computeMsPerRecord": 0.05 },
          "downstream": { "dynamodb": { "latencyMs": { "p50": 6, "p99": 40 } }, "s3": { "latencyMs": { "p50": 30, "p99": 120 } } },
          "handler": { "kind": "sample" }
        }
        """;

    private static (long MaxIteratorAgeMs, int Produced, int Processed, HashSet<string> Quarantined) Run(int batchSize)
    {
        string directory = Path.Combine(Path.GetTempPath(), "poison-flood-" + Guid.NewGuid().ToString("N"));
        string file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, Scenario(batchSize));
            var output = new StringWriter();
            var error = new StringWriter();
            int exit = ReplayCommand.Run(["--scenario", file, "--out", directory], output, error);
            Assert.True(exit == 0, error.ToString() + output);

            // From the files, not the summary: iterator age per second, every record produced, every object stored.
            string[] metrics = File.ReadAllLines(Path.Combine(directory, "metrics.csv"));
            int ageColumn = Array.IndexOf(metrics[0].Split(','), "iteratorAgeMs");
            int outColumn = Array.IndexOf(metrics[0].Split(','), "recordsOut");
            long maxAge = metrics.Skip(1).Max(l => long.Parse(l.Split(',')[ageColumn], CultureInfo.InvariantCulture));
            int processed = metrics.Skip(1).Sum(l => int.Parse(l.Split(',')[outColumn], CultureInfo.InvariantCulture));
            var records = new HashSet<string>(StringComparer.Ordinal);
            foreach (string line in File.ReadLines(Path.Combine(directory, "records.jsonl")))
            {
                using JsonDocument record = JsonDocument.Parse(line);
                records.Add(record.RootElement.GetProperty("sequenceNumber").GetString()!);
            }

            // The bucket holds one object per key (the record's), so a record quarantined twice is one object: what can
            // be checked is that every object is a produced record's, with the reason the producer gave it.
            var quarantined = new HashSet<string>(StringComparer.Ordinal);
            foreach (string line in File.ReadLines(Path.Combine(directory, "quarantine.jsonl")))
            {
                using JsonDocument entry = JsonDocument.Parse(line);
                string sequence = entry.RootElement.GetProperty("sequenceNumber").GetString()!;
                Assert.Contains(sequence, records);
                Assert.Equal("InvalidJson", entry.RootElement.GetProperty("reason").GetString());
                quarantined.Add(sequence);
            }

            return (maxAge, records.Count, processed, quarantined);
        }
        finally
        {
            File.Delete(file);
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }

    [Fact]
    public void EveryRecordPoison_AtAShardsFullRate_BatchSize500_KeepsUp_EveryProcessedRecordQuarantined()
    {
        (long maxAge, int produced, int processed, HashSet<string> quarantined) = Run(500);

        Assert.Equal(120_000, produced);
        Assert.True(maxAge < 5_000, $"iterator age reached {maxAge} ms");
        Assert.True(processed >= produced - 2_000, $"{processed} of {produced} processed");
        Assert.True(quarantined.Count >= processed, $"{quarantined.Count} quarantined, {processed} processed");
    }

    [Fact]
    public void EveryRecordPoison_AtAShardsFullRate_BatchSize100_QuarantinesThreeTimesWhatEightUploadsDid()
    {
        (long _, int produced, int processed, HashSet<string> quarantined) = Run(100);

        // 8 uploads at once quarantined 23,500 records in these 120 s; 64 quarantine 72,100. Bound by the slowest of each
        // invocation's 100 uploads, not by the sink's concurrency (128 at once gave 75,200).
        Assert.Equal(120_000, produced);
        Assert.True(processed > 3 * 23_500, $"{processed} processed");
        Assert.True(quarantined.Count >= processed, $"{quarantined.Count} quarantined, {processed} processed");
    }
}
