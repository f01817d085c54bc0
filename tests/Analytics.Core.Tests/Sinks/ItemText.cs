using Amazon.DynamoDBv2.Model;

namespace Analytics.Core.Tests;

/// <summary>A DynamoDB item as comparable text: every attribute, and the entries of maps, in name order; lists in order.</summary>
internal static class ItemText
{
    public static string Of(Dictionary<string, AttributeValue> item) =>
        string.Join(";", item.OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => a.Key + "=" + Of(a.Value)));

    public static string Of(AttributeValue v) =>
        v.S is not null ? "S:" + v.S
        : v.N is not null ? "N:" + v.N
        : v.B is not null ? "B:" + Convert.ToBase64String(v.B.ToArray())
        : v.M is not null ? "M{" + Of(v.M) + "}"
        : v.L is not null ? "L[" + string.Join(",", v.L.Select(Of)) + "]"
        : v.BOOL is { } b ? "BOOL:" + b
        : v.NULL is true ? "NULL" : "?";
}
