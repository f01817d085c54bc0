using System.CommandLine;
using Amazon.DynamoDBv2;
using Amazon.S3;
using Analytics.Core;
using Analytics.SampleLambda;

namespace Analytics.Tools;

/// <summary><c>redrive</c>: applies the spill objects of a bucket to the aggregate table exactly once and deletes them.</summary>
internal static class RedriveCommand
{
    public static Command Create()
    {
        (Option<Uri?> endpoint, Option<string> table) = ToolsCommand.TableOptions();
        endpoint.Required = false;
        endpoint.Description = "A DynamoDB endpoint (a local server); omit for the AWS environment's";
        Option<Uri?> s3Endpoint = CommandLine.UrlOption("--s3-endpoint", "An S3 endpoint (a local server, path-style); omit for the AWS environment's");
        var bucket = new Option<string>("--bucket") { Description = "The spill bucket (ANALYTICS_SPILL_BUCKET of the function)", HelpName = "name", Required = true };
        var prefix = new Option<string>("--prefix") { Description = "The spill key prefix", HelpName = "prefix", DefaultValueFactory = _ => S3SpillSinkOptions.Default.KeyPrefix };
        var minAge = new Option<int>("--min-age-minutes") { Description = "Leave objects written more recently for a later run (a spill not yet confirmed may still be removed by its batch's retry)", HelpName = "minutes", DefaultValueFactory = _ => (int)SpillRedrive.DefaultMinAge.TotalMinutes };
        var command = new Command("redrive", "Applies every spill object under the prefix to the table exactly once (safe to repeat, to interrupt, and to run while the function writes), deletes each object once all of it is applied, and exits 1 when anything is left.")
        {
            endpoint, table, s3Endpoint, bucket, prefix, minAge,
        };
        command.SetAction(async (parsed, cancellationToken) =>
        {
            TextWriter output = parsed.InvocationConfiguration.Output;
            try
            {
                using AmazonDynamoDBClient dynamoDb = SampleSinks.DynamoDbClient(parsed.GetValue(endpoint));
                using AmazonS3Client s3 = SampleSinks.S3Client(parsed.GetValue(s3Endpoint));
                if (!await Redrive.TableCheck.ExistsAsync(dynamoDb, parsed.GetValue(table)!, parsed.InvocationConfiguration.Error, cancellationToken).ConfigureAwait(false))
                {
                    return CommandLine.Failed;
                }

                var sink = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = parsed.GetValue(table)! });
                RedriveReport report = await SpillRedrive.ApplyAsync(s3, parsed.GetValue(bucket)!, parsed.GetValue(prefix) ?? string.Empty, sink, output, TimeSpan.FromMinutes(Math.Max(0, parsed.GetValue(minAge))), TimeProvider.System, cancellationToken).ConfigureAwait(false);
                return report.Done ? CommandLine.Success : CommandLine.Failed;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                await parsed.InvocationConfiguration.Error.WriteLineAsync($"error: redrive stopped: {ex.GetType().Name}: {ex.Message}").ConfigureAwait(false);
                return CommandLine.Failed;
            }
        });
        return command;
    }
}
