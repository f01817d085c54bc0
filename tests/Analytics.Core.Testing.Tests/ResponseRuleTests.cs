using System.Text;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// How the emulated event source mapping reads a function's response, the rule behind every checkpoint it takes
/// (AWS, "Configuring partial batch response with Kinesis Data Streams and Lambda"; tumbling windows: "a missing state
/// counts as a failed invocation"). Each case names the verdict and the index of the record the checkpoint lands on.
/// </summary>
public sealed class ResponseRuleTests
{
    private static readonly ShardState s_shard = new() { Index = 0, Id = "shardId-000000000000", Seconds = [] };
    private static readonly SimRecord[] s_records = [Record("100"), Record("200"), Record("300"), Record("400")];

    [Theory]
    [InlineData("")]
    [InlineData(" \t\r\n")]
    [InlineData("null")]
    [InlineData("{}")]
    [InlineData("{\"batchItemFailures\":null}")]
    [InlineData("{\"batchItemFailures\":[]}")]
    public void Success_WhenNothingIsReported(string body) =>
        Assert.Equal(new ResponseVerdict(InvocationOutcome.Success, -1, null), Read(body));

    [Theory]
    [InlineData("{\"batchItemFailures\":[{\"itemIdentifier\":\"300\"}]}", 2)]
    [InlineData("{\"batchItemFailures\":[{\"itemIdentifier\":\"400\"},{\"itemIdentifier\":\"200\"},{\"itemIdentifier\":\"300\"}]}", 1)]
    [InlineData("{\"batchItemFailures\":[{\"itemIdentifier\":\"100\"}]}", 0)]
    [InlineData("{\"batchItemFailures\":[{\"itemIdentifier\":\"400\"}]}", 3)]
    public void Partial_CheckpointsAtTheLowestReportedRecord(string body, int firstFailed) =>
        Assert.Equal(new ResponseVerdict(InvocationOutcome.Partial, firstFailed, null), Read(body));

    [Theory]
    [InlineData("not json")]
    [InlineData("[1]")]
    [InlineData("\"ok\"")]
    [InlineData("{\"batchItemFailures\":{}}")]
    [InlineData("{\"batchItemFailures\":\"300\"}")]
    [InlineData("{\"batchItemFailures\":[\"300\"]}")]
    [InlineData("{\"batchItemFailures\":[{\"itemIdentifier\":\"\"}]}")]
    [InlineData("{\"batchItemFailures\":[{\"itemIdentifier\":null}]}")]
    [InlineData("{\"batchItemFailures\":[{\"itemIdentifier\":300}]}")]
    [InlineData("{\"batchItemFailures\":[{\"itemIdentifer\":\"300\"}]}")]
    [InlineData("{\"batchItemFailures\":[{\"itemIdentifier\":\"300\"},{\"itemIdentifier\":\"\"}]}")]
    [InlineData("{\"batchItemFailures\":[{\"itemIdentifier\":\"250\"}]}")]
    [InlineData("{\"batchItemFailures\":[{\"itemIdentifier\":\"200\"},{\"itemIdentifier\":\"999\"}]}")]
    public void Error_ForAResponseLambdaCannotTakeACheckpointFrom(string body) =>
        Assert.Equal(ResponseVerdict.Error, Read(body));

    /// <summary>Recorded on AWS (LocalStack's snapshots of test_kinesis_report_batch_item_success_scenarios): a function returning [] or "" is a success.</summary>
    [Theory]
    [InlineData("[]")]
    [InlineData("\"\"")]
    [InlineData(" [ ] ")]
    public void AnEmptyListOrString_IsASuccess(string body) =>
        Assert.Equal(new ResponseVerdict(InvocationOutcome.Success, -1, null), Read(body));

    [Theory]
    [InlineData("not json", false)]
    [InlineData("{\"batchItemFailures\":[]}", false)]
    [InlineData("{\"batchItemFailures\":[{\"itemIdentifier\":\"\"}]}", true)]
    [InlineData("{\"batchItemFailures\":[{\"itemIdentifier\":\"300\"}]}", true)]
    public void WithoutReportBatchItemFailures_EveryResponseIsASuccess_AndAListOfFailuresIsNotedAsIgnored(string body, bool ignored) =>
        Assert.Equal(new ResponseVerdict(InvocationOutcome.Success, -1, null, ignored), Read(body, reportItemFailures: false));

    [Theory]
    [InlineData("")]
    [InlineData("null")]
    [InlineData("{}")]
    [InlineData("{\"state\":null}")]
    [InlineData("{\"state\":\"x\"}")]
    [InlineData("{\"state\":[]}")]
    [InlineData("[]")]
    public void Window_WithoutAStateObject_IsAnError(string body)
    {
        Assert.Equal(ResponseVerdict.Error, Read(body, reportItemFailures: true, window: true));
        Assert.Equal(ResponseVerdict.Error, Read(body, reportItemFailures: false, window: true));
    }

    [Theory]
    [InlineData("{\"state\":{\"n\":1}}", true, InvocationOutcome.Success, -1, false)]
    [InlineData("{\"state\":{\"n\":1},\"batchItemFailures\":[]}", true, InvocationOutcome.Success, -1, false)]
    [InlineData("{\"state\":{\"n\":1},\"batchItemFailures\":[{\"itemIdentifier\":\"200\"}]}", true, InvocationOutcome.Partial, 1, false)]
    [InlineData("{\"state\":{\"n\":1},\"batchItemFailures\":[{\"itemIdentifier\":\"200\"}]}", false, InvocationOutcome.Success, -1, true)]
    public void Window_StateIsCarriedWithTheVerdict(string body, bool reportItemFailures, InvocationOutcome outcome, int firstFailed, bool ignored) =>
        Assert.Equal(new ResponseVerdict(outcome, firstFailed, "{\"n\":1}", ignored), Read(body, reportItemFailures, window: true));

    [Fact]
    public void Window_AnInvalidFailureListIsAnError_EvenWithAState() =>
        Assert.Equal(
            ResponseVerdict.Error,
            Read("{\"state\":{},\"batchItemFailures\":[{\"itemIdentifier\":\"\"}]}", reportItemFailures: true, window: true));

    private static ResponseVerdict Read(string body, bool reportItemFailures = true, bool window = false) =>
        ResponseRules.Read(Encoding.UTF8.GetBytes(body), s_records, reportItemFailures, window);

    private static SimRecord Record(string sequenceNumber) => new()
    {
        Shard = s_shard,
        SequenceNumber = sequenceNumber,
        PartitionKey = "k",
        EscapedKey = "k"u8.ToArray(),
        Data = [],
        ArrivalMs = 0,
    };
}
