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
}
