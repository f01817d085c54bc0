using Amazon.DynamoDBv2;

namespace Analytics.Core.Tests;

/// <summary>The DynamoDB sink's checks of its options and arguments, and the messages they give.</summary>
public sealed class DynamoDbSinkArgumentTests
{
    private static readonly AmazonDynamoDBClient s_client = new(
        new Amazon.Runtime.BasicAWSCredentials("test", "test"),
        new AmazonDynamoDBConfig { ServiceURL = "http://127.0.0.1:9", AuthenticationRegion = "us-east-1" });

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(10_001)]
    [InlineData(int.MaxValue)]
    public void Constructor_MaxPartitionKeysPerItemOutOfRange_ThrowsNamingTheOptionAndValue(int value)
    {
        var options = DynamoDbAggregateSinkOptions.Default with { TableName = "metrics", MaxPartitionKeysPerItem = value };

        ArgumentOutOfRangeException e = Assert.Throws<ArgumentOutOfRangeException>(() => new DynamoDbAggregateSink(s_client, options));

        Assert.Equal("options", e.ParamName);
        Assert.Contains("MaxPartitionKeysPerItem must be 1 to 10,000", e.Message, StringComparison.Ordinal);
        Assert.Contains("it is " + value.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(10_000)]
    public void Constructor_MaxPartitionKeysPerItemInRange_Accepted(int value)
    {
        var sink = new DynamoDbAggregateSink(s_client, DynamoDbAggregateSinkOptions.Default with { TableName = "metrics", MaxPartitionKeysPerItem = value });

        Assert.Equal(0, sink.CapacityExceeded);
    }

    [Fact]
    public async Task WriteAsync_NullBatch_ThrowsArgumentNullNamingIt()
    {
        var sink = new DynamoDbAggregateSink(s_client, DynamoDbAggregateSinkOptions.Default with { TableName = "metrics" });

        ArgumentNullException e = await Assert.ThrowsAsync<ArgumentNullException>(() => sink.WriteAsync(null!, CancellationToken.None));

        Assert.Equal("batch", e.ParamName);
    }
}
