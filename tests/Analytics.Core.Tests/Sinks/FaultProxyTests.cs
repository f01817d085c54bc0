using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;

namespace Analytics.Core.Tests;

/// <summary>The proxy injects what it claims, and the sinks' retry policy classifies each injected fault as transient.</summary>
[Collection(LocalServersCollection.Name)]
public sealed class FaultProxyTests(LocalServersFixture servers)
{
    [Fact]
    public async Task Forward_NoFaults_RequestsReachDynalite()
    {
        string table = await servers.CreateTableAsync("proxy");
        await using var proxy = new FaultProxy(servers.DynamoDbUrl, FaultProfile.None, seed: 1);
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient(proxy.Url);

        await client.PutItemAsync(table, Item("a"));
        GetItemResponse got = await client.GetItemAsync(new GetItemRequest { TableName = table, Key = Item("a"), ConsistentRead = true });

        Assert.Equal("a", got.Item["pk"].S);
        Assert.Equal(2, proxy.Forwarded);
        Assert.Equal(0, proxy.Faults);
    }

    [Fact]
    public async Task Throttle_EveryRequest_ThrowsBothThrottlingErrorsClassifiedTransient()
    {
        string table = await servers.CreateTableAsync("proxy");
        await using var proxy = new FaultProxy(servers.DynamoDbUrl, new FaultProfile(Throttle: 1), seed: 2);
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient(proxy.Url);
        var codes = new HashSet<string>();

        for (int i = 0; i < 12; i++)
        {
            AmazonDynamoDBException e = await Assert.ThrowsAnyAsync<AmazonDynamoDBException>(() => client.PutItemAsync(table, Item("t")));
            Assert.True(RetryPolicy.IsTransient(e, CancellationToken.None));
            codes.Add(e.ErrorCode);
        }

        Assert.Equal(["ProvisionedThroughputExceededException", "ThrottlingException"], codes.Order());
        Assert.Equal(0, proxy.Forwarded);
    }

    [Fact]
    public async Task ServerError_EveryRequest_ThrowsTransient()
    {
        string table = await servers.CreateTableAsync("proxy");
        await using var proxy = new FaultProxy(servers.DynamoDbUrl, new FaultProfile(ServerError: 1), seed: 3);
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient(proxy.Url);

        Exception e = await Assert.ThrowsAnyAsync<Exception>(() => client.PutItemAsync(table, Item("s")));

        Assert.True(RetryPolicy.IsTransient(e, CancellationToken.None), e.ToString());
        Assert.Equal(1, proxy.ServerErrors);
    }

    [Fact]
    public async Task DropAfterForward_EveryRequest_ClientFailsButWriteLanded()
    {
        string table = await servers.CreateTableAsync("proxy");
        await using var proxy = new FaultProxy(servers.DynamoDbUrl, new FaultProfile(DropAfterForward: 1), seed: 4);
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient(proxy.Url);
        using AmazonDynamoDBClient direct = servers.CreateDynamoDbClient();

        Exception e = await Assert.ThrowsAnyAsync<Exception>(() => client.PutItemAsync(table, Item("d")));
        GetItemResponse got = await direct.GetItemAsync(new GetItemRequest { TableName = table, Key = Item("d"), ConsistentRead = true });

        Assert.True(RetryPolicy.IsTransient(e, CancellationToken.None), e.ToString());
        Assert.True(got.IsItemSet);
    }

    [Fact]
    public async Task DropBeforeForward_EveryRequest_ClientFailsAndNothingLanded()
    {
        string table = await servers.CreateTableAsync("proxy");
        await using var proxy = new FaultProxy(servers.DynamoDbUrl, new FaultProfile(DropBeforeForward: 1), seed: 5);
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient(proxy.Url);
        using AmazonDynamoDBClient direct = servers.CreateDynamoDbClient();

        Exception e = await Assert.ThrowsAnyAsync<Exception>(() => client.PutItemAsync(table, Item("n")));
        GetItemResponse got = await direct.GetItemAsync(new GetItemRequest { TableName = table, Key = Item("n"), ConsistentRead = true });

        Assert.True(RetryPolicy.IsTransient(e, CancellationToken.None), e.ToString());
        Assert.False(got.IsItemSet && got.Item.Count > 0);
    }

    [Fact]
    public async Task Dead_RequestTimesOutOnTheClientTimeout_Transient()
    {
        string table = await servers.CreateTableAsync("proxy");
        await using var proxy = new FaultProxy(servers.DynamoDbUrl, FaultProfile.None, seed: 6) { Mode = FaultMode.Dead };
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient(proxy.Url, timeout: TimeSpan.FromMilliseconds(500));

        // Bounded by the client's own timeout; the outer bound only keeps a broken client from hanging the run.
        Exception e = await Assert.ThrowsAnyAsync<Exception>(() => client.PutItemAsync(table, Item("x")).WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.True(RetryPolicy.IsTransient(e, CancellationToken.None), e.ToString());

        // The request reached the proxy and was held. (Under load the HTTP handler may open a second connection
        // before the timeout fires, so the count is at least one, not exactly one.)
        Assert.True(proxy.Held >= 1, $"held {proxy.Held}");
    }

    [Fact]
    public async Task Down_ConnectionRefused_TransientAndRecovers()
    {
        string table = await servers.CreateTableAsync("proxy");
        await using var proxy = new FaultProxy(servers.DynamoDbUrl, FaultProfile.None, seed: 7) { Mode = FaultMode.Down };
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient(proxy.Url);

        Exception e = await Assert.ThrowsAnyAsync<Exception>(() => client.PutItemAsync(table, Item("y")));
        proxy.Mode = FaultMode.Forward;
        await client.PutItemAsync(table, Item("y"));

        Assert.True(RetryPolicy.IsTransient(e, CancellationToken.None), e.ToString());
        Assert.Equal(0, proxy.Held);
        Assert.Equal(1, proxy.Forwarded);
    }

    [Fact]
    public async Task CreateTableAsync_NewAndExistingTable_ActiveWithTheSinkKeySchema()
    {
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        string table = "layout-" + Guid.NewGuid().ToString("N");

        await DynamoDbTable.CreateAsync(client, table, TimeProvider.System, cts.Token);
        await DynamoDbTable.CreateAsync(client, table, TimeProvider.System, cts.Token);
        TableDescription description = (await client.DescribeTableAsync(table)).Table;

        Assert.Equal(TableStatus.ACTIVE, description.TableStatus);
        Assert.Equal([("pk", "HASH"), ("sk", "RANGE")], description.KeySchema.Select(k => (k.AttributeName, k.KeyType.Value)));
        Assert.All(description.AttributeDefinitions, a => Assert.Equal(ScalarAttributeType.S, a.AttributeType));
    }

    private static Dictionary<string, AttributeValue> Item(string pk) => new()
    {
        ["pk"] = new AttributeValue { S = pk },
        ["sk"] = new AttributeValue { S = "2024-01-01T00:00:00.000Z" },
    };
}
