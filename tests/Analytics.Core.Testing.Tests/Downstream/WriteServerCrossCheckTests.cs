using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Amazon.DynamoDBv2;
using Analytics.Core.Tests;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The write path and reads of what was written: the same raw requests to the local DynamoDB server and to the model,
/// answers compared raw (numbers as text, maps by name, set members sorted). The cases are in
/// <c>WriteCrossCheckCases.txt</c>; a review wrote most of them, and 66 of its 179 disagreed with the model then
/// (those the server answers unlike DynamoDB are left out, listed at the top of the file).
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class WriteServerCrossCheckTests(LocalServersFixture servers) : IAsyncLifetime
{
    private static readonly Uri s_modelUrl = new("http://dynamodb.model.invalid/");
    private static int s_key;

    // The tables and the model, made once for all cases (each case has keys of its own): made per case, the tables'
    // creation on the local server took a second each, three minutes of the run.
    private static readonly SemaphoreSlim s_setupGate = new(1, 1);
    private static (DynamoDbModel Model, string Table, string NumTable)? s_setup;

    private DynamoDbModel _model = null!;
    private string _table = string.Empty;
    private string _numTable = string.Empty;

    public async Task InitializeAsync()
    {
        await s_setupGate.WaitAsync();
        try
        {
            s_setup ??= await SetUpAsync(servers);
        }
        finally
        {
            s_setupGate.Release();
        }

        (_model, _table, _numTable) = s_setup.Value;
    }

    // The model lives as long as the test run, as the local server's tables do.
    public Task DisposeAsync() => Task.CompletedTask;

    private static async Task<(DynamoDbModel Model, string Table, string NumTable)> SetUpAsync(LocalServersFixture servers)
    {
        var dynamoDb = new DynamoDbModel(TimeProvider.System, DynamoDbModelOptions.Default);
        string table = await servers.CreateTableAsync("writes");
        using AmazonDynamoDBClient modelClient = dynamoDb.CreateClient();
        await DynamoDbTable.CreateAsync(modelClient, table, TimeProvider.System, CancellationToken.None);
        string numTable = "numkeys-" + Guid.NewGuid().ToString("N")[..8];
        string create = $$"""{"TableName":"{{numTable}}","AttributeDefinitions":[{"AttributeName":"id","AttributeType":"N"}],"KeySchema":[{"AttributeName":"id","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"}""";
        using var server = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var model = new HttpMessageInvoker(dynamoDb.HttpHandler, disposeHandler: false);
        await SendAsync(server, servers.DynamoDbUrl, "CreateTable", create);
        await SendAsync(model, s_modelUrl, "CreateTable", create);
        for (int i = 0; i < 100; i++)
        {
            string d = await SendAsync(server, servers.DynamoDbUrl, "DescribeTable", $$"""{"TableName":"{{numTable}}"}""");
            if (d.Contains("ACTIVE", StringComparison.Ordinal))
            {
                break;
            }

            await Task.Delay(100);
        }

        return (dynamoDb, table, numTable);
    }

    private const string Item = """{"pk":{"S":"$K"},"sk":{"S":"s"},"n":{"N":"5"},"s":{"S":"x"},"ss":{"SS":["a","b"]},"ns":{"NS":["1","2"]},"l":{"L":[{"N":"1"},{"N":"2"},{"N":"3"},{"N":"4"}]},"m":{"M":{"a":{"M":{"b":{"L":[{"N":"0"},{"N":"1"},{"M":{"c":{"S":"deep"}}}]}}}}}}""";
    private const string Key = """{"pk":{"S":"$K"},"sk":{"S":"s"}}""";

    public static IEnumerable<object[]> Cases()
    {
        string path = Path.Combine(RepoPaths.Root, "tests", "Analytics.Core.Testing.Tests", "Downstream", "WriteCrossCheckCases.txt");
        string text = string.Join('\n', File.ReadAllLines(path).Where(l => !l.StartsWith('#')));
        return text.Replace("@ITEM", Item, StringComparison.Ordinal).Replace("@KEY", Key, StringComparison.Ordinal)
            .Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(c => c.Trim()).Where(c => c.Length > 0).Select(c => new object[] { c });
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Case(string steps)
    {
        string key = "r" + Interlocked.Increment(ref s_key).ToString(CultureInfo.InvariantCulture);
        using var server = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var model = new HttpMessageInvoker(_model.HttpHandler, disposeHandler: false);
        var expected = new StringBuilder();
        var actual = new StringBuilder();
        foreach (string line in steps.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int space = line.IndexOf(' ', StringComparison.Ordinal);
            string op = line[..space];
            string body = line[(space + 1)..].Replace("$T", _table, StringComparison.Ordinal).Replace("$N", _numTable, StringComparison.Ordinal).Replace("$K", key, StringComparison.Ordinal);
            expected.Append(op).Append(" -> ").AppendLine((await SendAsync(server, servers.DynamoDbUrl, op, body)).Replace(_table, "$T", StringComparison.Ordinal).Replace(_numTable, "$N", StringComparison.Ordinal).Replace(key, "$K", StringComparison.Ordinal));
            actual.Append(op).Append(" -> ").AppendLine((await SendAsync(model, s_modelUrl, op, body)).Replace(_table, "$T", StringComparison.Ordinal).Replace(_numTable, "$N", StringComparison.Ordinal).Replace(key, "$K", StringComparison.Ordinal));
        }

        Assert.Equal(expected.ToString(), actual.ToString());
    }

    [Fact]
    public async Task ItemSizeBoundary()
    {
        // Items of a string attribute sized around 400 KB: which are accepted by each.
        using var server = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var model = new HttpMessageInvoker(_model.HttpHandler, disposeHandler: false);
        var expected = new StringBuilder();
        var actual = new StringBuilder();
        string key = "size" + Interlocked.Increment(ref s_key).ToString(CultureInfo.InvariantCulture);
        foreach (int extra in (int[])[-2, -1, 0, 1, 2])
        {
            // name sizes: pk(2)+key, sk(2)+1, v(1)
            int pad = (400 * 1024) - (2 + key.Length) - 3 - 1 + extra;
            foreach (string shape in (string[])["S", "N"])
            {
                var item = new JsonObject { ["pk"] = new JsonObject { ["S"] = key }, ["sk"] = new JsonObject { ["S"] = "s" } };
                if (shape == "S")
                {
                    item["v"] = new JsonObject { ["S"] = new string('x', pad) };
                }
                else
                {
                    item["v"] = new JsonObject { ["S"] = new string('x', pad - 2 - 21) };
                    item["n"] = new JsonObject { ["N"] = "12345678901234567890" }; // name 1 + 20 digits
                }

                string put = new JsonObject { ["TableName"] = _table, ["Item"] = item }.ToJsonString();
                expected.AppendLine($"{shape}{extra}: {await SendAsync(server, servers.DynamoDbUrl, "PutItem", put)}");
                actual.AppendLine($"{shape}{extra}: {await SendAsync(model, s_modelUrl, "PutItem", put)}");
            }
        }

        Assert.Equal(expected.ToString(), actual.ToString());
    }

    private static async Task<string> SendAsync(HttpMessageInvoker http, Uri url, string operation, string body)
    {
        (int status, string? error, JsonNode? answer) = await DynamoWire.SendAsync(http, url, operation, body);
        if (answer is JsonObject o)
        {
            o.Remove("ConsumedCapacity");
            o.Remove("TableDescription");
        }

        return $"{status} {error ?? Canonical(answer, null)}";
    }

    private static string Canonical(JsonNode? node, string? parent) => node switch
    {
        JsonObject o => "{" + string.Join(",", o.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Key + "=" + Canonical(p.Value, p.Key))) + "}",
        JsonArray a when parent is "SS" or "NS" or "BS" => "[" + string.Join(",", a.Select(x => Canonical(x, null)).Order(StringComparer.Ordinal)) + "]",
        JsonArray a => "[" + string.Join(",", a.Select(x => Canonical(x, null))) + "]",
        null => "null",
        _ => node.ToJsonString(),
    };
}
