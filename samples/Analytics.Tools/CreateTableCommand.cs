using System.CommandLine;
using Amazon.DynamoDBv2;
using Analytics.Core;
using Analytics.SampleLambda;

namespace Analytics.Tools;

/// <summary><c>create-table</c>: creates a table with the aggregate sink's key schema (on-demand) and waits until it is ACTIVE.</summary>
internal static class CreateTableCommand
{
    /// <summary>How long creation may take before the command gives up.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    public static Command Create()
    {
        (Option<Uri?> endpoint, Option<string> table) = ToolsCommand.TableOptions();
        var command = new Command("create-table", "Creates a DynamoDB table with the aggregate sink's layout (on-demand capacity) and waits until it is ACTIVE; an existing table is accepted when it has the sink's key (pk and sk strings).")
        {
            endpoint, table,
        };
        command.SetAction(async (parsed, cancellationToken) =>
        {
            Uri url = parsed.GetValue(endpoint)!;
            string name = parsed.GetValue(table)!;
            using AmazonDynamoDBClient client = SampleSinks.DynamoDbClient(url);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(Timeout);
            try
            {
                await DynamoDbTable.CreateAsync(client, name, TimeProvider.System, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                await parsed.InvocationConfiguration.Error.WriteLineAsync($"error: could not create table '{name}' at {url}: {ex.GetType().Name}: {ex.Message}").ConfigureAwait(false);
                return CommandLine.Failed;
            }

            // An existing table is accepted only with the sink's key: one of another shape was reported ACTIVE, exit 0, and
            // every write to it then failed (found by review).
            if (!(await Redrive.TableCheck.ExistsAsync(client, name, parsed.InvocationConfiguration.Error, timeout.Token).ConfigureAwait(false)).Exists)
            {
                return CommandLine.Failed;
            }

            await parsed.InvocationConfiguration.Error.WriteLineAsync($"table {name} at {url} is ACTIVE").ConfigureAwait(false);
            return CommandLine.Success;
        });
        return command;
    }
}
