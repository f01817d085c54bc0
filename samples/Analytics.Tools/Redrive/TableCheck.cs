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
    /// <summary>
    /// Whether the table exists, and when it was created (UTC; null when DynamoDB does not say); otherwise one
    /// <c>error:</c> line on <paramref name="stderr"/>. The creation time tells a table restored or created again under
    /// the same name from the one an earlier run wrote to (<see cref="DestinationRedriveOptions.TableCreated"/>).
    /// </summary>
    public static async Task<(bool Exists, DateTimeOffset? Created)> ExistsAsync(IAmazonDynamoDB dynamoDb, string table, TextWriter stderr, CancellationToken cancellationToken)
    {
        try
        {
            DescribeTableResponse described = await dynamoDb.DescribeTableAsync(table, cancellationToken).ConfigureAwait(false);
            if (NotTheSinksKey(described.Table) is { } key)
            {
                // Found by review: such a table failed the run half way with DynamoDB's "The provided key element does
                // not match the schema", naming neither the table nor the flag.
                await stderr.WriteLineAsync($"error: the table '{table}' is not an aggregate table: its key is {key}, and the sink's is pk (S, HASH) and sk (S, RANGE): check --table; nothing done").ConfigureAwait(false);
                return (false, null);
            }

            return (true, described.Table?.CreationDateTime is { } created ? new DateTimeOffset(created.ToUniversalTime(), TimeSpan.Zero) : null);
        }
        catch (ResourceNotFoundException)
        {
            await stderr.WriteLineAsync($"error: the table '{table}' does not exist (DynamoDB answered ResourceNotFoundException): check --table and the endpoint or region").ConfigureAwait(false);
            return (false, null);
        }
        catch (Exception ex) when (ex is AmazonServiceException or HttpRequestException)
        {
            await stderr.WriteLineAsync($"error: the table '{table}' could not be described: {ex.GetType().Name}: {ex.Message}").ConfigureAwait(false);
            return (false, null);
        }
    }

    /// <summary>The table's key as text when it is not the aggregate sink's (pk S HASH, sk S RANGE); null when it is or DynamoDB does not say.</summary>
    private static string? NotTheSinksKey(TableDescription? description)
    {
        if (description?.KeySchema is not { Count: > 0 } schema)
        {
            return null;
        }

        string Type(string name) => description.AttributeDefinitions?.FirstOrDefault(a => a.AttributeName == name)?.AttributeType?.Value ?? "?";
        bool sinks = schema.Count == 2 &&
            schema.Any(k => k.AttributeName == "pk" && k.KeyType == KeyType.HASH && Type("pk") == "S") &&
            schema.Any(k => k.AttributeName == "sk" && k.KeyType == KeyType.RANGE && Type("sk") == "S");
        return sinks ? null : string.Join(" and ", schema.Select(k => $"{k.AttributeName} ({Type(k.AttributeName)}, {k.KeyType?.Value})"));
    }
}
