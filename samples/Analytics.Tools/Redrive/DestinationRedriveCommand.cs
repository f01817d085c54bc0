using System.CommandLine;
using System.Globalization;
using Amazon.DynamoDBv2;
using Amazon.Runtime;
using Amazon.S3;
using Analytics.Core;
using Analytics.SampleLambda;

namespace Analytics.Tools.Redrive;

/// <summary>
/// <c>redrive-failures</c>: applies the batches Lambda gave up on, from the mapping's S3 on-failure destination, to the
/// aggregate table exactly once (<see cref="DestinationRedrive"/>). Prints one line per object and one per undecided or
/// left (record, aggregate), never a byte of payload; exits 1 when anything is undecided or left.
/// </summary>
internal static class DestinationRedriveCommand
{
    public static Command Create()
    {
        var bucket = new Option<string>("--bucket") { Description = "The bucket of the mapping's S3 on-failure destination", HelpName = "name", Required = true };
        var prefix = new Option<string>("--prefix") { Description = "Only objects under this key prefix", HelpName = "prefix", DefaultValueFactory = _ => "aws/lambda/" };
        var table = new Option<string>("--table") { Description = "The function's aggregate table", HelpName = "name", Required = true };
        var quarantine = new Option<string?>("--quarantine-bucket") { Description = "Where poison records of the objects are quarantined (default: --bucket)", HelpName = "name" };
        var window = new Option<int>("--window-seconds") { Description = "The function's ANALYTICS_WINDOW_SECONDS", HelpName = "seconds", DefaultValueFactory = _ => (int)AggregatorOptions.Default.WindowSize.TotalSeconds };
        Option<Uri?> dynamoDb = CommandLine.UrlOption("--dynamodb-endpoint", "A DynamoDB endpoint (a local server); default: the AWS environment's");
        Option<Uri?> s3 = CommandLine.UrlOption("--s3-endpoint", "An S3 endpoint (a local server, path-style); default: the AWS environment's");
        window.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() is < 1 or > 3600)
            {
                r.AddError("--window-seconds must be 1 to 3600");
            }
        });
        var command = new Command(
            "redrive-failures",
            "Applies the batches Lambda gave up on (objects of the S3 on-failure destination, with their payload) to the aggregate table, each (record, aggregate) exactly once; reports what cannot be decided and applies nothing for it. Exit 1 when anything is undecided or left.")
        {
            bucket, prefix, table, quarantine, window, dynamoDb, s3,
        };
        command.SetAction(async (parsed, cancellationToken) =>
        {
            string bucketName = parsed.GetValue(bucket)!;
            var options = new DestinationRedriveOptions(
                bucketName,
                parsed.GetValue(prefix) ?? string.Empty,
                parsed.GetValue(table)!,
                ProcessorOptions.Default with { Aggregator = AggregatorOptions.Default with { WindowSize = TimeSpan.FromSeconds(parsed.GetValue(window)) } },
                parsed.GetValue(quarantine) ?? bucketName);
            using AmazonDynamoDBClient dynamoDbClient = SampleSinks.DynamoDbClient(parsed.GetValue(dynamoDb));
            using AmazonS3Client s3Client = SampleSinks.S3Client(parsed.GetValue(s3));
            if (!await TableCheck.ExistsAsync(dynamoDbClient, options.Table, parsed.InvocationConfiguration.Error, cancellationToken).ConfigureAwait(false))
            {
                return CommandLine.Failed;
            }

            return await RunAsync(new DestinationRedrive(s3Client, dynamoDbClient, options), parsed.InvocationConfiguration.Output, parsed.InvocationConfiguration.Error, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>Runs a redrive and prints its report.</summary>
    /// <returns>0 when every object is complete, 1 otherwise.</returns>
    public static async Task<int> RunAsync(DestinationRedrive redrive, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        IReadOnlyList<RedriveObjectResult> results;
        try
        {
            results = await redrive.RunAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AmazonServiceException or HttpRequestException or InvalidDataException or InvalidOperationException)
        {
            await stderr.WriteLineAsync($"error: the redrive stopped: {ex.GetType().Name}: {ex.Message}").ConfigureAwait(false);
            return CommandLine.Failed;
        }

        await stdout.WriteLineAsync(Format(results)).ConfigureAwait(false);
        return results.All(r => r.Complete) ? CommandLine.Success : CommandLine.Failed;
    }

    /// <summary>The report: one line per object, one per case, a total. Keys, shard ids, sequence numbers, windows and a hash of the item: no payload.</summary>
    public static string Format(IReadOnlyList<RedriveObjectResult> results)
    {
        var text = new System.Text.StringBuilder();
        foreach (RedriveObjectResult r in results)
        {
            text.Append(CultureInfo.InvariantCulture, $"object {r.Key} shard={r.ShardId} records={r.Records} applied={r.Applied} alreadyApplied={r.AlreadyApplied} undecided={r.Undecided} left={r.Left}");
            text.Append(r.FromMarker ? " (done by an earlier run)" : string.Empty);
            text.AppendLine(r.Error is null ? string.Empty : " error: " + r.Error);
            foreach (RedriveCase c in r.Cases)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  {c.Status.ToString().ToLowerInvariant()} shard={c.ShardId} sequenceNumber={c.SequenceNumber} window={c.ItemSk} item={c.ItemId}: {c.Reason}");
            }
        }

        int complete = results.Count(r => r.Complete);
        text.Append(CultureInfo.InvariantCulture, $"{results.Count} object(s): {complete} complete, {results.Count - complete} with something undecided or left; ");
        text.Append(CultureInfo.InvariantCulture, $"{results.Sum(r => r.Applied)} (record, aggregate) pairs applied, {results.Sum(r => r.AlreadyApplied)} already applied, {results.Sum(r => r.Undecided)} undecided, {results.Sum(r => r.Left)} left");
        text.Append(results.Any(r => r.Undecided > 0) ? $". Undecided pairs are listed in full in {DestinationRedriveOptions.MarkerPrefix}<object key>.json" : string.Empty);
        return text.ToString();
    }
}
