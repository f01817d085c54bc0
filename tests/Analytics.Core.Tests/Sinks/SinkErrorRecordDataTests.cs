using System.Buffers;
using System.Text;
using Amazon.DynamoDBv2;
using Xunit.Abstractions;

namespace Analytics.Core.Tests;

/// <summary>
/// The library's own sinks never put record data in their error messages (README: "Never put a payload, partition key
/// or dimension value in them (the library's own sinks do not)"; <see cref="BatchSummary.AggregateSinkError"/>: "The
/// library's sinks never put record data in their messages"). A service error that quotes the request (DynamoDB's
/// validation errors quote the offending value, "1 validation error detected: Value '...' at '...'") must not carry the
/// items' keys, which are the series' metric name and dimension values, into the invocation's log line.
/// </summary>
[Collection(LocalServersCollection.Second)]
public sealed class SinkErrorRecordDataTests(LocalServersFixture servers, ITestOutputHelper output)
{
    private const string SecretDimension = "tenant-4711-private";
    private const string SecretMetric = "checkout.card_last4";

    /// <summary>
    /// The table given by its ARN, as the Analytics.Core.Aws README allows (TableName "takes the name alone (or the
    /// table's ARN...)"), against the local DynamoDB server the README's commands start: the server refuses the
    /// request with a validation error that quotes the whole BatchGetItem request, keys included.
    /// </summary>
    [Fact]
    public async Task TableGivenByArn_ServiceErrorQuotingTheRequest_KeepsSeriesOutOfTheSinkError()
    {
        string table = await servers.CreateTableAsync("t");
        string tableArn = "arn:aws:dynamodb:us-east-1:123456789012:table/" + table;
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        using var processor = new KinesisBatchProcessor(
            new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = tableArn }),
            new RecordingQuarantineSink(),
            ProcessorOptions.Default);
        byte[] evt = TestEvents.Build(
        [
            new TestRecord(TestEvents.Seq(1), Encoding.UTF8.GetBytes(TestEvents.Sample(SecretMetric, 1, TestEvents.Arrival - 1000, ("tenant", SecretDimension))), TestEvents.Arrival),
        ]);

        var response = new ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(evt, DateTimeOffset.UtcNow.AddSeconds(30), response).WaitAsync(TimeSpan.FromSeconds(60));

        output.WriteLine(summary.AggregateSinkError);
        output.WriteLine(Encoding.UTF8.GetString(response.WrittenSpan));
        // Whatever the outcome, the error text must not hold the series' metric name or dimension value.
        Assert.DoesNotContain(SecretDimension, summary.AggregateSinkError ?? string.Empty, StringComparison.Ordinal);
        Assert.DoesNotContain(SecretMetric, summary.AggregateSinkError ?? string.Empty, StringComparison.Ordinal);
    }

    private sealed class RecordingQuarantineSink : IQuarantineSink
    {
        public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken) => Task.FromResult(records.Count);
    }
}

/// <summary>What <see cref="QuotedRequestValues"/> keeps of a service message, and what it leaves out.</summary>
public sealed class QuotedRequestValuesTests
{
    [Theory]
    [InlineData("Requested resource not found", "Requested resource not found")]
    [InlineData(
        "1 validation error detected: Value '{\"t\":{\"Keys\":[{\"pk\":{\"S\":\"secret|tenant=x\"}}]}}' at 'requestItems' failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 255]",
        "1 validation error detected: Value [left out: it quotes the request] at 'requestItems' failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 255]")]
    [InlineData(
        "2 validation errors detected: Value 'secret-a' at 'tableName' failed to satisfy constraint: Member must have length less than or equal to 255; Value 'secret-b' at 'key' failed to satisfy constraint: Member must not be null",
        "2 validation errors detected: Value [left out: it quotes the request] at 'key' failed to satisfy constraint: Member must not be null")]
    // A value written to look like the tail, followed by the service's own: only the service's is kept.
    [InlineData(
        "1 validation error detected: Value 'x' at 'a' failed to satisfy constraint: secret-tail' at 'requestItems' failed to satisfy constraint: Member must not be null",
        "1 validation error detected: Value [left out: it quotes the request] at 'requestItems' failed to satisfy constraint: Member must not be null")]
    // The message opens with the value: it goes too.
    [InlineData(
        "Value 'secret' at 'key' failed to satisfy constraint: Member must not be null",
        "Value [left out: it quotes the request] at 'key' failed to satisfy constraint: Member must not be null")]
    // No tail the service writes: everything after the value's opening goes.
    [InlineData("bad request: Value 'secret' is not allowed", "bad request: Value [left out: it quotes the request]")]
    public void LeaveOut_KeepsTheServicesWordsOnly(string message, string expected) =>
        Assert.Equal(expected, QuotedRequestValues.LeaveOut(message));

    [Fact]
    public void DescribeError_OfAServiceErrorQuotingAKey_HoldsNoneOfIt()
    {
        var e = new Amazon.DynamoDBv2.AmazonDynamoDBException("1 validation error detected: Value 'checkout.card_last4|tenant=tenant-4711-private' at 'key' failed to satisfy constraint: Member must not be null");
        string described = BatchSummary.DescribeError(e);
        Assert.DoesNotContain("tenant-4711", described, StringComparison.Ordinal);
        Assert.StartsWith("Amazon.DynamoDBv2.AmazonDynamoDBException: 1 validation error detected: Value [left out", described, StringComparison.Ordinal);
    }
}
