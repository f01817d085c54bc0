using System.Globalization;
using System.Text;
using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using FsCheck;
using FsCheck.Fluent;
using Microsoft.Extensions.Time.Testing;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Parsed expressions are reused across requests (by kind and text): a reused one must answer as a fresh parse does,
/// with the request's own names and values, and fail with the same error at the same point when they differ. (What a
/// fresh parse answers is checked against the local DynamoDB server in <see cref="ExpressionServerCrossCheckTests"/>.)
/// </summary>
public sealed class ExpressionCacheTests
{
    private static readonly string[] s_items =
    [
        "{}",
        """{"pk":{"S":"k"},"a":{"N":"1"},"ver":{"N":"1"},"b":{"S":"xy"},"l":{"L":[{"N":"1"},{"S":"x"}]},"m":{"M":{"x":{"N":"3"}}}}""",
        """{"pk":{"S":"k"},"a":{"S":"x"},"ver":{"N":"2"},"b":{"B":"AAE="},"l":{"L":[]},"m":{"M":{}}}""",
        """{"a":{"SS":["x","y"]},"b":{"NS":["1","2"]},"ver":{"S":"N"},"m":{"M":{"x":{"L":[{"N":"1"}]}}}}""",
        """{"a":{"M":{"b":{"N":"1"}}},"l":{"L":[{"M":{"x":{"S":"x"}}}]},"b":{"SS":["x"]}}""",
    ];

    private static readonly string[] s_values =
    [
        """{"S":"x"}""", """{"N":"1"}""", """{"N":"2.5"}""", """{"SS":["x","y"]}""", """{"NS":["1"]}""", """{"L":[{"N":"1"}]}""",
        """{"S":"N"}""", """{"S":"S"}""", """{"BOOL":true}""", """{"M":{"x":{"N":"3"}}}""", """{"B":"AAE="}""", """{"NULL":true}""",
    ];

    private static readonly string[] s_paths = ["a", "b", "ver", "pk", "#n", "#m", "a.b", "a[0]", "#n[1]", "l[0]", "m.x", "#m.x", "l[0].x"];

    private static readonly string[] s_operands = ["a", "ver", "#n", "#m", "a.b", "a[0]", "#n.x", ":a", ":b", ":c", ":d", "size(a)", "size(#n)", "pk", "l[1]"];

    /// <summary>One cache for every case, so expressions are reused across cases as across a run's requests.</summary>
    private static readonly ExpressionCache s_cache = new();

    private static Gen<string> Operand => Gen.Elements(s_operands);

    private static Gen<string> PathGen => Gen.Elements(s_paths);

    private static Gen<string> Primary =>
        Gen.OneOf(
            from l in Operand from op in Gen.Elements("=", "<>", "<", "<=", ">", ">=") from r in Operand select $"{l} {op} {r}",
            from v in Operand from lo in Operand from hi in Operand select $"{v} BETWEEN {lo} AND {hi}",
            from v in Operand from x in Operand from y in Operand select $"{v} IN ({x}, {y})",
            from f in Gen.Elements("attribute_exists", "attribute_not_exists") from p in PathGen select $"{f}({p})",
            from p in PathGen from v in Gen.Elements(":a", ":b", ":c") select $"attribute_type({p}, {v})",
            from f in Gen.Elements("begins_with", "contains") from x in Operand from y in Operand select $"{f}({x}, {y})");

    private static Gen<string> Condition(int depth) =>
        depth == 0
            ? Primary
            : Gen.Frequency(
                (3, Primary),
                (1, Condition(depth - 1).Select(c => "NOT " + c)),
                (1, from l in Condition(depth - 1) from op in Gen.Elements("AND", "OR", "and") from r in Condition(depth - 1) select $"{l} {op} {r}"),
                (1, Condition(depth - 1).Select(c => "(" + c + ")")));

    private static Gen<string> SetOperand => Gen.Elements("a", "#n", ":a", ":b", ":c", "l", "m.x", "#m");

    private static Gen<string> SetValue =>
        Gen.OneOf(
            SetOperand,
            from x in SetOperand from op in Gen.Elements("+", "-") from y in SetOperand select $"{x} {op} {y}",
            from p in PathGen from y in SetOperand select $"if_not_exists({p}, {y})",
            from x in SetOperand from y in SetOperand select $"list_append({x}, {y})");

    private static Gen<string> Action(string clause) => clause switch
    {
        "SET" => from p in PathGen from v in SetValue select $"{p} = {v}",
        "REMOVE" => PathGen,
        _ => from p in PathGen from v in Gen.Elements(":a", ":b", ":c") select $"{p} {v}",
    };

    private static Gen<string> Update =>
        from set in Clause("SET")
        from remove in Clause("REMOVE")
        from add in Clause("ADD")
        from delete in Clause("DELETE")
        from rotate in Gen.Choose(0, 3)
        select string.Join(" ", new[] { set, remove, add, delete }.Skip(rotate).Concat(new[] { set, remove, add, delete }.Take(rotate)).Where(c => c.Length > 0));

    private static Gen<string> Clause(string clause) =>
        from n in Gen.Choose(-1, 2)
        from actions in Gen.ArrayOf(Action(clause), Math.Max(n, 0))
        select n <= 0 ? string.Empty : clause + " " + string.Join(", ", actions);

    /// <summary>Sometimes one character dropped, added or changed, or the text cut: syntax errors at any point.</summary>
    private static Gen<string> Mutated(Gen<string> text) =>
        from t in text
        from kind in Gen.Choose(0, 7)
        from at in Gen.Choose(0, 1000)
        from c in Gen.Elements(' ', '(', ')', '=', ',', ':', '#', '.', '[', ']', '$', 'x', '1')
        select t.Length == 0 || kind >= 4 ? t : kind switch
        {
            0 => t.Remove(at % t.Length, 1),
            1 => t.Insert(at % (t.Length + 1), c.ToString()),
            2 => t[..(at % t.Length)],
            _ => t.Remove(at % t.Length, 1).Insert(at % t.Length, c.ToString()),
        };

    /// <summary>
    /// A request's names and values, of any type: mostly those the expressions use, now and then one missing or one
    /// unused (decided per placeholder: whether to flip what the text says).
    /// </summary>
    private static Gen<Func<string, string>> Placeholders =>
        from names in Gen.ArrayOf(Gen.Elements("a", "ver", "l", "m", "b"), 3)
        from values in Gen.ArrayOf(Gen.Elements(s_values), 4)
        from flips in Gen.ArrayOf(Gen.Frequency((12, Gen.Constant(false)), (1, Gen.Constant(true))), 7)
        select (Func<string, string>)(text => Request(text, names, values, flips));

    private static string Request(string text, string[] names, string[] values, bool[] flips)
    {
        string[] nameKeys = ["#n", "#m", "#z"];
        string[] valueKeys = [":a", ":b", ":c", ":d"];
        bool Present(string key, int i) => text.Contains(key, StringComparison.Ordinal) != flips[i];
        var n = nameKeys.Select((k, i) => (k, i)).Where(p => Present(p.k, p.i)).Select(p => $"\"{p.k}\":\"{names[p.i]}\"");
        var v = valueKeys.Select((k, i) => (k, i)).Where(p => Present(p.k, p.i + 3)).Select(p => $"\"{p.k}\":{values[p.i]}");
        return "{\"ExpressionAttributeNames\":{" + string.Join(",", n) + "},\"ExpressionAttributeValues\":{" + string.Join(",", v) + "}}";
    }

    [Fact]
    public void AnyExpression_ReusedWithAnyNamesAndValues_AnswersAsAFreshParse()
    {
        Gen<(string? Update, string? Condition, string Kind, Func<string, string>[] Requests)> cases =
            from update in Gen.Frequency((2, Gen.Constant<string?>(null)), (1, Mutated(Update).Select(u => (string?)u)))
            from condition in Gen.Frequency((1, Gen.Constant<string?>(null)), (3, Mutated(Gen.Sized(s => Condition(Math.Min(s, 9) / 3))).Select(c => (string?)c)))
            from kind in Gen.Elements("ConditionExpression", "KeyConditionExpression", "FilterExpression")
            from requests in Gen.ArrayOf(Placeholders, 4)
            select (update, condition, kind, requests);
        int answered = 0, failed = 0;
        Prop.ForAll(Arb.From(cases), c =>
        {
            foreach (Func<string, string> placeholders in c.Requests)
            {
                string request = placeholders(c.Update + " " + c.Condition);
                string expected = Outcome(c.Update, c.Condition, c.Kind, request, cache: null);
                string reused = Outcome(c.Update, c.Condition, c.Kind, request, s_cache);
                Assert.True(expected == reused, $"{c.Update} | {c.Condition} | {request}\nfresh  {expected}\nreused {reused}");
                _ = expected.StartsWith("error", StringComparison.Ordinal) ? failed++ : answered++;
            }

            return true;
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(2000).WithQuietOnSuccess(true));

        // Both outcomes are common (else the property checks little).
        Assert.True(answered > 1000 && failed > 1000, $"{answered} answered, {failed} failed");
    }

    [Theory]
    [InlineData("ver = :expected")]
    [InlineData("attribute_not_exists(pk) OR ver = :expected")]
    [InlineData("#v = :expected AND attribute_type(#v, :t)")]
    [InlineData("ver BETWEEN :lo AND :expected")]
    [InlineData("ver = :expected AND ver = :expected")]
    [InlineData("ver = :expected OR #v = :undefined")]
    [InlineData("ver = :expected )")]
    [InlineData("ver = :expected $")]
    public void OneExpression_WithDifferentRequests_AnswersAsAFreshParse(string text)
    {
        string[] requests =
        [
            """{"ExpressionAttributeValues":{":expected":{"N":"1"}}}""",
            """{"ExpressionAttributeValues":{":expected":{"N":"2"}}}""",
            """{"ExpressionAttributeValues":{":expected":{"S":"1"}}}""",
            """{"ExpressionAttributeValues":{}}""",
            """{"ExpressionAttributeValues":{":expected":{"N":"1"},":extra":{"N":"1"}}}""",
            """{"ExpressionAttributeNames":{"#v":"ver"},"ExpressionAttributeValues":{":expected":{"N":"1"},":t":{"S":"N"},":lo":{"N":"0"}}}""",
            """{"ExpressionAttributeNames":{"#v":"a"},"ExpressionAttributeValues":{":expected":{"N":"1"},":t":{"S":"S"},":lo":{"N":"5"}}}""",
            """{"ExpressionAttributeNames":{"#v":"ver","#w":"a"},"ExpressionAttributeValues":{":expected":{"N":"1"},":t":{"S":"N"}}}""",
        ];
        var cache = new ExpressionCache();
        foreach (string request in requests.Concat(requests.Reverse()))
        {
            Assert.Equal(
                Outcome(null, text, "ConditionExpression", request, cache: null),
                Outcome(null, text, "ConditionExpression", request, cache));
        }

        Assert.Equal(1, cache.Count);
    }

    [Theory]
    [InlineData("SET #a = :v, #b = :w")]
    [InlineData("ADD #a :v")]
    [InlineData("DELETE #a :v SET #b = :w")]
    [InlineData("SET #a = #a + :v REMOVE #b")]
    [InlineData("SET #a = list_append(#a, :v)")]
    public void OneUpdate_WithDifferentRequests_AnswersAsAFreshParse(string text)
    {
        string[] requests =
        [
            """{"ExpressionAttributeNames":{"#a":"a","#b":"b"},"ExpressionAttributeValues":{":v":{"N":"1"},":w":{"S":"x"}}}""",
            """{"ExpressionAttributeNames":{"#a":"b","#b":"b"},"ExpressionAttributeValues":{":v":{"N":"1"},":w":{"S":"x"}}}""", // overlap
            """{"ExpressionAttributeNames":{"#a":"a","#b":"l"},"ExpressionAttributeValues":{":v":{"SS":["x"]},":w":{"N":"2"}}}""",
            """{"ExpressionAttributeNames":{"#a":"l"},"ExpressionAttributeValues":{":v":{"L":[{"N":"1"}]},":w":{"S":"x"}}}""",
            """{"ExpressionAttributeNames":{"#a":"a","#b":"b"},"ExpressionAttributeValues":{":v":{"N":"1"}}}""",
            """{"ExpressionAttributeNames":{"#a":"a","#b":"b","#c":"c"},"ExpressionAttributeValues":{":v":{"N":"1"},":w":{"S":"x"}}}""",
            """{"ExpressionAttributeNames":{"#a":"a","#b":"b"},"ExpressionAttributeValues":{":v":{"S":"1"},":w":{"S":"x"},":x":{"S":"x"}}}""",
        ];
        var cache = new ExpressionCache();
        foreach (string request in requests.Concat(requests.Reverse()))
        {
            Assert.Equal(
                Outcome(text, null, "ConditionExpression", request, cache: null),
                Outcome(text, null, "ConditionExpression", request, cache));
        }

        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public void TheCache_IsBounded()
    {
        var cache = new ExpressionCache();
        for (int i = 0; i < (ExpressionCache.Capacity * 3) + 7; i++)
        {
            Outcome(null, "a = :v" + i.ToString(CultureInfo.InvariantCulture), "ConditionExpression", "{}", cache);
            Assert.InRange(cache.Count, 1, ExpressionCache.Capacity);
        }

        Outcome(null, "a = :v" + new string('x', ExpressionCache.MaxTextLength), "ConditionExpression", "{}", cache);
        Assert.InRange(cache.Count, 1, ExpressionCache.Capacity);
    }

    [Fact]
    public async Task TheModel_ReusingAnExpression_AnswersEachRequestWithItsOwnValues()
    {
        using var model = new DynamoDbModel(new FakeTimeProvider(new DateTimeOffset(2024, 5, 1, 12, 0, 0, TimeSpan.Zero)), DynamoDbModelOptions.Default);
        using AmazonDynamoDBClient client = model.CreateClient();
        await client.CreateTableAsync(new CreateTableRequest
        {
            TableName = "tbl",
            AttributeDefinitions = [new("pk", ScalarAttributeType.S)],
            KeySchema = [new("pk", KeyType.HASH)],
            BillingMode = BillingMode.PAY_PER_REQUEST,
        });

        Task<PutItemResponse> Put(int ver, Dictionary<string, AttributeValue> values) => client.PutItemAsync(new PutItemRequest
        {
            TableName = "tbl",
            Item = new() { ["pk"] = new() { S = "k" }, ["ver"] = new() { N = ver.ToString(CultureInfo.InvariantCulture) } },
            ConditionExpression = "attribute_not_exists(pk) OR ver = :expected",
            ExpressionAttributeValues = values,
        });

        await Put(1, new() { [":expected"] = new() { N = "0" } }); // no item
        await Put(2, new() { [":expected"] = new() { N = "1" } });
        await Assert.ThrowsAsync<ConditionalCheckFailedException>(() => Put(3, new() { [":expected"] = new() { N = "1" } }));
        await Assert.ThrowsAsync<ConditionalCheckFailedException>(() => Put(3, new() { [":expected"] = new() { S = "2" } }));
        AmazonDynamoDBException missing = await Assert.ThrowsAsync<AmazonDynamoDBException>(() => Put(3, new() { [":other"] = new() { N = "2" } }));
        Assert.Equal("Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :expected", missing.Message);
        AmazonDynamoDBException unused = await Assert.ThrowsAsync<AmazonDynamoDBException>(() => Put(3, new() { [":expected"] = new() { N = "2" }, [":x"] = new() { N = "2" } }));
        Assert.Equal("Value provided in ExpressionAttributeValues unused in expressions: keys: {:x}", unused.Message);
        await Put(3, new() { [":expected"] = new() { N = "2" } });

        Task<UpdateItemResponse> Update(string name, string value) => client.UpdateItemAsync(new UpdateItemRequest
        {
            TableName = "tbl",
            Key = new() { ["pk"] = new() { S = "k" } },
            UpdateExpression = "ADD #a :v",
            ExpressionAttributeNames = new() { ["#a"] = name },
            ExpressionAttributeValues = new() { [":v"] = new() { N = value } },
            ReturnValues = ReturnValue.ALL_NEW,
        });

        Assert.Equal("5", (await Update("ver", "2")).Attributes["ver"].N);
        Assert.Equal("7", (await Update("count", "7")).Attributes["count"].N);
        Assert.Equal("5", (await Update("ver", "0")).Attributes["ver"].N);
        AmazonDynamoDBException key = await Assert.ThrowsAsync<AmazonDynamoDBException>(() => Update("pk", "1"));
        Assert.Equal("One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key", key.Message);
    }

    /// <summary>What a request with these expressions gets: the error, or each item's answer (the updated item and the condition).</summary>
    private static string Outcome(string? update, string? condition, string kind, string request, ExpressionCache? cache)
    {
        using var json = JsonDocument.Parse(request);
        var context = new ExpressionContext(json.RootElement);
        var answer = new StringBuilder();
        try
        {
            List<DocumentPath> paths = [];
            Action<Dictionary<string, DynamoValue>>? apply = update is null ? null : DynamoExpressionParser.ParseUpdate(update, context, out paths, cache);
            Func<IReadOnlyDictionary<string, DynamoValue>, bool>? check = condition is null ? null : DynamoExpressionParser.ParseCondition(condition, context, kind, cache).Invoke;
            context.CheckAllUsed();
            answer.Append("paths ").AppendJoin(" ", paths).Append(" heads ").AppendJoin(" ", paths.Select(p => p.Head));
            foreach (string text in s_items)
            {
                using var itemJson = JsonDocument.Parse(text);
                Dictionary<string, DynamoValue> item = DynamoValue.ParseItem(itemJson.RootElement);
                answer.Append(" | ");
                try
                {
                    answer.Append(check is null ? "-" : check(item) ? "T" : "F");
                    if (apply is not null)
                    {
                        apply(item);
                        answer.Append(' ');
                        Render(answer, DynamoValue.FromMap(item));
                    }
                }
                catch (DynamoError e)
                {
                    answer.Append("fails ").Append(e.Message);
                }
            }

            return answer.ToString();
        }
        catch (DynamoError e)
        {
            return $"error {e.Type} {e.Status} {e.Message} (kind {context.Kind})";
        }
    }

    private static void Render(StringBuilder to, DynamoValue v)
    {
        to.Append(v.Type).Append(':');
        switch (v.Type)
        {
            case DynamoType.M:
                to.Append('{');
                foreach (KeyValuePair<string, DynamoValue> kv in v.Map!.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    to.Append(kv.Key).Append('=');
                    Render(to, kv.Value);
                    to.Append(',');
                }

                to.Append('}');
                break;
            case DynamoType.L or DynamoType.SS or DynamoType.NS or DynamoType.BS:
                to.Append('[');
                foreach (DynamoValue m in (v.List ?? v.Set)!)
                {
                    Render(to, m);
                    to.Append(',');
                }

                to.Append(']');
                break;
            case DynamoType.B:
                to.Append(Convert.ToBase64String(v.Bytes!));
                break;
            case DynamoType.BOOL or DynamoType.NULL:
                to.Append(v.Bool);
                break;
            default:
                to.Append(v.Text);
                break;
        }
    }
}
