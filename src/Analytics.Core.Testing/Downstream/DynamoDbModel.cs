using System.Globalization;
using System.Net;
using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;
#if NET9_0_OR_GREATER
using Gate = System.Threading.Lock;
#else
using Gate = System.Object;
#endif

namespace Analytics.Core.Testing;

/// <summary>
/// An in-process model of Amazon DynamoDB that the real AWS SDK client (and so the real
/// <see cref="DynamoDbAggregateSink"/>) talks to without a socket: it answers the DynamoDB JSON 1.0 protocol from an
/// <see cref="HttpMessageHandler"/> behind the client's HTTP client factory, in the model's time
/// (a <see cref="TimeProvider"/>, usually the emulator's virtual clock).
/// </summary>
/// <remarks>
/// <para><b>Operations.</b> CreateTable (ACTIVE at once), DescribeTable, ListTables, DeleteTable, GetItem, PutItem,
/// UpdateItem (SET with <c>+</c>/<c>-</c>, <c>if_not_exists</c>, <c>list_append</c>; REMOVE; ADD; DELETE), DeleteItem,
/// BatchGetItem (100 keys), BatchWriteItem (25 requests), Query and Scan (with <c>Limit</c>, <c>ExclusiveStartKey</c>,
/// <c>Select</c> and the 1 MB page), condition and filter expressions (comparisons, BETWEEN, IN, AND/OR/NOT,
/// <c>attribute_exists</c>, <c>attribute_not_exists</c>, <c>attribute_type</c>, <c>begins_with</c>, <c>contains</c>,
/// <c>size</c>), key-condition expressions as DynamoDB takes them (an equality on the partition key, at most one
/// condition on the sort key; anything else is refused with the service's message), ProjectionExpression (nested paths too),
/// reserved words, unused expression names and values, the item size limit, numbers as exact decimals of at most 38
/// digits. Legacy parameters (<c>Expected</c>, <c>AttributesToGet</c>, <c>KeyConditions</c>, ...), indexes, parallel
/// scans, <c>ReturnConsumedCapacity</c>, <c>ReturnItemCollectionMetrics</c> and <c>ReturnValuesOnConditionCheckFailure</c>
/// other than <c>NONE</c>, and DynamoDB's
/// other operations (transactions, PartiQL, backups, ...) are refused with a ValidationException saying so; a name that
/// is no DynamoDB operation gets the service's UnknownOperationException.</para>
/// <para><b>Tables</b> are named by their names. A table's ARN, which DynamoDB also takes as <c>TableName</c> (and
/// <see cref="DynamoDbAggregateSinkOptions.TableName"/> allows), is not resolved here: it is answered as a table that does
/// not exist (<see cref="ResourceNotFoundException"/>), so a sink configured with an ARN is tested against the model with
/// the table's name.</para>
/// <para><b>Errors</b> are the service's own (<c>__type</c> and message), so the SDK raises its real exception types:
/// <see cref="ConditionalCheckFailedException"/>, <see cref="ProvisionedThroughputExceededException"/>,
/// <see cref="ResourceNotFoundException"/>, <see cref="InternalServerErrorException"/>, and
/// <see cref="AmazonDynamoDBException"/> with error code <c>ValidationException</c>.</para>
/// <para><b>Faults.</b> Each request draws a latency from <see cref="DynamoDbModelOptions.Latency"/> and waits it on the
/// model's clock before it is applied and answered; it fails with HTTP 500 in an outage (or is never answered in an
/// <see cref="OutageWindow.Unanswered"/> one, until its caller cancels) and with throttling at
/// <see cref="DynamoDbModelOptions.ThrottleFraction"/>. Each request's draws come from a stream seeded by
/// <see cref="DynamoDbModelOptions.Seed"/>, what the request is (an item operation: its operation, table and key or item,
/// from the values; any other: its operation and body), the instant it is made and how often that same request was
/// made before at that instant, so concurrent requests get the same decisions in whatever order they
/// arrive (reproducible on a virtual clock; on a real one the instant is real time).</para>
/// </remarks>
public sealed class DynamoDbModel : IDisposable
{
    private const string Region = "us-east-1";
    private const int BatchGetLimit = 100;
    private const int BatchWriteLimit = 25;
    private const int PageLimitBytes = 1024 * 1024;

    /// <summary>What a condition sees when there is no item (it must not be changed).</summary>
    private static readonly IReadOnlyDictionary<string, DynamoValue> s_noItem = new Dictionary<string, DynamoValue>(StringComparer.Ordinal);

    private readonly DynamoDbModelOptions _options;
    private readonly FaultPlan _faults;
    private readonly Handler _handler;
    private readonly Gate _gate = new();
    private readonly Dictionary<string, Table> _tables = new(StringComparer.Ordinal);
    private readonly ExpressionCache _expressions = new(); // parsed expressions, reused across requests
    private long _requests;
    private long _throttles;
    private long _outageErrors;
    private long _conditionalCheckFailures;
    private long _validationErrors;
    private double _readUnits;
    private double _writeUnits;
    private long _requestIds;

    /// <summary>Creates an empty model (no tables).</summary>
    /// <param name="timeProvider">The model's clock: latency waits on it and outages are judged by it.</param>
    /// <param name="options">Seed, latency, throttling, outages, item size limit.</param>
    /// <exception cref="ArgumentNullException"><paramref name="timeProvider"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range.</exception>
    public DynamoDbModel(TimeProvider timeProvider, DynamoDbModelOptions options)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);
        if (options.MaxItemSizeBytes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "MaxItemSizeBytes must be at least 1.");
        }

        _options = options;
        _faults = new FaultPlan(options.Seed, options.Latency, options.ThrottleFraction, options.Outages, timeProvider, "DynamoDbModelOptions.", options.RequestTimeout);
        _handler = new Handler(this);
    }

    /// <summary>What the model has served so far.</summary>
    public DynamoDbModelCounters Counters
    {
        get
        {
            lock (_gate)
            {
                return new DynamoDbModelCounters(_requests, _throttles, _outageErrors, _conditionalCheckFailures, _validationErrors, _readUnits, _writeUnits);
            }
        }
    }

    /// <summary>
    /// Whether the direct client marshals every item request to JSON and reads it from there, as it did before it read
    /// the request objects: the same answers and decisions, slower (the speed benchmark's baseline).
    /// </summary>
    internal bool MarshalItemRequests { get; set; }

    /// <summary>The handler that speaks the DynamoDB protocol, for a client configured by hand.</summary>
    public HttpMessageHandler HttpHandler => _handler;

    /// <summary>
    /// A client bound to this model. Its item operations (GetItem, PutItem, UpdateItem, DeleteItem, BatchGetItem) hand
    /// the request object to the model and get the response object back, without the SDK's HTTP pipeline; they are
    /// served with the same latency, faults, validation and errors (the SDK's exception types) as over HTTP, and the
    /// same seed gives the same decisions on both. Every other operation goes through the SDK's pipeline as
    /// <see cref="CreateHttpClient"/>'s. It makes no retries of its own (<c>MaxErrorRetry = 0</c>), uses the standard
    /// retry mode (adaptive mode's client-side rate limiting would wait in real time) without retry throttling, and has
    /// no real-time timeout, so what runs is the caller's own retry logic and nothing waits outside the model's clock.
    /// </summary>
    /// <returns>A new client; the caller disposes it.</returns>
    public AmazonDynamoDBClient CreateClient() => new DynamoDbModelClient(this, new AnonymousAWSCredentials(), ClientConfig());

    /// <summary>
    /// A client bound to this model that sends every operation through the AWS SDK's whole pipeline and the DynamoDB
    /// JSON protocol (marshalling, an HTTP request to <see cref="HttpHandler"/>, unmarshalling): slower than
    /// <see cref="CreateClient"/>, and what checks that the model speaks the protocol. Configured as
    /// <see cref="CreateClient"/>'s (no retries, no real-time timeout); its endpoint is fixed (the service's endpoint
    /// rules are not evaluated per request). The pipeline lacks only the SDK's metrics and tracing handler, which would
    /// format the stack trace of every failed call for a tracing span: the same requests, responses and exceptions.
    /// </summary>
    /// <returns>A new client; the caller disposes it.</returns>
    public AmazonDynamoDBClient CreateHttpClient() => new ModelDynamoDbClient(new AnonymousAWSCredentials(), ClientConfig());

    /// <summary>
    /// Creates a table directly (no request, no latency, no fault), ACTIVE at once, with string keys; an existing table
    /// is kept. For setting up a run before its clock moves.
    /// </summary>
    /// <param name="tableName">The table.</param>
    /// <param name="partitionKey">The partition key attribute (type S).</param>
    /// <param name="sortKey">The sort key attribute (type S), or <see langword="null"/> for none.</param>
    /// <exception cref="ArgumentException">A name is null or empty, the table name is not one DynamoDB takes (3 to 255
    /// characters of <c>a-z A-Z 0-9 _ . -</c>), or the sort key has the partition key's name.</exception>
    public void CreateTable(string tableName, string partitionKey, string? sortKey)
    {
        ArgumentException.ThrowIfNullOrEmpty(tableName);
        if (TableNameError(tableName, "tableName") is { } invalid)
        {
            throw new ArgumentException(invalid, nameof(tableName));
        }

        ArgumentException.ThrowIfNullOrEmpty(partitionKey);
        if (sortKey is not null)
        {
            ArgumentException.ThrowIfNullOrEmpty(sortKey);
            if (string.Equals(sortKey, partitionKey, StringComparison.Ordinal))
            {
                // As CreateTable through the SDK is refused (found by review: this one took it).
                throw new ArgumentException("Both the Hash Key and the Range Key element in the KeySchema have the same name", nameof(sortKey));
            }
        }

        lock (_gate)
        {
            if (!_tables.ContainsKey(tableName))
            {
                _tables[tableName] = new Table(tableName, partitionKey, DynamoType.S, sortKey, sortKey is null ? null : DynamoType.S, _faults.Time.GetUtcNow());
            }
        }
    }

    /// <summary>Every item of a table, ordered by partition key and then sort key.</summary>
    /// <param name="tableName">The table.</param>
    /// <returns>Copies of the items in the SDK's types.</returns>
    /// <exception cref="ArgumentException">There is no such table.</exception>
    public IReadOnlyList<Dictionary<string, AttributeValue>> GetItems(string tableName)
    {
        lock (_gate)
        {
            if (!_tables.TryGetValue(tableName, out Table? table))
            {
                throw new ArgumentException("The model has no table " + tableName + ".", nameof(tableName));
            }

            return table.Ordered().Select(ToSdk).ToList();
        }
    }

    /// <summary>Releases nothing unmanaged; clients created from the model stop working.</summary>
    public void Dispose()
    {
        _faults.Close();
        _handler.Dispose();
    }

    private AmazonDynamoDBConfig ClientConfig() => ModelSdkClients.DynamoDbConfig(_handler, Region);

    internal static Dictionary<string, AttributeValue> ToSdk(IReadOnlyDictionary<string, DynamoValue> item) =>
        item.ToDictionary(kv => kv.Key, kv => ToSdk(kv.Value), StringComparer.Ordinal);

    private static AttributeValue ToSdk(DynamoValue v) => v.Type switch
    {
        DynamoType.S => new AttributeValue { S = v.Text },
        DynamoType.N => new AttributeValue { N = v.Text },
        DynamoType.B => new AttributeValue { B = new MemoryStream(v.Bytes!, writable: false) },
        DynamoType.BOOL => new AttributeValue { BOOL = v.Bool },
        DynamoType.NULL => new AttributeValue { NULL = true },
        DynamoType.M => new AttributeValue { M = ToSdk(v.Map!) },
        DynamoType.L => new AttributeValue { L = v.List!.Select(ToSdk).ToList() },
        DynamoType.SS => new AttributeValue { SS = v.Set!.Select(m => m.Text!).ToList() },
        DynamoType.NS => new AttributeValue { NS = v.Set!.Select(m => m.Text!).ToList() },
        _ => new AttributeValue { BS = v.Set!.Select(m => new MemoryStream(m.Bytes!, writable: false)).ToList() },
    };

    private static bool IsThrottleable(string operation) =>
        operation is "GetItem" or "PutItem" or "UpdateItem" or "DeleteItem" or "BatchGetItem" or "BatchWriteItem" or "Query" or "Scan";

    private async Task<HttpResponseMessage> ServeAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        _faults.Enter();
        byte[] body = request.Content is null ? [] : await request.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        string target = request.Headers.TryGetValues("X-Amz-Target", out IEnumerable<string>? values) ? values.FirstOrDefault() ?? string.Empty : string.Empty;
        string operation = target.StartsWith("DynamoDB_20120810.", StringComparison.Ordinal) ? target["DynamoDB_20120810.".Length..] : string.Empty;
        long requestId;
        lock (_gate)
        {
            _requests++;
            requestId = ++_requestIds;
        }

        JsonDocument? document = null;
        DynamoError? parseError = null;
        try
        {
            document = ParseBody(body);
        }
        catch (DynamoError e)
        {
            parseError = e;
        }

        using JsonDocument? parsed = document;
        JsonRequestView? view = document is null ? null : new JsonRequestView(document.RootElement);
        (TimeSpan latency, bool outage, bool throttled, FaultDraws draws) = _faults.IsQuiet ? FaultPlan.Quiet() : _faults.Decide(IsThrottleable(operation), Identity(target, operation, body, view));
        CountIfUnanswered(latency);
        await _faults.DelayAsync(latency, cancellationToken).ConfigureAwait(false);
        byte[] answer;
        HttpStatusCode status = HttpStatusCode.OK;
        try
        {
            if (outage)
            {
                lock (_gate)
                {
                    _outageErrors++;
                }

                throw DynamoError.InternalServerError();
            }

            answer = Execute(operation, target, view ?? throw parseError!, throttled, draws);
        }
        catch (DynamoError e)
        {
            status = (HttpStatusCode)e.Status;
            answer = WriteJson(w =>
            {
                w.WriteString("__type", e.Type);
                w.WriteString("message", e.Message);
            });
            lock (_gate)
            {
                Count(e);
            }
        }

        var response = new HttpResponseMessage(status)
        {
            RequestMessage = request,
            Content = new ByteArrayContent(answer),
        };
        response.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-amz-json-1.0");
        response.Headers.TryAddWithoutValidation("x-amzn-RequestId", "model-" + requestId.ToString(CultureInfo.InvariantCulture));
        return response;
    }

    /// <summary>Counts a request of an unanswered outage as it starts: it ends only by its caller's cancellation or timeout.</summary>
    private void CountIfUnanswered(TimeSpan latency)
    {
        if (latency == FaultPlan.Unanswered)
        {
            lock (_gate)
            {
                _outageErrors++;
            }
        }
    }

    /// <summary>
    /// A request's identity for the fault plan: for the item operations (the ones the direct client serves too) a hash of
    /// the request's values (<see cref="DynamoRequestView.Identity"/>), the same on both paths; for the others, served
    /// only over HTTP, a hash of the operation and the body's bytes.
    /// </summary>
    private static ulong Identity(string target, string operation, byte[] body, JsonRequestView? view)
    {
        if (view is not null && IsItemOperation(operation))
        {
            return view.Identity(target, operation);
        }

        byte[] identity = new byte[target.Length + body.Length];
        System.Text.Encoding.ASCII.GetBytes(target, identity);
        body.CopyTo(identity, target.Length);
        return FaultPlan.Hash(identity);
    }

    private static bool IsItemOperation(string operation) =>
        operation is "GetItem" or "PutItem" or "UpdateItem" or "DeleteItem" or "BatchGetItem";

    private static JsonDocument ParseBody(ReadOnlyMemory<byte> body)
    {
        try
        {
            // Deep enough for the nesting DynamoDB refuses (two JSON levels per map or list) to be read and refused as
            // DynamoDB refuses it; a deeper body is not read at all.
            return JsonDocument.Parse(body.Length == 0 ? "{}"u8.ToArray() : body, new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException)
        {
            throw DynamoError.Serialization("The request body is not valid JSON.");
        }
    }

    private byte[] Execute(string operation, string target, JsonRequestView view, bool throttled, FaultDraws draws)
    {
        JsonElement request = view.Element;
        CheckParameters(operation, view, throttled);
        lock (_gate)
        {
            return operation switch
            {
                "CreateTable" => CreateTable(request),
                "DescribeTable" => WriteJson(w => WriteTableDescription(w, "Table", GetTable(request, controlPlane: true))),
                "ListTables" => ListTables(request),
                "DeleteTable" => DeleteTable(request),
                "GetItem" => WriteAttributes("Item", GetItem(view), evenEmpty: true),
                "PutItem" => WriteAttributes("Attributes", PutItem(view), evenEmpty: true),
                "UpdateItem" => WriteAttributes("Attributes", UpdateItem(view), evenEmpty: true),
                "DeleteItem" => WriteAttributes("Attributes", DeleteItem(view), evenEmpty: true),
                "BatchGetItem" => WriteBatchGet(BatchGetItem(view, throttled, draws)),
                "BatchWriteItem" => BatchWriteItem(request, throttled, draws),
                "Query" => QueryOrScan(request, query: true),
                "Scan" => QueryOrScan(request, query: false),
                _ when s_otherOperations.Contains(operation) => throw DynamoError.Validation($"The DynamoDB model does not support {operation}."),
                _ => throw DynamoError.UnknownOperation(target),
            };
        }
    }

    /// <summary>
    /// Serves one item operation handed over as the SDK's request object (the direct client): the same counting, fault
    /// decisions (from the request's values, so the draws equal the HTTP path's), latency, outage and validation as
    /// <see cref="ServeAsync"/>, and the answer built as the SDK's response object instead of JSON. The request is read
    /// from the object (<see cref="SdkRequestView"/>); a shape that view does not mirror is marshalled to JSON by the SDK's
    /// own marshaller and read from that, as the HTTP path reads it. Errors are raised as the SDK's exception types.
    /// </summary>
    internal async Task<TResponse> ServeDirectAsync<TRequest, TResponse>(
        string operation,
        DynamoRequestView? typed,
        TRequest request,
        Func<TRequest, Amazon.Runtime.Internal.IRequest> marshal,
        Func<DynamoDbModel, DynamoRequestView, bool, FaultDraws, TResponse> execute,
        CancellationToken cancellationToken)
        where TRequest : AmazonWebServiceRequest
        where TResponse : AmazonWebServiceResponse
    {
        cancellationToken.ThrowIfCancellationRequested();
        _faults.Enter();
        string target = "DynamoDB_20120810." + operation;
        JsonDocument? document = null;
        DynamoRequestView view;
        if (typed is not null)
        {
            view = typed;
        }
        else
        {
            Amazon.Runtime.Internal.IRequest marshalled = marshal(request);
            byte[] body;
            if (marshalled.ContentStream is { } stream)
            {
                using (stream)
                {
                    stream.Position = 0;
                    body = new byte[checked((int)stream.Length)];
                    stream.ReadExactly(body);
                }
            }
            else
            {
                body = marshalled.Content ?? [];
            }

            document = ParseBody(body);
            view = new JsonRequestView(document.RootElement);
        }

        using JsonDocument? parsed = document;
        long requestId;
        lock (_gate)
        {
            _requests++;
            requestId = ++_requestIds;
        }

        (TimeSpan latency, bool outage, bool throttled, FaultDraws draws) = _faults.IsQuiet ? FaultPlan.Quiet() : _faults.Decide(IsThrottleable(operation), view.Identity(target, operation));
        CountIfUnanswered(latency);
        await _faults.DelayAsync(latency, cancellationToken).ConfigureAwait(false);
        string requestIdText = "model-" + requestId.ToString(CultureInfo.InvariantCulture);
        try
        {
            if (outage)
            {
                lock (_gate)
                {
                    _outageErrors++;
                }

                throw DynamoError.InternalServerError();
            }

            CheckParameters(operation, view, throttled);
            TResponse response;
            lock (_gate)
            {
                response = execute(this, view, throttled, draws);
            }

            response.HttpStatusCode = HttpStatusCode.OK;
            response.ResponseMetadata = new ResponseMetadata { RequestId = requestIdText };
            return response;
        }
        catch (DynamoError e)
        {
            lock (_gate)
            {
                Count(e);
            }

            throw DynamoSdkErrors.ToException(e, requestIdText);
        }
    }

    internal static GetItemResponse DirectGetItem(DynamoDbModel model, DynamoRequestView request, bool throttled, FaultDraws draws) =>
        new() { Item = ToSdkOrdered(model.GetItem(request)) };

    internal static PutItemResponse DirectPutItem(DynamoDbModel model, DynamoRequestView request, bool throttled, FaultDraws draws) =>
        new() { Attributes = ToSdkOrdered(model.PutItem(request)) };

    internal static UpdateItemResponse DirectUpdateItem(DynamoDbModel model, DynamoRequestView request, bool throttled, FaultDraws draws) =>
        new() { Attributes = model.UpdateItem(request) is { } attributes ? ToSdkOrdered(attributes) : null }; // empty as on the HTTP path (diff review)

    internal static DeleteItemResponse DirectDeleteItem(DynamoDbModel model, DynamoRequestView request, bool throttled, FaultDraws draws) =>
        new() { Attributes = ToSdkOrdered(model.DeleteItem(request)) };

    internal static BatchGetItemResponse DirectBatchGetItem(DynamoDbModel model, DynamoRequestView request, bool throttled, FaultDraws draws)
    {
        BatchGetResult result = model.BatchGetItem(request, throttled, draws);
        var responses = new Dictionary<string, List<Dictionary<string, AttributeValue>>>(StringComparer.Ordinal);
        foreach ((string table, List<IReadOnlyDictionary<string, DynamoValue>> items) in result.Responses)
        {
            responses[table] = items.Select(i => ToSdkOrdered(i)!).ToList();
        }

        var unprocessed = new Dictionary<string, KeysAndAttributes>(StringComparer.Ordinal);
        foreach ((string table, DynamoRequestView spec, List<Dictionary<string, DynamoValue>> keys) in result.Unprocessed)
        {
            var left = new KeysAndAttributes { Keys = keys.Select(k => ToSdkOrdered(k)!).ToList() };
            if (spec.OptionalBool("ConsistentRead") is bool consistent)
            {
                left.ConsistentRead = consistent;
            }

            if (spec.OptionalString("ProjectionExpression") is string projection)
            {
                left.ProjectionExpression = projection;
            }

            var names = new Dictionary<string, string>(StringComparer.Ordinal);
            if (spec.ReadNames(names))
            {
                left.ExpressionAttributeNames = names;
            }

            unprocessed[table] = left;
        }

        return new BatchGetItemResponse { Responses = responses, UnprocessedKeys = unprocessed };
    }

    /// <summary>An item in the SDK's types with its attribute names in ordinal order at every level, as the JSON answer lists them.</summary>
    private static Dictionary<string, AttributeValue>? ToSdkOrdered(IReadOnlyDictionary<string, DynamoValue>? item)
    {
        if (item is null)
        {
            return null;
        }

        if (item is StoredItem stored)
        {
            return stored.ToSdkOrdered();
        }

        var result = new Dictionary<string, AttributeValue>(item.Count, StringComparer.Ordinal);
        foreach (string key in OrdinalKeys.Of(item))
        {
            result[key] = ToSdkOrdered(item[key]);
        }

        return result;
    }

    private static AttributeValue ToSdkOrdered(DynamoValue v) => v.Type switch
    {
        DynamoType.M => new AttributeValue { M = ToSdkOrdered(v.Map!) },
        DynamoType.L => new AttributeValue { L = v.List!.Select(ToSdkOrdered).ToList() },
        _ => ToSdk(v),
    };

    private static readonly string[] s_getExpressions = ["ProjectionExpression"];
    private static readonly string[] s_conditionExpressions = ["ConditionExpression"];
    private static readonly string[] s_updateExpressions = ["UpdateExpression", "ConditionExpression"];
    private static readonly string[] s_queryExpressions = ["ProjectionExpression", "FilterExpression", "KeyConditionExpression"];
    private static readonly string[] s_scanExpressions = ["ProjectionExpression", "FilterExpression"];

    /// <summary>DynamoDB's operations the model does not serve: refused as unsupported, not as unknown.</summary>
    private static readonly HashSet<string> s_otherOperations = new(StringComparer.Ordinal)
    {
        "BatchExecuteStatement", "CreateBackup", "CreateGlobalTable", "DeleteBackup", "DeleteResourcePolicy", "DescribeBackup",
        "DescribeContinuousBackups", "DescribeContributorInsights", "DescribeEndpoints", "DescribeExport", "DescribeGlobalTable",
        "DescribeGlobalTableSettings", "DescribeImport", "DescribeKinesisStreamingDestination", "DescribeLimits",
        "DescribeTableReplicaAutoScaling", "DescribeTimeToLive", "DisableKinesisStreamingDestination",
        "EnableKinesisStreamingDestination", "ExecuteStatement", "ExecuteTransaction", "ExportTableToPointInTime",
        "GetResourcePolicy", "ImportTable", "ListBackups", "ListContributorInsights", "ListExports", "ListGlobalTables",
        "ListImports", "ListTagsOfResource", "PutResourcePolicy", "RestoreTableFromBackup", "RestoreTableToPointInTime",
        "TagResource", "TransactGetItems", "TransactWriteItems", "UntagResource", "UpdateContinuousBackups",
        "UpdateContributorInsights", "UpdateGlobalTable", "UpdateGlobalTableSettings", "UpdateKinesisStreamingDestination",
        "UpdateTable", "UpdateTableReplicaAutoScaling", "UpdateTimeToLive",
    };

    private void CheckParameters(string operation, DynamoRequestView request, bool throttled)
    {
        // Checked before anything is read or written (found by review: a put answered "ReturnValues can only be ALL_OLD
        // or NONE" after it had stored the item, an update refused BOGUS after it had applied).
        if (request.OptionalString("ReturnValues") is { } returnValues)
        {
            if (returnValues is not ("NONE" or "ALL_OLD" or "UPDATED_OLD" or "ALL_NEW" or "UPDATED_NEW"))
            {
                throw DynamoError.Validation("1 validation error detected: Value '" + returnValues + "' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]");
            }

            if (operation is "PutItem" or "DeleteItem" && returnValues is not ("NONE" or "ALL_OLD"))
            {
                throw DynamoError.Validation("ReturnValues can only be ALL_OLD or NONE");
            }
        }

        // Asked for, the item would be missing from the ConditionalCheckFailedException: code that reads it would pass
        // here and differ on AWS.
        if (request.OptionalString("ReturnValuesOnConditionCheckFailure") is { } onFailure && onFailure != "NONE")
        {
            throw DynamoError.Validation($"The DynamoDB model does not support ReturnValuesOnConditionCheckFailure {onFailure}: its ConditionalCheckFailedException carries no item.");
        }

        foreach (string metrics in (string[])["ReturnConsumedCapacity", "ReturnItemCollectionMetrics"])
        {
            // Asked for, they would be answered as absent: code that reads them would pass here and differ on AWS.
            if (request.OptionalString(metrics) is { } asked && asked != "NONE")
            {
                throw DynamoError.Validation($"The DynamoDB model does not support {metrics} {asked}: it reports no consumed capacity or item collection metrics.");
            }
        }

        foreach (string legacy in (string[])["Expected", "AttributesToGet", "KeyConditions", "QueryFilter", "ScanFilter", "AttributeUpdates", "ConditionalOperator"])
        {
            if (request.Has(legacy))
            {
                throw DynamoError.Validation($"The DynamoDB model does not support the legacy parameter {legacy}; use expressions.");
            }
        }

        foreach (string unsupported in (string[])["GlobalSecondaryIndexes", "LocalSecondaryIndexes", "IndexName", "Segment", "TotalSegments"])
        {
            if (request.Has(unsupported))
            {
                throw DynamoError.Validation($"The DynamoDB model does not support {unsupported}.");
            }
        }

        CheckExpressionParameters(operation, request);
        if (throttled && operation is not ("BatchGetItem" or "BatchWriteItem"))
        {
            throw DynamoError.Throttled();
        }
    }

    /// <summary>Names or values without an expression that could use them are refused before any expression is read.</summary>
    private static void CheckExpressionParameters(string operation, DynamoRequestView request)
    {
        // A placeholder is #name or :value (review: a key without its mark was reported as unused).
        if (request.HasNames && request.FirstUnmarkedKey(names: true) is { } badName)
        {
            throw DynamoError.Validation($"ExpressionAttributeNames contains invalid key: Syntax error; key: \"{badName}\"");
        }

        if (request.HasValues && request.FirstUnmarkedKey(names: false) is { } badValue)
        {
            throw DynamoError.Validation($"ExpressionAttributeValues contains invalid key: Syntax error; key: \"{badValue}\"");
        }

        // The expressions that may use names; all but ProjectionExpression may use values.
        string[] expressions = operation switch
        {
            "GetItem" => s_getExpressions,
            "PutItem" or "DeleteItem" => s_conditionExpressions,
            "UpdateItem" => s_updateExpressions,
            "Query" => s_queryExpressions,
            "Scan" => s_scanExpressions,
            _ => [],
        };
        if (expressions.Length == 0 || !(request.HasNames || request.HasValues))
        {
            return;
        }

        bool anyExpression = false, anyValueExpression = false, anyValued = false;
        foreach (string expression in expressions)
        {
            bool valued = expression != "ProjectionExpression";
            bool present = request.OptionalString(expression) is not null;
            anyExpression |= present;
            anyValueExpression |= valued && present;
            anyValued |= valued;
        }

        if (request.HasNames && !anyExpression)
        {
            throw DynamoError.Validation("ExpressionAttributeNames can only be specified when using expressions");
        }

        if (anyValued && request.HasValues && !anyValueExpression)
        {
            string[] valued = [.. expressions.Where(e => e != "ProjectionExpression")];
            throw DynamoError.Validation($"ExpressionAttributeValues can only be specified when using expressions: {string.Join(" and ", valued)} {(valued.Length > 1 ? "are" : "is")} null");
        }
    }

    private void Count(DynamoError e)
    {
        if (e.Code == "ValidationException")
        {
            _validationErrors++;
        }
        else if (e.Code == "ConditionalCheckFailedException")
        {
            _conditionalCheckFailures++;
        }
        else if (e.Code == "ProvisionedThroughputExceededException")
        {
            _throttles++;
        }
    }

    private static byte[] WriteAttributes(string property, IReadOnlyDictionary<string, DynamoValue>? attributes, bool evenEmpty) => WriteJson(w =>
    {
        if (attributes is not null && (evenEmpty || attributes.Count > 0))
        {
            w.WritePropertyName(property);
            DynamoValue.WriteItem(w, attributes);
        }
    });

    private static byte[] WriteJson(Action<Utf8JsonWriter> body)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            body(writer);
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }

    private static string RequireString(JsonElement request, string name)
    {
        if (!request.TryGetProperty(name, out JsonElement value) || value.ValueKind != JsonValueKind.String || value.GetString() is not { Length: > 0 } text)
        {
            throw DynamoError.Validation($"1 validation error detected: Value null at '{char.ToLowerInvariant(name[0])}{name[1..]}' failed to satisfy constraint: Member must not be null");
        }

        return text;
    }

    private static string? OptionalString(JsonElement request, string name) =>
        request.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private Table GetTable(JsonElement request, bool controlPlane = false) => GetTable(RequireString(request, "TableName"), controlPlane);

    private Table GetTable(DynamoRequestView request) => GetTable(request.RequireString("TableName"));

    // DynamoDB names the table only in control-plane answers (DescribeTable, DeleteTable).
    private Table GetTable(string name, bool controlPlane = false) =>
        _tables.TryGetValue(name, out Table? table)
            ? table
            : throw DynamoError.ResourceNotFound(controlPlane ? "Requested resource not found: Table: " + name + " not found" : "Requested resource not found");

    /// <summary>
    /// Why DynamoDB refuses a table name (3 to 255 characters of <c>a-z A-Z 0-9 _ . -</c>), in its words, or null;
    /// <paramref name="member"/> is the request member the message names.
    /// </summary>
    internal static string? TableNameError(string name, string member)
    {
        if (name.Length is < 3 or > 255)
        {
            return member == "tableName"
                ? "TableName must be at least 3 characters long and at most 255 characters long"
                : "1 validation error detected: Value '" + name + "' at '" + member + "' failed to satisfy constraint: Member must have length " + (name.Length < 3 ? "greater than or equal to 3" : "less than or equal to 255");
        }

        foreach (char c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not '_' and not '.' and not '-')
            {
                return "1 validation error detected: Value '" + name + "' at '" + member + "' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+";
            }
        }

        return null;
    }

    /// <summary>ListTables: names in order, at most <c>Limit</c> (1 to 100, default 100) after <c>ExclusiveStartTableName</c>.</summary>
    private byte[] ListTables(JsonElement request)
    {
        int limit = 100;
        if (request.TryGetProperty("Limit", out JsonElement l) && l.ValueKind != JsonValueKind.Null)
        {
            if (l.ValueKind != JsonValueKind.Number || !l.TryGetInt32(out limit))
            {
                throw DynamoError.Serialization("Limit is not an integer: " + l.GetRawText());
            }

            if (limit is < 1 or > 100)
            {
                throw DynamoError.Validation("1 validation error detected: Value '" + l.GetRawText() + "' at 'limit' failed to satisfy constraint: Member must have value " + (limit < 1 ? "greater than or equal to 1" : "less than or equal to 100"));
            }
        }

        string? start = OptionalString(request, "ExclusiveStartTableName");
        if (start is not null && TableNameError(start, "exclusiveStartTableName") is { } invalid)
        {
            throw DynamoError.Validation(invalid);
        }

        List<string> names = [.. _tables.Keys.Where(n => start is null || string.CompareOrdinal(n, start) > 0).Order(StringComparer.Ordinal)];
        List<string> page = names.Take(limit).ToList();
        return WriteJson(w =>
        {
            w.WriteStartArray("TableNames");
            foreach (string name in page)
            {
                w.WriteStringValue(name);
            }

            w.WriteEndArray();
            if (names.Count > page.Count)
            {
                w.WriteString("LastEvaluatedTableName", page[^1]);
            }
        });
    }

    /// <summary>
    /// Table settings the model would take and not keep, refused by name as it refuses the parameters it would answer as
    /// absent: DescribeTable would say nothing of them, and DeleteTable would delete a table with deletion protection,
    /// which DynamoDB refuses (found by review: all were taken without a word). A setting that asks for what the model
    /// is anyway (no stream, no protection, the standard class, the default encryption, no tags) is taken.
    /// </summary>
    private static void RefuseTableSettingsNotKept(JsonElement request)
    {
        static bool Enabled(JsonElement request, string member, string flag) =>
            request.TryGetProperty(member, out JsonElement spec) && spec.ValueKind == JsonValueKind.Object &&
            spec.TryGetProperty(flag, out JsonElement on) && on.ValueKind == JsonValueKind.True;

        string? refused =
            request.TryGetProperty("DeletionProtectionEnabled", out JsonElement protection) && protection.ValueKind == JsonValueKind.True ? "DeletionProtectionEnabled: it would delete the table on DeleteTable, which DynamoDB refuses while the protection is on"
            : Enabled(request, "StreamSpecification", "StreamEnabled") ? "StreamSpecification: it has no streams (no LatestStreamArn)"
            : Enabled(request, "SSESpecification", "Enabled") ? "SSESpecification: it has no KMS encryption (no SSEDescription)"
            : OptionalString(request, "TableClass") is { } tableClass && tableClass != "STANDARD" ? "TableClass " + tableClass + ": its tables are of the standard class"
            : request.TryGetProperty("Tags", out JsonElement tags) && tags.ValueKind == JsonValueKind.Array && tags.GetArrayLength() > 0 ? "Tags: it keeps no tags"
            : null;
        foreach (string member in (string[])["OnDemandThroughput", "WarmThroughput", "ResourcePolicy"])
        {
            refused ??= request.TryGetProperty(member, out JsonElement value) && value.ValueKind != JsonValueKind.Null ? member : null;
        }

        if (refused is not null)
        {
            throw DynamoError.Validation("The DynamoDB model does not support " + refused + ".");
        }
    }

    private byte[] CreateTable(JsonElement request)
    {
        string name = RequireString(request, "TableName");
        if (TableNameError(name, "tableName") is { } invalidName)
        {
            throw DynamoError.Validation(invalidName);
        }

        RefuseTableSettingsNotKept(request);
        string billing = OptionalString(request, "BillingMode") ?? "PROVISIONED";
        if (billing is not "PROVISIONED" and not "PAY_PER_REQUEST")
        {
            throw DynamoError.Validation("1 validation error detected: Value '" + billing + "' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]");
        }

        (long Read, long Write)? capacity = null;
        bool hasThroughput = request.TryGetProperty("ProvisionedThroughput", out JsonElement throughput) && throughput.ValueKind == JsonValueKind.Object;
        if (billing == "PAY_PER_REQUEST" && hasThroughput)
        {
            throw DynamoError.Validation("One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST");
        }

        if (billing == "PROVISIONED")
        {
            if (!hasThroughput || !throughput.TryGetProperty("ReadCapacityUnits", out JsonElement read) || !throughput.TryGetProperty("WriteCapacityUnits", out JsonElement write) ||
                read.ValueKind != JsonValueKind.Number || write.ValueKind != JsonValueKind.Number || !read.TryGetInt64(out long readUnits) || !write.TryGetInt64(out long writeUnits))
            {
                throw DynamoError.Validation("One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED");
            }

            foreach ((string member, long units) in (ReadOnlySpan<(string, long)>)[("readCapacityUnits", readUnits), ("writeCapacityUnits", writeUnits)])
            {
                if (units < 1)
                {
                    throw DynamoError.Validation("1 validation error detected: Value '" + units.ToString(CultureInfo.InvariantCulture) + "' at 'provisionedThroughput." + member + "' failed to satisfy constraint: Member must have value greater than or equal to 1");
                }
            }

            capacity = (readUnits, writeUnits);
        }

        if (_tables.ContainsKey(name))
        {
            throw DynamoError.ResourceInUse("Table already exists: " + name);
        }

        var types = new Dictionary<string, DynamoType>(StringComparer.Ordinal);
        if (request.TryGetProperty("AttributeDefinitions", out JsonElement definitions) && definitions.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement d in definitions.EnumerateArray())
            {
                string type = OptionalString(d, "AttributeType") ?? string.Empty;
                types[OptionalString(d, "AttributeName") ?? string.Empty] = type switch
                {
                    "S" => DynamoType.S,
                    "N" => DynamoType.N,
                    "B" => DynamoType.B,
                    _ => throw DynamoError.Validation("Member must satisfy enum value set: [B, N, S]"),
                };
            }
        }

        string? hash = null, range = null;
        if (request.TryGetProperty("KeySchema", out JsonElement schema) && schema.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement k in schema.EnumerateArray())
            {
                string attribute = OptionalString(k, "AttributeName") ?? string.Empty;
                if (hash is null && OptionalString(k, "KeyType") != "HASH")
                {
                    throw DynamoError.Validation("Invalid KeySchema: The first KeySchemaElement is not a HASH key type");
                }

                if (attribute == hash)
                {
                    throw DynamoError.Validation("Invalid KeySchema: Some index key attribute have no definition");
                }

                switch (OptionalString(k, "KeyType"))
                {
                    case "HASH" when hash is null:
                        hash = attribute;
                        break;
                    case "RANGE" when range is null:
                        range = attribute;
                        break;
                    default:
                        throw DynamoError.Validation("Invalid KeySchema: Some index key attribute have no definition");
                }
            }
        }

        if (hash is null || !types.ContainsKey(hash) || (range is not null && !types.ContainsKey(range)))
        {
            throw DynamoError.Validation("One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [" + hash + (range is null ? "" : ", " + range) + "]");
        }

        if (types.Count != (range is null ? 1 : 2))
        {
            // The model serves no secondary indexes, so every definition must be a key of the table.
            throw DynamoError.Validation("One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions");
        }

        var table = new Table(name, hash, types[hash], range, range is null ? null : types[range], _faults.Time.GetUtcNow()) { Capacity = capacity };
        _tables[name] = table;
        return WriteJson(w => WriteTableDescription(w, "TableDescription", table));
    }

    private byte[] DeleteTable(JsonElement request)
    {
        Table table = GetTable(request, controlPlane: true);
        _tables.Remove(table.Name);
        return WriteJson(w => WriteTableDescription(w, "TableDescription", table, "DELETING"));
    }

    private static void WriteTableDescription(Utf8JsonWriter w, string property, Table table, string status = "ACTIVE")
    {
        w.WriteStartObject(property);
        w.WriteString("TableName", table.Name);
        w.WriteString("TableStatus", status);
        w.WriteString("TableArn", $"arn:aws:dynamodb:{Region}:000000000000:table/{table.Name}");
        w.WriteNumber("CreationDateTime", table.Created.ToUnixTimeMilliseconds() / 1000.0);
        w.WriteNumber("ItemCount", table.Items.Count);
        w.WriteNumber("TableSizeBytes", table.Items.Values.Sum(i => (long)DynamoValue.ItemSize(i)));

        // As DynamoDB describes them: an on-demand table with zero provisioned units and both summaries, a provisioned
        // one with its units and neither summary (it never changed billing mode).
        w.WriteStartObject("ProvisionedThroughput");
        w.WriteNumber("NumberOfDecreasesToday", 0);
        w.WriteNumber("ReadCapacityUnits", table.Capacity?.Read ?? 0);
        w.WriteNumber("WriteCapacityUnits", table.Capacity?.Write ?? 0);
        w.WriteEndObject();
        if (table.Capacity is null)
        {
            w.WriteStartObject("BillingModeSummary");
            w.WriteString("BillingMode", "PAY_PER_REQUEST");
            w.WriteEndObject();
            w.WriteStartObject("TableThroughputModeSummary");
            w.WriteString("TableThroughputMode", "PAY_PER_REQUEST");
            w.WriteEndObject();
        }

        w.WriteStartArray("KeySchema");
        WriteKeyElement(w, table.HashKey, "HASH");
        if (table.RangeKey is not null)
        {
            WriteKeyElement(w, table.RangeKey, "RANGE");
        }

        w.WriteEndArray();
        w.WriteStartArray("AttributeDefinitions");
        WriteDefinition(w, table.HashKey, table.HashType);
        if (table.RangeKey is not null)
        {
            WriteDefinition(w, table.RangeKey, table.RangeType!.Value);
        }

        w.WriteEndArray();
        w.WriteEndObject();

        static void WriteKeyElement(Utf8JsonWriter w, string name, string type)
        {
            w.WriteStartObject();
            w.WriteString("AttributeName", name);
            w.WriteString("KeyType", type);
            w.WriteEndObject();
        }

        static void WriteDefinition(Utf8JsonWriter w, string name, DynamoType type)
        {
            w.WriteStartObject();
            w.WriteString("AttributeName", name);
            w.WriteString("AttributeType", type.ToString());
            w.WriteEndObject();
        }
    }

    private IReadOnlyDictionary<string, DynamoValue>? GetItem(DynamoRequestView request)
    {
        Table table = GetTable(request);
        IReadOnlyDictionary<string, DynamoValue> key = request.RequireItem("Key");
        string keyText = table.KeyText(key, fromItem: false);
        var projection = Projection.Parse(request);
        bool consistent = request.OptionalBool("ConsistentRead") == true;
        StoredItem? item = table.Items.GetValueOrDefault(keyText);
        ConsumeRead(item, consistent);
        return item is null ? null : projection.Apply(item);
    }

    private IReadOnlyDictionary<string, DynamoValue>? PutItem(DynamoRequestView request)
    {
        Table table = GetTable(request);
        IReadOnlyDictionary<string, DynamoValue> item = request.RequireItem("Item");
        string keyText = table.KeyText(item, fromItem: true);
        var context = new ExpressionContext(request);
        DynamoExpressionParser.Condition? condition = request.OptionalString("ConditionExpression") is { } text
            ? DynamoExpressionParser.ParseCondition(text, context, "ConditionExpression", _expressions)
            : null;
        context.CheckAllUsed();
        int size = CheckItem(item, "Item size has exceeded the maximum allowed size");
        StoredItem? old = table.Items.GetValueOrDefault(keyText);
        ConsumeWrite(size, old);
        if (condition is not null && !condition(old ?? s_noItem))
        {
            throw DynamoError.ConditionalCheckFailed();
        }

        table.Items[keyText] = StoredItem.From(item, size);
        return ReturnOld(request, old);
    }

    private IReadOnlyDictionary<string, DynamoValue>? DeleteItem(DynamoRequestView request)
    {
        Table table = GetTable(request);
        IReadOnlyDictionary<string, DynamoValue> key = request.RequireItem("Key");
        string keyText = table.KeyText(key, fromItem: false);
        var context = new ExpressionContext(request);
        DynamoExpressionParser.Condition? condition = request.OptionalString("ConditionExpression") is { } text
            ? DynamoExpressionParser.ParseCondition(text, context, "ConditionExpression", _expressions)
            : null;
        context.CheckAllUsed();
        StoredItem? old = table.Items.GetValueOrDefault(keyText);
        ConsumeWrite(old ?? (IReadOnlyDictionary<string, DynamoValue>)key, null);
        if (condition is not null && !condition(old ?? s_noItem))
        {
            throw DynamoError.ConditionalCheckFailed();
        }

        table.Items.Remove(keyText);
        return ReturnOld(request, old);
    }

    // ReturnValues is checked with the parameters, before the write.
    private static IReadOnlyDictionary<string, DynamoValue>? ReturnOld(DynamoRequestView request, IReadOnlyDictionary<string, DynamoValue>? old) =>
        request.OptionalString("ReturnValues") == "ALL_OLD" ? old : null;

    private IReadOnlyDictionary<string, DynamoValue>? UpdateItem(DynamoRequestView request)
    {
        Table table = GetTable(request);
        IReadOnlyDictionary<string, DynamoValue> key = request.RequireItem("Key");
        string keyText = table.KeyText(key, fromItem: false);
        var context = new ExpressionContext(request);
        string? updateText = request.OptionalString("UpdateExpression");
        List<DocumentPath> paths = [];
        Action<Dictionary<string, DynamoValue>>? update = updateText is null ? null : DynamoExpressionParser.ParseUpdate(updateText, context, out paths, _expressions);
        DynamoExpressionParser.Condition? condition = request.OptionalString("ConditionExpression") is { } text
            ? DynamoExpressionParser.ParseCondition(text, context, "ConditionExpression", _expressions)
            : null;
        context.CheckAllUsed();
        foreach (DocumentPath path in paths)
        {
            if (path.Head == table.HashKey || path.Head == table.RangeKey)
            {
                throw DynamoError.Validation($"One or more parameter values were invalid: Cannot update attribute {path.Head}. This attribute is part of the key");
            }
        }

        StoredItem? old = table.Items.GetValueOrDefault(keyText);
        if (condition is not null && !condition(old ?? s_noItem))
        {
            ConsumeWrite(old ?? (IReadOnlyDictionary<string, DynamoValue>)key, null);
            throw DynamoError.ConditionalCheckFailed();
        }

        var updated = new Dictionary<string, DynamoValue>(old ?? (IEnumerable<KeyValuePair<string, DynamoValue>>)key, StringComparer.Ordinal);
        update?.Invoke(updated);
        int size = CheckItem(updated, "Item size to update has exceeded the maximum allowed size");
        ConsumeWrite(size, old);
        table.Items[keyText] = StoredItem.From(updated, size);

        string returnValues = request.OptionalString("ReturnValues") ?? "NONE";
        IReadOnlyDictionary<string, DynamoValue>? attributes = returnValues switch
        {
            "NONE" => null,
            "ALL_OLD" => old,
            "ALL_NEW" => updated,

            // Only what the update's paths name, within its parents (found by review: the whole top-level attribute was
            // returned, so l[1] came back as the whole list and positions in it differed from the service's answer).
            "UPDATED_OLD" => old is null ? null : DynamoExpressionParser.Project(old, paths),
            "UPDATED_NEW" => DynamoExpressionParser.Project(updated, paths),
            _ => null, // checked with the parameters
        };
        return attributes;
    }

    /// <summary>The most item bytes one BatchGetItem answer holds ("A single operation can retrieve up to 16 MB of data").</summary>
    internal const long BatchGetResponseLimitBytes = 16L * 1024 * 1024;

    /// <summary>A stable hash of a text (FNV-1a): the order of a BatchGetItem's items and of a Scan's partitions.</summary>
    private static uint StableOrder(string keyText)
    {
        uint hash = 2166136261;
        foreach (char c in keyText)
        {
            hash = (hash ^ c) * 16777619;
        }

        return hash;
    }

    private BatchGetResult BatchGetItem(DynamoRequestView request, bool throttled, FaultDraws draws)
    {
        IReadOnlyList<(string Table, DynamoRequestView Spec)> requestItems = request.RequestItems()
            ?? throw DynamoError.Validation("1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: Member must not be null");

        // The request's shape is checked before any table is looked up (found by review: no tables, or a table with no
        // keys, was answered).
        if (requestItems.Count == 0)
        {
            throw DynamoError.Validation("1 validation error detected: Value '{}' at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1");
        }

        foreach ((string tableName, DynamoRequestView spec) in requestItems)
        {
            if (!spec.Keys().Any())
            {
                throw DynamoError.Validation($"1 validation error detected: Value '[]' at 'requestItems.{tableName}.member.keys' failed to satisfy constraint: Member must have length greater than or equal to 1");
            }
        }

        var reads = new List<(Table Table, DynamoRequestView Spec, List<Dictionary<string, DynamoValue>> Keys, List<string> KeyTexts)>();
        int total = 0;
        foreach ((string tableName, DynamoRequestView spec) in requestItems)
        {
            Table table = GetTable(tableName);
            var keys = new List<Dictionary<string, DynamoValue>>();
            var keyTexts = new List<string>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (Dictionary<string, DynamoValue> key in spec.Keys())
            {
                string keyText = table.KeyText(key, fromItem: false);
                if (!seen.Add(keyText))
                {
                    throw DynamoError.Validation("Provided list of item keys contains duplicates");
                }

                keys.Add(key);
                keyTexts.Add(keyText);
            }

            total += keys.Count;
            reads.Add((table, spec, keys, keyTexts));
        }

        if (total > BatchGetLimit)
        {
            throw DynamoError.Validation("Too many items requested for the BatchGetItem call");
        }

        // Throttling applies per key: throttled keys come back unprocessed; only a batch with none served fails.
        var throttledKeys = new HashSet<(string, int)>();
        if (throttled)
        {
            foreach ((Table t, _, List<Dictionary<string, DynamoValue>> keys, _) in reads)
            {
                for (int i = 0; i < keys.Count; i++)
                {
                    if (draws.NextDouble() < Math.Max(0.5, _faults.ThrottleFraction))
                    {
                        throttledKeys.Add((t.Name, i));
                    }
                }
            }

            if (total > 0 && throttledKeys.Count == total)
            {
                throw DynamoError.Throttled();
            }

            _throttles += throttledKeys.Count;
        }

        // One answer holds at most 16 MB of items (DynamoDB's bound): the keys past it come back unprocessed.
        var responses = new List<(string Table, List<IReadOnlyDictionary<string, DynamoValue>> Items)>();
        long answered = 0;
        foreach ((Table table, DynamoRequestView spec, List<Dictionary<string, DynamoValue>> keys, List<string> keyTexts) in reads)
        {
            var projection = Projection.Parse(spec);
            bool consistent = spec.OptionalBool("ConsistentRead") == true;
            var items = new List<(uint Order, IReadOnlyDictionary<string, DynamoValue> Item)>();
            for (int i = 0; i < keys.Count; i++)
            {
                if (throttledKeys.Contains((table.Name, i)))
                {
                    continue;
                }

                StoredItem? item = table.Items.GetValueOrDefault(keyTexts[i]);
                if (item is not null && answered + item.Size > BatchGetResponseLimitBytes)
                {
                    throttledKeys.Add((table.Name, i));
                    continue;
                }

                ConsumeRead(item, consistent);
                if (item is not null)
                {
                    answered += item.Size;
                    items.Add((StableOrder(keyTexts[i]), projection.Apply(item)));
                }
            }

            // DynamoDB returns the items in no particular order: here in an order of their own, the same for the same
            // keys, and not the request's, so code that pairs keys and items by position fails as it would on AWS.
            items.Sort(static (a, b) => a.Order.CompareTo(b.Order));
            responses.Add((table.Name, [.. items.Select(i => i.Item)]));
        }

        var unprocessed = new List<(string Table, DynamoRequestView Spec, List<Dictionary<string, DynamoValue>> Keys)>();
        foreach ((Table table, DynamoRequestView spec, List<Dictionary<string, DynamoValue>> keys, _) in reads)
        {
            var left = Enumerable.Range(0, keys.Count).Where(i => throttledKeys.Contains((table.Name, i))).Select(i => keys[i]).ToList();
            if (left.Count > 0)
            {
                unprocessed.Add((table.Name, spec, left));
            }
        }

        return new BatchGetResult(responses, unprocessed);
    }

    private static byte[] WriteBatchGet(BatchGetResult result) => WriteJson(w =>
    {
        w.WriteStartObject("Responses");
        foreach ((string table, List<IReadOnlyDictionary<string, DynamoValue>> items) in result.Responses)
        {
            w.WriteStartArray(table);
            foreach (IReadOnlyDictionary<string, DynamoValue> item in items)
            {
                DynamoValue.WriteItem(w, item);
            }

            w.WriteEndArray();
        }

        w.WriteEndObject();
        w.WriteStartObject("UnprocessedKeys");
        foreach ((string table, DynamoRequestView view, List<Dictionary<string, DynamoValue>> keys) in result.Unprocessed)
        {
            JsonElement spec = ((JsonRequestView)view).Element;
            w.WriteStartObject(table);
            w.WriteStartArray("Keys");
            foreach (Dictionary<string, DynamoValue> key in keys)
            {
                DynamoValue.WriteItem(w, key);
            }

            w.WriteEndArray();
            if (spec.TryGetProperty("ConsistentRead", out JsonElement c))
            {
                w.WritePropertyName("ConsistentRead");
                c.WriteTo(w);
            }

            foreach (string name in (string[])["ProjectionExpression", "ExpressionAttributeNames"])
            {
                if (spec.TryGetProperty(name, out JsonElement p))
                {
                    w.WritePropertyName(name);
                    p.WriteTo(w);
                }
            }

            w.WriteEndObject();
        }

        w.WriteEndObject();
    });

    private byte[] BatchWriteItem(JsonElement request, bool throttled, FaultDraws draws)
    {
        if (!request.TryGetProperty("RequestItems", out JsonElement requestItems) || requestItems.ValueKind != JsonValueKind.Object)
        {
            throw DynamoError.Validation("1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: Member must not be null");
        }

        // The request's shape is checked before any table is looked up (review): no tables, or a table with no writes.
        if (!requestItems.EnumerateObject().Any())
        {
            throw DynamoError.Validation("1 validation error detected: Value '{}' at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1");
        }

        if (requestItems.EnumerateObject().Any(e => e.Value.ValueKind == JsonValueKind.Array && e.Value.GetArrayLength() == 0))
        {
            throw DynamoError.Validation("1 validation error detected: Value '" + requestItems.GetRawText() + "' at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]");
        }

        var writes = new List<(Table Table, JsonElement Raw, Dictionary<string, DynamoValue>? Put, Dictionary<string, DynamoValue>? DeleteKey, string KeyText)>();
        foreach (JsonProperty entry in requestItems.EnumerateObject())
        {
            Table table = GetTable(entry.Name);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonElement r in entry.Value.EnumerateArray())
            {
                Dictionary<string, DynamoValue>? put = null, delete = null;
                string keyText;
                if (r.TryGetProperty("PutRequest", out JsonElement p))
                {
                    put = RequireItem(p, "Item");
                    keyText = table.KeyText(put, fromItem: true);
                    CheckItem(put, "Item size has exceeded the maximum allowed size");
                }
                else if (r.TryGetProperty("DeleteRequest", out JsonElement d))
                {
                    delete = RequireItem(d, "Key");
                    keyText = table.KeyText(delete, fromItem: false);
                }
                else
                {
                    throw DynamoError.Validation("Supplied AttributeValue has neither a PutRequest nor a DeleteRequest");
                }

                if (!seen.Add(keyText))
                {
                    throw DynamoError.Validation("Provided list of item keys contains duplicates");
                }

                writes.Add((table, r, put, delete, keyText));
            }
        }

        if (writes.Count > BatchWriteLimit)
        {
            throw DynamoError.Validation("Too many items requested for the BatchWriteItem call");
        }

        var unprocessed = new List<int>();
        if (throttled)
        {
            for (int i = 0; i < writes.Count; i++)
            {
                if (draws.NextDouble() < Math.Max(0.5, _faults.ThrottleFraction))
                {
                    unprocessed.Add(i);
                }
            }

            if (writes.Count > 0 && unprocessed.Count == writes.Count)
            {
                throw DynamoError.Throttled();
            }

            _throttles += unprocessed.Count;
        }

        for (int i = 0; i < writes.Count; i++)
        {
            if (unprocessed.Contains(i))
            {
                continue;
            }

            (Table table, _, Dictionary<string, DynamoValue>? put, Dictionary<string, DynamoValue>? deleteKey, string keyText) = writes[i];
            StoredItem? old = table.Items.GetValueOrDefault(keyText);
            if (put is not null)
            {
                int size = DynamoValue.ItemSize(put);
                ConsumeWrite(size, old);
                table.Items[keyText] = StoredItem.From(put, size);
            }
            else
            {
                ConsumeWrite(old ?? (IReadOnlyDictionary<string, DynamoValue>)deleteKey!, null);
                table.Items.Remove(keyText);
            }
        }

        return WriteJson(w =>
        {
            w.WriteStartObject("UnprocessedItems");
            foreach (IGrouping<string, int> group in unprocessed.GroupBy(i => writes[i].Table.Name))
            {
                w.WriteStartArray(group.Key);
                foreach (int i in group)
                {
                    writes[i].Raw.WriteTo(w);
                }

                w.WriteEndArray();
            }

            w.WriteEndObject();
        });
    }

    private byte[] QueryOrScan(JsonElement request, bool query)
    {
        // A value outside Select's set is refused before anything else is read, as the service checks parameter values.
        if (OptionalString(request, "Select") is { } asked && asked is not ("ALL_ATTRIBUTES" or "ALL_PROJECTED_ATTRIBUTES" or "SPECIFIC_ATTRIBUTES" or "COUNT"))
        {
            throw DynamoError.Validation("1 validation error detected: Value '" + asked + "' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]");
        }

        // So is a Limit below 1.
        int limit = int.MaxValue;
        if (request.TryGetProperty("Limit", out JsonElement l) && l.ValueKind != JsonValueKind.Null && !(l.ValueKind == JsonValueKind.Number && l.TryGetInt32(out limit)))
        {
            throw DynamoError.Serialization("Limit is not an integer: " + l.GetRawText());
        }

        if (query && request.TryGetProperty("ScanIndexForward", out JsonElement direction) && direction.ValueKind is not (JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null))
        {
            throw DynamoError.Serialization("ScanIndexForward is not a Boolean: " + direction.GetRawText());
        }

        if (limit < 1)
        {
            throw DynamoError.Validation("1 validation error detected: Value '" + limit + "' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1");
        }

        Table table = GetTable(request);
        var context = new ExpressionContext(request);
        DynamoExpressionParser.Condition? keyCondition = null;
        if (query)
        {
            string text = OptionalString(request, "KeyConditionExpression")
                ?? throw DynamoError.Validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.");
            keyCondition = DynamoExpressionParser.ParseCondition(text, context, "KeyConditionExpression", _expressions);
        }

        DynamoExpressionParser.Condition? filter = OptionalString(request, "FilterExpression") is { } f
            ? DynamoExpressionParser.ParseCondition(f, context, "FilterExpression", _expressions)
            : null;
        var projection = Projection.Parse(request, context);
        context.CheckAllUsed();
        DynamoValue? partition = null;
        if (query)
        {
            // Only a partition key equality and one sort key condition: a general condition would read the whole table.
            Dictionary<string, KeyConditionRules.KeyCondition> keyConditions = KeyConditionRules.Check(OptionalString(request, "KeyConditionExpression")!, context, table.HashKey, table.HashType, table.RangeKey, table.RangeType);
            partition = context.Value(keyConditions[table.HashKey].Values[0]);

            // A Query's filter runs over the items its key condition chose: it cannot name a key attribute (a Scan's can).
            if (OptionalString(request, "FilterExpression") is { } filterText)
            {
                KeyConditionRules.CheckFilter(filterText, context, table.HashKey, table.RangeKey);
            }
        }

        bool countOnly = CheckSelect(request, query);
        bool forward = !request.TryGetProperty("ScanIndexForward", out JsonElement sif) || sif.ValueKind != JsonValueKind.False;
        bool consistent = request.TryGetProperty("ConsistentRead", out JsonElement c) && c.ValueKind == JsonValueKind.True;
        // A Scan reads partition by partition, in an order DynamoDB does not specify (by a hash of the partition key):
        // here a stable hash, not the keys' order, so code that expects a Scan sorted fails here as on AWS.
        List<StoredItem> candidates = query
            ? table.Ordered().Where(i => keyCondition is null || keyCondition(i)).ToList()
            : [.. table.Ordered().OrderBy(i => table.PartitionOrder(i))];
        if (query && !forward)
        {
            candidates.Reverse();
        }

        int start = 0;
        if (request.TryGetProperty("ExclusiveStartKey", out JsonElement esk) && esk.ValueKind == JsonValueKind.Object)
        {
            Dictionary<string, DynamoValue> startItem = DynamoValue.ParseItem(esk);
            string startKey = table.KeyText(startItem, fromItem: false);
            if (query)
            {
                // A Query restarts only inside what its key condition selects (the messages are DynamoDB's, as the local
                // server gives them): another partition's key, or a sort key the condition excludes, is refused.
                if (!startItem[table.HashKey].Equals(partition))
                {
                    throw DynamoError.Validation("The provided starting key is outside query boundaries based on provided conditions");
                }

                if (!keyCondition!(StoredItem.From(startItem, 0)))
                {
                    throw DynamoError.Validation("The provided starting key does not match the range key predicate");
                }
            }

            int at = candidates.FindIndex(i => table.KeyText(i, fromItem: true) == startKey);
            start = at + 1;
            if (at < 0)
            {
                // The start key need not exist any more: continue after where it would sort.
                start = query
                    ? candidates.Count(i => table.Compare(i, startItem) * (forward ? 1 : -1) <= 0)
                    : candidates.Count(i => table.ScanCompare(i, startItem) <= 0);
            }
        }

        var scanned = new List<StoredItem>();
        int bytes = 0;
        for (int i = start; i < candidates.Count && scanned.Count < limit && bytes < PageLimitBytes; i++)
        {
            scanned.Add(candidates[i]);
            bytes += DynamoValue.ItemSize(candidates[i]);
        }

        // A page that reached Limit ends with its last key even when nothing follows, as DynamoDB's does (it stops at
        // Limit without looking further): a reader learns the end from an empty page.
        bool more = scanned.Count == limit || start + scanned.Count < candidates.Count;
        double units = Math.Ceiling(Math.Max(1, bytes) / 4096.0);
        _readUnits += consistent ? units : units / 2;
        var results = filter is null ? scanned : scanned.Where(i => filter(i)).ToList();
        return WriteJson(w =>
        {
            if (!countOnly)
            {
                w.WriteStartArray("Items");
                foreach (StoredItem item in results)
                {
                    DynamoValue.WriteItem(w, projection.Apply(item));
                }

                w.WriteEndArray();
            }

            w.WriteNumber("Count", results.Count);
            w.WriteNumber("ScannedCount", scanned.Count);
            if (more && scanned.Count > 0)
            {
                w.WritePropertyName("LastEvaluatedKey");
                DynamoValue.WriteItem(w, table.KeyOf(scanned[^1]));
            }
        });
    }

    /// <summary>
    /// Checks <c>Select</c> as DynamoDB does against the projection (the model has no indexes, so
    /// <c>ALL_PROJECTED_ATTRIBUTES</c> is refused); true for <c>COUNT</c>, whose answer has no <c>Items</c>.
    /// </summary>
    private static bool CheckSelect(JsonElement request, bool query)
    {
        if (OptionalString(request, "Select") is not { } select)
        {
            return false;
        }

        bool projected = OptionalString(request, "ProjectionExpression") is not null;
        if (projected && select != "SPECIFIC_ATTRIBUTES")
        {
            string what = select == "COUNT" ? "only the Count" : select;
            throw DynamoError.Validation((query ? "1 validation error detected: " : string.Empty) + "Cannot specify the ProjectionExpression when choosing to get " + what);
        }

        if (select == "SPECIFIC_ATTRIBUTES" && !projected)
        {
            throw DynamoError.Validation("Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES");
        }

        if (select == "ALL_PROJECTED_ATTRIBUTES")
        {
            throw DynamoError.Validation("The DynamoDB model does not support Select ALL_PROJECTED_ATTRIBUTES: it has no indexes (DynamoDB takes it only with an IndexName).");
        }

        return select == "COUNT";
    }

    private static Dictionary<string, DynamoValue> RequireItem(JsonElement request, string name)
    {
        if (!request.TryGetProperty(name, out JsonElement element) || element.ValueKind != JsonValueKind.Object)
        {
            throw DynamoError.Validation($"1 validation error detected: Value null at '{char.ToLowerInvariant(name[0])}{name[1..]}' failed to satisfy constraint: Member must not be null");
        }

        return DynamoValue.ParseItem(element);
    }

    /// <summary>The item's size; throws when it is nested deeper than DynamoDB allows, or over the size limit.</summary>
    private int CheckItem(IReadOnlyDictionary<string, DynamoValue> item, string message)
    {
        // "Attribute names must be at least one character long" (the developer guide's naming rules; found by review: an
        // item with an attribute named "" was stored, through PutItem and BatchWriteItem). The words are the model's own:
        // dynalite takes such a name, and what DynamoDB answers is not recorded.
        if (item.ContainsKey(string.Empty))
        {
            throw DynamoError.Validation("One or more parameter values were invalid: An attribute name must be at least one character long");
        }

        if (DynamoValue.NestingLevels(item) > DynamoValue.MaxNestingLevels)
        {
            throw DynamoError.Validation("Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit");
        }

        int size = DynamoValue.ItemSize(item);
        if (size > _options.MaxItemSizeBytes)
        {
            throw DynamoError.Validation(message);
        }

        return size;
    }

    private void ConsumeRead(IReadOnlyDictionary<string, DynamoValue>? item, bool consistent)
    {
        double units = item is null ? 1 : Math.Ceiling(Math.Max(1, DynamoValue.ItemSize(item)) / 4096.0);
        _readUnits += consistent ? units : units / 2;
    }

    private void ConsumeWrite(IReadOnlyDictionary<string, DynamoValue> item, IReadOnlyDictionary<string, DynamoValue>? old) => ConsumeWrite(DynamoValue.ItemSize(item), old);

    /// <summary>Write units for an item of <paramref name="size"/> bytes replacing <paramref name="old"/>: the larger of the two, per KB.</summary>
    private void ConsumeWrite(int size, IReadOnlyDictionary<string, DynamoValue>? old)
    {
        size = Math.Max(size, old is null ? 0 : DynamoValue.ItemSize(old));
        _writeUnits += Math.Ceiling(Math.Max(1, size) / 1024.0);
    }

    /// <summary>What a BatchGetItem answers: the items read per table, and the keys left unprocessed per table with the request's settings for them.</summary>
    private sealed record BatchGetResult(
        List<(string Table, List<IReadOnlyDictionary<string, DynamoValue>> Items)> Responses,
        List<(string Table, DynamoRequestView Spec, List<Dictionary<string, DynamoValue>> Keys)> Unprocessed);

    /// <summary>A top-level ProjectionExpression: the attributes to return, or all.</summary>
    private sealed class Projection(List<DocumentPath>? paths)
    {
        public static Projection Parse(JsonElement spec, ExpressionContext? shared = null) => Parse(new JsonRequestView(spec), shared);

        public static Projection Parse(DynamoRequestView spec, ExpressionContext? shared = null)
        {
            if (spec.OptionalString("ProjectionExpression") is not { } text)
            {
                if (shared is null)
                {
                    // A BatchGetItem table's names with no projection to use them (review: reported as unused).
                    if (spec.HasNames)
                    {
                        throw DynamoError.Validation("ExpressionAttributeNames can only be specified when using expressions");
                    }

                    new ExpressionContext(spec).CheckAllUsed();
                }

                return new Projection(null);
            }

            // Document paths, nested ones too, as the service reads them: the model took the text apart at its commas,
            // so "s," and "" were answered and "s, s" too (found by review), and refused nested paths.
            ExpressionContext context = shared ?? new ExpressionContext(spec);
            List<DocumentPath> paths = DynamoExpressionParser.ParseProjection(text, context);
            if (shared is null)
            {
                context.CheckAllUsed();
            }

            return new Projection(paths);
        }

        public IReadOnlyDictionary<string, DynamoValue> Apply(IReadOnlyDictionary<string, DynamoValue> item) =>
            paths is null ? item : DynamoExpressionParser.Project(item, paths);
    }

    private sealed class Table(string name, string hashKey, DynamoType hashType, string? rangeKey, DynamoType? rangeType, DateTimeOffset created)
    {
        public string Name { get; } = name;

        public string HashKey { get; } = hashKey;

        public DynamoType HashType { get; } = hashType;

        public string? RangeKey { get; } = rangeKey;

        public DynamoType? RangeType { get; } = rangeType;

        public DateTimeOffset Created { get; } = created;

        /// <summary>The provisioned read and write units; null for an on-demand table (the model throttles neither by them).</summary>
        public (long Read, long Write)? Capacity { get; init; }

        public Dictionary<string, StoredItem> Items { get; } = new(StringComparer.Ordinal);

        /// <summary>The index text of an item's key; validates the key as DynamoDB does.</summary>
        public string KeyText(IReadOnlyDictionary<string, DynamoValue> item, bool fromItem)
        {
            if (!fromItem && item.Count != (RangeKey is null ? 1 : 2))
            {
                throw DynamoError.Validation("The provided key element does not match the schema");
            }

            DynamoValue hash = KeyPart(item, HashKey, HashType, fromItem, isHash: true);
            if (RangeKey is null)
            {
                return hash.KeyText;
            }

            DynamoValue range = KeyPart(item, RangeKey, RangeType!.Value, fromItem, isHash: false);
            if (hash.Type != DynamoType.B && range.Type != DynamoType.B)
            {
                // The same text as below, made in one string: a key's part is its type letter and its text.
                return string.Create(
                    CultureInfo.InvariantCulture,
                    $"{hash.Text!.Length + 1}:{(hash.Type == DynamoType.S ? 'S' : 'N')}{hash.Text}{(range.Type == DynamoType.S ? 'S' : 'N')}{range.Text}");
            }

            return hash.KeyText.Length.ToString(CultureInfo.InvariantCulture) + ":" + hash.KeyText + range.KeyText;
        }

        public Dictionary<string, DynamoValue> KeyOf(IReadOnlyDictionary<string, DynamoValue> item)
        {
            var key = new Dictionary<string, DynamoValue>(StringComparer.Ordinal) { [HashKey] = item[HashKey] };
            if (RangeKey is not null)
            {
                key[RangeKey] = item[RangeKey];
            }

            return key;
        }

        /// <summary>Items ordered by partition key, then sort key (each item's key read once, not per comparison).</summary>
        public IEnumerable<StoredItem> Ordered()
        {
            (DynamoValue Hash, DynamoValue? Range)[] keys = Items.Values.Select(i => (i[HashKey], RangeKey is null ? null : i[RangeKey])).ToArray();
            StoredItem[] items = [.. Items.Values];
            Array.Sort(keys, items, Comparer<(DynamoValue Hash, DynamoValue? Range)>.Create((a, b) => CompareKeys(a.Hash, a.Range, b.Hash, b.Range)));
            return items;
        }

        public int Compare(IReadOnlyDictionary<string, DynamoValue> a, IReadOnlyDictionary<string, DynamoValue> b) =>
            CompareKeys(a[HashKey], RangeKey is null ? null : a[RangeKey], b[HashKey], RangeKey is null ? null : b[RangeKey]);

        /// <summary>Where a Scan reads an item's partition: a stable hash (FNV-1a) of its partition key's type and value.</summary>
        public uint PartitionOrder(IReadOnlyDictionary<string, DynamoValue> item)
        {
            DynamoValue hash = item[HashKey];
            return StableOrder((char)('0' + (int)hash.Type) + (hash.Text ?? Convert.ToBase64String(hash.Bytes ?? [])));
        }

        /// <summary>A Scan's order: by <see cref="PartitionOrder"/>, then by key.</summary>
        public int ScanCompare(IReadOnlyDictionary<string, DynamoValue> a, IReadOnlyDictionary<string, DynamoValue> b)
        {
            int c = PartitionOrder(a).CompareTo(PartitionOrder(b));
            return c != 0 ? c : Compare(a, b);
        }

        private static int CompareKeys(DynamoValue hashA, DynamoValue? rangeA, DynamoValue hashB, DynamoValue? rangeB)
        {
            int c = DynamoValue.CompareScalars(hashA, hashB) ?? 0;
            if (c != 0 || rangeA is null || rangeB is null)
            {
                return c;
            }

            return DynamoValue.CompareScalars(rangeA, rangeB) ?? 0;
        }

        private static DynamoValue KeyPart(IReadOnlyDictionary<string, DynamoValue> item, string name, DynamoType type, bool fromItem, bool isHash)
        {
            if (!item.TryGetValue(name, out DynamoValue? value))
            {
                throw DynamoError.Validation(fromItem
                    ? "One or more parameter values were invalid: Missing the key " + name + " in the item"
                    : "The provided key element does not match the schema");
            }

            if (value.Type != type)
            {
                throw DynamoError.Validation(fromItem
                    ? $"One or more parameter values were invalid: Type mismatch for key {name} expected: {type} actual: {value.Type}"
                    : "The provided key element does not match the schema");
            }

            if ((type == DynamoType.S && value.Text!.Length == 0) || (type == DynamoType.B && value.Bytes!.Length == 0))
            {
                throw DynamoError.Validation("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty " + (type == DynamoType.S ? "string" : "binary") + " value. Key: " + name);
            }

            // A partition key holds at most 2,048 bytes, a sort key 1,024 (found by review: any size was taken, so a
            // test of code that shortens long keys passed without it). The messages are the service's, spacing and all.
            int limit = isHash ? 2048 : 1024;
            if (type == DynamoType.B ? value.Bytes!.Length > limit : value.Text!.Length > limit / 3 && System.Text.Encoding.UTF8.GetByteCount(value.Text) > limit)
            {
                throw DynamoError.Validation(isHash
                    ? "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes"
                    : "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes");
            }

            return value;
        }
    }

    private sealed class Handler(DynamoDbModel model) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            model.ServeAsync(request, cancellationToken);
    }
}
