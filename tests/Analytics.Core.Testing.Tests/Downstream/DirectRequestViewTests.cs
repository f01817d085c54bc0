using System.Globalization;
using System.Text;
using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.DynamoDBv2.Model.Internal.MarshallTransformations;
using Amazon.Runtime;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The direct client reads a request from the SDK's object (<see cref="SdkRequestView"/>) instead of marshalling it to
/// JSON: whatever it reads must be what the model would read from the SDK's own marshalled JSON
/// (<see cref="JsonRequestView"/>), field by field, and the fault plan's identity must be the same; a shape it does not
/// mirror must go the JSON way. The independent side is the SDK's real marshaller.
/// </summary>
public sealed class DirectRequestViewTests
{
    /// <summary>Property: for any item of any attribute values (odd ones included), the two readings agree or the object is not read directly.</summary>
    [Fact]
    public void AnyPutItem_ReadFromTheObject_EqualsTheModelsReadingOfTheSdksJson()
    {
        Gen<Dictionary<string, AttributeValue>> items = Gen.Sized(size => ItemGen(Math.Min(size, 6) / 2));
        Gen<(Dictionary<string, AttributeValue> Item, Dictionary<string, AttributeValue> Values, bool Names, string? Condition)> requests =
            from item in items
            from values in ItemGen(1)
            from names in Gen.Elements(true, false)
            from condition in Gen.Elements<string?>(null, "attribute_not_exists(pk)", "ver = :expected", "")
            select (item, values, names, condition);
        int direct = 0;
        Prop.ForAll(Arb.From(requests), r =>
        {
            var request = new PutItemRequest
            {
                TableName = "tbl",
                Item = r.Item,
                ConditionExpression = r.Condition,
                ExpressionAttributeValues = r.Values.Count == 0 ? null : r.Values.ToDictionary(kv => ":" + kv.Key, kv => kv.Value),
                ExpressionAttributeNames = r.Names ? new Dictionary<string, string> { ["#n"] = "name" } : null,
                ReturnValues = r.Names ? ReturnValue.ALL_OLD : null,
            };
            if (Agree(request, "PutItem", PutItemRequestMarshaller.Instance.Marshall(request), SdkRequestView.From(request)))
            {
                direct++;
            }

            return true;
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(300).WithQuietOnSuccess(true));

        // The generator is not all odd shapes: many requests are read directly (else the property checks nothing). About
        // 39 % are (100 to 138 of 300 in 40 runs, about 8 of standard deviation): 50 is far below what chance gives, where
        // the earlier bound of 100 failed about once in 40 runs.
        Assert.True(direct >= 50, "only " + direct.ToString(CultureInfo.InvariantCulture) + " of 300 requests were read directly");
    }

    [Fact]
    public void TheSinksRequests_AreReadFromTheObject_AndAgreeWithTheirJson()
    {
        // The shapes DynamoDbAggregateSink sends: a conditional put with a binary sketch, a consistent read, a batch read.
        var put = new PutItemRequest
        {
            TableName = "aggregates",
            Item = new()
            {
                ["pk"] = new() { S = "latency_ms|service=api" },
                ["sk"] = new() { S = "2025-01-20T10:00:00.0000000+00:00" },
                ["ver"] = new() { N = "3" },
                ["sketch"] = new() { B = new MemoryStream([1, 2, 3, 250, 0, 7]) },
                ["wk"] = new() { M = new() { ["shardId-000000000001|k7"] = new() { S = "49590338271490256608559692538361571095921575989136588898" } } },
            },
            ConditionExpression = "ver = :expected",
            ExpressionAttributeValues = new() { [":expected"] = new() { N = "2" } },
        };
        var get = new GetItemRequest { TableName = "aggregates", Key = new() { ["pk"] = new() { S = "a" }, ["sk"] = new() { S = "b" } }, ConsistentRead = true };
        var batch = new BatchGetItemRequest
        {
            RequestItems = new()
            {
                ["aggregates"] = new KeysAndAttributes { Keys = [new() { ["pk"] = new() { S = "a" }, ["sk"] = new() { S = "b" } }, new() { ["pk"] = new() { S = "c" }, ["sk"] = new() { S = "d" } }], ConsistentRead = true },
                ["other"] = new KeysAndAttributes { Keys = [new() { ["id"] = new() { N = "1.50" } }], ProjectionExpression = "#i", ExpressionAttributeNames = new() { ["#i"] = "id" } },
            },
        };
        var update = new UpdateItemRequest
        {
            TableName = "naive",
            Key = new() { ["pk"] = new() { S = "a" } },
            UpdateExpression = "ADD #count :one",
            ExpressionAttributeNames = new() { ["#count"] = "count" },
            ExpressionAttributeValues = new() { [":one"] = new() { N = "1" } },
            ReturnValues = ReturnValue.UPDATED_NEW,
        };
        var delete = new DeleteItemRequest { TableName = "tbl", Key = new() { ["pk"] = new() { S = "a" } }, ConditionExpression = "attribute_exists(pk)" };

        Assert.True(Agree(put, "PutItem", PutItemRequestMarshaller.Instance.Marshall(put), SdkRequestView.From(put)));
        Assert.True(Agree(get, "GetItem", GetItemRequestMarshaller.Instance.Marshall(get), SdkRequestView.From(get)));
        Assert.True(Agree(batch, "BatchGetItem", BatchGetItemRequestMarshaller.Instance.Marshall(batch), SdkRequestView.From(batch)));
        Assert.True(Agree(update, "UpdateItem", UpdateItemRequestMarshaller.Instance.Marshall(update), SdkRequestView.From(update)));
        Assert.True(Agree(delete, "DeleteItem", DeleteItemRequestMarshaller.Instance.Marshall(delete), SdkRequestView.From(delete)));
    }

    [Fact]
    public void ShapesTheObjectReadingDoesNotMirror_GoTheJsonWay()
    {
        Dictionary<string, AttributeValue> key = new() { ["pk"] = new() { S = "a" } };
        AmazonWebServiceRequest[] odd =
        [
            new GetItemRequest { TableName = "tbl", Key = key, AttributesToGet = ["pk"] },
            new PutItemRequest { TableName = "tbl", Item = key, Expected = new() { ["pk"] = new ExpectedAttributeValue { Exists = false } } },
            new UpdateItemRequest { TableName = "tbl", Key = key, AttributeUpdates = new() { ["v"] = new AttributeValueUpdate { Action = AttributeAction.PUT, Value = new() { S = "x" } } } },
            new DeleteItemRequest { TableName = "tbl", Key = key, ConditionalOperator = ConditionalOperator.AND },
            new PutItemRequest { TableName = "tbl", Item = new() { ["pk"] = new() { S = "a", N = "1" } } }, // two types set
            new PutItemRequest { TableName = "tbl", Item = new() { ["pk"] = new() } }, // none set
            new PutItemRequest { TableName = "tbl", Item = new() { ["pk"] = new() { S = "a" }, ["n"] = new() { NULL = false } } },
            new PutItemRequest { TableName = "tbl", Item = new() { ["pk"] = new() { S = "a" }, ["n"] = new() { N = "twelve" } } },
            new PutItemRequest { TableName = "tbl", Item = new() { ["pk"] = new() { S = "a" }, ["s"] = new() { SS = [] } } },
            new PutItemRequest { TableName = "tbl", Item = new() { ["pk"] = new() { S = "a" }, ["s"] = new() { SS = ["x", "x"] } } },
            new PutItemRequest { TableName = "tbl", Item = key, ExpressionAttributeNames = new() { ["#a"] = null! } },
            new BatchGetItemRequest { RequestItems = new() { ["tbl"] = new KeysAndAttributes { Keys = [key], AttributesToGet = ["pk"] } } },
        ];
        foreach (AmazonWebServiceRequest request in odd)
        {
            Assert.False(DynamoDbModelClient.ReadsDirectly(request), request.GetType().Name + " was read directly");
        }

        Assert.True(DynamoDbModelClient.ReadsDirectly(new PutItemRequest { TableName = "tbl", Item = key }));
    }

    /// <summary>The odd shapes answer alike on the direct client (through its JSON fallback) and over HTTP.</summary>
    [Fact]
    public async Task ShapesTheObjectReadingDoesNotMirror_AnswerAlikeOnBothClients()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2024, 5, 1, 12, 0, 0, TimeSpan.Zero));
        DynamoDbModelOptions options = DynamoDbModelOptions.Default with { Seed = 3, ThrottleFraction = 0.3 };
        using var directModel = new DynamoDbModel(time, options);
        using var httpModel = new DynamoDbModel(time, options);
        directModel.CreateTable("tbl", "pk", null);
        httpModel.CreateTable("tbl", "pk", null);
        using AmazonDynamoDBClient direct = directModel.CreateClient();
        using AmazonDynamoDBClient http = httpModel.CreateHttpClient();
        Func<IAmazonDynamoDB, Task>[] calls =
        [
            c => c.PutItemAsync(new PutItemRequest { TableName = "tbl", Item = new() { ["pk"] = new() { S = "a", N = "1" } } }),
            c => c.PutItemAsync(new PutItemRequest { TableName = "tbl", Item = new() { ["pk"] = new() } }),
            c => c.PutItemAsync(new PutItemRequest { TableName = "tbl", Item = new() { ["pk"] = new() { S = "a" }, ["n"] = new() { N = "twelve" } } }),
            c => c.PutItemAsync(new PutItemRequest { TableName = "tbl", Item = new() { ["pk"] = new() { S = "a" }, ["s"] = new() { SS = ["x", "x"] } } }),
            c => c.PutItemAsync(new PutItemRequest { TableName = "tbl", Item = new() { ["pk"] = new() { S = "a" } }, Expected = new() { ["pk"] = new ExpectedAttributeValue { Exists = false } } }),
            c => c.GetItemAsync(new GetItemRequest { TableName = "tbl", Key = new() { ["pk"] = new() { S = "a" } }, AttributesToGet = ["pk"] }),
        ];
        for (int round = 0; round < 4; round++)
        {
            foreach (Func<IAmazonDynamoDB, Task> call in calls)
            {
                Assert.Equal(await OutcomeAsync(call, http), await OutcomeAsync(call, direct));
            }
        }

        Assert.Equal(httpModel.Counters, directModel.Counters);
        Assert.True(directModel.Counters.ValidationErrors > 0);
    }

    private static async Task<string> OutcomeAsync(Func<IAmazonDynamoDB, Task> call, IAmazonDynamoDB client)
    {
        try
        {
            await call(client);
            return "ok";
        }
        catch (AmazonServiceException e)
        {
            return $"{e.GetType().Name} {e.ErrorCode} {(int)e.StatusCode} {e.RequestId} {e.Message}";
        }
    }

    /// <summary>
    /// Whether the object was read directly; when it was, asserts that every field the model reads, and the identity,
    /// equal the model's reading of the marshalled JSON.
    /// </summary>
    private static bool Agree(AmazonWebServiceRequest request, string operation, Amazon.Runtime.Internal.IRequest marshalled, SdkRequestView? typed)
    {
        Assert.Equal(typed is not null, DynamoDbModelClient.ReadsDirectly(request));
        if (typed is null)
        {
            return false;
        }

        using JsonDocument document = JsonDocument.Parse(Body(marshalled));
        var json = new JsonRequestView(document.RootElement);
        string target = "DynamoDB_20120810." + operation;
        Assert.Equal(Reading(json), Reading(typed));
        Assert.Equal(json.Identity(target, operation), typed.Identity(target, operation));
        return true;
    }

    /// <summary>Everything the model reads from a request, as text.</summary>
    private static string Reading(DynamoRequestView view)
    {
        var text = new StringBuilder();
        foreach (string name in (string[])["TableName", "ConditionExpression", "UpdateExpression", "ProjectionExpression", "ReturnValues"])
        {
            text.Append(name).Append('=').Append(view.OptionalString(name) ?? "<none>").Append('\n');
        }

        text.Append("ConsistentRead=").Append(view.OptionalBool("ConsistentRead")?.ToString() ?? "<none>").Append('\n');
        foreach (string name in (string[])["Key", "Item"])
        {
            text.Append(name).Append('=').Append(Canonical(view.OptionalItem(name))).Append('\n');
        }

        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        text.Append("names ").Append(view.ReadNames(names)).Append(' ').Append(string.Join(",", names.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + "=" + kv.Value))).Append('\n');
        var values = new Dictionary<string, DynamoValue>(StringComparer.Ordinal);
        view.ReadValues(values);
        text.Append("values ").Append(Canonical(values)).Append('\n');
        if (view.RequestItems() is { } tables)
        {
            foreach ((string table, DynamoRequestView spec) in tables.OrderBy(t => t.Table, StringComparer.Ordinal))
            {
                text.Append("table ").Append(table).Append(": ").Append(string.Join(";", spec.Keys().Select(Canonical))).Append('\n').Append(Reading(spec));
            }
        }

        return text.ToString();
    }

    private static string Canonical(IReadOnlyDictionary<string, DynamoValue>? item)
    {
        if (item is null)
        {
            return "<none>";
        }

        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            DynamoValue.WriteItem(writer, item);
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static byte[] Body(Amazon.Runtime.Internal.IRequest marshalled)
    {
        if (marshalled.ContentStream is { } stream)
        {
            using (stream)
            {
                stream.Position = 0;
                using var copy = new MemoryStream();
                stream.CopyTo(copy);
                return copy.ToArray();
            }
        }

        return marshalled.Content ?? [];
    }

    private static Gen<Dictionary<string, AttributeValue>> ItemGen(int depth) =>
        from count in Gen.Choose(0, 4)
        from names in Gen.ArrayOf(Gen.Elements("pk", "sk", "v", "ver", "Ä", "a b", "wk"), count)
        from values in Gen.ArrayOf(ValueGen(depth), count)
        select names.Zip(values).GroupBy(p => p.First).ToDictionary(g => g.Key, g => g.First().Second, StringComparer.Ordinal);

    private static Gen<AttributeValue> ValueGen(int depth)
    {
        Gen<string> text = Gen.Elements("", "a", "é", "x\"y", "49590338271490256608559692538361571095921575989136588898");
        Gen<string> number = Gen.Frequency(
            (8, Gen.Elements("0", "1", "-1.50", "1E+3", "0.001", "123456789012345678901234567890")),
            (1, Gen.Elements("twelve", "1e500", "")));
        Gen<MemoryStream> bytes = Gen.ArrayOf(Gen.Choose(0, 255).Select(b => (byte)b)).Select(b => new MemoryStream(b));
        var scalars = new List<Gen<AttributeValue>>
        {
            text.Select(s => new AttributeValue { S = s }),
            number.Select(n => new AttributeValue { N = n }),
            bytes.Select(b => new AttributeValue { B = b }),
            Gen.Elements(true, false).Select(b => new AttributeValue { BOOL = b }),
            Gen.Elements(true, true, false).Select(b => new AttributeValue { NULL = b }),
            Gen.ListOf(text).Select(l => new AttributeValue { SS = l.ToList() }),
            Gen.ListOf(number).Select(l => new AttributeValue { NS = l.ToList() }),
            Gen.ListOf(bytes).Select(l => new AttributeValue { BS = l.ToList() }),
            Gen.Constant(0).Select(_ => new AttributeValue()), // no type set
            from s in text from n in number select new AttributeValue { S = s, N = n }, // two types set
        };
        if (depth > 0)
        {
            scalars.Add(ItemGen(depth - 1).Select(m => new AttributeValue { M = m }));
            scalars.Add(Gen.ListOf(ValueGen(depth - 1)).Select(l => new AttributeValue { L = l.ToList() }));
        }

        // Mostly plain values, so most items are read directly.
        return Gen.Frequency(
            (6, Gen.OneOf(scalars.Take(5).Concat(depth > 0 ? scalars.Skip(10) : []))),
            (1, Gen.OneOf(scalars)));
    }
}
