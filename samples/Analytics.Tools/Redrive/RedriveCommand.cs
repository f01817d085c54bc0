using System.CommandLine;
using Amazon.DynamoDBv2;
using Amazon.S3;
using Analytics.Core;
using Analytics.SampleLambda;
using Analytics.Tools.Redrive;

namespace Analytics.Tools;

/// <summary>
/// <c>redrive</c>: applies the spill objects, then the batches Lambda gave up on (the S3 on-failure destination's
/// objects), to the aggregate table exactly once (<see cref="RedriveRun"/>). A destination object waits while a spill
/// of its shard is left. Prints what it did, never a byte of payload; exits 1 when anything is left, undecided or held
/// back.
/// </summary>
internal static class RedriveCommand
{
    /// <summary>The largest <c>--min-age-minutes</c>: a year.</summary>
    public const int MaxMinAgeMinutes = 525_600;

    /// <summary>The smallest <c>--max-keys-per-item</c>: the sink's lower limit of <see cref="DynamoDbAggregateSinkOptions.MaxPartitionKeysPerItem"/>.</summary>
    public const int MinKeysPerItem = 1;

    /// <summary>The largest <c>--max-keys-per-item</c>: the sink's upper limit of <see cref="DynamoDbAggregateSinkOptions.MaxPartitionKeysPerItem"/>.</summary>
    public const int MaxKeysPerItem = 10_000;

    /// <summary>What a run says when DynamoDB did not answer the release of the lease.</summary>
    internal static readonly string LeaseNotReleased = $"the table's lease may not be released (DynamoDB did not answer in time; a release that landed late is not seen): if it is still held, it expires {RedriveLease.Duration.TotalMinutes:0} minutes after the run's last renewal, and a run before then is refused";

    /// <summary>The line of a run an error stopped. A reader's message may quote a byte of what it read: for those, the type only.</summary>
    private static string StoppedLine(Exception ex) =>
        $"error: redrive stopped: {ex.GetType().Name}: {(ex is System.Text.Json.JsonException ? "(message not shown: it may quote a byte of an object)" : ex.Message)}";

    public static Command Create()
    {
        (Option<Uri?> endpoint, Option<string> table) = ToolsCommand.TableOptions();
        endpoint.Required = false;
        endpoint.Description = "A DynamoDB endpoint (a local server); omit for the AWS environment's";
        Option<Uri?> s3Endpoint = CommandLine.UrlOption("--s3-endpoint", "An S3 endpoint (a local server, path-style); omit for the AWS environment's");
        var spillBucket = new Option<string>("--spill-bucket") { Description = "The spill bucket (the function's ANALYTICS_SPILL_BUCKET; for a function that does not spill, any bucket without spill objects, e.g. its quarantine bucket)", HelpName = "name", Required = true };
        var spillPrefix = new Option<string>("--spill-prefix") { Description = "The spill key prefix", HelpName = "prefix", DefaultValueFactory = _ => S3SpillSinkOptions.Default.KeyPrefix };
        // A year is past any retry; far beyond it, now minus the age is before year 1 and the run would stop half way.
        Option<int> minAge = CommandLine.WholeNumberOption(
            "--min-age-minutes", "Leave spill objects written more recently for a later run (a spill not yet confirmed may still be removed by its batch's retry), with the destination objects of their shard", "minutes",
            0, MaxMinAgeMinutes, (int)SpillRedrive.DefaultMinAge.TotalMinutes, "(a year)");
        var failureBucket = new Option<string?>("--failure-bucket") { Description = "The bucket of the mapping's S3 on-failure destination (the template's FailedBatchBucket); omit to redrive spills only", HelpName = "name" };
        var failurePrefix = new Option<string>("--failure-prefix") { Description = "Only destination objects under this key prefix", HelpName = "prefix", DefaultValueFactory = _ => "aws/lambda/" };
        var quarantine = new Option<string?>("--quarantine-bucket") { Description = "Where poison records of the destination objects are quarantined again (default: --spill-bucket, as in the sample)", HelpName = "name" };
        Option<int> window = CommandLine.WholeNumberOption("--window-seconds", "The function's ANALYTICS_WINDOW_SECONDS", "seconds", 1, 3600, (int)AggregatorOptions.Default.WindowSize.TotalSeconds);
        Option<int> maxPairs = CommandLine.WholeNumberOption(
            "--max-pairs", "The function's ANALYTICS_MAX_PAIRS (AggregatorOptions.MaxPairs): a record that alone holds more (series, window) pairs is poison, quarantined and not applied, as the function judged it", "count",
            1, AggregatorOptions.MaxPairsLimit, AggregatorOptions.Default.MaxPairs);
        Option<int> maxKeys = CommandLine.WholeNumberOption(
            "--max-keys-per-item", $"The function's DynamoDbAggregateSinkOptions.MaxPartitionKeysPerItem ({MinKeysPerItem} to {MaxKeysPerItem}). The redrive keeps a mark per partition key in each item it writes (also for a function with PerShardWatermarkOnly), counted against it: at least the keys per item redriven", "count",
            MinKeysPerItem, MaxKeysPerItem, DynamoDbAggregateSinkOptions.Default.MaxPartitionKeysPerItem, "(the sink's MaxPartitionKeysPerItem range)");
        var fromCopy = new Option<bool>("--from-copy") { Description = "The spill bucket and prefix hold a copy of the function's spill objects, with every spill object of their shards not yet redriven (without it, an object found elsewhere than where the function wrote it is left: a partial copy would lose the records of the spills it lacks)" };
        // The table's name is checked with every table command's (ToolsCommand.TableOptions).
        foreach (Option name in new Option[] { spillBucket, failureBucket, quarantine })
        {
            // An empty name reached the SDK, whose error named a request property, the same for every flag (review).
            name.Validators.Add(r =>
            {
                if (r.Tokens.Count == 1 && r.Tokens[0].Value.Trim().Length == 0)
                {
                    r.AddError($"{name.Name} must not be empty");
                }
            });
        }

        var command = new Command(
            "redrive",
            "Applies the spill objects, then the batches Lambda gave up on (objects of the S3 on-failure destination), to the table, each record exactly once; holds back a shard's destination objects while a spill of that shard is left. Safe to repeat, to interrupt, and to run while the function writes. Exit 1 when anything is left, undecided or held back.")
        {
            endpoint, table, s3Endpoint, spillBucket, spillPrefix, minAge, failureBucket, failurePrefix, quarantine, window, maxPairs, maxKeys, fromCopy,
        };
        command.SetAction(async (parsed, cancellationToken) =>
        {
            TextWriter output = parsed.InvocationConfiguration.Output;
            TextWriter error = parsed.InvocationConfiguration.Error;
            string spill = parsed.GetValue(spillBucket)!;
            var options = new RedriveRunOptions(
                parsed.GetValue(table)!,
                spill,
                parsed.GetValue(spillPrefix) ?? string.Empty,
                TimeSpan.FromMinutes(parsed.GetValue(minAge)),
                parsed.GetValue(failureBucket),
                parsed.GetValue(failurePrefix) ?? string.Empty,
                parsed.GetValue(quarantine) ?? spill,
                ProcessorOptions.Default with { Aggregator = AggregatorOptions.Default with { WindowSize = TimeSpan.FromSeconds(parsed.GetValue(window)), MaxPairs = parsed.GetValue(maxPairs) } })
            {
                MaxPartitionKeysPerItem = parsed.GetValue(maxKeys),
                FromCopy = parsed.GetValue(fromCopy),
            };
            try
            {
                using AmazonDynamoDBClient dynamoDb = SampleSinks.DynamoDbClient(parsed.GetValue(endpoint));
                using AmazonS3Client s3 = SampleSinks.S3Client(parsed.GetValue(s3Endpoint));
                (bool exists, DateTimeOffset? created) = await TableCheck.ExistsAsync(dynamoDb, options.Table, error, cancellationToken).ConfigureAwait(false);
                if (!exists)
                {
                    return CommandLine.Failed;
                }

                options = options with { TableCreated = created };

                var notes = new List<string>();
                if (!await BucketCheck.CheckAsync(s3, options, error, cancellationToken, notes).ConfigureAwait(false))
                {
                    return CommandLine.Failed;
                }

                foreach (string note in notes)
                {
                    await output.WriteLineAsync(note).ConfigureAwait(false);
                }

                RedriveRunReport report = await RedriveRun.RunAsync(options, s3, dynamoDb, output, cancellationToken).ConfigureAwait(false);
                if (report.LeaseHeldBy is null && !report.LeaseReleased)
                {
                    await output.WriteLineAsync(LeaseNotReleased).ConfigureAwait(false);
                }

                if (report.LeaseHeldBy is null)
                {
                    await output.WriteLineAsync(
                        !report.Done ? "redrive: something is left, undecided or held back (lines above); exit 1"
                        : notes.Count > 0 ? "redrive: done, nothing left under the prefixes given; the note above names objects beside them"
                        : "redrive: done, nothing left").ConfigureAwait(false);
                }
                return report.Done ? CommandLine.Success : CommandLine.Failed;
            }
            catch (RedriveInterruptedException e)
            {
                // Interrupted (Ctrl-C, SIGTERM) while it held the lease: each write made stays, exactly once.
                await error.WriteLineAsync("redrive: interrupted: what was applied stays applied, each record once; " + (e.LeaseReleased ? "the table's lease is released; run it again to finish" : LeaseNotReleased)).ConfigureAwait(false);
                return CommandLine.Failed;
            }
            catch (Exception e) when (cancellationToken.IsCancellationRequested && e is OperationCanceledException or TimeoutException)
            {
                // Interrupted before the run took the lease (checking the table and the buckets): nothing was applied.
                await error.WriteLineAsync("redrive: interrupted before it began: nothing was applied").ConfigureAwait(false);
                return CommandLine.Failed;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                await error.WriteLineAsync(StoppedLine(ex)).ConfigureAwait(false);
                if (ex.Data[RedriveRun.LeaseReleasedKey] is false)
                {
                    await error.WriteLineAsync(LeaseNotReleased).ConfigureAwait(false);
                }

                return CommandLine.Failed;
            }
        });
        return command;
    }
}
