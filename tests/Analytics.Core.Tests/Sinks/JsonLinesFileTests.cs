using System.Text.Json;

namespace Analytics.Core.Tests;

/// <summary>The JSON-lines file sinks with several writers on one file.</summary>
public sealed class JsonLinesFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("analytics-jsonl-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task WriteAsync_ManyWritersOnOneFile_EveryLineWholeOnceAndEachBatchContiguous()
    {
        const int Writers = 6;
        const int Batches = 30;
        const int PerBatch = 7;
        string path = Path.Combine(_dir, "quarantine.jsonl");
        // Long lines (about 280 KB a batch) so that one append is many write calls' worth for an unlocked writer.
        string bulk = new('x', 40_000);
        using var start = new ManualResetEventSlim();

        Task[] writers = Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            var sink = new JsonLinesQuarantineSink(path);
            start.Wait();
            for (int b = 0; b < Batches; b++)
            {
                QuarantinedRecord[] batch = [.. Enumerable.Range(0, PerBatch).Select(i => Record($"{w}/{b}/{i}", bulk))];
                Assert.Equal(PerBatch, await sink.WriteAsync(batch, CancellationToken.None));
            }
        })).ToArray();
        start.Set();
        await Task.WhenAll(writers).WaitAsync(TimeSpan.FromSeconds(60));

        string text = await File.ReadAllTextAsync(path);
        Assert.EndsWith("\n", text);
        string[] ids = [.. text.TrimEnd('\n').Split('\n').Select(line =>
        {
            using JsonDocument json = JsonDocument.Parse(line);
            Assert.Equal(bulk, json.RootElement.GetProperty("detail").GetString());
            return json.RootElement.GetProperty("partitionKey").GetString()!;
        })];
        Assert.Equal(Writers * Batches * PerBatch, ids.Length);
        Assert.Equal(ids.Length, ids.Distinct().Count());
        // Each batch's lines are next to each other and in order.
        for (int at = 0; at < ids.Length; at += PerBatch)
        {
            string batch = ids[at][..ids[at].LastIndexOf('/')];
            for (int i = 0; i < PerBatch; i++)
            {
                Assert.Equal($"{batch}/{i}", ids[at + i]);
            }
        }
    }

    [Fact]
    public async Task WriteAsync_FileHeldByAnotherWriter_WaitsForItThenAppends()
    {
        string path = Path.Combine(_dir, "held.jsonl");
        var sink = new JsonLinesQuarantineSink(path);
        await sink.WriteAsync([Record("first", "d")], CancellationToken.None);
        Task<int> write;
        using (new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.None))
        {
            write = sink.WriteAsync([Record("second", "d")], CancellationToken.None);
            await Task.Delay(300);
            Assert.False(write.IsCompleted);
        }

        Assert.Equal(1, await write.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(2, File.ReadAllLines(path).Length);
    }

    [Fact]
    public async Task WriteAsync_NothingToWrite_CreatesTheFileEmpty()
    {
        string path = Path.Combine(_dir, "nested", "empty.jsonl");

        Assert.Equal(0, await new JsonLinesQuarantineSink(path).WriteAsync([], CancellationToken.None));

        Assert.Equal(0, new FileInfo(path).Length);
    }

    private static QuarantinedRecord Record(string id, string detail) => new()
    {
        ShardId = "shardId-000000000000",
        SequenceNumber = "1",
        PartitionKey = id,
        ApproximateArrival = DateTimeOffset.UnixEpoch,
        Reason = PoisonReason.InvalidJson,
        Detail = detail,
        Data = "e30=",
    };
}
