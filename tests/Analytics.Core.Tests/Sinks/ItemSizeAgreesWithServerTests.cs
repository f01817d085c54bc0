using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Tests;

/// <summary>
/// <see cref="DynamoDbItem.Size"/> is what the sink checks against its item bound, so it must never count less than the
/// server does. For numbers it counts every digit (1 byte per 2 digits, plus 1); for positive integers without trailing
/// zeros that is exactly DynamoDB's count, so an item padded to <see cref="DynamoDbItem.ItemSizeLimit"/> by this count is
/// accepted by the real local server, and one byte more is refused.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class ItemSizeAgreesWithServerTests(LocalServersFixture servers)
{
    [Fact]
    public async Task Size_NumbersWithZerosAndNines_MatchTheServersLimitToTheByte()
    {
        string table = await servers.CreateTableAsync("size");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();

        await AssertLimitAsync(client, table, ["909", "9", "1000000009", "99", "10203040506070809"]);
    }

    [Fact]
    public async Task Size_PositiveIntegersWithoutTrailingZeros_MatchTheServersLimitToTheByte()
    {
        string table = await servers.CreateTableAsync("size");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        Gen<string> number =
            from first in Gen.Choose(1, 9)
            from middle in Gen.Choose(0, 9).ListOf()
            from last in Gen.Choose(1, 9)
            from single in Gen.Elements(true, false)
            select single ? first.ToString(System.Globalization.CultureInfo.InvariantCulture) : string.Concat([first, .. middle.Take(36), last]);

        Prop.ForAll(number.NonEmptyListOf().Select(l => l.Take(8).ToArray()).ToArbitrary(), numbers =>
        {
            AssertLimitAsync(client, table, numbers).GetAwaiter().GetResult();
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(10).WithQuietOnSuccess(true));
    }

    private static async Task AssertLimitAsync(IAmazonDynamoDB client, string table, string[] numbers)
    {
        var item = new Dictionary<string, AttributeValue>(StringComparer.Ordinal)
        {
            ["pk"] = new AttributeValue { S = "size|" + string.Join(",", numbers) },
            ["sk"] = new AttributeValue { S = "2024-05-01T12:00:00.000Z" },
        };
        for (int i = 0; i < numbers.Length; i++)
        {
            item["n" + i] = new AttributeValue { N = numbers[i] };
        }

        // The padding string "pad" adds its name (3 bytes) and its length.
        int pad = DynamoDbItem.ItemSizeLimit - DynamoDbItem.Size(item) - 3;
        item["pad"] = new AttributeValue { S = new string('x', pad) };
        Assert.Equal(DynamoDbItem.ItemSizeLimit, DynamoDbItem.Size(item));
        await client.PutItemAsync(new PutItemRequest { TableName = table, Item = item });

        item["pad"] = new AttributeValue { S = new string('x', pad + 1) };
        AmazonDynamoDBException e = await Assert.ThrowsAnyAsync<AmazonDynamoDBException>(() => client.PutItemAsync(new PutItemRequest { TableName = table, Item = item }));
        Assert.Equal("ValidationException", e.ErrorCode);
        Assert.Contains("Item size has exceeded", e.Message, StringComparison.Ordinal);
    }
}
