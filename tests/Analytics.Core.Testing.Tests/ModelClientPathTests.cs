using Analytics.Replay;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The DynamoDB model's direct client is a faster path to the same model, not a different model: a replay run gives
/// the same bytes in every output file whether the handler's DynamoDB client hands item operations to the model as
/// objects or sends them through the AWS SDK's pipeline and the JSON protocol. The incident scenarios (shortened) have
/// everything that could tell the paths apart: latency, a throttling episode in front of the model, conditional-write
/// conflicts, throttled batch reads with unprocessed keys, retries on the virtual clock, and both handlers.
/// </summary>
public sealed class ModelClientPathTests
{
    /// <remarks>
    /// The before scenario's naive handler rewrites every record of a batch retried forever behind its poison record:
    /// at 200 records/s its minute sent 95,528 requests, and the case took 106 s in a full test run on 2 cores. At 50 records/s it still has
    /// the throttling episode, the blocked shards and the doubling, with a quarter of the requests.
    /// </remarks>
    [Theory]
    [InlineData("incident-after.json", 200)]
    [InlineData("incident-after-pf10.json", 200)]
    [InlineData("incident-before.json", 50)]
    public void Replay_GivesTheSameFiles_OnTheDirectAndTheHttpClient(string scenario, int ratePerSecond)
    {
        string output = Path.Combine(Path.GetTempPath(), "client-path-" + Guid.NewGuid().ToString("N"));
        try
        {
            ReplayResult direct = ReplayRun.Run(IncidentTests.Shortened(scenario, 60, ratePerSecond), Path.Combine(output, "direct"), TextWriter.Null, writeRecords: true, chart: false);
            ReplayResult http = ReplayRun.Run(IncidentTests.Shortened(scenario, 60, ratePerSecond), Path.Combine(output, "http"), TextWriter.Null, writeRecords: true, chart: false, httpClients: true);

            Assert.Equal(http.Summary, direct.Summary);
            Assert.True(direct.Summary.RecordsOut > 0 || direct.Summary.Errors > 0, "nothing ran");
            Assert.True(direct.Figures!.DynamoDbThrottles > 0, "the throttling episode did not happen");
            Assert.Equal(http.Figures!.DynamoDbRequests, direct.Figures.DynamoDbRequests);
            Assert.Equal(http.Figures.DynamoDbThrottles, direct.Figures.DynamoDbThrottles);
            string[] files = Directory.GetFiles(Path.Combine(output, "http")).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;
            Assert.Equal(files, Directory.GetFiles(Path.Combine(output, "direct")).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray());
            Assert.Contains("invocations.jsonl", files);
            foreach (string file in files)
            {
                byte[] expected = File.ReadAllBytes(Path.Combine(output, "http", file));
                Assert.True(expected.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(output, "direct", file))), file + " differs between the paths");
            }
        }
        finally
        {
            if (Directory.Exists(output))
            {
                Directory.Delete(output, recursive: true);
            }
        }
    }
}
