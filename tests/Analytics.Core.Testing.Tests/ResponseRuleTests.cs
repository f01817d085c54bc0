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

    /// <summary>
    /// Each response the mapping rejects, and the reason the emulator gives for it (<see cref="InvocationReport.ResponseProblem"/>:
    /// a review found every one of these failures reported with no reason at all), naming the entry at fault.
    /// </summary>
    [Theory]
    [InlineData("not json", "the response is not JSON")]
    [InlineData("[1]", "the response is a JSON array, not an object with \"batchItemFailures\"")]
    [InlineData("\"ok\"", "the response is a JSON string, not an object with \"batchItemFailures\"")]
    [InlineData("{\"batchItemFailures\":{}}", "\"batchItemFailures\" is a JSON object, not an array")]
    [InlineData("{\"batchItemFailures\":\"300\"}", "\"batchItemFailures\" is a JSON string, not an array")]
    [InlineData("{\"batchItemFailures\":[\"300\"]}", "batchItemFailures[0] is a JSON string, not an object with \"itemIdentifier\"")]
    [InlineData("{\"batchItemFailures\":[{\"itemIdentifier\":\"\"}]}", "batchItemFailures[0].itemIdentifier is empty")]
    [InlineData("{\"batchItemFailures\":[{\"itemIdentifier\":null}]}", "batchItemFailures[0].itemIdentifier is a JSON null, not a record's sequence number")]
    [InlineData("{\"batchItemFailures\":[{\"itemIdentifier\":300}]}", "batchItemFailures[0].itemIdentifier is a JSON number, not a record's sequence number")]
    [InlineData("{\"batchItemFailures\":[{\"itemIdentifer\":\"300\"}]}", "batchItemFailures[0] has no \"itemIdentifier\" (the name is case-sensitive)")]
    [InlineData("{\"batchItemFailures\":[{\"itemIdentifier\":\"300\"},{\"itemIdentifier\":\"\"}]}", "batchItemFailures[1].itemIdentifier is empty")]
    [InlineData("{\"batchItemFailures\":[{\"itemIdentifier\":\"250\"}]}", "batchItemFailures[0].itemIdentifier is not the sequence number of a record of this batch")]
    [InlineData("{\"batchItemFailures\":[{\"itemIdentifier\":\"200\"},{\"itemIdentifier\":\"999\"}]}", "batchItemFailures[1].itemIdentifier is not the sequence number of a record of this batch")]
    [InlineData("{\"batchItemFailures\":true}", "\"batchItemFailures\" is a JSON boolean, not an array")]
    [InlineData("{\"batchItemFailures\":[{\"itemIdentifier\":false}]}", "batchItemFailures[0].itemIdentifier is a JSON boolean, not a record's sequence number")]
    public void Error_ForAResponseLambdaCannotTakeACheckpointFrom(string body, string problem) =>
        Assert.Equal(ResponseVerdict.Rejected(problem), Read(body));

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
        ResponseVerdict rejected = ResponseVerdict.Rejected(body.Length == 0
            ? "the response is empty, and a tumbling-window invocation must return its state"
            : "the response has no \"state\" object, which a tumbling-window invocation must return");
        Assert.Equal(rejected, Read(body, reportItemFailures: true, window: true));
        Assert.Equal(rejected, Read(body, reportItemFailures: false, window: true));
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
            ResponseVerdict.Rejected("batchItemFailures[0].itemIdentifier is empty"),
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
