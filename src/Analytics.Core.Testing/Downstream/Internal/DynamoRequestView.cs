using System.Text.Json;
using Amazon.DynamoDBv2.Model;

namespace Analytics.Core.Testing;

/// <summary>
/// The fields of a DynamoDB request as the model reads them: from the JSON body (<see cref="JsonRequestView"/>, the HTTP
/// path, and the direct client's fallback) or from the SDK's request object (<see cref="SdkRequestView"/>, the direct
/// client), so one implementation of each operation serves both paths. Accessors are called in the order the operation
/// validates, so a malformed JSON field fails where it always did.
/// </summary>
internal abstract class DynamoRequestView
{
    /// <summary>A value of ExpressionAttributeValues the service refuses, in its words (review: the key was not named).</summary>
    protected static DynamoError InvalidValue(DynamoError refused, string key) =>
        DynamoError.Validation("ExpressionAttributeValues contains invalid value: " + refused.Message + " for key " + key);

    /// <summary>Whether the request carries the field at all (legacy and unsupported parameters are refused by name).</summary>
    public abstract bool Has(string name);

    /// <summary>The field's text when it is a string, else <see langword="null"/>.</summary>
    public abstract string? OptionalString(string name);

    /// <summary>The field's value when it is a boolean, else <see langword="null"/>.</summary>
    public abstract bool? OptionalBool(string name);

    /// <summary>The field as an attribute map, <see langword="null"/> when absent or not a map; read it, do not change it (it may be the view's own).</summary>
    /// <exception cref="DynamoError">An attribute value in it is malformed.</exception>
    public abstract IReadOnlyDictionary<string, DynamoValue>? OptionalItem(string name);

    /// <summary>Adds <c>ExpressionAttributeNames</c> to <paramref name="into"/>; false when the request has none (no map).</summary>
    public abstract bool ReadNames(Dictionary<string, string> into);

    /// <summary>Whether the request carries <c>ExpressionAttributeNames</c> (not null), empty or not.</summary>
    public abstract bool HasNames { get; }

    /// <summary>Whether the request carries <c>ExpressionAttributeValues</c> (not null), empty or not.</summary>
    public abstract bool HasValues { get; }

    /// <summary>Adds <c>ExpressionAttributeValues</c> to <paramref name="into"/>.</summary>
    /// <exception cref="DynamoError">A value is malformed.</exception>
    public abstract void ReadValues(Dictionary<string, DynamoValue> into);

    /// <summary>
    /// The request's names for a reader that only looks them up: read into a new map (<see cref="ReadNames"/>), or the
    /// map a view already holds. An empty map when the request has none.
    /// </summary>
    public virtual IReadOnlyDictionary<string, string> LookupNames()
    {
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        ReadNames(names);
        return names;
    }

    /// <summary>
    /// The first key of <c>ExpressionAttributeNames</c> (<paramref name="names"/>) or <c>ExpressionAttributeValues</c>
    /// without its mark (<c>#</c>, <c>:</c>), or null.
    /// </summary>
    public virtual string? FirstUnmarkedKey(bool names)
    {
        foreach (string key in names ? LookupNames().Keys : LookupValues().Keys)
        {
            if (!key.StartsWith(names ? '#' : ':'))
            {
                return key;
            }
        }

        return null;
    }

    /// <summary>The request's values for a reader that only looks them up, as <see cref="LookupNames"/>.</summary>
    public virtual IReadOnlyDictionary<string, DynamoValue> LookupValues()
    {
        var values = new Dictionary<string, DynamoValue>(StringComparer.Ordinal);
        ReadValues(values);
        return values;
    }

    /// <summary>BatchGetItem's <c>RequestItems</c> in request order, <see langword="null"/> when absent or not a map.</summary>
    public abstract IReadOnlyList<(string Table, DynamoRequestView Spec)>? RequestItems();

    /// <summary>A BatchGetItem table entry's <c>Keys</c>, read one by one in order; none when absent. Read them, do not change them.</summary>
    /// <exception cref="DynamoError">A key is malformed (raised when that key is reached).</exception>
    public abstract IEnumerable<Dictionary<string, DynamoValue>> Keys();

    public string RequireString(string name) =>
        OptionalString(name) is { Length: > 0 } text
            ? text
            : throw DynamoError.Validation($"1 validation error detected: Value null at '{char.ToLowerInvariant(name[0])}{name[1..]}' failed to satisfy constraint: Member must not be null");

    public IReadOnlyDictionary<string, DynamoValue> RequireItem(string name) =>
        OptionalItem(name)
            ?? throw DynamoError.Validation($"1 validation error detected: Value null at '{char.ToLowerInvariant(name[0])}{name[1..]}' failed to satisfy constraint: Member must not be null");

    /// <summary>
    /// What the request is, for the fault plan's draws: the target (operation), the table and the key or item (for
    /// BatchGetItem the tables in ordinal order with their keys in request order), hashed from the values, so the direct
    /// and the HTTP path, which read the same values, get the same identity. Conditions, expressions and return settings
    /// are not part of it: equal identities at one instant are told apart by the fault plan's count.
    /// </summary>
    public ulong Identity(string target, string operation)
    {
        var hash = default(IdentityHash);
        hash.Add(target);
        try
        {
            AddSubject(ref hash, operation);
        }
        catch (Exception e) when (e is DynamoError or InvalidOperationException)
        {
            // A malformed request is answered with its error later; the identity holds what could be read before it.
        }

        return hash.Value;
    }

    private void AddSubject(ref IdentityHash hash, string operation)
    {
        switch (operation)
        {
            case "GetItem" or "UpdateItem" or "DeleteItem":
                hash.Add(OptionalString("TableName"));
                hash.Add(OptionalItem("Key"));
                break;
            case "PutItem":
                hash.Add(OptionalString("TableName"));
                hash.Add(OptionalItem("Item"));
                break;
            case "BatchGetItem":
                IReadOnlyList<(string Table, DynamoRequestView Spec)> tables = RequestItems() ?? [];
                foreach ((string table, DynamoRequestView spec) in tables.OrderBy(t => t.Table, StringComparer.Ordinal))
                {
                    hash.Add(table);
                    foreach (Dictionary<string, DynamoValue> key in spec.Keys())
                    {
                        hash.Add(key);
                    }
                }

                break;
        }
    }
}

/// <summary>A request read from its JSON body (the HTTP path): each accessor does what the model always did with the JSON.</summary>
internal sealed class JsonRequestView(JsonElement element) : DynamoRequestView
{
    // Maps parsed once (the identity reads them before the operation does).
    private Dictionary<string, Dictionary<string, DynamoValue>?>? _items;
    private List<Dictionary<string, DynamoValue>>? _keys;

    public JsonElement Element { get; } = element;

    public override bool Has(string name) => Element.TryGetProperty(name, out _);

    public override string? OptionalString(string name) =>
        Element.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    public override bool? OptionalBool(string name) =>
        Element.TryGetProperty(name, out JsonElement value) && value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean() : null;

    public override IReadOnlyDictionary<string, DynamoValue>? OptionalItem(string name) => Parsed(name);

    private Dictionary<string, DynamoValue>? Parsed(string name)
    {
        _items ??= new Dictionary<string, Dictionary<string, DynamoValue>?>(StringComparer.Ordinal);
        if (!_items.TryGetValue(name, out Dictionary<string, DynamoValue>? item))
        {
            // A malformed map throws here, every time it is read, before anything is cached.
            item = Element.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.Object ? DynamoValue.ParseItem(value) : null;
            _items[name] = item;
        }

        return item;
    }

    public override bool HasNames => Element.TryGetProperty("ExpressionAttributeNames", out JsonElement names) && names.ValueKind != JsonValueKind.Null;

    public override bool HasValues => Element.TryGetProperty("ExpressionAttributeValues", out JsonElement values) && values.ValueKind != JsonValueKind.Null;

    // Reads the keys only: looking the values up would parse every value, which the expression context parses again.
    public override string? FirstUnmarkedKey(bool names)
    {
        if (Element.TryGetProperty(names ? "ExpressionAttributeNames" : "ExpressionAttributeValues", out JsonElement map) && map.ValueKind == JsonValueKind.Object)
        {
            foreach (JsonProperty p in map.EnumerateObject())
            {
                if (!p.Name.StartsWith(names ? '#' : ':'))
                {
                    return p.Name;
                }
            }
        }

        return null;
    }

    public override bool ReadNames(Dictionary<string, string> into)
    {
        if (!Element.TryGetProperty("ExpressionAttributeNames", out JsonElement names) || names.ValueKind != JsonValueKind.Object)
        {
            return false;
        }

        foreach (JsonProperty p in names.EnumerateObject())
        {
            into[p.Name] = p.Value.GetString() ?? string.Empty;
        }

        return true;
    }

    public override void ReadValues(Dictionary<string, DynamoValue> into)
    {
        if (Element.TryGetProperty("ExpressionAttributeValues", out JsonElement values) && values.ValueKind == JsonValueKind.Object)
        {
            foreach (JsonProperty p in values.EnumerateObject())
            {
                try
                {
                    into[p.Name] = DynamoValue.Parse(p.Value);
                }
                catch (DynamoError e) when (e.Status == 400 && e.Type.EndsWith("ValidationException", StringComparison.Ordinal))
                {
                    throw InvalidValue(e, p.Name);
                }
            }
        }
    }

    public override IReadOnlyList<(string Table, DynamoRequestView Spec)>? RequestItems()
    {
        if (!Element.TryGetProperty("RequestItems", out JsonElement requestItems) || requestItems.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        var result = new List<(string, DynamoRequestView)>();
        foreach (JsonProperty entry in requestItems.EnumerateObject())
        {
            result.Add((entry.Name, new JsonRequestView(entry.Value)));
        }

        return result;
    }

    public override IEnumerable<Dictionary<string, DynamoValue>> Keys()
    {
        if (_keys is not null)
        {
            foreach (Dictionary<string, DynamoValue> key in _keys)
            {
                yield return new Dictionary<string, DynamoValue>(key, StringComparer.Ordinal);
            }

            yield break;
        }

        if (Element.TryGetProperty("Keys", out JsonElement keyArray) && keyArray.ValueKind == JsonValueKind.Array)
        {
            // One by one, so a malformed key fails when it is reached; all of them read: kept for the next reading.
            var keys = new List<Dictionary<string, DynamoValue>>();
            foreach (JsonElement k in keyArray.EnumerateArray())
            {
                Dictionary<string, DynamoValue> key = DynamoValue.ParseItem(k);
                keys.Add(key);
                yield return new Dictionary<string, DynamoValue>(key, StringComparer.Ordinal);
            }

            _keys = keys;
        }
        else
        {
            _keys = [];
        }
    }
}

/// <summary>
/// A request read from the SDK's request object (the direct client), without marshalling it to JSON. Built only for
/// requests whose every field the SDK's marshaller would send plainly (<see cref="From(GetItemRequest)"/> and the others
/// return <see langword="null"/> otherwise, and the client falls back to the marshalled JSON): then each accessor
/// answers what <see cref="JsonRequestView"/> answers for the marshalled body.
/// </summary>
internal sealed class SdkRequestView : DynamoRequestView
{
    private string? _tableName;
    private string? _conditionExpression;
    private string? _updateExpression;
    private string? _projectionExpression;
    private string? _returnValues;
    private bool? _consistentRead;
    private Dictionary<string, DynamoValue>? _key;
    private IReadOnlyDictionary<string, DynamoValue>? _item;
    private Dictionary<string, string>? _names;
    private Dictionary<string, DynamoValue>? _values;
    private List<(string Table, DynamoRequestView Spec)>? _requestItems;
    private List<Dictionary<string, DynamoValue>>? _keys;

    private static readonly Dictionary<string, string> s_noNames = new(StringComparer.Ordinal);
    private static readonly Dictionary<string, DynamoValue> s_noValues = new(StringComparer.Ordinal);

    private SdkRequestView()
    {
    }

    public static SdkRequestView? From(GetItemRequest r) =>
        r.AttributesToGet is not null || AsksMetrics(r.ReturnConsumedCapacity, null) ? null : Build(r, static (v, q) =>
        {
            v._tableName = q.TableName;
            v._key = Item(q.Key);
            v._consistentRead = q.ConsistentRead;
            v._projectionExpression = q.ProjectionExpression;
            v._names = Names(q.ExpressionAttributeNames);
        });

    public static SdkRequestView? From(PutItemRequest r) =>
        r.Expected is not null || r.ConditionalOperator is not null || AsksMetrics(r.ReturnConsumedCapacity, r.ReturnItemCollectionMetrics) || AsksItemOnFailure(r.ReturnValuesOnConditionCheckFailure) ? null : Build(r, static (v, q) =>
        {
            v._tableName = q.TableName;

            // Encoded straight from the SDK's map (the model stores it as it is): no tree of values in between.
            v._item = q.Item is null ? null : StoredItem.TryFromSdk(q.Item, out StoredItem? item) ? item : throw new FallBack();
            v._conditionExpression = q.ConditionExpression;
            v._names = Names(q.ExpressionAttributeNames);
            v._values = Values(q.ExpressionAttributeValues);
            v._returnValues = q.ReturnValues?.Value;
        });

    public static SdkRequestView? From(UpdateItemRequest r) =>
        r.Expected is not null || r.ConditionalOperator is not null || r.AttributeUpdates is not null || AsksMetrics(r.ReturnConsumedCapacity, r.ReturnItemCollectionMetrics) || AsksItemOnFailure(r.ReturnValuesOnConditionCheckFailure) ? null : Build(r, static (v, q) =>
        {
            v._tableName = q.TableName;
            v._key = Item(q.Key);
            v._conditionExpression = q.ConditionExpression;
            v._updateExpression = q.UpdateExpression;
            v._names = Names(q.ExpressionAttributeNames);
            v._values = Values(q.ExpressionAttributeValues);
            v._returnValues = q.ReturnValues?.Value;
        });

    public static SdkRequestView? From(DeleteItemRequest r) =>
        r.Expected is not null || r.ConditionalOperator is not null || AsksMetrics(r.ReturnConsumedCapacity, r.ReturnItemCollectionMetrics) || AsksItemOnFailure(r.ReturnValuesOnConditionCheckFailure) ? null : Build(r, static (v, q) =>
        {
            v._tableName = q.TableName;
            v._key = Item(q.Key);
            v._conditionExpression = q.ConditionExpression;
            v._names = Names(q.ExpressionAttributeNames);
            v._values = Values(q.ExpressionAttributeValues);
            v._returnValues = q.ReturnValues?.Value;
        });

    public static SdkRequestView? From(BatchGetItemRequest r) => AsksMetrics(r.ReturnConsumedCapacity, null) ? null : Build(r, static (v, q) =>
    {
        if (q.RequestItems is null)
        {
            return;
        }

        v._requestItems = [];
        foreach (KeyValuePair<string, KeysAndAttributes> entry in q.RequestItems)
        {
            KeysAndAttributes spec = entry.Value ?? throw new FallBack();
            if (spec.AttributesToGet is not null)
            {
                throw new FallBack();
            }

            var specView = new SdkRequestView
            {
                _consistentRead = spec.ConsistentRead,
                _projectionExpression = spec.ProjectionExpression,
                _names = Names(spec.ExpressionAttributeNames),
                _keys = spec.Keys?.Select(k => Item(k) ?? throw new FallBack()).ToList() ?? [],
            };
            v._requestItems.Add((entry.Key ?? throw new FallBack(), specView));
        }
    });

    /// <summary>The item asked for with a failed condition: the JSON path refuses it (the model's exception carries none).</summary>
    private static bool AsksItemOnFailure(Amazon.DynamoDBv2.ReturnValuesOnConditionCheckFailure? onFailure) =>
        onFailure is not null && onFailure != Amazon.DynamoDBv2.ReturnValuesOnConditionCheckFailure.NONE;

    /// <summary>Metrics asked for: the JSON path refuses them (the model reports none).</summary>
    private static bool AsksMetrics(Amazon.DynamoDBv2.ReturnConsumedCapacity? capacity, Amazon.DynamoDBv2.ReturnItemCollectionMetrics? metrics) =>
        (capacity is not null && capacity != Amazon.DynamoDBv2.ReturnConsumedCapacity.NONE) || (metrics is not null && metrics != Amazon.DynamoDBv2.ReturnItemCollectionMetrics.NONE);

    public override bool Has(string name) => false;

    public override string? OptionalString(string name) => name switch
    {
        "TableName" => _tableName,
        "ConditionExpression" => _conditionExpression,
        "UpdateExpression" => _updateExpression,
        "ProjectionExpression" => _projectionExpression,
        "ReturnValues" => _returnValues,
        _ => null,
    };

    public override bool? OptionalBool(string name) => name == "ConsistentRead" ? _consistentRead : null;

    public override IReadOnlyDictionary<string, DynamoValue>? OptionalItem(string name) => name switch
    {
        // The view's own map, not a copy: the model only reads it (a stored item is encoded anew, see StoredItem).
        "Key" => _key,
        "Item" => _item,
        _ => null,
    };

    public override bool HasNames => _names is not null;

    public override bool HasValues => _values is not null;

    // The view's own maps, copied from the request when it was built and never changed after.
    public override IReadOnlyDictionary<string, string> LookupNames() => _names ?? s_noNames;

    public override IReadOnlyDictionary<string, DynamoValue> LookupValues() => _values ?? s_noValues;

    public override bool ReadNames(Dictionary<string, string> into)
    {
        if (_names is null)
        {
            return false;
        }

        foreach (KeyValuePair<string, string> kv in _names)
        {
            into[kv.Key] = kv.Value;
        }

        return true;
    }

    public override void ReadValues(Dictionary<string, DynamoValue> into)
    {
        if (_values is null)
        {
            return;
        }

        foreach (KeyValuePair<string, DynamoValue> kv in _values)
        {
            into[kv.Key] = kv.Value;
        }
    }

    public override IReadOnlyList<(string Table, DynamoRequestView Spec)>? RequestItems() => _requestItems;

    public override IEnumerable<Dictionary<string, DynamoValue>> Keys() => _keys ?? [];

    private static SdkRequestView? Build<TRequest>(TRequest request, Action<SdkRequestView, TRequest> fill)
    {
        if (Amazon.AWSConfigs.InitializeCollections)
        {
            // Empty collections are then sent or not by rules this view does not mirror: the JSON path decides.
            return null;
        }

        var view = new SdkRequestView();
        try
        {
            fill(view, request);
            return view;
        }
        catch (FallBack)
        {
            return null;
        }
        catch (DynamoError)
        {
            // A value the model refuses (a malformed number, an empty or duplicated set): the JSON path raises it where it always did.
            return null;
        }
    }

    private static Dictionary<string, string>? Names(Dictionary<string, string>? names)
    {
        if (names is null)
        {
            return null;
        }

        var result = new Dictionary<string, string>(names.Count, StringComparer.Ordinal);
        foreach (KeyValuePair<string, string> kv in names)
        {
            result[kv.Key] = kv.Value ?? throw new FallBack();
        }

        return result;
    }

    /// <summary>ExpressionAttributeValues, each refused value named by its key as the service names it.</summary>
    private static Dictionary<string, DynamoValue>? Values(Dictionary<string, AttributeValue>? values)
    {
        if (values is null)
        {
            return null;
        }

        var result = new Dictionary<string, DynamoValue>(values.Count, StringComparer.Ordinal);
        foreach (KeyValuePair<string, AttributeValue> kv in values)
        {
            try
            {
                result[kv.Key] = Value(kv.Value, 0);
            }
            catch (DynamoError e) when (e.Status == 400 && e.Type.EndsWith("ValidationException", StringComparison.Ordinal))
            {
                throw InvalidValue(e, kv.Key);
            }
        }

        return result;
    }

    private static Dictionary<string, DynamoValue>? Item(Dictionary<string, AttributeValue>? item, int wrappers = 0)
    {
        if (item is null)
        {
            return null;
        }

        var result = new Dictionary<string, DynamoValue>(item.Count, StringComparer.Ordinal);
        foreach (KeyValuePair<string, AttributeValue> kv in item)
        {
            result[kv.Key] = Value(kv.Value, wrappers);
        }

        return result;
    }

    /// <summary>One attribute value with exactly one type set, as the marshaller would send it and the model parse it back.</summary>
    /// <remarks>
    /// A value under more maps and lists than DynamoDB nests (<see cref="DynamoValue.MaxNestingLevels"/>) is not read
    /// here: the JSON path answers it, and the reading of a hostile depth never runs out of stack.
    /// </remarks>
    private static DynamoValue Value(AttributeValue? v, int wrappers)
    {
        if (v is null || wrappers >= DynamoValue.MaxNestingLevels)
        {
            throw new FallBack();
        }

        int set = (v.S is not null ? 1 : 0) + (v.N is not null ? 1 : 0) + (v.B is not null ? 1 : 0) + (v.BOOL.HasValue ? 1 : 0)
            + (v.NULL.HasValue ? 1 : 0) + (v.M is not null ? 1 : 0) + (v.L is not null ? 1 : 0) + (v.SS is not null ? 1 : 0)
            + (v.NS is not null ? 1 : 0) + (v.BS is not null ? 1 : 0);
        if (set != 1)
        {
            throw new FallBack();
        }

        if (v.S is not null)
        {
            return DynamoValue.String(v.S);
        }

        if (v.N is not null)
        {
            return DynamoValue.FromNumber(DynamoNumber.Parse(v.N), v.N);
        }

        if (v.B is not null)
        {
            return DynamoValue.Binary(v.B.ToArray());
        }

        if (v.BOOL.HasValue)
        {
            return DynamoValue.Boolean(v.BOOL.Value);
        }

        if (v.NULL.HasValue)
        {
            return v.NULL.Value ? DynamoValue.Null() : throw new FallBack();
        }

        if (v.M is not null)
        {
            return DynamoValue.FromMap(Item(v.M, wrappers + 1)!);
        }

        if (v.L is not null)
        {
            return DynamoValue.FromList(v.L.Select(e => Value(e, wrappers + 1)).ToList());
        }

        if (v.SS is not null)
        {
            return DynamoValue.MakeSet(DynamoType.SS, v.SS.Select(s => DynamoValue.String(s ?? throw new FallBack())).ToList());
        }

        if (v.NS is not null)
        {
            return DynamoValue.MakeSet(DynamoType.NS, v.NS.Select(s => DynamoValue.FromNumber(DynamoNumber.Parse(s ?? throw new FallBack()))).ToList());
        }

        return DynamoValue.MakeSet(DynamoType.BS, v.BS!.Select(s => DynamoValue.Binary((s ?? throw new FallBack()).ToArray())).ToList());
    }

    /// <summary>A request shape the view does not mirror; the client then marshals it to JSON.</summary>
    private sealed class FallBack : Exception
    {
    }
}
