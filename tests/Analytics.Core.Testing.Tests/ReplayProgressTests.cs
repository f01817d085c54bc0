using System.Text;
using System.Text.RegularExpressions;
using Analytics.Replay;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Found by a careless-operator review of replay (2026-12-07): a scenario of a week runs for hours and printed nothing
/// until its summary, which an operator could not tell from a hang. A running scenario now says how far it has come.
/// </summary>
public class ReplayProgressTests
{
    private const string Scenario = """
        {"seed":3,"durationSeconds":300,"stream":{"shards":2},
         "producers":[{"ratePerSecond":2000,"partitionKeys":50,"generator":{"kind":"metric","metrics":3}}],
         "handler":{"kind":"scripted","rules":[]}}
        """;

    [Fact]
    public void ARunningScenario_SaysHowFarItHasCome_AndItsFilesAreTheSame()
    {
        LoadedScenario loaded = ScenarioLoader.Parse(Encoding.UTF8.GetBytes(Scenario));
        string quiet = Path.Combine(Path.GetTempPath(), "replay-progress-" + Guid.NewGuid().ToString("N"));
        string told = Path.Combine(Path.GetTempPath(), "replay-progress-" + Guid.NewGuid().ToString("N"));
        try
        {
            var progress = new StringWriter();
            ReplayRun.Run(loaded, quiet, new StringWriter(), chart: false);
            ReplayRun.Run(loaded, told, new StringWriter(), chart: false, progress: progress, progressEvery: TimeSpan.FromMilliseconds(20));

            MatchCollection lines = Regex.Matches(progress.ToString(), @"^running: virtual second (\d+) of 300, after \d+ s$", RegexOptions.Multiline);
            Assert.NotEmpty(lines);
            int[] seconds = [.. lines.Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture))];
            Assert.All(seconds, s => Assert.InRange(s, 0, 300));
            Assert.Equal(seconds.Order(), seconds);
            foreach (string file in new[] { "invocations.jsonl", "metrics.csv", "records.jsonl" })
            {
                Assert.Equal(File.ReadAllBytes(Path.Combine(quiet, file)), File.ReadAllBytes(Path.Combine(told, file)));
            }
        }
        finally
        {
            foreach (string directory in new[] { quiet, told })
            {
                if (Directory.Exists(directory))
                {
                    Directory.Delete(directory, recursive: true);
                }
            }
        }
    }
}
