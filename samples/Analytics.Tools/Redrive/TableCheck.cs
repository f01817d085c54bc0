using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;

namespace Analytics.Tools.Redrive;

/// <summary>
/// Both redrives check the table first: with nothing to apply they touch no item, so a mistyped table name would
/// otherwise end in "nothing left" and exit 0, and the operator would learn of it only at the next outage.
/// </summary>
internal static class TableCheck
{
    /// <summary>Whether the table exists; otherwise one <c>error:</c> line on <paramref name="stderr"/>.</summary>
    public static async Task<bool> ExistsAsync(IAmazonDynamoDB dynamoDb, string table, TextWriter stderr, CancellationToken cancellationToken)
    {
        try
        {
            await dynamoDb.DescribeTableAsync(table, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (ResourceNotFoundException)
        {
            await stderr.WriteLineAsync($"error: the table '{table}' does not exist (DynamoDB answered ResourceNotFoundException): check --table and the endpoint or region").ConfigureAwait(false);
            return false;
        }
        catch (Exception ex) when (ex is AmazonServiceException or HttpRequestException)
        {
            await stderr.WriteLineAsync($"error: the table '{table}' could not be described: {ex.GetType().Name}: {ex.Message}").ConfigureAwait(false);
            return false;
        }
    }
}
