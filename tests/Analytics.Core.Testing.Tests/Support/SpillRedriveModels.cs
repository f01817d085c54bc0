using System.Globalization;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.S3;
using Analytics.Tools;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// A spill bucket and the aggregate table <c>t</c> on the DynamoDB and S3 models (one virtual clock), clients behind
/// <see cref="ModelFaults"/>, and runs of <see cref="SpillRedrive"/> with the lines they write.
/// </summary>
internal sealed class SpillRedriveModels : IDisposable
{
    public const string Bucket = "spills";
    public const string Table = "t";

    public SpillRedriveModels()
    {
        Clock = new VirtualClock(Emulate.Start);
        DynamoDb = new DynamoDbModel(Clock, DynamoDbModelOptions.Default);
        S3 = new S3Model(Clock, S3ModelOptions.Default);
        DynamoDb.CreateTable(Table, "pk", "sk");
        S3.CreateBucket(Bucket);
        Faults = new ModelFaults(DynamoDb.HttpHandler, S3.HttpHandler);
        DynamoDbClient = Faults.CreateDynamoDbClient();
        S3Client = Faults.CreateS3Client();
    }

    public VirtualClock Clock { get; }

    public DynamoDbModel DynamoDb { get; }

    public S3Model S3 { get; }

    public ModelFaults Faults { get; }

    public AmazonDynamoDBClient DynamoDbClient { get; }

    public AmazonS3Client S3Client { get; }

    /// <summary>Stores an object now (by the models' clock), as the spill sink's PutObject would.</summary>
    public void Put(string key, string body) => S3.Deliver(Bucket, key, Encoding.UTF8.GetBytes(body), "application/json");

    /// <summary>The keys in the bucket, in key order.</summary>
    public List<string> Keys() => [.. S3.GetObjects(Bucket).Select(o => o.Key)];

    /// <summary>Every item of the table as (pk, sk, count, sum), in key order.</summary>
    public List<(string Pk, string Sk, long Count, double Sum)> Items() =>
        [.. DynamoDb.GetItems(Table)
            .Select(i => (i["pk"].S, i["sk"].S, long.Parse(i["count"].N, CultureInfo.InvariantCulture), double.Parse(i["sum"].N, CultureInfo.InvariantCulture)))
            .OrderBy(i => i.Item1, StringComparer.Ordinal).ThenBy(i => i.Item2, StringComparer.Ordinal)];

    /// <summary>A sink for <paramref name="table"/> whose retries wait on the models' clock.</summary>
    public DynamoDbAggregateSink Sink(string table = Table) =>
        new(DynamoDbClient, DynamoDbAggregateSinkOptions.Default with
        {
            TableName = table,
            Retry = DynamoDbAggregateSinkOptions.Default.Retry with { TimeProvider = Clock, JitterSeed = 1 },
        });

    /// <summary>One run over <paramref name="prefix"/> on the models' clock; its report and the lines it wrote (to <paramref name="output"/> when given).</summary>
    public (RedriveReport Report, string[] Lines) Run(
        string prefix = "spill",
        TimeSpan minAge = default,
        Func<CancellationToken, Task>? heartbeat = null,
        int maxObjects = SpillRedrive.MaxObjectsPerRun,
        string table = Table,
        CancellationToken cancellationToken = default,
        StringWriter? output = null)
    {
        output ??= new StringWriter();
        RedriveReport report = Pump(SpillRedrive.ApplyAsync(S3Client, Bucket, prefix, Sink(table), output, minAge, Clock, cancellationToken, heartbeat, maxObjects));
        return (report, output.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
    }

    /// <summary>Waits for the task on the models' clock: every timer it sets is fired in order.</summary>
    public T Pump<T>(Task<T> task)
    {
        for (int i = 0; i < 100_000 && !task.IsCompleted; i++)
        {
            if (Clock.NextDue is { } due)
            {
                Clock.AdvanceTo(due);
            }
            else
            {
                Thread.Sleep(1);
            }
        }

        Assert.True(task.IsCompleted, "the redrive did not finish");
        return task.GetAwaiter().GetResult();
    }

    public void Dispose()
    {
        DynamoDbClient.Dispose();
        S3Client.Dispose();
        Faults.Dispose();
        DynamoDb.Dispose();
        S3.Dispose();
    }
}
