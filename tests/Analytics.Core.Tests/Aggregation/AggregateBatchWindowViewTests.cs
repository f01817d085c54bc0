using System.Buffers;
using System.Text;
using Analytics.Core.Tests.Pipeline;

namespace Analytics.Core.Tests;

/// <summary>
/// A batch made a view of a tumbling window's aggregator (no per-record log): its source, the errors that say why it
/// cannot be split, and the same instance reset afterwards for an ordinary batch of more pairs than it started with.
/// </summary>
public class AggregateBatchWindowViewTests
{
    private const long WindowStart = 1_714_564_800_000;

    /// <summary>An aggregator of <paramref name="pairs"/> pairs (metrics w0, w1, ...), each with the value 1.</summary>
    private static MetricAggregator Window(int pairs)
    {
        var aggregator = new MetricAggregator(AggregatorOptions.Default);
        for (int i = 0; i < pairs; i++)
        {
            Assert.True(aggregator.TryGetOrAddPair(SeriesKey.Encode("w" + i, []), WindowStart, out int pair));
            aggregator.AddToPair(pair, 1);
        }

        return aggregator;
    }

    private static AggregateBatch WindowView(AggregateBatch batch, int pairs, int first = 10, int last = 40)
    {
        batch.UseWindow(Window(pairs), "shardId-000000000009", "arn:aws:kinesis:eu-west-1:123456789012:stream/other", Encoding.ASCII.GetBytes(BatchModel.Seq(first)), Encoding.ASCII.GetBytes(BatchModel.Seq(last)));
        return batch;
    }

    [Fact]
    public void WindowView_HasTheWindowsShardAndStream()
    {
        // The same instance served an ordinary batch of another shard first.
        var batch = new AggregateBatch(AggregatorOptions.Default);
        BatchModel.Fill(batch, [new ShardRecord(BatchModel.Seq(0), [new TestSample("m", [], WindowStart, 1)], "a")]);
        WindowView(batch, 2);
        Assert.Equal(("shardId-000000000009", "arn:aws:kinesis:eu-west-1:123456789012:stream/other"), (batch.ShardId, batch.EventSourceArn));
        Assert.Equal(2, batch.Count);
        Assert.Equal(BatchModel.Seq(10), Encoding.ASCII.GetString(batch.GetFirstSequenceNumber(1)));
        Assert.Equal(BatchModel.Seq(40), Encoding.ASCII.GetString(batch.GetLastSequenceNumber(1)));
    }

    [Fact]
    public async Task WindowFlush_TheSinkSeesTheEventsShardAndStream()
    {
        // The DynamoDB sink keys its watermarks by the batch's shard: a flushed window must carry the event's.
        var sink = new SourceRecordingSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        TestRecord[] records = [new(TestEvents.Seq(1), TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival - 1000)), TestEvents.Arrival)];
        BatchSummary summary = await processor.ProcessAsync(TestEvents.BuildWindow(records, "{}", final: true), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
        Assert.True(summary.Flushed);
        Assert.Equal((TestEvents.ShardId, (string?)TestEvents.StreamArn), Assert.Single(sink.Sources));
    }

    [Fact]
    public void WatermarkInsideTheWindow_SaysTheWindowCannotBeSplitByRecord()
    {
        AggregateBatch batch = WindowView(new AggregateBatch(AggregatorOptions.Default), 1);
        InvalidOperationException e = Assert.Throws<InvalidOperationException>(() => batch.TryGetAggregateAfter(0, Encoding.ASCII.GetBytes(BatchModel.Seq(25)), new MetricAggregate(AggregatorOptions.Default)));
        Assert.Contains("tumbling-window", e.Message, StringComparison.Ordinal);
        Assert.Contains("cannot be split by record", e.Message, StringComparison.Ordinal);

        // The usual cause, named: a consumer's run at ParallelizationFactor 2 failed every invocation with no word of it.
        Assert.Contains("exact at ParallelizationFactor 1 only", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SplitByKey_SaysTheWindowHasNoPerRecordLog()
    {
        AggregateBatch batch = WindowView(new AggregateBatch(AggregatorOptions.Default), 1);
        InvalidOperationException e = Assert.Throws<InvalidOperationException>(() => batch.TryGetAggregateAfter(0, Array.Empty<string?>(), new MetricAggregate(AggregatorOptions.Default)));
        Assert.Contains("no per-record log", e.Message, StringComparison.Ordinal);
        Assert.Contains("cannot be split by partition key", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SamplesForASpill_OfAWindowView_AreRefused()
    {
        // The instance held an ordinary batch before: the window view must not hand out that batch's samples.
        var batch = new AggregateBatch(AggregatorOptions.Default);
        BatchModel.Fill(batch, [new ShardRecord(BatchModel.Seq(0), [new TestSample("w0", [], WindowStart, 5)], "a")]);
        Assert.Single(batch.GetSamples(0, []));
        WindowView(batch, 1);
        InvalidOperationException e = Assert.Throws<InvalidOperationException>(() => batch.GetSamples(0, []));
        Assert.Contains("no per-record log", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WindowViewOfManyPairs_ThenAnOrdinaryBatchOfManyPairs_SplitsExactly()
    {
        // A window of 200 pairs grows the per-pair arrays past their first 128; the same instance, reset, then takes
        // an ordinary batch of 200 pairs with its per-record log.
        var batch = new AggregateBatch(AggregatorOptions.Default);
        WindowView(batch, 200);
        Assert.Equal(200, batch.Count);

        ShardRecord[] records = [.. Enumerable.Range(0, 400).Select(i => new ShardRecord(BatchModel.Seq(i), [new TestSample("m" + (i % 200), [], WindowStart, i)], "k" + (i % 3)))];
        BatchModel.Fill(batch, records);
        Assert.Equal(200, batch.Count);
        Assert.Empty(BatchModel.Mismatches(batch, records, key => key == "k1" ? null : BatchModel.Base + 300));

        // The split by one watermark too: past record 250, pair m(i) keeps only its record 200 + i when that is past it.
        var destination = new MetricAggregate(AggregatorOptions.Default);
        byte[] watermark = Encoding.ASCII.GetBytes(BatchModel.Seq(250));
        for (int pair = 0; pair < 200; pair++)
        {
            int i = int.Parse(batch.GetSeriesKey(pair).GetMetricString().AsSpan(1), System.Globalization.CultureInfo.InvariantCulture);
            bool any = batch.TryGetAggregateAfter(pair, watermark, destination);
            Assert.Equal(200 + i > 250, any);
            Assert.Equal(200 + i > 250 ? 200 + i : 0, destination.Sum);
        }
    }
}
