using System.Text;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Analytics.Core.Testing.Tests;

/// <summary>The metric generator's records: valid JSON with the partition key as the service, whatever the key.</summary>
public class RecordGeneratorTests
{
    private static readonly DateTimeOffset s_at = new(2025, 1, 20, 10, 0, 0, TimeSpan.Zero);

    [Property(MaxTest = 300)]
    public Property AnyPartitionKey_IsTheServiceOfAValidRecord(NonEmptyString key, int seed)
    {
        string partitionKey = key.Get.Length > 256 ? key.Get[..256] : key.Get;
        byte[] data = RecordGenerators.Metric(3)(0, partitionKey, s_at, new Random(seed));
        using JsonDocument record = JsonDocument.Parse(data);
        JsonElement root = record.RootElement;
        return (root.GetProperty("dimensions").GetProperty("service").GetString() == partitionKey
                && root.GetProperty("metric").GetString() is "metric.0" or "metric.1" or "metric.2"
                && root.GetProperty("timestamp").GetInt64() == s_at.ToUnixTimeMilliseconds())
            .Label(Encoding.UTF8.GetString(data));
    }

    [Fact]
    public void APlainKey_GivesTheSameBytesAsEver()
    {
        // The records of every scenario so far (keys like pk-7): written as before, so runs stay byte for byte the same.
        var random = new Random(5);
        var draws = new Random(5);
        int metric = draws.Next(4);
        int value = draws.Next(1, 1000);
        byte[] data = RecordGenerators.Metric()(0, "pk-7", s_at, random);
        Assert.Equal(
            $"{{\"metric\":\"metric.{metric}\",\"value\":{value},\"timestamp\":{s_at.ToUnixTimeMilliseconds()},\"dimensions\":{{\"service\":\"pk-7\"}}}}",
            Encoding.UTF8.GetString(data));
    }

    [Fact]
    public void FewerThanOneMetricName_IsRefused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => RecordGenerators.Metric(0));
}
