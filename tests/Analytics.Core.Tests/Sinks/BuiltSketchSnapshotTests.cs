using System.Buffers;
using Amazon.DynamoDBv2.Model;

namespace Analytics.Core.Tests;

/// <summary>
/// The <c>sketch</c> of a built item is a read-only snapshot: the writer's scratch buffer is reused for the next pair,
/// and nothing may write into the bytes that are about to be stored.
/// </summary>
public sealed class BuiltSketchSnapshotTests
{
    [Fact]
    public void Build_Sketch_IsAReadOnlyCopyOfTheAggregate()
    {
        var scratch = new ArrayBufferWriter<byte>();
        var first = new MetricAggregate(AggregatorOptions.Default);
        first.Add(1);
        first.Add(2);
        var key = new PairKey("m", DynamoDbKeys.Timestamp(60_000), DynamoDbKeys.Timestamp(120_000), "m", []);
        Dictionary<string, AttributeValue> item = DynamoDbItem.Build(key, first, scratch, null, "shardId-000000000001", null, null, 1);
        byte[] expected = ((MemoryStream)item["sketch"].B).ToArray();

        // The next pair reuses the scratch buffer: the first item's sketch does not change.
        var second = new MetricAggregate(AggregatorOptions.Default);
        second.Add(1e6);
        DynamoDbItem.Build(key, second, scratch, null, "shardId-000000000001", null, null, 1);

        Stream sketch = item["sketch"].B;
        Assert.Equal(expected, ((MemoryStream)sketch).ToArray());
        Assert.False(sketch.CanWrite);
        Assert.Throws<NotSupportedException>(() => sketch.WriteByte(0));
        MetricAggregate back = DynamoDbItem.MergeStored(item, new MetricAggregate(AggregatorOptions.Default), new MetricAggregate(AggregatorOptions.Default));
        Assert.Equal((2, 3.0), (back.Count, back.Sum));
    }
}
