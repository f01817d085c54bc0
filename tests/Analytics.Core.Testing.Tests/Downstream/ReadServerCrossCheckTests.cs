using System.Globalization;
using System.Text.Json.Nodes;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Core.Tests;
using Microsoft.Extensions.Time.Testing;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The DynamoDB model's table operations and reads against the local DynamoDB server's and DynamoDB's documentation
/// (a review found the model creating tables DynamoDB refuses, describing them without their throughput, ignoring
/// ListTables' paging, ending a Query page that reached its Limit without its last key, restarting a Query from another
/// partition's key, and answering a BatchGetItem of 30 MB in one page and in request order).
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class ReadServerCrossCheckTests(LocalServersFixture servers)
{
    private static readonly Uri s_modelUrl = new("http://dynamodb.model.invalid/");
    private static int s_name;

    private static string Unique(string prefix) => prefix + "-" + Interlocked.Increment(ref s_name).ToString(CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..6];

    /// <summary>Sends each request to a fresh model and to the server; the status and error (or the picked answer) must agree.</summary>
    private Task SameOnBoth(Func<JsonNode?, string> pick, params (string Operation, string Body)[] requests) => SameOnBoth(pick, null, requests);

    private async Task SameOnBoth(Func<JsonNode?, string> pick, string? table, params (string Operation, string Body)[] requests)
    {
        using var dynamoDb = new DynamoDbModel(TimeProvider.System, DynamoDbModelOptions.Default);
        if (table is not null)
        {
            dynamoDb.CreateTable(table, "pk", "sk"); // as the server's, made by the fixture and ACTIVE
        }

        using var model = new HttpMessageInvoker(dynamoDb.HttpHandler, disposeHandler: false);
        using var server = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        foreach ((string operation, string body) in requests)
        {
            (int serverStatus, string? serverError, JsonNode? serverBody) = await DynamoWire.SendAsync(server, servers.DynamoDbUrl, operation, body);
            (int modelStatus, string? modelError, JsonNode? modelBody) = await DynamoWire.SendAsync(model, s_modelUrl, operation, body);
            Assert.Equal($"{operation} {serverStatus} {serverError ?? pick(serverBody)}", $"{operation} {modelStatus} {modelError ?? pick(modelBody)}");
        }
    }

    private static string Table(string name, string keys = """[{"AttributeName":"pk","KeyType":"HASH"}]""", string definitions = """[{"AttributeName":"pk","AttributeType":"S"}]""", string billing = "\"BillingMode\":\"PAY_PER_REQUEST\"") =>
        $$"""{"TableName":"{{name}}","KeySchema":{{keys}},"AttributeDefinitions":{{definitions}}{{(billing.Length == 0 ? "" : "," + billing)}}}""";

    public static TheoryData<string> RefusedTables() => new()
    {
        Table("ab"),
        Table("a b!"),
        Table(new string('x', 256)),
        Table("{0}", definitions: """[{"AttributeName":"pk","AttributeType":"S"},{"AttributeName":"x","AttributeType":"S"}]"""),
        Table("{0}", billing: string.Empty),
        Table("{0}", billing: "\"BillingMode\":\"PAY_PER_REQUEST\",\"ProvisionedThroughput\":{\"ReadCapacityUnits\":5,\"WriteCapacityUnits\":5}"),
        Table("{0}", billing: "\"BillingMode\":\"FREE\""),
        Table("{0}", billing: "\"ProvisionedThroughput\":{\"ReadCapacityUnits\":0,\"WriteCapacityUnits\":5}"),
        Table("{0}", keys: """[{"AttributeName":"sk","KeyType":"RANGE"},{"AttributeName":"pk","KeyType":"HASH"}]""", definitions: """[{"AttributeName":"pk","AttributeType":"S"},{"AttributeName":"sk","AttributeType":"S"}]"""),
        Table("{0}", keys: """[{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"pk","KeyType":"RANGE"}]"""),
    };

    [Theory]
    [MemberData(nameof(RefusedTables))]
    public Task CreateTable_WhatDynamoDbRefuses_IsRefusedAlike(string request) =>
        SameOnBoth(_ => throw new Xunit.Sdk.XunitException("created: " + request), ("CreateTable", request.Replace("{0}", Unique("refused"), StringComparison.Ordinal)));

    [Fact]
    public async Task Tables_AreDescribedWithTheirThroughput_DeletedAsDeleting_AndListedInPages()
    {
        string onDemand = Unique("lt-a"), provisioned = Unique("lt-b");
        string Throughput(JsonNode? answer)
        {
            JsonNode description = answer!["TableDescription"] ?? answer["Table"]!;
            return $"{description["ProvisionedThroughput"]?["ReadCapacityUnits"]}/{description["ProvisionedThroughput"]?["WriteCapacityUnits"]} " +
                $"{description["BillingModeSummary"]?["BillingMode"]} {description["TableThroughputModeSummary"]?["TableThroughputMode"]}";
        }

        await SameOnBoth(
            Throughput,
            ("CreateTable", Table(onDemand)),
            ("CreateTable", Table(provisioned, billing: "\"ProvisionedThroughput\":{\"ReadCapacityUnits\":5,\"WriteCapacityUnits\":7}")));
        string deleted = await servers.CreateTableAsync("deleted");
        await SameOnBoth(answer => answer!["TableDescription"]!["TableStatus"]!.GetValue<string>(), deleted, ("DeleteTable", $$"""{"TableName":"{{deleted}}"}"""));

        // ListTables' bounds and paging, from a start name past every other test's tables ("lt-" then digits).
        await SameOnBoth(_ => "listed", ("ListTables", """{"Limit":0}"""), ("ListTables", """{"Limit":101}"""), ("ListTables", """{"ExclusiveStartTableName":"ab"}"""));
        using var dynamoDb = new DynamoDbModel(TimeProvider.System, DynamoDbModelOptions.Default);
        using IAmazonDynamoDB client = dynamoDb.CreateClient();
        foreach (string name in (string[])["lt-aaa", "lt-bbb", "lt-ccc"])
        {
            dynamoDb.CreateTable(name, "pk", null);
        }

        ListTablesResponse first = await client.ListTablesAsync(new ListTablesRequest { Limit = 2 });
        Assert.Equal(["lt-aaa", "lt-bbb"], first.TableNames);
        Assert.Equal("lt-bbb", first.LastEvaluatedTableName);
        ListTablesResponse second = await client.ListTablesAsync(new ListTablesRequest { Limit = 2, ExclusiveStartTableName = first.LastEvaluatedTableName });
        Assert.Equal(["lt-ccc"], second.TableNames);
        Assert.Null(second.LastEvaluatedTableName);
        Assert.Throws<ArgumentException>(() => dynamoDb.CreateTable("ab", "pk", null));
    }

    [Fact]
    public async Task Query_APageThatReachedItsLimit_EndsWithItsLastKey_AndAStartKeyOutsideTheConditionIsRefused()
    {
        string table = await servers.CreateTableAsync("reads");
        string Page(JsonNode? answer) => $"{answer!["Count"]} {answer["LastEvaluatedKey"]?.ToJsonString()}";
        string Query(string condition, string values, string extra = "") =>
            $$"""{"TableName":"{{table}}","KeyConditionExpression":"{{condition}}","ExpressionAttributeValues":{{values}}{{extra}}}""";
        (string, string)[] setup =
        [
            .. Enumerable.Range(1, 4).Select(i => ("PutItem", "{\"TableName\":\"" + table + "\",\"Item\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"S\":\"" + i.ToString(CultureInfo.InvariantCulture) + "\"}}}")),
            ("PutItem", "{\"TableName\":\"" + table + "\",\"Item\":{\"pk\":{\"S\":\"b\"},\"sk\":{\"S\":\"1\"}}}"),
        ];
        await SameOnBoth(
            answer => answer is JsonObject o && o.ContainsKey("Count") ? Page(answer) : "ok",
            table,
            [
                .. setup,
                ("Query", Query("pk = :p", """{":p":{"S":"a"}}""", ",\"Limit\":4")),
                ("Query", Query("pk = :p", """{":p":{"S":"a"}}""", ",\"Limit\":2,\"ExclusiveStartKey\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"S\":\"2\"}}")),
                ("Query", Query("pk = :p", """{":p":{"S":"a"}}""", ",\"Limit\":5")),
                ("Query", Query("pk = :p", """{":p":{"S":"a"}}""", ",\"Limit\":\"2\"")),
                ("Query", Query("pk = :p", """{":p":{"S":"a"}}""", ",\"ExclusiveStartKey\":{\"pk\":{\"S\":\"b\"},\"sk\":{\"S\":\"1\"}}")),
                ("Query", Query("pk = :p AND sk > :s", """{":p":{"S":"a"},":s":{"S":"2"}}""", ",\"ExclusiveStartKey\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"S\":\"1\"}}")),
                ("Query", Query("pk = :p AND sk > :s", """{":p":{"S":"a"},":s":{"S":"2"}}""", ",\"ExclusiveStartKey\":{\"pk\":{\"S\":\"a\"},\"sk\":{\"S\":\"3\"}}")),
            ]);

        // A direction that is not a Boolean: the local server reads "no" as forward; the model, like DynamoDB's JSON
        // protocol, cannot read it (the SDK never sends one: a hand-built request).
        using var dynamoDb = new DynamoDbModel(TimeProvider.System, DynamoDbModelOptions.Default);
        dynamoDb.CreateTable(table, "pk", "sk");
        using var model = new HttpMessageInvoker(dynamoDb.HttpHandler, disposeHandler: false);
        (int status, string? error, _) = await DynamoWire.SendAsync(model, s_modelUrl, "Query", Query("pk = :p", """{":p":{"S":"a"}}""", ",\"ScanIndexForward\":\"no\""));
        Assert.Equal((400, "SerializationException (not readable)"), (status, error));
    }

    [Fact]
    public async Task Scan_ReadsInPartitionOrder_NotKeyOrder_AndPagesThroughEveryItemOnce()
    {
        // DynamoDB does not specify a Scan's order (the local server's is a hash of the key too); a Scan in key order hid
        // code that expects one sorted.
        using var dynamoDb = new DynamoDbModel(new FakeTimeProvider(new DateTimeOffset(2024, 5, 1, 12, 0, 0, TimeSpan.Zero)), DynamoDbModelOptions.Default);
        using IAmazonDynamoDB client = dynamoDb.CreateClient();
        dynamoDb.CreateTable("scans", "pk", "sk");
        string[] keys = [.. Enumerable.Range(0, 20).Select(i => "k" + i.ToString("D4", CultureInfo.InvariantCulture))];
        foreach (string pk in keys)
        {
            foreach (string sk in (string[])["a", "b"])
            {
                await client.PutItemAsync("scans", new Dictionary<string, AttributeValue> { ["pk"] = new() { S = pk }, ["sk"] = new() { S = sk } });
            }
        }

        List<string> whole = [.. (await client.ScanAsync(new ScanRequest { TableName = "scans" })).Items.Select(i => i["pk"].S + "/" + i["sk"].S)];
        Assert.Equal(keys.SelectMany(k => (string[])[k + "/a", k + "/b"]).Order(StringComparer.Ordinal), whole.Order(StringComparer.Ordinal));
        Assert.NotEqual(whole.Order(StringComparer.Ordinal), whole);
        Assert.All(Enumerable.Range(0, 20), p => Assert.Equal(whole.IndexOf(keys[p] + "/a") + 1, whole.IndexOf(keys[p] + "/b"))); // a partition at a time, in key order

        // Paged with Limit 3, and once from a key deleted since it was handed out: every item once, in the same order.
        var paged = new List<string>();
        Dictionary<string, AttributeValue>? start = null;
        do
        {
            ScanResponse page = await client.ScanAsync(new ScanRequest { TableName = "scans", Limit = 3, ExclusiveStartKey = start });
            paged.AddRange(page.Items.Select(i => i["pk"].S + "/" + i["sk"].S));
            start = page.LastEvaluatedKey is { Count: > 0 } next ? next : null;
            if (paged.Count == 9 && start is not null)
            {
                await client.DeleteItemAsync("scans", start);
                paged.Remove(start["pk"].S + "/" + start["sk"].S);
                whole.Remove(start["pk"].S + "/" + start["sk"].S);
            }
        }
        while (start is not null);

        Assert.Equal(whole, paged);
    }

    [Fact]
    public async Task BatchGetItem_AnswersAtMost16MB_TheRestUnprocessed_AndNotInRequestOrder()
    {
        using var dynamoDb = new DynamoDbModel(new FakeTimeProvider(new DateTimeOffset(2024, 5, 1, 12, 0, 0, TimeSpan.Zero)), DynamoDbModelOptions.Default);
        using IAmazonDynamoDB client = dynamoDb.CreateClient();
        dynamoDb.CreateTable("big", "pk", null);
        string payload = new('x', 300 * 1024);
        List<Dictionary<string, AttributeValue>> keys = [];
        for (int i = 0; i < 100; i++)
        {
            string pk = "k" + i.ToString("D3", CultureInfo.InvariantCulture);
            await client.PutItemAsync("big", new Dictionary<string, AttributeValue> { ["pk"] = new() { S = pk }, ["v"] = new() { S = payload } });
            keys.Add(new Dictionary<string, AttributeValue> { ["pk"] = new() { S = pk } });
        }

        // AWS's own example: "if you ask to retrieve 100 items, but each individual item is 300 KB in size, the system
        // returns 52 items (so as not to exceed the 16 MB limit). It also returns an appropriate UnprocessedKeys value".
        var read = new HashSet<string>(StringComparer.Ordinal);
        List<Dictionary<string, AttributeValue>> left = keys;
        int calls = 0;
        while (left.Count > 0)
        {
            int asked = left.Count;
            BatchGetItemResponse page = await client.BatchGetItemAsync(new BatchGetItemRequest { RequestItems = new() { ["big"] = new KeysAndAttributes { Keys = left } } });
            List<Dictionary<string, AttributeValue>> items = page.Responses["big"];
            Assert.InRange(items.Sum(item => item["v"].S.Length + 2 + 1 + item["pk"].S.Length), 1, 16 * 1024 * 1024);
            Assert.All(items, item => Assert.True(read.Add(item["pk"].S)));
            left = page.UnprocessedKeys is { } unprocessed && unprocessed.TryGetValue("big", out KeysAndAttributes? rest) ? rest.Keys : [];
            Assert.Equal(asked, items.Count + left.Count); // every key is either answered or handed back
            calls++;
        }

        Assert.Equal(100, read.Count);
        Assert.InRange(calls, 2, 3);

        // No particular order: not the request's (code that pairs keys and items by position fails here, as on AWS).
        BatchGetItemResponse small = await client.BatchGetItemAsync(new BatchGetItemRequest { RequestItems = new() { ["big"] = new KeysAndAttributes { Keys = keys[..10], ProjectionExpression = "pk" } } });
        Assert.Equal(keys[..10].Select(k => k["pk"].S).Order(), small.Responses["big"].Select(i => i["pk"].S).Order());
        Assert.NotEqual(keys[..10].Select(k => k["pk"].S), small.Responses["big"].Select(i => i["pk"].S));
    }
}
