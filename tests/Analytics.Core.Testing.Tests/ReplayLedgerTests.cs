using System.Text;
using Analytics.Core.Tests;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Replay's independent check of lost and double-counted samples, on records the library takes in forms the check's
/// own reader does not (found by review: a string timestamp or a lone surrogate crashed the run with a stack trace,
/// and valid NDJSON and KPL records were reported as double counted). Records that may be valid in such a form are
/// counted as not judged, and the run then has no lost or double-counted figure; what the README's poison table
/// refuses is judged poison in any form, and plain records are judged as before.
/// </summary>
public class ReplayLedgerTests
{
    private const long T0 = 1737367200000; // 2025-01-20T10:00:00Z, the scenario's start

    [Theory]
    [InlineData("""{"metric":"rfc","value":1,"timestamp":"2025-01-20T10:00:01Z"}""")]
    [InlineData("""{"metric":"m","value":1,"timestamp":1737367201000.5}""")]
    [InlineData("""{"metric":"leap","value":1,"timestamp":"2025-01-20T10:00:60Z"}""")]
    [InlineData("{\"metric\":\"m\",\n\"value\":1,\"timestamp\":1737367201000}\n{\"metric\":\"m\",\"value\":2,\"timestamp\":1737367201000}")]
    public void ARecordThatMayBeValidInAFormTheCheckDoesNotAggregate_IsNotJudged_AndTheRunsFiguresAreNotChecked(string payload) =>
        InScenario([("a", Encoding.UTF8.GetBytes(payload), 1000), ("b", Encoding.UTF8.GetBytes(Sample(5)), 1500)], (exit, stdout, error, _) =>
        {
            Assert.True(exit == 0, error + stdout);
            Assert.DoesNotContain("   at ", error + stdout, StringComparison.Ordinal);
            Assert.Equal("not checked: 1 records may be valid in a form the independent check does not aggregate (a KPL aggregate, NDJSON, an RFC 3339 or fractional timestamp)", Row(stdout, "lost (checked against the truth)"));
            Assert.Equal("not checked (above)", Row(stdout, "double counted"));
            Assert.Equal("1", Row(stdout, "valid records produced"));
        });

    // Records the README's poison table refuses in any form are judged poison, and the run keeps its figures (the
    // review of the first version of this check: these read as "not judged", or as valid, and one too-old plain record
    // showed as lost). Each is quarantined by the library with its data.
    [Theory]
    [InlineData("""{"metric":"\ud800","value":1,"timestamp":1737367201000}""")]
    [InlineData("""{"metric":"m","value":1,"timestamp":1737367201000,"dimensions":{"k":"\udc00"}}""")]
    [InlineData("""{"metric":"m","value":1,"timestamp":-1.5}""")]
    [InlineData("""{"metric":"m","value":1,"timestamp":"garbage"}""")]
    [InlineData("not json\nat all")]
    [InlineData("""{"metric":"m","value":1,"timestamp":1000}""")]
    [InlineData("""{"metric":"m","value":1,"timestamp":1737367201000,"metric":"n"}""")]
    [InlineData("""{"metric":"m","value":1,"timestamp":1737370000000}""")]
    [InlineData("""{"metric":"m","value":1,"timestamp":1737367201000,"dimensions":{"a":"1","a":"2"}}""")]
    public void ARecordThePoisonTableRefuses_IsJudgedPoison_AndTheRunKeepsItsFigures(string payload) =>
        JudgedPoison(payload);

    // The second review: the library takes a duplicated member it does not know (its own fields twice are refused).
    [Fact]
    public void ADuplicatedUnknownMember_IsJudgedValid() =>
        InScenario([("a", Encoding.UTF8.GetBytes("""{"metric":"m","value":1,"timestamp":1737367201000,"x":1,"x":2}"""), 1000)], (exit, stdout, error, _) =>
        {
            Assert.True(exit == 0, error + stdout);
            Assert.Equal("1", Row(stdout, "valid records produced"));
            Assert.Equal("0", Row(stdout, "double counted"));
        });

    private static void JudgedPoison(string payload) =>
        InScenario([("a", Encoding.UTF8.GetBytes(payload), 1000), ("b", Encoding.UTF8.GetBytes(Sample(5)), 1500)], (exit, stdout, error, _) =>
        {
            Assert.True(exit == 0, error + stdout);
            Assert.StartsWith("0 (over ", Row(stdout, "lost (checked against the truth)"), StringComparison.Ordinal);
            Assert.Equal("0", Row(stdout, "double counted"));
            Assert.Equal("1 (1 passed by the mapping)", Row(stdout, "poison records produced"));
            Assert.Equal("1", Row(stdout, "in the quarantine with their data"));
        });

    [Fact]
    public void NdjsonAndKplRecords_AreNotJudged_AndNotReportedAsDoubleCounted() =>
        InScenario(
            [
                ("a", Encoding.UTF8.GetBytes(Sample(1) + "\n" + Sample(2)), 1000),
                ("b", KplTestEncoder.Aggregate([new("b", null, Encoding.UTF8.GetBytes(Sample(3)), []), new("b", null, Encoding.UTF8.GetBytes(Sample(4)), [])]), 2000),
            ],
            (exit, stdout, error, output) =>
            {
                Assert.True(exit == 0, error + stdout);
                Assert.Contains("\"count\":4,", File.ReadAllText(Path.Combine(output, "aggregates.jsonl")), StringComparison.Ordinal); // the library took all four
                Assert.StartsWith("not checked: 2 records", Row(stdout, "lost (checked against the truth)"), StringComparison.Ordinal);
                Assert.Equal("0 (0 passed by the mapping)", Row(stdout, "poison records produced"));
            });

    [Fact]
    public void PlainRecords_AreStillJudged_APlainPoisonLineIsPoison() =>
        InScenario([("a", Encoding.UTF8.GetBytes(Sample(1)), 1000), ("b", Encoding.UTF8.GetBytes("""{"metric":"m","value":2,"timest"""), 1500)], (exit, stdout, error, _) =>
        {
            Assert.True(exit == 0, error + stdout);
            Assert.StartsWith("0 (over ", Row(stdout, "lost (checked against the truth)"), StringComparison.Ordinal);
            Assert.Equal("0", Row(stdout, "double counted"));
            Assert.Equal("1 (1 passed by the mapping)", Row(stdout, "poison records produced"));
            Assert.Equal("1", Row(stdout, "in the quarantine with their data"));
        });

    private static string Sample(int value) => $$"""{"metric":"m","value":{{value}},"timestamp":{{T0 + 1000}}}""";

    /// <summary>The value of the summary row named <paramref name="name"/> (its label, indented or not).</summary>
    private static string Row(string stdout, string name)
    {
        string line = stdout.Split('\n').Single(l => l.TrimStart().StartsWith(name + "  ", StringComparison.Ordinal));
        return line.TrimStart()[name.Length..].Trim();
    }

    private static void InScenario((string Key, byte[] Data, int AtMs)[] records, Action<int, string, string, string> check)
    {
        string directory = Directory.CreateTempSubdirectory("replay-ledger-").FullName;
        try
        {
            string recs = string.Join(",", records.Select(r => $$"""{"partitionKey":"{{r.Key}}","data":"{{Convert.ToBase64String(r.Data)}}","atMs":{{r.AtMs}}}"""));
            string path = Path.Combine(directory, "s.json");
            File.WriteAllText(path, $$$"""
                {"seed":1,"startTime":"2025-01-20T10:00:00Z","durationSeconds":20,"stream":{"shards":1},
                 "records":[{{{recs}}}],
                 "mapping":{"BatchSize":100,"FunctionResponseTypes":["ReportBatchItemFailures"]},
                 "function":{"timeoutSeconds":10},"handler":{"kind":"sample"}}
                """);
            string output = Path.Combine(directory, "out");
            (int exit, string stdout, string error) = ReplayHarness.Replay("--scenario", path, "--out", output, "--no-chart");
            check(exit, stdout, error, output);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
