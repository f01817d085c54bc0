using System.Globalization;
using System.Net;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using FsCheck;
using FsCheck.Fluent;

using Microsoft.Extensions.Time.Testing;

namespace Analytics.Core.Testing.Tests;

public sealed class DynamoDbModelTests
{
    private static readonly DateTimeOffset s_start = new(2024, 5, 1, 12, 0, 0, TimeSpan.Zero);

    private static async Task<(DynamoDbModel Model, AmazonDynamoDBClient Client)> WithTableAsync(DynamoDbModelOptions options, TimeProvider? time = null, string table = "tbl")
    {
        var model = new DynamoDbModel(time ?? new FakeTimeProvider(s_start), options);
        AmazonDynamoDBClient client = model.CreateClient();
        await client.CreateTableAsync(new CreateTableRequest
        {
            TableName = table,
            AttributeDefinitions = [new("pk", ScalarAttributeType.S), new("sk", ScalarAttributeType.S)],
            KeySchema = [new("pk", KeyType.HASH), new("sk", KeyType.RANGE)],
            BillingMode = BillingMode.PAY_PER_REQUEST,
        });
        return (model, client);
    }

    private static Dictionary<string, AttributeValue> Item(string pk, string sk, params (string Name, AttributeValue Value)[] more)
    {
        var item = new Dictionary<string, AttributeValue> { ["pk"] = new() { S = pk }, ["sk"] = new() { S = sk } };
        foreach ((string name, AttributeValue value) in more)
        {
            item[name] = value;
        }

        return item;
    }

    private static Dictionary<string, AttributeValue> Key(string pk, string sk) => Item(pk, sk);

    [Fact]
    public async Task CreateTable_IsActiveAtOnce_AndASecondCreateIsResourceInUse()
    {
        (DynamoDbModel model, AmazonDynamoDBClient client) = await WithTableAsync(DynamoDbModelOptions.Default);
        using (model)
        using (client)
        {
            DescribeTableResponse described = await client.DescribeTableAsync("tbl");
            Assert.Equal(TableStatus.ACTIVE, described.Table.TableStatus);
            await DynamoDbTable.CreateAsync(client, "tbl", TimeProvider.System, CancellationToken.None); // an existing table is accepted
            await Assert.ThrowsAsync<ResourceInUseException>(() => client.CreateTableAsync(new CreateTableRequest
            {
                TableName = "tbl",
                AttributeDefinitions = [new("pk", ScalarAttributeType.S)],
                KeySchema = [new("pk", KeyType.HASH)],
                BillingMode = BillingMode.PAY_PER_REQUEST,
            }));
            await Assert.ThrowsAsync<ResourceNotFoundException>(() => client.GetItemAsync("missing", Key("a", "b")));
        }
    }

    /// <summary>
    /// "Attribute names must be at least one character long" (DynamoDB's naming rules; found by review: the model stored an
    /// attribute named ""). Refused through PutItem, BatchWriteItem and an update, on the direct client and over HTTP;
    /// nothing stored.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AnAttributeNamedEmpty_IsRefused_NothingStored(bool http)
    {
        (DynamoDbModel model, AmazonDynamoDBClient direct) = await WithTableAsync(DynamoDbModelOptions.Default);
        using (model)
        using (direct)
        using (AmazonDynamoDBClient client = http ? model.CreateHttpClient() : model.CreateClient())
        {
            Dictionary<string, AttributeValue> item = Item("a", "1", ("", new AttributeValue { S = "x" }));
            AmazonDynamoDBException put = await Assert.ThrowsAnyAsync<AmazonDynamoDBException>(() => client.PutItemAsync(new PutItemRequest { TableName = "tbl", Item = item }));
            AmazonDynamoDBException batch = await Assert.ThrowsAnyAsync<AmazonDynamoDBException>(() => client.BatchWriteItemAsync(new BatchWriteItemRequest
            {
                RequestItems = new() { ["tbl"] = [new WriteRequest { PutRequest = new PutRequest { Item = item } }] },
            }));
            await client.PutItemAsync(new PutItemRequest { TableName = "tbl", Item = Item("a", "2") });
            AmazonDynamoDBException update = await Assert.ThrowsAnyAsync<AmazonDynamoDBException>(() => client.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = "tbl",
                Key = Key("a", "2"),
                UpdateExpression = "SET #e = :v",
                ExpressionAttributeNames = new() { ["#e"] = "" },
                ExpressionAttributeValues = new() { [":v"] = new AttributeValue { S = "x" } },
            }));

            Assert.All([put, batch, update], e => Assert.Equal("ValidationException", e.ErrorCode));
            Assert.Contains("attribute name must be at least one character long", put.Message, StringComparison.Ordinal);
            Assert.Equal(["pk", "sk"], model.GetItems("tbl").Single().Keys.Order());
        }
    }

    [Fact]
    public async Task PutItem_ConditionsAsTheSinkUsesThem_SucceedOrRaiseConditionalCheckFailed()
    {
        (DynamoDbModel model, AmazonDynamoDBClient client) = await WithTableAsync(DynamoDbModelOptions.Default);
        using (model)
        using (client)
        {
            var first = new PutItemRequest { TableName = "tbl", Item = Item("a", "1", ("ver", new() { N = "1" })), ConditionExpression = "attribute_not_exists(pk)" };
            await client.PutItemAsync(first);
            var again = await Assert.ThrowsAsync<ConditionalCheckFailedException>(() => client.PutItemAsync(first));
            Assert.Equal("ConditionalCheckFailedException", again.ErrorCode);
            Assert.Equal(HttpStatusCode.BadRequest, again.StatusCode);

            PutItemRequest Versioned(string expected, string next) => new()
            {
                TableName = "tbl",
                Item = Item("a", "1", ("ver", new() { N = next })),
                ConditionExpression = "ver = :expected",
                ExpressionAttributeValues = new() { [":expected"] = new() { N = expected } },
            };

            await Assert.ThrowsAsync<ConditionalCheckFailedException>(() => client.PutItemAsync(Versioned("2", "3")));
            await client.PutItemAsync(Versioned("1.0", "2")); // numbers compare by value, not spelling
            GetItemResponse got = await client.GetItemAsync(new GetItemRequest { TableName = "tbl", Key = Key("a", "1"), ConsistentRead = true });
            Assert.Equal("2", got.Item["ver"].N);
            Assert.Equal(2, model.Counters.ConditionalCheckFailures);
        }
    }

    [Fact]
    public async Task PutItem_ItemSizeLimit_IsExactAtFourHundredKilobytes()
    {
        (DynamoDbModel model, AmazonDynamoDBClient client) = await WithTableAsync(DynamoDbModelOptions.Default);
        using (model)
        using (client)
        {
            // AWS: an item's size is the sum of the UTF-8 lengths of its attribute names and values.
            // "pk"+"a" + "sk"+"b" + "data" = 10 bytes besides the payload; the limit is 400 KB = 409,600 bytes.
            const int overhead = 2 + 1 + 2 + 1 + 4;
            string fits = new('x', 409_600 - overhead);
            await client.PutItemAsync("tbl", Item("a", "b", ("data", new() { S = fits })));
            var tooLarge = await Assert.ThrowsAsync<AmazonDynamoDBException>(() => client.PutItemAsync("tbl", Item("a", "b", ("data", new() { S = fits + "x" }))));
            Assert.Equal("ValidationException", tooLarge.ErrorCode);
            Assert.Equal("Item size has exceeded the maximum allowed size", tooLarge.Message);

            // An update that grows the item past the limit fails with its own message and leaves the item alone.
            var grow = await Assert.ThrowsAsync<AmazonDynamoDBException>(() => client.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = "tbl",
                Key = Key("a", "b"),
                UpdateExpression = "SET extra = :e",
                ExpressionAttributeValues = new() { [":e"] = new() { S = "12345" } },
            }));
            Assert.Equal("Item size to update has exceeded the maximum allowed size", grow.Message);
            Assert.Equal(fits, model.GetItems("tbl").Single()["data"].S);
            Assert.Equal(2, model.Counters.ValidationErrors);
        }
    }

    [Fact]
    public async Task UpdateItem_AddAndSet_CountEveryApplication_AndFollowDynamoDbRules()
    {
        (DynamoDbModel model, AmazonDynamoDBClient client) = await WithTableAsync(DynamoDbModelOptions.Default);
        using (model)
        using (client)
        {
            var add = new UpdateItemRequest
            {
                TableName = "tbl",
                Key = Key("a", "b"),
                UpdateExpression = "ADD #count :one, #sum :v SET lastSeen = :now",
                ExpressionAttributeNames = new() { ["#count"] = "count", ["#sum"] = "sum" },
                ExpressionAttributeValues = new() { [":one"] = new() { N = "1" }, [":v"] = new() { N = "0.1" }, [":now"] = new() { S = "t1" } },
                ReturnValues = ReturnValue.ALL_NEW,
            };
            await client.UpdateItemAsync(add);
            UpdateItemResponse second = await client.UpdateItemAsync(add);

            // ADD is not idempotent: applying the same update twice counts twice, in exact decimal arithmetic.
            Assert.Equal("2", second.Attributes["count"].N);
            Assert.Equal("0.2", second.Attributes["sum"].N);

            var reserved = await Assert.ThrowsAsync<AmazonDynamoDBException>(() => client.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = "tbl",
                Key = Key("a", "b"),
                UpdateExpression = "ADD count :one",
                ExpressionAttributeValues = new() { [":one"] = new() { N = "1" } },
            }));
            Assert.Equal("Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: count", reserved.Message);

            var nested = await Assert.ThrowsAsync<AmazonDynamoDBException>(() => client.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = "tbl",
                Key = Key("a", "b"),
                UpdateExpression = "SET wm.#shard = :s",
                ExpressionAttributeNames = new() { ["#shard"] = "shardId-000000000000" },
                ExpressionAttributeValues = new() { [":s"] = new() { S = "1" } },
            }));
            Assert.Equal("The document path provided in the update expression is invalid for update", nested.Message);

            var unused = await Assert.ThrowsAsync<AmazonDynamoDBException>(() => client.PutItemAsync(new PutItemRequest
            {
                TableName = "tbl",
                Item = Item("c", "d"),
                ExpressionAttributeValues = new() { [":unused"] = new() { N = "1" } },
                ConditionExpression = "attribute_not_exists(pk)",
            }));
            Assert.StartsWith("Value provided in ExpressionAttributeValues unused in expressions", unused.Message);

            var key = await Assert.ThrowsAsync<AmazonDynamoDBException>(() => client.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = "tbl",
                Key = Key("a", "b"),
                UpdateExpression = "SET pk = :x",
                ExpressionAttributeValues = new() { [":x"] = new() { S = "z" } },
            }));
            Assert.Contains("This attribute is part of the key", key.Message);
        }
    }

    [Fact]
    public async Task BatchGetAndScanAndQuery_ReadBackEveryItem_AcrossPages()
    {
        (DynamoDbModel model, AmazonDynamoDBClient client) = await WithTableAsync(DynamoDbModelOptions.Default);
        using (model)
        using (client)
        {
            var expected = new List<(string Pk, string Sk)>();
            for (int p = 0; p < 5; p++)
            {
                for (int s = 0; s < 7; s++)
                {
                    string pk = "p" + p, sk = s.ToString("D2", CultureInfo.InvariantCulture);
                    expected.Add((pk, sk));
                    await client.PutItemAsync("tbl", Item(pk, sk, ("n", new() { N = (p * 10 + s).ToString(CultureInfo.InvariantCulture) })));
                }
            }

            BatchGetItemResponse batch = await client.BatchGetItemAsync(new BatchGetItemRequest
            {
                RequestItems = new() { ["tbl"] = new KeysAndAttributes { Keys = [Key("p1", "03"), Key("p4", "06"), Key("nope", "00")], ConsistentRead = true } },
            });
            Assert.Equal(["p1/03", "p4/06"], batch.Responses["tbl"].Select(i => i["pk"].S + "/" + i["sk"].S).Order().ToArray());
            Assert.True(batch.UnprocessedKeys is null || batch.UnprocessedKeys.Count == 0);

            var scanned = new List<(string, string)>();
            Dictionary<string, AttributeValue>? start = null;
            int pages = 0;
            do
            {
                ScanResponse page = await client.ScanAsync(new ScanRequest { TableName = "tbl", Limit = 4, ExclusiveStartKey = start });
                scanned.AddRange(page.Items.Select(i => (i["pk"].S, i["sk"].S)));
                start = page.LastEvaluatedKey is { Count: > 0 } last ? last : null;
                pages++;
            }
            while (start is not null && pages < 100);
            Assert.Equal(expected.Order(), scanned.Order());
            Assert.Equal(9, pages);

            QueryResponse query = await client.QueryAsync(new QueryRequest
            {
                TableName = "tbl",
                KeyConditionExpression = "pk = :p AND sk BETWEEN :a AND :b",
                FilterExpression = "n <> :skip",
                ExpressionAttributeValues = new() { [":p"] = new() { S = "p2" }, [":a"] = new() { S = "02" }, [":b"] = new() { S = "05" }, [":skip"] = new() { N = "24" } },
                ScanIndexForward = false,
            });
            Assert.Equal(["05", "03", "02"], query.Items.Select(i => i["sk"].S).ToArray());
            Assert.Equal(4, query.ScannedCount);
        }
    }

    /// <summary>
    /// Table settings the model would not keep are refused by name (found by review: deletion protection, a stream, KMS
    /// encryption, a table class and tags were taken without a word, described as absent, and a protected table was
    /// deleted); asking for what the model is anyway is taken, and the table is then described and deleted as before.
    /// </summary>
    public static TheoryData<string, Action<CreateTableRequest>> TableSettingsNotKept => new()
    {
        { "DeletionProtectionEnabled", r => r.DeletionProtectionEnabled = true },
        { "StreamSpecification", r => r.StreamSpecification = new() { StreamEnabled = true, StreamViewType = StreamViewType.NEW_IMAGE } },
        { "SSESpecification", r => r.SSESpecification = new() { Enabled = true, SSEType = SSEType.KMS } },
        { "TableClass STANDARD_INFREQUENT_ACCESS", r => r.TableClass = TableClass.STANDARD_INFREQUENT_ACCESS },
        { "Tags", r => r.Tags = [new Tag { Key = "team", Value = "analytics" }] },
        { "OnDemandThroughput", r => r.OnDemandThroughput = new() { MaxReadRequestUnits = 10, MaxWriteRequestUnits = 10 } },
    };

    [Theory]
    [MemberData(nameof(TableSettingsNotKept))]
    public async Task CreateTable_WithASettingTheModelWouldNotKeep_IsRefusedByName(string setting, Action<CreateTableRequest> set)
    {
        using var model = new DynamoDbModel(new FakeTimeProvider(s_start), DynamoDbModelOptions.Default);
        using AmazonDynamoDBClient client = model.CreateClient();
        CreateTableRequest request = Table("tbl");
        set(request);

        AmazonDynamoDBException refused = await Assert.ThrowsAsync<AmazonDynamoDBException>(() => client.CreateTableAsync(request));
        Assert.Equal("ValidationException", refused.ErrorCode);
        Assert.StartsWith("The DynamoDB model does not support " + setting, refused.Message, StringComparison.Ordinal);
        Assert.Empty((await client.ListTablesAsync()).TableNames); // nothing created
    }

    [Fact]
    public async Task CreateTable_AskingForWhatTheModelIsAnyway_IsTaken()
    {
        using var model = new DynamoDbModel(new FakeTimeProvider(s_start), DynamoDbModelOptions.Default);
        using AmazonDynamoDBClient client = model.CreateClient();
        CreateTableRequest request = Table("tbl");
        request.DeletionProtectionEnabled = false;
        request.StreamSpecification = new() { StreamEnabled = false };
        request.SSESpecification = new() { Enabled = false };
        request.TableClass = TableClass.STANDARD;
        request.Tags = [];

        Assert.Equal(TableStatus.ACTIVE, (await client.CreateTableAsync(request)).TableDescription.TableStatus);
        await client.DeleteTableAsync("tbl");
        Assert.Empty((await client.ListTablesAsync()).TableNames);
    }

    private static CreateTableRequest Table(string name) => new()
    {
        TableName = name,
        AttributeDefinitions = [new("pk", ScalarAttributeType.S)],
        KeySchema = [new("pk", KeyType.HASH)],
        BillingMode = BillingMode.PAY_PER_REQUEST,
    };

    [Fact]
    public async Task UnsupportedFeatures_AreRefusedByName_NotIgnored()
    {
        (DynamoDbModel model, AmazonDynamoDBClient client) = await WithTableAsync(DynamoDbModelOptions.Default);
        using (model)
        using (client)
        {
            var index = await Assert.ThrowsAnyAsync<AmazonDynamoDBException>(() => client.QueryAsync(new QueryRequest
            {
                TableName = "tbl",
                IndexName = "by-metric",
                KeyConditionExpression = "pk = :p",
                ExpressionAttributeValues = new() { [":p"] = new() { S = "a" } },
            }));
            Assert.Equal(("ValidationException", "The DynamoDB model does not support IndexName."), (index.ErrorCode, index.Message));

            var transaction = await Assert.ThrowsAnyAsync<AmazonDynamoDBException>(() => client.TransactWriteItemsAsync(new TransactWriteItemsRequest
            {
                TransactItems = [new TransactWriteItem { Put = new Put { TableName = "tbl", Item = Item("a", "b") } }],
            }));
            Assert.Equal(("ValidationException", "The DynamoDB model does not support TransactWriteItems."), (transaction.ErrorCode, transaction.Message));
            var statement = await Assert.ThrowsAnyAsync<AmazonDynamoDBException>(() => client.ExecuteStatementAsync(new ExecuteStatementRequest { Statement = "SELECT * FROM t" }));
            Assert.Equal(("ValidationException", "The DynamoDB model does not support ExecuteStatement."), (statement.ErrorCode, statement.Message));
            Assert.Empty(model.GetItems("tbl"));

            // Metrics asked for would come back absent, on the direct client (item operations) as on the HTTP path.
            var capacity = await Assert.ThrowsAnyAsync<AmazonDynamoDBException>(() => client.PutItemAsync(new PutItemRequest
            {
                TableName = "tbl",
                Item = Item("a", "b"),
                ReturnConsumedCapacity = ReturnConsumedCapacity.TOTAL,
            }));
            Assert.Equal(("ValidationException", "The DynamoDB model does not support ReturnConsumedCapacity TOTAL: it reports no consumed capacity or item collection metrics."), (capacity.ErrorCode, capacity.Message));
            var collections = await Assert.ThrowsAnyAsync<AmazonDynamoDBException>(() => client.DeleteItemAsync(new DeleteItemRequest
            {
                TableName = "tbl",
                Key = Key("a", "b"),
                ReturnItemCollectionMetrics = ReturnItemCollectionMetrics.SIZE,
            }));
            Assert.Equal("ValidationException", collections.ErrorCode);
            var queried = await Assert.ThrowsAnyAsync<AmazonDynamoDBException>(() => client.QueryAsync(new QueryRequest
            {
                TableName = "tbl",
                KeyConditionExpression = "pk = :p",
                ExpressionAttributeValues = new() { [":p"] = new() { S = "a" } },
                ReturnConsumedCapacity = ReturnConsumedCapacity.INDEXES,
            }));
            Assert.Equal("ValidationException", queried.ErrorCode);

            // The item with a failed condition likewise (review): the model's exception carries none.
            var onFailure = await Assert.ThrowsAnyAsync<AmazonDynamoDBException>(() => client.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = "tbl",
                Key = Key("a", "b"),
                UpdateExpression = "SET v = :v",
                ExpressionAttributeValues = new() { [":v"] = new() { S = "x" } },
                ReturnValuesOnConditionCheckFailure = ReturnValuesOnConditionCheckFailure.ALL_OLD,
            }));
            Assert.Equal(("ValidationException", "The DynamoDB model does not support ReturnValuesOnConditionCheckFailure ALL_OLD: its ConditionalCheckFailedException carries no item."), (onFailure.ErrorCode, onFailure.Message));
            Assert.Empty(model.GetItems("tbl"));
            await client.PutItemAsync(new PutItemRequest { TableName = "tbl", Item = Item("a", "b"), ReturnConsumedCapacity = ReturnConsumedCapacity.NONE });
            Assert.Single(model.GetItems("tbl"));
        }
    }

    [Theory]
    // The documented rule: with a ProjectionExpression, Select can only be SPECIFIC_ATTRIBUTES; SPECIFIC_ATTRIBUTES
    // needs one; ALL_PROJECTED_ATTRIBUTES needs an index, which the model does not have.
    [InlineData("ALL_ATTRIBUTES", "v", "1 validation error detected: Cannot specify the ProjectionExpression when choosing to get ALL_ATTRIBUTES")]
    [InlineData("COUNT", "v", "1 validation error detected: Cannot specify the ProjectionExpression when choosing to get only the Count")]
    [InlineData("SPECIFIC_ATTRIBUTES", null, "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES")]
    [InlineData("ALL_PROJECTED_ATTRIBUTES", null, "The DynamoDB model does not support Select ALL_PROJECTED_ATTRIBUTES: it has no indexes (DynamoDB takes it only with an IndexName).")]
    [InlineData("SPECIFIC_ATTRIBUTES", "v", null)]
    [InlineData("COUNT", null, null)]
    public async Task Query_Select_FollowsTheDocumentedRules(string select, string? projection, string? refused)
    {
        (DynamoDbModel model, AmazonDynamoDBClient client) = await WithTableAsync(DynamoDbModelOptions.Default);
        using (model)
        using (client)
        {
            await client.PutItemAsync("tbl", Item("a", "1", ("v", new AttributeValue { S = "x" }), ("w", new AttributeValue { S = "y" })));
            await client.PutItemAsync("tbl", Item("a", "2", ("v", new AttributeValue { S = "z" })));
            var request = new QueryRequest
            {
                TableName = "tbl",
                KeyConditionExpression = "pk = :p",
                ExpressionAttributeValues = new() { [":p"] = new() { S = "a" } },
                Select = select,
                ProjectionExpression = projection,
            };
            if (refused is not null)
            {
                var error = await Assert.ThrowsAnyAsync<AmazonDynamoDBException>(() => client.QueryAsync(request));
                Assert.Equal(("ValidationException", refused), (error.ErrorCode, error.Message));
                return;
            }

            QueryResponse response = await client.QueryAsync(request);
            Assert.Equal(2, response.Count);
            if (select == "COUNT")
            {
                Assert.True(response.Items is null or { Count: 0 });
            }
            else
            {
                Assert.Equal(["x", "z"], response.Items.Select(i => i["v"].S));
                Assert.All(response.Items, i => Assert.Equal(["v"], i.Keys));
            }
        }
    }

    [Fact]
    public async Task Query_OnATableWithoutASortKey_TakesOnlyThePartitionKeyEquality()
    {
        var model = new DynamoDbModel(new FakeTimeProvider(s_start), DynamoDbModelOptions.Default);
        using (model)
        using (AmazonDynamoDBClient client = model.CreateClient())
        {
            await client.CreateTableAsync(new CreateTableRequest
            {
                TableName = "hashonly",
                AttributeDefinitions = [new("id", ScalarAttributeType.S)],
                KeySchema = [new("id", KeyType.HASH)],
                BillingMode = BillingMode.PAY_PER_REQUEST,
            });
            await client.PutItemAsync("hashonly", new Dictionary<string, AttributeValue> { ["id"] = new() { S = "a" }, ["v"] = new() { N = "1" } });
            var values = new Dictionary<string, AttributeValue> { [":a"] = new() { S = "a" }, [":v"] = new() { N = "1" } };
            var error = await Assert.ThrowsAnyAsync<AmazonDynamoDBException>(() => client.QueryAsync(new QueryRequest
            {
                TableName = "hashonly",
                KeyConditionExpression = "id = :a AND v = :v",
                ExpressionAttributeValues = values,
            }));
            Assert.Equal(("ValidationException", "Query key condition not supported"), (error.ErrorCode, error.Message));
            QueryResponse one = await client.QueryAsync(new QueryRequest
            {
                TableName = "hashonly",
                KeyConditionExpression = "id = :a",
                ExpressionAttributeValues = new() { [":a"] = new() { S = "a" } },
            });
            Assert.Equal("1", Assert.Single(one.Items)["v"].N);
        }
    }

    [Fact]
    public async Task Throttling_RaisesTheRealExceptionType_AndBatchGetReturnsThrottledKeysUnprocessed()
    {
        (DynamoDbModel model, AmazonDynamoDBClient client) = await WithTableAsync(DynamoDbModelOptions.Default with { ThrottleFraction = 1 });
        using (model)
        using (client)
        {
            var put = await Assert.ThrowsAsync<ProvisionedThroughputExceededException>(() => client.PutItemAsync("tbl", Item("a", "b")));
            Assert.Equal("ProvisionedThroughputExceededException", put.ErrorCode);
            Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
            await Assert.ThrowsAsync<ProvisionedThroughputExceededException>(() => client.BatchGetItemAsync(new BatchGetItemRequest
            {
                RequestItems = new() { ["tbl"] = new KeysAndAttributes { Keys = [Key("a", "b"), Key("c", "d")] } },
            }));
            Assert.Equal(2, model.Counters.Throttles); // the put, and the batch whose every key was throttled
            Assert.Equal(3, model.Counters.Requests); // control-plane CreateTable is never throttled
        }

        (DynamoDbModel half, AmazonDynamoDBClient halfClient) = await WithTableAsync(DynamoDbModelOptions.Default with { ThrottleFraction = 0.5, Seed = 7 });
        using (half)
        using (halfClient)
        {
            int unprocessed = 0, served = 0, failed = 0;
            for (int i = 0; i < 40; i++)
            {
                try
                {
                    BatchGetItemResponse r = await halfClient.BatchGetItemAsync(new BatchGetItemRequest
                    {
                        RequestItems = new() { ["tbl"] = new KeysAndAttributes { Keys = [Key("a", "1"), Key("a", "2"), Key("a", "3"), Key("a", "4")] } },
                    });
                    int left = r.UnprocessedKeys is { } u && u.TryGetValue("tbl", out KeysAndAttributes? k) ? k.Keys.Count : 0;
                    unprocessed += left;
                    served += 4 - left;
                }
                catch (ProvisionedThroughputExceededException)
                {
                    failed++;
                }
            }

            // Some batches are partly served (the rest unprocessed), some untouched, a few wholly throttled.
            Assert.True(unprocessed > 0 && served > 0, $"unprocessed {unprocessed}, served {served}, failed {failed}");
            Assert.Equal(unprocessed + failed, half.Counters.Throttles);
        }
    }

    [Fact]
    public async Task Throttling_SameSeed_SameOutcomes_AndTheFractionHolds()
    {
        async Task<string> RunAsync(int seed)
        {
            (DynamoDbModel model, AmazonDynamoDBClient client) = await WithTableAsync(DynamoDbModelOptions.Default with { ThrottleFraction = 0.3, Seed = seed });
            using (model)
            using (client)
            {
                var outcomes = new System.Text.StringBuilder();
                for (int i = 0; i < 400; i++)
                {
                    try
                    {
                        await client.GetItemAsync("tbl", Key("a", "b"));
                        outcomes.Append('.');
                    }
                    catch (ProvisionedThroughputExceededException)
                    {
                        outcomes.Append('T');
                    }
                }

                return outcomes.ToString();
            }
        }

        string a = await RunAsync(11), b = await RunAsync(11), c = await RunAsync(12);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);

        // 400 draws at p = 0.3: mean 120, standard deviation about 9.2; six deviations either side.
        Assert.InRange(a.Count(ch => ch == 'T'), 65, 175);
    }

    [Fact]
    public async Task Faults_DependOnTheRequestNotOnTheOrderRequestsArrive()
    {
        // Concurrent writers reach the model in an order no seed controls; each request's latency and throttling must
        // not depend on it, or a seeded run would not be reproducible.
        async Task<Dictionary<string, bool>> RunAsync(bool reversed)
        {
            (DynamoDbModel model, AmazonDynamoDBClient client) = await WithTableAsync(DynamoDbModelOptions.Default with { ThrottleFraction = 0.5, Seed = 3 });
            using (model)
            using (client)
            {
                var outcomes = new Dictionary<string, bool>();
                IEnumerable<int> order = reversed ? Enumerable.Range(0, 60).Reverse() : Enumerable.Range(0, 60);
                foreach (int i in order)
                {
                    string pk = "k" + i.ToString(CultureInfo.InvariantCulture);
                    for (int attempt = 0; attempt < 2; attempt++)
                    {
                        bool throttled = false;
                        try
                        {
                            await client.PutItemAsync("tbl", Item(pk, "s"));
                        }
                        catch (ProvisionedThroughputExceededException)
                        {
                            throttled = true;
                        }

                        outcomes[pk + "#" + attempt.ToString(CultureInfo.InvariantCulture)] = throttled;
                    }
                }

                return outcomes;
            }
        }

        Dictionary<string, bool> forward = await RunAsync(reversed: false), backward = await RunAsync(reversed: true);
        Assert.Equal(forward.OrderBy(kv => kv.Key), backward.OrderBy(kv => kv.Key));
        Assert.Contains(forward.Values, v => v);
        Assert.Contains(forward.Values, v => !v);
    }

    [Fact]
    public void FaultPlan_AnHourOfDistinctRequests_KeepsCountsOnlyForTheCurrentInstant()
    {
        // An hour at 10,000 records/s makes millions of distinct requests; the plan must not keep one entry per request.
        // Here 4 distinct requests per virtual millisecond for 5 virtual minutes (1.2 million requests): at most the 4 of
        // the current instant may be held.
        var time = new FakeTimeProvider(s_start);
        var plan = new FaultPlan(1, LatencyDistribution.FromMilliseconds(8, 40), 0.2, null, time, "");
        Span<byte> identity = stackalloc byte[8];
        int most = 0;
        long request = 0;
        for (int ms = 0; ms < 300_000; ms++)
        {
            for (int i = 0; i < 4; i++)
            {
                BitConverter.TryWriteBytes(identity, request++);
                plan.Decide(throttleable: true, identity);
            }

            most = Math.Max(most, plan.TrackedIdentities);
            time.Advance(TimeSpan.FromMilliseconds(1));
        }

        Assert.Equal(4, most);
    }

    [Fact]
    public void FaultPlan_EqualRequestsAtSuccessiveInstants_GetFreshDraws_AndTheFractionHolds()
    {
        // The same request retried at 400 instants: each attempt is its own draw (a fixed request is not throttled
        // forever), and the fraction holds: mean 120 at p = 0.3, six standard deviations either side.
        var time = new FakeTimeProvider(s_start);
        var plan = new FaultPlan(11, LatencyDistribution.None, 0.3, null, time, "");
        byte[] identity = "PutItem{same}"u8.ToArray();
        int throttled = 0;
        for (int i = 0; i < 400; i++)
        {
            throttled += plan.Decide(throttleable: true, identity).Throttled ? 1 : 0;
            time.Advance(TimeSpan.FromMilliseconds(7));
        }

        Assert.InRange(throttled, 65, 175);
    }

    [Fact]
    public async Task Outage_OnTheModelsClock_AnswersInternalServerErrorOnlyInsideTheWindow()
    {
        var time = new FakeTimeProvider(s_start);
        var options = DynamoDbModelOptions.Default with { Outages = [new OutageWindow(s_start.AddSeconds(600), s_start.AddSeconds(1200))] };
        (DynamoDbModel model, AmazonDynamoDBClient client) = await WithTableAsync(options, time);
        using (model)
        using (client)
        {
            await client.PutItemAsync("tbl", Item("a", "b"));
            time.Advance(TimeSpan.FromSeconds(600));
            var down = await Assert.ThrowsAsync<InternalServerErrorException>(() => client.GetItemAsync("tbl", Key("a", "b")));
            Assert.Equal(HttpStatusCode.InternalServerError, down.StatusCode);
            time.Advance(TimeSpan.FromSeconds(599.999));
            await Assert.ThrowsAsync<InternalServerErrorException>(() => client.PutItemAsync("tbl", Item("c", "d")));
            time.Advance(TimeSpan.FromMilliseconds(1));
            await client.PutItemAsync("tbl", Item("c", "d"));
            Assert.Equal(2, model.Counters.OutageErrors);
            Assert.Equal(["a", "c"], model.GetItems("tbl").Select(i => i["pk"].S).ToArray());
        }
    }

    [Fact]
    public async Task Latency_WaitsOnTheModelsClock_NotInRealTime()
    {
        var time = new FakeTimeProvider(s_start);
        using var model = new DynamoDbModel(time, DynamoDbModelOptions.Default with { Latency = LatencyDistribution.FromMilliseconds(40, 40) });
        using AmazonDynamoDBClient client = model.CreateClient();
        Task<DescribeTableResponse> describe = client.DescribeTableAsync("tbl");
        await Task.Delay(50);
        Assert.False(describe.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(39));
        await Task.Delay(50);
        Assert.False(describe.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        await Assert.ThrowsAsync<ResourceNotFoundException>(() => describe.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [FsCheck.Xunit.Property(MaxTest = 50)]
    public Property LatencyDistribution_MatchesItsPercentiles(PositiveInt p50Seed, PositiveInt spreadSeed)
    {
        double p50 = 1 + (p50Seed.Get % 200);
        double p99 = p50 * (1 + (spreadSeed.Get % 20));
        var distribution = LatencyDistribution.FromMilliseconds(p50, p99);
        var random = new Random(p50Seed.Get ^ spreadSeed.Get);
        double[] samples = Enumerable.Range(0, 20_000).Select(_ => distribution.Sample(random.NextDouble).TotalMilliseconds).Order().ToArray();
        double median = samples[10_000], q99 = samples[19_800];

        // Sampling error of a quantile of 20,000 draws: a few percent at the median, about 10% at the 99th.
        bool ok = Math.Abs(median - p50) <= 0.05 * p50 + 0.01 && Math.Abs(q99 - p99) <= 0.15 * p99 + 0.01;
        return ok.Label($"p50 {p50} got {median}, p99 {p99} got {q99}");
    }

    [Fact]
    public void Options_OutOfRange_AreRejectedWithTheRange()
    {
        var time = new FakeTimeProvider(s_start);
        var throttle = Assert.Throws<ArgumentOutOfRangeException>(() => new DynamoDbModel(time, DynamoDbModelOptions.Default with { ThrottleFraction = 1.5 }));
        Assert.Contains("from 0 to 1", throttle.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new DynamoDbModel(time, DynamoDbModelOptions.Default with { Latency = LatencyDistribution.FromMilliseconds(10, 5) }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new S3Model(time, S3ModelOptions.Default with { Outages = [new OutageWindow(s_start, s_start)] }));
    }

    /// <summary>
    /// A wait past what a timer of the system clock accepts (4,294,967,294 ms) is refused when the model is built, naming
    /// the option, not by a timer deep inside a request (found from a net8.0 console: 100 days of RequestTimeout threw
    /// "dueTime ... must be less than or equal to 4294967294" from the first request). The longest one is accepted.
    /// </summary>
    [Fact]
    public void WaitsPastTheLongestTimer_AreRefusedAtConstruction_NamingTheOption()
    {
        TimeSpan longest = TimeSpan.FromMilliseconds(4_294_967_294);
        TimeSpan past = longest + TimeSpan.FromMilliseconds(1);

        var dynamo = Assert.Throws<ArgumentOutOfRangeException>(() => new DynamoDbModel(TimeProvider.System, DynamoDbModelOptions.Default with { RequestTimeout = past }));
        Assert.Contains("DynamoDbModelOptions.RequestTimeout", dynamo.Message);
        var s3 = Assert.Throws<ArgumentOutOfRangeException>(() => new S3Model(TimeProvider.System, S3ModelOptions.Default with { RequestTimeout = TimeSpan.FromDays(100) }));
        Assert.Contains("S3ModelOptions.RequestTimeout", s3.Message);
        var latency = Assert.Throws<ArgumentOutOfRangeException>(() => new DynamoDbModel(TimeProvider.System, DynamoDbModelOptions.Default with { Latency = new LatencyDistribution(TimeSpan.FromMilliseconds(5), past) }));
        Assert.Contains("DynamoDbModelOptions.Latency", latency.Message);

        using var atTheLimit = new DynamoDbModel(TimeProvider.System, DynamoDbModelOptions.Default with { RequestTimeout = longest, Latency = new LatencyDistribution(TimeSpan.FromMilliseconds(5), longest) });
        using var s3AtTheLimit = new S3Model(TimeProvider.System, S3ModelOptions.Default with { RequestTimeout = longest });
    }

    /// <summary>
    /// A wide distribution's far tail (here z of about 8.6, the largest two uniform draws give) would be about e^50 ms: past
    /// the longest timer, and past what a TimeSpan's ticks hold (it came out negative). Such a draw waits the longest wait.
    /// </summary>
    [Fact]
    public void AFarTailDraw_WaitsTheLongestTimer_NotANegativeOrOverflowedTime()
    {
        var wide = LatencyDistribution.FromMilliseconds(1, 900_000);
        double[] draws = [1.0 - Math.Pow(2, -53), 0.0];
        int next = 0;
        Assert.Equal(TimeSpan.FromMilliseconds(4_294_967_294), wide.Sample(() => draws[next++]));

        next = 0;
        draws = [0.5, 0.0];
        double expectedMs = Math.Exp(Math.Log(900_000) / 2.3263478740408408 * Math.Sqrt(-2 * Math.Log(0.5)));
        Assert.InRange(wide.Sample(() => draws[next++]).TotalMilliseconds, expectedMs - 0.001, expectedMs + 0.001);
    }

    /// <summary>
    /// Integers of 1 to 45 digits (either side of the 18 that a long holds, and of DynamoDB's 38 significant digits):
    /// one within the limit reads back as its own text with the storage size of its significant digits; one past it
    /// is refused with DynamoDB's message.
    /// </summary>
    [FsCheck.Xunit.Property(MaxTest = 300)]
    public Property Numbers_OfAnyLength_ReadBackAsTheirText_WithinTheSignificantDigitLimit(PositiveInt length, int seed, bool negative, byte zeros)
    {
        var random = new Random(seed);
        int[] lengths = [1, 2, 9, 17, 18, 19, 20, 28, 37, 38, 39, 40];
        int count = lengths[length.Get % lengths.Length];
        char first = random.Next(3) == 0 ? '9' : (char)('1' + random.Next(9)); // 19 nines and more do not fit a long
        string digits = first + new string(Enumerable.Range(1, count - 1).Select(_ => (char)('0' + random.Next(10))).ToArray())
            + new string('0', zeros % 6);
        string text = (negative ? "-" : string.Empty) + digits;
        int significant = digits.TrimEnd('0').Length;
        int trailing = digits.Length - significant;
        if (significant > 38)
        {
            DynamoError error = Assert.Throws<DynamoError>(() => DynamoNumber.Parse(text));
            return error.Message.Contains("38 significant digits", StringComparison.Ordinal).Label(error.Message);
        }

        DynamoNumber n = DynamoNumber.Parse(text);
        int firstDigitExponent = trailing + significant - 1;
        int size = 1 + ((significant + 1) / 2) + (significant % 2 == 0 && firstDigitExponent % 2 == 0 ? 1 : 0) + (negative ? 1 : 0);
        return (n.ToString() == text && n.StorageSize == size).Label($"{text}: {n}, size {n.StorageSize} (expected {size})");
    }

    [FsCheck.Xunit.Property(MaxTest = 300)]
    public Property Numbers_ParseFormatAndAdd_AgreeWithDecimalArithmetic(int a, int b, byte scaleA, byte scaleB)
    {
        decimal x = new decimal(a) / (decimal)Math.Pow(10, scaleA % 10);
        decimal y = new decimal(b) / (decimal)Math.Pow(10, scaleB % 10);
        DynamoNumber nx = DynamoNumber.Parse(x.ToString(CultureInfo.InvariantCulture));
        DynamoNumber ny = DynamoNumber.Parse(y.ToString("E12", CultureInfo.InvariantCulture));
        decimal yRounded = decimal.Parse(y.ToString("E12", CultureInfo.InvariantCulture), NumberStyles.Float, CultureInfo.InvariantCulture);
        decimal sum = x + yRounded;
        bool parsed = decimal.Parse(nx.ToString(), CultureInfo.InvariantCulture) == x;
        bool added = decimal.Parse(DynamoNumber.Add(nx, ny).ToString(), CultureInfo.InvariantCulture) == sum;
        bool compared = Math.Sign(nx.CompareTo(ny)) == Math.Sign(x.CompareTo(yRounded));
        return (parsed && added && compared).Label($"{x} + {yRounded}: {nx} + {ny} = {DynamoNumber.Add(nx, ny)}");
    }
}
