using System.Globalization;
using System.Text;
using System.Text.Json;
using Analytics.Tools.Redrive;

namespace Analytics.Core.Testing.Tests;

/// <summary>Destination objects the redrive refuses while reading them, each with the reason it gives.</summary>
public class DestinationRedriveParseTests
{
    private const string Info = "\"KinesisBatchInfo\":{\"shardId\":\"shardId-000000000000\",\"startSequenceNumber\":\"12\",\"endSequenceNumber\":\"12\",\"batchSize\":1}";

    /// <summary>
    /// A record must carry its eventID as the string <c>&lt;shardId&gt;:&lt;sequenceNumber&gt;</c> (the pipeline takes the
    /// shard from it): one without it, or with another JSON type, is refused for that reason.
    /// </summary>
    [Theory]
    [InlineData("")]
    [InlineData(",\"eventID\":12")]
    [InlineData(",\"eventID\":null")]
    public void ARecordWithoutAStringEventId_IsRefused_AsNotOfTheShard(string eventId)
    {
        string body = "{" + Info + ",\"payload\":{\"Records\":[{\"kinesis\":{\"sequenceNumber\":\"12\",\"partitionKey\":\"k\"}" + eventId + "}]}}";

        Assert.Equal(
            (null, "record 0 of the payload is not of shard shardId-000000000000 (its eventID is not <shardId>:<sequenceNumber> of that shard)"),
            DestinationRedrive.Parse("k", Encoding.UTF8.GetBytes(body)));
    }

    /// <summary>A payload string that is not JSON: the reader's position, said to be in the payload.</summary>
    [Fact]
    public void APayloadStringThatIsNotJson_IsRefused_WithThePositionInThePayload()
    {
        string body = "{" + Info + ",\"payload\":" + JsonSerializer.Serialize("{\"Records\":]") + "}";

        Assert.Equal(
            (null, "the payload string is not JSON: invalid JSON at byte 11 of 12 (line 1, byte 11 of that line) of the payload"),
            DestinationRedrive.Parse("k", Encoding.UTF8.GetBytes(body)));
    }

    /// <summary>An escaped lone surrogate is valid JSON but no text: the object is refused, not half-read.</summary>
    [Theory]
    [InlineData("\"payload\":\"\\ud800\"")]
    [InlineData("\"payload\":{\"Records\":[{\"kinesis\":{\"sequenceNumber\":\"12\",\"partitionKey\":\"\\udc00\"},\"eventID\":\"shardId-000000000000:12\"}]}")]
    public void AnEscapedLoneSurrogate_IsRefused_AsNotValidText(string payload)
    {
        string body = "{" + Info + "," + payload + "}";

        Assert.Equal(
            (null, "a string of the object is not valid text (an escaped lone surrogate)"),
            DestinationRedrive.Parse("k", Encoding.UTF8.GetBytes(body)));
    }

    /// <summary>
    /// A payload that holds a given-up record twice passes the batchSize count while another given-up record is missing,
    /// so it is refused, as is one out of order: Lambda builds an event from a shard's records in the order it read them.
    /// The reason names the record that breaks the order.
    /// </summary>
    [Theory]
    [InlineData("12,12,14", 3, 1)]
    [InlineData("12,14,12", 3, 2)]
    [InlineData("14,12", 2, 1)]
    public void Parse_RefusesAPayloadWhoseRecordsAreNotInIncreasingOrder(string sequence, int batchSize, int breaking)
    {
        (DestinationRedrive.DestinationObject? parsed, string? why) = DestinationRedrive.Parse("k", ShardZeroObject("12", "14", batchSize, sequence.Split(',').Select(n => ShardZeroRecord($"\"{n}\"", n))));

        Assert.Null(parsed);
        Assert.Equal($"record {breaking} of the payload does not follow record {breaking - 1} in sequence-number order (a record twice, or out of order): it is not an event Lambda built", why);
    }

    /// <summary>Both ends of the given-up range must be sequence numbers: one bad end is enough to refuse the object.</summary>
    [Theory]
    [InlineData("\"12\"", "\"x\"")]
    [InlineData("\"x\"", "\"14\"")]
    [InlineData("\"12\"", "14")]
    public void Parse_RefusesARangeWithOneEndNotASequenceNumber(string start, string end)
    {
        string body = "{\"KinesisBatchInfo\":{\"shardId\":\"shardId-000000000000\",\"startSequenceNumber\":" + start + ",\"endSequenceNumber\":" + end +
            ",\"batchSize\":1},\"payload\":{\"Records\":[" + ShardZeroRecord("\"12\"", "12") + "]}}";

        (DestinationRedrive.DestinationObject? parsed, string? why) = DestinationRedrive.Parse("k", Encoding.UTF8.GetBytes(body));

        Assert.Null(parsed);
        Assert.Equal("KinesisBatchInfo has no valid startSequenceNumber, endSequenceNumber and batchSize: which records of the payload Lambda gave up on cannot be told", why);
    }

    /// <summary>A record whose sequence number is a JSON number, not a string, is refused with the reason, not an exception.</summary>
    [Fact]
    public void Parse_RefusesASequenceNumberThatIsNotAString()
    {
        (DestinationRedrive.DestinationObject? parsed, string? why) = DestinationRedrive.Parse("k", ShardZeroObject("12", "12", 1, [ShardZeroRecord("12", "12")]));

        Assert.Null(parsed);
        Assert.Equal("record 0 of the payload has no valid kinesis.sequenceNumber or partitionKey", why);
    }

    /// <summary>
    /// The records' stream is read (their <c>eventSourceARN</c>, a consumer part dropped: the stream whose watermarks may
    /// judge them); records of two streams in one payload are refused, as the pipeline refuses such an event.
    /// </summary>
    [Fact]
    public void Parse_ReadsTheRecordsStream_AndRefusesAPayloadOfTwoStreams()
    {
        const string a = "arn:aws:kinesis:us-east-1:123456789012:stream/a";
        string Of(string n, string arn) => ShardZeroRecord($"\"{n}\"", n)[..^1] + ",\"eventSourceARN\":\"" + arn + "\"}";

        (DestinationRedrive.DestinationObject? one, string? none) = DestinationRedrive.Parse("k", ShardZeroObject("12", "14", 2, [Of("12", a), Of("14", a + "/consumer/c:1")]));
        (DestinationRedrive.DestinationObject? two, string? why) = DestinationRedrive.Parse("k", ShardZeroObject("12", "14", 2, [Of("12", a), Of("14", a + "x")]));
        (DestinationRedrive.DestinationObject? unsaid, _) = DestinationRedrive.Parse("k", ShardZeroObject("12", "12", 1, [ShardZeroRecord("\"12\"", "12")]));

        Assert.Null(none);
        Assert.Equal(a, one!.Stream);
        Assert.Null(two);
        Assert.Equal("record 1 of the payload is of another stream than record 0 (its eventSourceARN differs): it is not an event Lambda built", why);
        Assert.Null(unsaid!.Stream);
    }

    /// <summary>A payload record of shard 0 with this JSON sequence number (a string literal or another value) and eventID suffix.</summary>
    internal static string ShardZeroRecord(string sequenceJson, string eventIdSequence) =>
        "{\"kinesis\":{\"sequenceNumber\":" + sequenceJson + ",\"partitionKey\":\"k\"},\"eventID\":\"shardId-000000000000:" + eventIdSequence + "\"}";

    /// <summary>A destination object of shard 0 giving up on <paramref name="from"/>..<paramref name="to"/>, its payload these records.</summary>
    internal static byte[] ShardZeroObject(string from, string to, int batchSize, IEnumerable<string> records) =>
        Encoding.UTF8.GetBytes("{\"KinesisBatchInfo\":{\"shardId\":\"shardId-000000000000\",\"startSequenceNumber\":\"" + from + "\",\"endSequenceNumber\":\"" + to + "\",\"batchSize\":" +
            batchSize.ToString(CultureInfo.InvariantCulture) + "},\"payload\":{\"Records\":[" + string.Join(",", records) + "]}}");
}
