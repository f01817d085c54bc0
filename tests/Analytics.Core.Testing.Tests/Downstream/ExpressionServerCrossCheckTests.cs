using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Amazon.DynamoDBv2;
using Analytics.Core.Tests;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The DynamoDB model's answers to requests with expressions against the local DynamoDB server's: the same raw request
/// to both, on the same stored item, gets the same error type and message, or the same new item. Each case is a rule
/// the model follows as the server does (overlapping and conflicting update paths, names or values without an
/// expression, a syntax error before an undefined placeholder, ...).
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class ExpressionServerCrossCheckTests(LocalServersFixture servers) : IAsyncLifetime
{
    private const string Stored = """{"a":{"M":{"b":{"N":"1"}}},"l":{"L":[{"N":"1"},{"S":"x"}]},"ver":{"N":"1"}}""";

    private static readonly Uri s_modelUrl = new("http://dynamodb.model.invalid/");
    private static int s_key;

    // The table and the model, made once for all cases (each case has keys of its own): made per case, the table's
    // creation on the local server took most of a second each.
    private static readonly SemaphoreSlim s_setupGate = new(1, 1);
    private static (DynamoDbModel Model, string Table)? s_setup;

    private DynamoDbModel _model = null!;
    private string _table = string.Empty;

    public async Task InitializeAsync()
    {
        await s_setupGate.WaitAsync();
        try
        {
            if (s_setup is null)
            {
                var dynamoDb = new DynamoDbModel(TimeProvider.System, DynamoDbModelOptions.Default);
                string table = await servers.CreateTableAsync("expressions");
                using AmazonDynamoDBClient modelClient = dynamoDb.CreateClient();
                await DynamoDbTable.CreateAsync(modelClient, table, TimeProvider.System, CancellationToken.None);
                s_setup = (dynamoDb, table);
            }
        }
        finally
        {
            s_setupGate.Release();
        }

        (_model, _table) = s_setup.Value;
    }

    // The model lives as long as the test run, as the local server's table does.
    public Task DisposeAsync() => Task.CompletedTask;

    [Theory]
    // Overlapping paths (one a prefix of the other): listed piece by piece.
    [InlineData("UpdateItem", """{"UpdateExpression":"SET l[0] = :v, l[0] = :v","ExpressionAttributeValues":{":v":{"N":"2"}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"SET a.b = :v REMOVE a","ExpressionAttributeValues":{":v":{"N":"2"}}}""")]
    // A name and an index at the same level conflict; the last conflict is reported, an overlap before any.
    [InlineData("UpdateItem", """{"UpdateExpression":"SET a[0] = :v, a.b = :v","ExpressionAttributeValues":{":v":{"N":"2"}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"SET a[0] = :v, a.b = :v, l[1] = :v, l.c = :v","ExpressionAttributeValues":{":v":{"N":"2"}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"SET a[0] = :v, a.b = :v, l = :v, l.c = :v","ExpressionAttributeValues":{":v":{"N":"2"}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"SET a.b = :v, a.c = :v, l[0] = :v, l[1] = :v","ExpressionAttributeValues":{":v":{"N":"2"}}}""")]
    // Names or values that no expression of the request could use.
    [InlineData("UpdateItem", """{"ExpressionAttributeNames":{"#a":"a"}}""")]
    [InlineData("UpdateItem", """{"ExpressionAttributeValues":{":v":{"N":"1"}}}""")]
    [InlineData("PutItem", """{"ExpressionAttributeValues":{":v":{"N":"1"}}}""")]
    [InlineData("DeleteItem", """{"ExpressionAttributeNames":{"#a":"a"},"ExpressionAttributeValues":{":v":{"N":"1"}}}""")]
    [InlineData("GetItem", """{"ExpressionAttributeNames":{"#a":"a"}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"SET a.b = :v","ExpressionAttributeNames":{"#a":"a"},"ExpressionAttributeValues":{":v":{"N":"1"}}}""")]
    // The whole text is read before a placeholder is looked up: a syntax error after an undefined one is what is reported.
    [InlineData("UpdateItem", """{"UpdateExpression":"SET #u = :v,","ExpressionAttributeNames":{"#x":"a"},"ExpressionAttributeValues":{":v":{"N":"1"}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"SET a.b = :u REMOVE","ExpressionAttributeValues":{":v":{"N":"1"}}}""")]
    [InlineData("PutItem", """{"ConditionExpression":"ver = :u AND","ExpressionAttributeValues":{":v":{"N":"1"}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"SET #u = :v","ExpressionAttributeNames":{"#x":"a"},"ExpressionAttributeValues":{":v":{"N":"1"}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"SET a.b = :v","ConditionExpression":"ver = :u","ExpressionAttributeValues":{":v":{"N":"1"}}}""")]
    // Answers the model already gave as the server does, for breadth.
    [InlineData("UpdateItem", """{"UpdateExpression":"SET a.b = a.b + :v ADD ver :v","ConditionExpression":"ver = :v","ExpressionAttributeValues":{":v":{"N":"1"}},"ReturnValues":"ALL_NEW"}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"SET a.b = :v","ConditionExpression":"ver = :w","ExpressionAttributeValues":{":v":{"N":"1"},":w":{"N":"2"}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"SET pk = :v","ExpressionAttributeValues":{":v":{"S":"x"}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"SET l[0] = :v","ExpressionAttributeValues":{":v":{"N":"1"},":w":{"N":"2"}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"REMOVE l[0] SET #n = list_append(l, :v)","ExpressionAttributeNames":{"#n":"m"},"ExpressionAttributeValues":{":v":{"L":[{"S":"y"}]}},"ReturnValues":"ALL_NEW"}""")]
    // ADD takes a number or a set, DELETE a set: checked before the item is read (here it does not exist, and a
    // condition that would fail or fail to parse comes after), the first wrong one, after overlapping paths.
    [InlineData("UpdateItem", """{"Key":"new","UpdateExpression":"ADD a :s","ExpressionAttributeValues":{":s":{"S":"x"}}}""")]
    [InlineData("UpdateItem", """{"Key":"new","UpdateExpression":"DELETE a :n","ExpressionAttributeValues":{":n":{"N":"1"}}}""")]
    [InlineData("UpdateItem", """{"Key":"new","UpdateExpression":"DELETE a :b","ExpressionAttributeValues":{":b":{"B":"AAE="}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"ADD ver :n, a :m DELETE l :l","ExpressionAttributeValues":{":n":{"N":"1"},":m":{"M":{}},":l":{"L":[]}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"ADD ver :s SET ver = :s","ExpressionAttributeValues":{":s":{"S":"x"}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"ADD ver :s","ConditionExpression":"ver = :s AND","ExpressionAttributeValues":{":s":{"BOOL":true}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"ADD ver :s","ConditionExpression":"ver = :n","ExpressionAttributeValues":{":s":{"NULL":true},":n":{"N":"5"}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"ADD ver :n, b :s DELETE c :s","ExpressionAttributeValues":{":n":{"N":"2"},":s":{"SS":["x"]}},"ReturnValues":"ALL_NEW"}""")]
    // A condition's values are checked when it is read, before the item: attribute_type's type name, begins_with's
    // operands, BETWEEN's bounds (one type, in order), even where evaluation would never reach them.
    [InlineData("UpdateItem", """{"UpdateExpression":"SET a.b = :t","ConditionExpression":"attribute_type(ver, :t)","ExpressionAttributeValues":{":t":{"N":"1"}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"SET a.b = :t","ConditionExpression":"attribute_type(ver, :t)","ExpressionAttributeValues":{":t":{"S":"X"}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"SET a.b = :t","ConditionExpression":"attribute_type(ver, :t)","ExpressionAttributeValues":{":t":{"S":"N"}},"ReturnValues":"ALL_NEW"}""")]
    [InlineData("PutItem", """{"ConditionExpression":"attribute_exists(pk) OR begins_with(a, :n)","ExpressionAttributeValues":{":n":{"N":"1"}}}""")]
    [InlineData("PutItem", """{"ConditionExpression":"begins_with(l, :s) AND begins_with(:s, :b)","ExpressionAttributeValues":{":s":{"S":"x"},":b":{"BOOL":true}}}""")]
    [InlineData("DeleteItem", """{"ConditionExpression":"attribute_exists(pk) OR ver BETWEEN :hi AND :lo","ExpressionAttributeValues":{":hi":{"N":"5"},":lo":{"N":"1"}}}""")]
    [InlineData("DeleteItem", """{"Key":"new","ConditionExpression":"ver BETWEEN :a AND :b","ExpressionAttributeValues":{":a":{"N":"1"},":b":{"S":"x"}}}""")]
    [InlineData("DeleteItem", """{"ConditionExpression":"ver BETWEEN :a AND :b","ExpressionAttributeValues":{":a":{"SS":["x","y"]},":b":{"NS":["1"]}}}""")]
    [InlineData("DeleteItem", """{"ConditionExpression":"ver BETWEEN :a AND :b","ExpressionAttributeValues":{":a":{"N":"1"},":b":{"N":"1"}}}""")]
    [InlineData("DeleteItem", """{"ConditionExpression":"ver BETWEEN :a AND l[0]","ExpressionAttributeValues":{":a":{"S":"z"}}}""")]
    // An update's function and arithmetic value operands too: list_append takes lists, + and - numbers; after ADD and
    // DELETE operands, the first call to end in the text.
    [InlineData("UpdateItem", """{"UpdateExpression":"SET l = list_append(l, :s)","ExpressionAttributeValues":{":s":{"S":"x"}}}""")]
    [InlineData("UpdateItem", """{"Key":"new","UpdateExpression":"SET l = list_append(:m, l)","ExpressionAttributeValues":{":m":{"M":{}}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"SET ver = ver + :s","ConditionExpression":"ver = :n","ExpressionAttributeValues":{":s":{"S":"1"},":n":{"N":"7"}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"SET ver = :l - ver","ExpressionAttributeValues":{":l":{"L":[]}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"SET ver = ver + :s, l = list_append(l, :s) ADD b :s","ExpressionAttributeValues":{":s":{"S":"x"}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"SET l = list_append(if_not_exists(l, :e), :v), ver = ver - :n","ExpressionAttributeValues":{":e":{"L":[]},":v":{"L":[{"N":"2"}]},":n":{"N":"1"}},"ReturnValues":"ALL_NEW"}""")]
    // Read whole before it is refused: an unknown function, doubled parentheses, a reserved word and a repeated section
    // are reported in the server's order of kinds, and only when no syntax error follows.
    [InlineData("PutItem", """{"ConditionExpression":"foo(a)"}""")]
    [InlineData("PutItem", """{"ConditionExpression":"foo(a, :v) = :v OR ver = :v","ExpressionAttributeValues":{":v":{"N":"1"}}}""")]
    [InlineData("PutItem", """{"ConditionExpression":"foo(a) = :v AND","ExpressionAttributeValues":{":v":{"N":"1"}}}""")]
    [InlineData("PutItem", """{"ConditionExpression":"((ver = :v))","ExpressionAttributeValues":{":v":{"N":"1"}}}""")]
    [InlineData("PutItem", """{"ConditionExpression":"(ver = :v) AND ((a.b = :v) OR (l[0] = :v))","ExpressionAttributeValues":{":v":{"N":"1"}}}""")]
    [InlineData("PutItem", """{"ConditionExpression":"ver = :v AND ((a.b = :v)) AND foo(l)","ExpressionAttributeValues":{":v":{"N":"1"}}}""")]
    [InlineData("PutItem", """{"ConditionExpression":"count = :v AND ((ver = :v))","ExpressionAttributeValues":{":v":{"N":"1"}}}""")]
    [InlineData("PutItem", """{"ConditionExpression":"count = :v AND foo(ver)","ExpressionAttributeValues":{":v":{"N":"1"}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"SET a.b = foo(l)"}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"SET a.b = :v SET l = :v","ExpressionAttributeValues":{":v":{"N":"1"}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"SET a.b = :v SET count = foo(:v)","ExpressionAttributeValues":{":v":{"N":"1"}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"SET a.b = :v SET l = foo(:v)","ExpressionAttributeValues":{":v":{"N":"1"}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"SET a.b = :v SET count = :v REMOVE","ExpressionAttributeValues":{":v":{"N":"1"}}}""")]
    // Function names are case-sensitive, unlike keywords: BEGINS_WITH is no function (found by review: the model took it).
    [InlineData("PutItem", """{"ConditionExpression":"BEGINS_WITH(a, :s)","ExpressionAttributeValues":{":s":{"S":"x"}}}""")]
    [InlineData("PutItem", """{"ConditionExpression":"Attribute_Exists(pk)"}""")]
    [InlineData("PutItem", """{"ConditionExpression":"SIZE(l) > :n","ExpressionAttributeValues":{":n":{"N":"1"}}}""")]
    [InlineData("PutItem", """{"ConditionExpression":"contains(l, :s) and NOT attribute_exists(zz)","ExpressionAttributeValues":{":s":{"S":"x"}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"SET ver = IF_NOT_EXISTS(ver, :n)","ExpressionAttributeValues":{":n":{"N":"1"}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"SET l = List_Append(l, :l)","ExpressionAttributeValues":{":l":{"L":[]}}}""")]
    [InlineData("UpdateItem", """{"UpdateExpression":"set ver = if_not_exists(ver, :n) add b :s","ExpressionAttributeValues":{":n":{"N":"1"},":s":{"SS":["q"]}},"ReturnValues":"ALL_NEW"}""")]
    // Every SET operand is read from the item before the update.
    [InlineData("UpdateItem", """{"UpdateExpression":"SET ver = l[1], l[1] = ver","ReturnValues":"ALL_NEW"}""")]
    public async Task ARequest_TheModelAnswersAsTheServer(string operation, string request)
    {
        string key = "k" + Interlocked.Increment(ref s_key).ToString(CultureInfo.InvariantCulture);
        JsonObject stored = JsonNode.Parse(Stored)!.AsObject();
        stored["pk"] = new JsonObject { ["S"] = key };
        stored["sk"] = new JsonObject { ["S"] = "s" };
        string put = new JsonObject { ["TableName"] = _table, ["Item"] = stored }.ToJsonString();

        JsonObject body = JsonNode.Parse(request)!.AsObject();
        body["TableName"] = _table;
        JsonObject keyAttributes = new() { ["pk"] = new JsonObject { ["S"] = key }, ["sk"] = new JsonObject { ["S"] = "s" } };
        if (body["Key"]?.GetValue<string>() == "new")
        {
            keyAttributes["pk"] = new JsonObject { ["S"] = key + "-new" }; // an item that does not exist
        }

        body[operation == "PutItem" ? "Item" : "Key"] = keyAttributes;

        using var server = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var model = new HttpMessageInvoker(_model.HttpHandler, disposeHandler: false);
        Assert.StartsWith("200 ", await SendAsync(server, servers.DynamoDbUrl, "PutItem", put), StringComparison.Ordinal);
        Assert.StartsWith("200 ", await SendAsync(model, s_modelUrl, "PutItem", put), StringComparison.Ordinal);
        string expected = await SendAsync(server, servers.DynamoDbUrl, operation, body.ToJsonString());
        string actual = await SendAsync(model, s_modelUrl, operation, body.ToJsonString());
        Assert.Equal(expected, actual);
    }

    [Theory]
    // A key condition is an equality on the partition key and at most one condition on the sort key, each on the key
    // attribute itself: anything else is refused, never read as a filter over the table (found by review: the model
    // answered all of these from every item).
    [InlineData("pk = :k AND v = :x")]
    [InlineData("v = :x")]
    [InlineData("sk = :s")]
    [InlineData("pk = :k OR sk = :s")]
    [InlineData("NOT pk = :k")]
    [InlineData("pk > :k")]
    [InlineData("pk = :k AND sk IN (:s)")]
    [InlineData("pk = :k AND sk <> :s")]
    [InlineData("pk = :k AND attribute_exists(sk)")]
    [InlineData("pk = :k AND size(sk) = :n")]
    [InlineData("pk = :k AND pk = :k")]
    [InlineData("pk = :k AND sk = :s AND v = :x")]
    [InlineData("pk = :k AND a.b = :x")]
    [InlineData("pk = :k AND sk = pk")]
    [InlineData("pk = :k AND :s = :s")]
    [InlineData("pk = :n")]
    [InlineData("pk = :k AND sk > :n")]
    [InlineData("pk = :k AND begins_with(sk, :n)")]
    // What it takes, answered alike: the partition, narrowed by the sort key condition, written either way round.
    [InlineData("pk = :k")]
    [InlineData(":k = pk")]
    [InlineData("pk = :k AND :s < sk")]
    [InlineData("(pk = :k) AND (sk >= :s)")]
    [InlineData("#p = :k AND begins_with(#s, :s)")]
    [InlineData("pk = :k AND sk BETWEEN :s AND :t")]
    // Select: COUNT answers no items; an unknown value is refused.
    [InlineData("pk = :k", "COUNT")]
    [InlineData("pk = :k", "ALL_ATTRIBUTES")]
    [InlineData("pk = :k", "BAD")]
    [InlineData("v = :x", "BAD")] // the value outside the set is reported before the key condition (diff review)
    // A filter cannot name a key attribute (found by review: the model filtered on it).
    [InlineData("pk = :k", null, "sk = :s")]
    [InlineData("pk = :k", null, "#p = :k")]
    [InlineData("pk = :k", null, "v = :x OR begins_with(sk, :s)")]
    [InlineData("pk = :k", null, "v = :x")]
    [InlineData("pk = :k", null, "attribute_exists(v) AND size(v) = :n")]
    [InlineData("pk = :k AND BEGINS_WITH(sk, :s)")]
    [InlineData("v = :x", null, "sk = :s")] // the key condition's objection first
    // A Limit below 1 is refused before the expressions are read, as a parameter out of its range.
    [InlineData("v = :x", null, "sk = :s", 0)]
    [InlineData("pk = :k", null, null, 2)]
    public async Task AQuery_TheModelAnswersAsTheServer(string keyCondition, string? select = null, string? filter = null, int? limit = null)
    {
        string key = "q" + Interlocked.Increment(ref s_key).ToString(CultureInfo.InvariantCulture);
        using var server = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var model = new HttpMessageInvoker(_model.HttpHandler, disposeHandler: false);
        foreach (string sk in (string[])["a", "b", "c"])
        {
            string put = new JsonObject
            {
                ["TableName"] = _table,
                ["Item"] = new JsonObject { ["pk"] = new JsonObject { ["S"] = key }, ["sk"] = new JsonObject { ["S"] = sk }, ["v"] = new JsonObject { ["S"] = "x" } },
            }.ToJsonString();
            Assert.StartsWith("200 ", await SendAsync(server, servers.DynamoDbUrl, "PutItem", put), StringComparison.Ordinal);
            Assert.StartsWith("200 ", await SendAsync(model, s_modelUrl, "PutItem", put), StringComparison.Ordinal);
        }

        // Only the placeholders the condition uses (unused ones are refused before the condition is read).
        var values = new JsonObject();
        foreach ((string name, JsonObject value) in (ReadOnlySpan<(string, JsonObject)>)[
            (":k", new JsonObject { ["S"] = key }), (":s", new JsonObject { ["S"] = "a" }), (":t", new JsonObject { ["S"] = "b" }),
            (":x", new JsonObject { ["S"] = "x" }), (":n", new JsonObject { ["N"] = "1" })])
        {
            if (keyCondition.Contains(name, StringComparison.Ordinal) || filter?.Contains(name, StringComparison.Ordinal) == true)
            {
                values[name] = value;
            }
        }

        var body = new JsonObject { ["TableName"] = _table, ["KeyConditionExpression"] = keyCondition, ["ExpressionAttributeValues"] = values };
        if (filter is not null)
        {
            body["FilterExpression"] = filter;
        }

        if (limit is not null)
        {
            body["Limit"] = limit;
        }

        if (keyCondition.Contains('#', StringComparison.Ordinal) || filter?.Contains('#', StringComparison.Ordinal) == true)
        {
            string used = keyCondition + " " + filter;
            var names = new JsonObject();
            foreach ((string name, string attribute) in (ReadOnlySpan<(string, string)>)[("#p", "pk"), ("#s", "sk")])
            {
                if (used.Contains(name, StringComparison.Ordinal))
                {
                    names[name] = attribute;
                }
            }

            body["ExpressionAttributeNames"] = names;
        }

        if (select is not null)
        {
            body["Select"] = select;
        }

        string expected = await SendAsync(server, servers.DynamoDbUrl, "Query", body.ToJsonString());
        string actual = await SendAsync(model, s_modelUrl, "Query", body.ToJsonString());
        Assert.Equal(expected, actual);
    }

    /// <summary>The answer as the status, then the error's type (after '#') and message, or the body with maps in name order and numbers by value.</summary>
    private static async Task<string> SendAsync(HttpMessageInvoker http, Uri url, string operation, string body)
    {
        (int status, string? error, JsonNode? answer) = await DynamoWire.SendAsync(http, url, operation, body);
        return $"{status} {error ?? Canonical(answer)}";
    }

    private static string Canonical(JsonNode? node) => node switch
    {
        JsonObject o when o.Count == 1 && o.First() is { Key: "N" } n => "N:" + Number(n.Value!.GetValue<string>()),
        JsonObject o => "{" + string.Join(",", o.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Key + "=" + Canonical(p.Value))) + "}",
        JsonArray a => "[" + string.Join(",", a.Select(Canonical)) + "]",
        null => "null",
        _ => node.ToJsonString(),
    };

    private static string Number(string text) =>
        decimal.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out decimal d) ? (d / 1.000000000000000000000000000000000m).ToString(CultureInfo.InvariantCulture) : text;
}
