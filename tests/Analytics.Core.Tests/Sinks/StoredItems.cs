using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;

namespace Analytics.Core.Tests;

/// <summary>Reading and hand-building stored DynamoDB items in the sink tests.</summary>
internal static class StoredItems
{
    /// <summary>The table's one item, read consistently; fails the test when there is not exactly one.</summary>
    public static async Task<Dictionary<string, AttributeValue>> GetOnlyItemAsync(IAmazonDynamoDB client, string table)
    {
        ScanResponse scan = await client.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true });
        return Assert.Single(scan.Items);
    }

    /// <summary>A map attribute of the given entries.</summary>
    public static AttributeValue Map(params (string Name, AttributeValue Value)[] entries) =>
        new() { M = entries.ToDictionary(e => e.Name, e => e.Value, StringComparer.Ordinal) };

    /// <summary>A string attribute.</summary>
    public static AttributeValue S(string value) => new() { S = value };

    /// <summary>A list attribute of strings.</summary>
    public static AttributeValue List(params string[] entries) => new() { L = [.. entries.Select(S)] };
}
