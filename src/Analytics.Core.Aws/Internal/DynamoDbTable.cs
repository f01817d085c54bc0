using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;

namespace Analytics.Core;

/// <summary>Creates a table with the aggregate sink's key schema: for tools and tests, not for a function at run time.</summary>
internal static class DynamoDbTable
{
    /// <summary>Creates the table (on-demand capacity) and waits until it is ACTIVE; an existing table is accepted.</summary>
    /// <param name="client">The DynamoDB client.</param>
    /// <param name="tableName">The table name.</param>
    /// <param name="timeProvider">The clock of the polling waits and of the two-minute limit.</param>
    /// <param name="cancellationToken">Bounds the wait.</param>
    /// <returns>A task that completes when the table is ACTIVE.</returns>
    /// <exception cref="TimeoutException">The table did not become ACTIVE within two minutes.</exception>
    public static async Task CreateAsync(IAmazonDynamoDB client, string tableName, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentException.ThrowIfNullOrEmpty(tableName);
        ArgumentNullException.ThrowIfNull(timeProvider);
        try
        {
            await client.CreateTableAsync(
                new CreateTableRequest
                {
                    TableName = tableName,
                    BillingMode = BillingMode.PAY_PER_REQUEST,
                    AttributeDefinitions =
                    [
                        new AttributeDefinition(DynamoDbItem.PartitionKey, ScalarAttributeType.S),
                        new AttributeDefinition(DynamoDbItem.SortKey, ScalarAttributeType.S),
                    ],
                    KeySchema =
                    [
                        new KeySchemaElement(DynamoDbItem.PartitionKey, KeyType.HASH),
                        new KeySchemaElement(DynamoDbItem.SortKey, KeyType.RANGE),
                    ],
                },
                cancellationToken).ConfigureAwait(false);
        }
        catch (ResourceInUseException)
        {
            // Already there (or being created): wait for it below.
        }

        // CreateTable is asynchronous: the table accepts reads and writes only once it is ACTIVE.
        DateTimeOffset giveUp = timeProvider.GetUtcNow() + TimeSpan.FromMinutes(2);
        while (true)
        {
            DescribeTableResponse described = await client.DescribeTableAsync(tableName, cancellationToken).ConfigureAwait(false);
            if (described.Table.TableStatus == TableStatus.ACTIVE)
            {
                return;
            }

            if (timeProvider.GetUtcNow() > giveUp)
            {
                AwsThrowHelper.ThrowTimeout("Table " + tableName + " did not become ACTIVE.");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), timeProvider, cancellationToken).ConfigureAwait(false);
        }
    }
}
