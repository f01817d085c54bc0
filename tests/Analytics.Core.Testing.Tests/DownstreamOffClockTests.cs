using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.S3;
using Amazon.S3.Model;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// A downstream model called off the run's clock makes what it answers, and when, depend on real timing: the emulator
/// counts such an invocation in <see cref="EmulationSummary.OffClockWaits"/> and the run is not
/// <see cref="EmulationSummary.Reproducible"/> (found by review: a sink whose retries waited on the system clock lost
/// most records to the destination, differently in each run, and every run said <c>Reproducible</c>). And a disposed
/// model refuses its clients' requests, as its documentation says.
/// </summary>
public class DownstreamOffClockTests
{
    private static readonly ReadOnlyMemory<byte> s_ok = "{\"batchItemFailures\":[]}"u8.ToArray();

    private static EmulatorScenario Scenario() => new()
    {
        Seed = 5,
        StartTime = Emulate.Start,
        DurationSeconds = 10,
        Records = [ExplicitRecord.Text("a", "r1", 1000), ExplicitRecord.Text("a", "r2", 3000), ExplicitRecord.Text("a", "r3", 5000)],
        Function = new() { TimeoutSeconds = 5 },
    };

    private static PutItemRequest Put(string id) => new()
    {
        TableName = "metrics",
        Item = new() { ["pk"] = new AttributeValue { S = id } },
    };

    private static DynamoDbModel Model(TimeProvider clock, bool latency = false)
    {
        var model = new DynamoDbModel(clock, DynamoDbModelOptions.Default with
        {
            Latency = latency ? new LatencyDistribution(TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(20)) : LatencyDistribution.None,
        });
        model.CreateTable("metrics", "pk", null);
        return model;
    }

    /// <summary>
    /// Each case ends its handler on the run's thread with nothing pending, so only the model's look catches it (a model
    /// on the system clock with latency resumes the handler on another thread, which the emulator caught before).
    /// </summary>
    public static TheoryData<string> OffClockCalls => ["model on the system clock", "model called from the thread pool", "model called from the thread pool, HTTP client"];

    [Theory]
    [MemberData(nameof(OffClockCalls))]
    public void AModelCalledOffTheRunsClock_MakesTheRunNotReproducible(string kind)
    {
        EmulationSummary summary = RunWith(kind, out int served);

        Assert.Equal(3, served);
        Assert.Equal(3, summary.OffClockWaits);
        Assert.False(summary.Reproducible);
    }

    [Theory]
    [InlineData("model on the run's clock, with latency")]
    [InlineData("model on a wrapper of the run's clock, with latency")]
    public void AModelOnTheRunsClock_CalledInTheHandlersFlow_KeepsTheRunReproducible(string kind)
    {
        // A provider that passes through to the run's clock is the run's clock (found by review: counted off it).
        EmulationSummary summary = RunWith(kind, out int served);

        Assert.Equal(3, served);
        Assert.Equal(0, summary.OffClockWaits);
        Assert.True(summary.Reproducible);
    }

    /// <summary>A <see cref="TimeProvider"/> that passes everything through to another.</summary>
    private sealed class Wrapper(TimeProvider inner) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => inner.GetUtcNow();

        public override long GetTimestamp() => inner.GetTimestamp();

        public override long TimestampFrequency => inner.TimestampFrequency;

        public override TimeZoneInfo LocalTimeZone => inner.LocalTimeZone;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => inner.CreateTimer(callback, state, dueTime, period);
    }

    private static EmulationSummary RunWith(string kind, out int served)
    {
        StreamEmulator emulator = null!;
        DynamoDbModel? model = null;
        int calls = 0;
        emulator = new StreamEmulator(Scenario(), _ => new DelegateHandler(async (_, _, _) =>
        {
            switch (kind)
            {
                case "model on the system clock":
                    model ??= Model(TimeProvider.System);
                    await model.CreateClient().PutItemAsync(Put("x")).ConfigureAwait(false);
                    break;
                case "model called from the thread pool":
                case "model called from the thread pool, HTTP client":
                    model ??= Model(emulator.Clock);
                    AmazonDynamoDBClient client = kind.EndsWith("HTTP client", StringComparison.Ordinal) ? model.CreateHttpClient() : model.CreateClient();
                    // Waits briefly for real work, so the handler itself ends on the run's thread: only the call is off.
                    Task.Run(() => client.PutItemAsync(Put("x"))).Wait();
                    break;
                case "model on a wrapper of the run's clock, with latency":
                    model ??= Model(new Wrapper(emulator.Clock), latency: true);
                    await model.CreateClient().PutItemAsync(Put("x")).ConfigureAwait(false);
                    break;
                default:
                    model ??= Model(emulator.Clock, latency: true);
                    await model.CreateClient().PutItemAsync(Put("x")).ConfigureAwait(false);
                    break;
            }

            calls++;
            return s_ok;
        }));
        EmulationSummary summary = emulator.Run();
        served = checked((int)model!.Counters.Requests);
        Assert.Equal(3, calls);
        model.Dispose();
        return summary;
    }

    [Fact]
    public async Task ADisposedDynamoDbModel_RefusesItsClientsRequests()
    {
        var model = Model(TimeProvider.System);
        using AmazonDynamoDBClient direct = model.CreateClient();
        using AmazonDynamoDBClient http = model.CreateHttpClient();
        await direct.PutItemAsync(Put("before"));
        model.Dispose();

        ObjectDisposedException refused = await Assert.ThrowsAsync<ObjectDisposedException>(() => direct.PutItemAsync(Put("after")));
        Assert.Contains("DynamoDbModel was disposed", refused.Message, StringComparison.Ordinal);
        Exception viaHttp = await Assert.ThrowsAnyAsync<Exception>(() => http.PutItemAsync(Put("after")));
        Assert.IsType<ObjectDisposedException>(viaHttp.GetBaseException());
        Assert.Single(model.GetItems("metrics"));
    }

    [Fact]
    public async Task ADisposedS3Model_RefusesItsClientsRequests()
    {
        var model = new S3Model(TimeProvider.System, S3ModelOptions.Default);
        model.CreateBucket("quarantine");
        using AmazonS3Client client = model.CreateClient();
        await client.PutObjectAsync(new PutObjectRequest { BucketName = "quarantine", Key = "before", ContentBody = "x" });
        model.Dispose();

        Exception refused = await Assert.ThrowsAnyAsync<Exception>(() => client.PutObjectAsync(new PutObjectRequest { BucketName = "quarantine", Key = "after", ContentBody = "x" }));
        Assert.IsType<ObjectDisposedException>(refused.GetBaseException());
        Assert.Contains("S3Model was disposed", refused.GetBaseException().Message, StringComparison.Ordinal);
        Assert.Equal(["before"], model.GetObjects("quarantine").Select(o => o.Key));
    }
}
