using System.Globalization;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;
using FsCheck;
using FsCheck.Fluent;
using Microsoft.Extensions.Time.Testing;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The DynamoDB model's two clients: <see cref="DynamoDbModel.CreateClient"/> hands item operations to the model as
/// objects, <see cref="DynamoDbModel.CreateHttpClient"/> sends them through the SDK's pipeline and the JSON protocol
/// (the path the model was checked against dynalite with). Two models with the same options, one per client, must
/// answer the same requests alike: the same responses (attributes in the same order), the same exceptions (type, code,
/// status, message, request id), the same fault decisions and the same counters and tables.
/// </summary>
public sealed class DirectClientTests
{
    private static readonly DateTimeOffset s_start = new(2024, 5, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task DirectAndHttpClients_AnswerEveryItemOperationAlike_IncludingErrorsThrottlingAndOutages()
    {
        var options = DynamoDbModelOptions.Default with
        {
            Seed = 7, // draws are hashed from the requests: a seed with which this fixed sequence meets every outcome
            ThrottleFraction = 0.3,
            Outages = [new OutageWindow(s_start.AddSeconds(10), s_start.AddSeconds(11))],
            MaxItemSizeBytes = 2_000,
        };
        using var pair = new ClientPair(options);
        await pair.CreateTableAsync();

        var steps = new List<Func<IAmazonDynamoDB, Task<AmazonWebServiceResponse>>>();
        for (int n = 0; n < 12; n++)
        {
            int i = n;
            string pk = "p" + (i % 4).ToString(CultureInfo.InvariantCulture);
            steps.Add(c => Put(c, pk, "s", i, conditional: i % 3 == 0));
        }

        for (int n = 0; n < 4; n++)
        {
            steps.Add(c => Put(c, "p1", "s", 99, conditional: true)); // p1 exists by now: a conditional-check failure
        }

        steps.Add(c => Wrap(c.PutItemAsync(new PutItemRequest
        {
            TableName = "tbl",
            // Attribute names out of ordinal order at both levels: the answers list them in ordinal order.
            Item = new() { ["z"] = new() { N = "1.50" }, ["pk"] = new() { S = "m" }, ["sk"] = new() { S = "s" }, ["a"] = new() { M = new() { ["y"] = new() { S = "1" }, ["b"] = new() { L = [new() { BOOL = true }, new() { NULL = true }] } } }, ["bin"] = new() { B = new MemoryStream([1, 2, 3]) }, ["ss"] = new() { SS = ["x", "w"] } },
        })));
        for (int i = 0; i < 6; i++)
        {
            steps.Add(c => Wrap(c.GetItemAsync(new GetItemRequest { TableName = "tbl", Key = Key("m", "s"), ConsistentRead = true })));
            steps.Add(c => Wrap(c.PutItemAsync(new PutItemRequest { TableName = "tbl", Item = Key("m", "s"), ReturnValues = ReturnValue.ALL_OLD, ConditionExpression = "attribute_exists(pk)" })));
            steps.Add(c => Wrap(c.PutItemAsync(new PutItemRequest { TableName = "tbl", Item = new() { ["pk"] = new() { S = "m" }, ["sk"] = new() { S = "s" }, ["a"] = new() { M = new() { ["y"] = new() { S = "1" } } } } })));
        }

        steps.Add(c => Wrap(c.GetItemAsync(new GetItemRequest { TableName = "tbl", Key = Key("nope", "s") })));
        steps.Add(c => Wrap(c.GetItemAsync(new GetItemRequest { TableName = "tbl", Key = Key("m", "s"), ProjectionExpression = "#a, pk", ExpressionAttributeNames = new() { ["#a"] = "a" } })));
        for (int n = 0; n < 4; n++)
        {
            // Errors that throttling would hide (a throttled request is refused before it is read): each a few times.
            steps.Add(c => Wrap(c.GetItemAsync(new GetItemRequest { TableName = "missing", Key = Key("m", "s") })));
            steps.Add(c => Wrap(c.PutItemAsync(new PutItemRequest { TableName = "tbl", Item = Key("p1", "s"), ConditionExpression = "attribute_not_exists(pk)" })));
        }

        steps.Add(c => Wrap(c.GetItemAsync(new GetItemRequest { TableName = "tbl", Key = new() { ["pk"] = new() { S = "m" } } })));
        steps.Add(c => Wrap(c.PutItemAsync(new PutItemRequest { TableName = "tbl", Item = Key("big", "s"), ConditionExpression = "attribute_not_exists(pk)", ExpressionAttributeValues = new() { [":unused"] = new() { N = "1" } } })));
        steps.Add(c => Wrap(c.PutItemAsync(new PutItemRequest { TableName = "tbl", Item = new() { ["pk"] = new() { S = "big" }, ["sk"] = new() { S = "s" }, ["data"] = new() { S = new string('x', 3_000) } } })));
        for (int n = 0; n < 8; n++)
        {
            int i = n;
            steps.Add(c => Wrap(c.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = "tbl",
                Key = Key("u", "s"),
                UpdateExpression = "ADD #c :one SET #t = :t",
                ExpressionAttributeNames = new() { ["#c"] = "count", ["#t"] = "tag" },
                ExpressionAttributeValues = new() { [":one"] = new() { N = "1" }, [":t"] = new() { S = "tbl" + i.ToString(CultureInfo.InvariantCulture) } },
                ReturnValues = i % 2 == 0 ? ReturnValue.ALL_NEW : ReturnValue.UPDATED_OLD,
            })));
        }

        steps.Add(c => Wrap(c.UpdateItemAsync(new UpdateItemRequest { TableName = "tbl", Key = Key("u", "s"), UpdateExpression = "SET pk = :v", ExpressionAttributeValues = new() { [":v"] = new() { S = "x" } } })));

        // Nothing the update names was there before, or is there after: an empty Attributes on both clients (diff review).
        steps.Add(c => Wrap(c.UpdateItemAsync(new UpdateItemRequest { TableName = "tbl", Key = Key("u", "s"), UpdateExpression = "SET zz = :v", ExpressionAttributeValues = new() { [":v"] = new() { S = "x" } }, ReturnValues = ReturnValue.UPDATED_OLD })));
        steps.Add(c => Wrap(c.UpdateItemAsync(new UpdateItemRequest { TableName = "tbl", Key = Key("u", "s"), UpdateExpression = "REMOVE zz", ReturnValues = ReturnValue.UPDATED_NEW })));
        for (int i = 0; i < 6; i++)
        {
            steps.Add(c => Wrap(c.BatchGetItemAsync(new BatchGetItemRequest
            {
                RequestItems = new()
                {
                    ["tbl"] = new KeysAndAttributes
                    {
                        Keys = Enumerable.Range(0, 40).Select(k => Key("p" + (k % 6).ToString(CultureInfo.InvariantCulture), k < 6 ? "s" : "s" + k.ToString(CultureInfo.InvariantCulture))).ToList(),
                        ConsistentRead = true,
                        ProjectionExpression = "#p, sk, v",
                        ExpressionAttributeNames = new() { ["#p"] = "pk" },
                    },
                },
            })));
        }

        steps.Add(c => Wrap(c.BatchGetItemAsync(new BatchGetItemRequest { RequestItems = new() { ["tbl"] = new KeysAndAttributes { Keys = [Key("a", "s"), Key("a", "s")] } } })));
        for (int n = 0; n < 4; n++)
        {
            int i = n;
            steps.Add(c => Wrap(c.DeleteItemAsync(new DeleteItemRequest { TableName = "tbl", Key = Key("p" + i.ToString(CultureInfo.InvariantCulture), "s"), ReturnValues = ReturnValue.ALL_OLD })));
        }

        List<string> atStart = await pair.RunAsync(steps);
        pair.Time.Advance(TimeSpan.FromSeconds(10)); // into the outage
        List<string> inOutage = await pair.RunAsync(steps.Take(6).ToList());

        // The sequence reaches what it is meant to: successes, each error kind, throttling, unprocessed keys, the outage.
        string all = string.Join("\n", atStart);
        foreach (string expected in (string[])["ConditionalCheckFailedException", "ProvisionedThroughputExceededException", "ResourceNotFoundException", "ValidationException", "UnprocessedKeys=tbl:", "ok model-"])
        {
            Assert.True(all.Contains(expected, StringComparison.Ordinal), "missing: " + expected);
        }

        Assert.All(inOutage, o => Assert.StartsWith("InternalServerErrorException", o, StringComparison.Ordinal));
        Assert.Equal(pair.HttpCounters, pair.DirectCounters);
        Assert.True(pair.DirectCounters.Throttles > 0);
        Assert.Equal(pair.HttpTable(), pair.DirectTable());
    }

    /// <summary>
    /// Property: any sequence of item operations (conditional puts, updates with ADD, gets, deletes, batch reads) on a
    /// few keys, with throttling, gives the same answers on both clients.
    /// </summary>
    [Fact]
    public async Task ABinaryGivenAsAStream_IsStoredWhole_WhereverItsPosition_OnBothClients()
    {
        // The direct client copies a stream that lends its buffer straight from it: the same bytes as the SDK's
        // marshaller sends (ToArray: the whole content, from the stream's origin, whatever its position), for a stream
        // over part of an array, a positioned one, one that does not lend its buffer, and a closed one.
        byte[] backing = [9, 9, 1, 2, 3, 4, 5, 9];
        var lent = new MemoryStream(backing, 2, 5, writable: false, publiclyVisible: true) { Position = 3 };
        var kept = new MemoryStream(backing, 2, 5, writable: false) { Position = 4 };
        var closed = new MemoryStream(backing, 2, 5, writable: false, publiclyVisible: true);
        closed.Dispose();
        using var pair = new ClientPair(DynamoDbModelOptions.Default);
        await pair.CreateTableAsync();
        var steps = new List<Func<IAmazonDynamoDB, Task<AmazonWebServiceResponse>>>();
        foreach ((string sk, MemoryStream stream) in (ReadOnlySpan<(string, MemoryStream)>)[("lent", lent), ("kept", kept), ("closed", closed)])
        {
            steps.Add(async c => await c.PutItemAsync(new PutItemRequest
            {
                TableName = "tbl",
                Item = new() { ["pk"] = new() { S = "p" }, ["sk"] = new() { S = sk }, ["b"] = new() { B = stream } },
            }));
        }

        await pair.RunAsync(steps);
        Assert.Equal(pair.HttpTable(), pair.DirectTable());
        Assert.Equal(3, pair.DirectTable().Count(item => item.Contains("AQIDBAU=", StringComparison.Ordinal))); // 1 2 3 4 5 in base64
        Assert.Equal(3, lent.Position); // read without moving it (the SDK's marshaller moves one that does not lend its buffer)
    }

    [Fact]
    public void AnySequenceOfItemOperations_GetsTheSameAnswersOnBothClients()
    {
        Gen<(int Op, int Key, int Value)> step =
            from op in Gen.Choose(0, 5)
            from key in Gen.Choose(0, 4)
            from value in Gen.Choose(-3, 3)
            select (op, key, value);
        Gen<(int Seed, int ThrottlePercent, (int Op, int Key, int Value)[] Steps)> gen =
            from seed in Gen.Choose(1, 1_000_000)
            from throttle in Gen.Elements(0, 20, 60)
            from steps in Gen.ArrayOf(step)
            select (seed, throttle, steps);
        Prop.ForAll(Arb.From(gen), c => Check(c.Seed, c.ThrottlePercent, c.Steps))
            .Check(Config.QuickThrowOnFailure.WithMaxTest(40).WithQuietOnSuccess(true));
    }

    private static bool Check(int seed, int throttlePercent, (int Op, int Key, int Value)[] steps)
    {
        using var pair = new ClientPair(DynamoDbModelOptions.Default with { Seed = seed, ThrottleFraction = throttlePercent / 100.0 });
        pair.CreateTableAsync().GetAwaiter().GetResult();
        var calls = steps.Select(s => (Func<IAmazonDynamoDB, Task<AmazonWebServiceResponse>>)(c => Step(c, s.Op, "k" + s.Key.ToString(CultureInfo.InvariantCulture), s.Value))).ToList();
        List<string> outcomes = pair.RunAsync(calls).GetAwaiter().GetResult();
        Assert.Equal(steps.Length, outcomes.Count);
        Assert.Equal(pair.HttpCounters, pair.DirectCounters);
        Assert.Equal(pair.HttpTable(), pair.DirectTable());
        return true;
    }

    private static Task<AmazonWebServiceResponse> Step(IAmazonDynamoDB c, int op, string pk, int value) => op switch
    {
        0 => Put(c, pk, "s", value, conditional: value < 0),
        1 => Wrap(c.UpdateItemAsync(new UpdateItemRequest
        {
            TableName = "tbl",
            Key = Key(pk, "s"),
            UpdateExpression = "ADD v :d",
            ConditionExpression = value > 1 ? "attribute_exists(pk)" : null,
            ExpressionAttributeValues = new() { [":d"] = new() { N = value.ToString(CultureInfo.InvariantCulture) } },
            ReturnValues = ReturnValue.ALL_NEW,
        })),
        2 => Wrap(c.GetItemAsync(new GetItemRequest { TableName = "tbl", Key = Key(pk, "s") })),
        3 => Wrap(c.DeleteItemAsync(new DeleteItemRequest { TableName = "tbl", Key = Key(pk, "s"), ReturnValues = value > 0 ? ReturnValue.ALL_OLD : ReturnValue.NONE })),
        4 => Wrap(c.BatchGetItemAsync(new BatchGetItemRequest { RequestItems = new() { ["tbl"] = new KeysAndAttributes { Keys = Enumerable.Range(0, 5).Select(k => Key("k" + k.ToString(CultureInfo.InvariantCulture), "s")).ToList() } } })),
        _ => Wrap(c.PutItemAsync(new PutItemRequest { TableName = "tbl", Item = new() { ["pk"] = new() { S = pk }, ["sk"] = new() { S = "s" }, ["m"] = new() { M = new() { ["z"] = new() { N = value.ToString(CultureInfo.InvariantCulture) }, ["a"] = new() { S = "v" } } } }, ReturnValues = ReturnValue.ALL_OLD })),
    };

    private static Task<AmazonWebServiceResponse> Put(IAmazonDynamoDB client, string pk, string sk, int value, bool conditional) => Wrap(client.PutItemAsync(new PutItemRequest
    {
        TableName = "tbl",
        Item = new() { ["pk"] = new() { S = pk }, ["sk"] = new() { S = sk }, ["v"] = new() { N = value.ToString(CultureInfo.InvariantCulture) } },
        ConditionExpression = conditional ? "attribute_not_exists(pk)" : null,
    }));

    private static async Task<AmazonWebServiceResponse> Wrap<T>(Task<T> call)
        where T : AmazonWebServiceResponse => await call.ConfigureAwait(false);

    private static Dictionary<string, AttributeValue> Key(string pk, string sk) => new() { ["pk"] = new() { S = pk }, ["sk"] = new() { S = sk } };

    /// <summary>
    /// Nesting as DynamoDB bounds it (recorded against AWS: a scalar in 31 maps is stored, in 32 it is refused with
    /// "Nesting Levels have exceeded supported limits"), the same on both clients, in an item and in a list; a hostile
    /// depth (5,000 maps, in the item or in an expression value) is refused by the SDK's own marshaller on both clients
    /// and never exhausts the stack.
    /// </summary>
    [Fact]
    public async Task NestedItems_AreBoundedAsDynamoDbBoundsThem_OnBothClients()
    {
        using var pair = new ClientPair(DynamoDbModelOptions.Default);
        await pair.CreateTableAsync();
        var steps = new List<Func<IAmazonDynamoDB, Task<AmazonWebServiceResponse>>>();
        foreach (int wraps in (int[])[31, 32, 40, 100])
        {
            steps.Add(c => Wrap(c.PutItemAsync(new PutItemRequest { TableName = "tbl", Item = DeepItem(wraps, list: false) })));
            steps.Add(c => Wrap(c.PutItemAsync(new PutItemRequest { TableName = "tbl", Item = DeepItem(wraps, list: true) })));
        }

        List<string> outcomes = await pair.RunAsync(steps);
        Assert.StartsWith("ok", outcomes[0], StringComparison.Ordinal);
        Assert.StartsWith("ok", outcomes[1], StringComparison.Ordinal);
        Assert.All(outcomes.Skip(2), o => Assert.Contains("ValidationException", o, StringComparison.Ordinal));
        Assert.All(outcomes.Skip(2), o => Assert.Contains("Nesting Levels have exceeded supported limits", o, StringComparison.Ordinal));
        Assert.Equal(pair.HttpTable(), pair.DirectTable());

        foreach (Func<IAmazonDynamoDB, Task> hostile in new Func<IAmazonDynamoDB, Task>[]
        {
            c => c.PutItemAsync(new PutItemRequest { TableName = "tbl", Item = DeepItem(5_000, list: false) }),
            c => c.PutItemAsync(new PutItemRequest
            {
                TableName = "tbl",
                Item = Key("p", "s"),
                ConditionExpression = "v = :v",
                ExpressionAttributeValues = new() { [":v"] = DeepItem(5_000, list: true)["d"] },
            }),
        })
        {
            foreach (IAmazonDynamoDB client in pair.Clients)
            {
                await Assert.ThrowsAsync<InvalidOperationException>(() => hostile(client));
            }
        }
    }

    private static Dictionary<string, AttributeValue> DeepItem(int wraps, bool list)
    {
        var value = new AttributeValue { S = "x" };
        for (int i = 0; i < wraps; i++)
        {
            value = list ? new AttributeValue { L = [value] } : new AttributeValue { M = new() { ["a"] = value } };
        }

        Dictionary<string, AttributeValue> item = Key("deep", wraps.ToString(CultureInfo.InvariantCulture) + (list ? "L" : "M"));
        item["d"] = value;
        return item;
    }

    /// <summary>A response or an exception as text; attribute maps in their own order (the order is part of what must agree).</summary>
    private static string Describe(AmazonWebServiceResponse response)
    {
        var text = new StringBuilder("ok " + response.ResponseMetadata?.RequestId + " " + (int)response.HttpStatusCode + " ");
        switch (response)
        {
            case GetItemResponse r:
                text.Append("Item=").Append(Describe(r.Item)).Append(" set=").Append(r.IsItemSet);
                break;
            case PutItemResponse r:
                text.Append("Attributes=").Append(Describe(r.Attributes));
                break;
            case UpdateItemResponse r:
                text.Append("Attributes=").Append(Describe(r.Attributes));
                break;
            case DeleteItemResponse r:
                text.Append("Attributes=").Append(Describe(r.Attributes));
                break;
            case BatchGetItemResponse r:
                text.Append("Responses=").Append(string.Join(";", (r.Responses ?? []).Select(kv => kv.Key + ":" + string.Join(",", kv.Value.Select(Describe)))));
                text.Append(" UnprocessedKeys=").Append(string.Join(";", (r.UnprocessedKeys ?? []).Select(kv => kv.Key + ":" + string.Join(",", kv.Value.Keys.Select(Describe))
                    + " consistent=" + kv.Value.ConsistentRead + " projection=" + kv.Value.ProjectionExpression + " names=" + Describe(kv.Value.ExpressionAttributeNames))));
                break;
            default:
                throw new InvalidOperationException("unexpected response " + response.GetType().Name);
        }

        return text.ToString();
    }

    private static string Describe(AmazonServiceException e) =>
        $"{e.GetType().Name} {e.ErrorCode} {(int)e.StatusCode} {e.ErrorType} {e.RequestId} {e.Message}";

    private static string Describe(Dictionary<string, string>? names) =>
        names is null ? "null" : "{" + string.Join(",", names.Select(kv => kv.Key + "=" + kv.Value)) + "}";

    private static string Describe(Dictionary<string, AttributeValue>? item) =>
        item is null ? "null" : "{" + string.Join(",", item.Select(kv => kv.Key + ":" + Describe(kv.Value))) + "}";

    private static string Describe(AttributeValue v) =>
        v.S is not null ? "S" + v.S
        : v.N is not null ? "N" + v.N
        : v.B is not null ? "B" + Convert.ToBase64String(v.B.ToArray())
        : v.BOOL is not null ? "BOOL" + v.BOOL
        : v.NULL is true ? "NULL"
        : v.M is not null ? "M" + Describe(v.M)
        : v.L is not null ? "L[" + string.Join(",", v.L.Select(Describe)) + "]"
        : v.SS is not null ? "SS[" + string.Join(",", v.SS) + "]"
        : v.NS is not null ? "NS[" + string.Join(",", v.NS) + "]"
        : v.BS is not null ? "BS[" + string.Join(",", v.BS.Select(b => Convert.ToBase64String(b.ToArray()))) + "]"
        : "?";

    private sealed class ClientPair : IDisposable
    {
        private readonly DynamoDbModel _directModel;
        private readonly DynamoDbModel _httpModel;
        private readonly AmazonDynamoDBClient _direct;
        private readonly AmazonDynamoDBClient _http;

        public ClientPair(DynamoDbModelOptions options)
        {
            _directModel = new DynamoDbModel(Time, options);
            _httpModel = new DynamoDbModel(Time, options);
            _direct = _directModel.CreateClient();
            _http = _httpModel.CreateHttpClient();
        }

        public FakeTimeProvider Time { get; } = new(s_start);

        public IEnumerable<IAmazonDynamoDB> Clients => [_direct, _http];

        public DynamoDbModelCounters DirectCounters => _directModel.Counters;

        public DynamoDbModelCounters HttpCounters => _httpModel.Counters;

        public List<string> DirectTable() => _directModel.GetItems("tbl").Select(ModelCrossCheckTests.Canonical).ToList();

        public List<string> HttpTable() => _httpModel.GetItems("tbl").Select(ModelCrossCheckTests.Canonical).ToList();

        public async Task CreateTableAsync()
        {
            _directModel.CreateTable("tbl", "pk", "sk");
            _httpModel.CreateTable("tbl", "pk", "sk");
            await Task.CompletedTask;
        }

        /// <summary>Runs each step on both clients; asserts equal outcomes step by step and returns them.</summary>
        public async Task<List<string>> RunAsync(IReadOnlyList<Func<IAmazonDynamoDB, Task<AmazonWebServiceResponse>>> steps)
        {
            var outcomes = new List<string>();
            foreach (Func<IAmazonDynamoDB, Task<AmazonWebServiceResponse>> step in steps)
            {
                string http = await OutcomeAsync(step, _http);
                string direct = await OutcomeAsync(step, _direct);
                Assert.True(http == direct, "HTTP:   " + http + "\ndirect: " + direct);
                outcomes.Add(direct);
            }

            return outcomes;
        }

        public void Dispose()
        {
            _direct.Dispose();
            _http.Dispose();
            _directModel.Dispose();
            _httpModel.Dispose();
        }

        private static async Task<string> OutcomeAsync(Func<IAmazonDynamoDB, Task<AmazonWebServiceResponse>> step, IAmazonDynamoDB client)
        {
            try
            {
                return Describe(await step(client));
            }
            catch (AmazonServiceException e)
            {
                return Describe(e);
            }
        }
    }
}
