using System.CommandLine;

namespace Analytics.Replay;

/// <summary>
/// <c>replay --scenario FILE --out DIR</c>: runs a stream-level scenario in virtual time and writes what happened.
/// Exit codes: 0 done, 2 bad arguments or a bad scenario (the field and the reason on stderr), 1 anything else.
/// </summary>
internal static class ReplayCommand
{
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var scenario = new Option<string>("--scenario") { Description = "The scenario JSON (see docs/emulator.md), e.g. samples/scenarios/retry-storm.json", HelpName = "file", Required = true };
        var output = new Option<string>("--out") { Description = "The output directory (created when missing; files in it are replaced)", HelpName = "dir", Required = true };
        var noRecords = new Option<bool>("--no-records") { Description = "Skip records.jsonl (every record with its data: large for long runs)" };
        var noChart = new Option<bool>("--no-chart") { Description = "Skip the chart" };
        var root = new RootCommand("Runs a Kinesis stream, Lambda's event source mapping and a function in virtual time; writes invocations.jsonl, destination.jsonl, metrics.csv, records.jsonl, iterator-age.png (and aggregates.jsonl, quarantine.jsonl for the sample handler) and prints a summary.")
        {
            scenario,
            output,
            noRecords,
            noChart,
        };
        root.SetAction(parsed =>
        {
            LoadedScenario loaded;
            try
            {
                loaded = ScenarioLoader.Load(parsed.GetValue(scenario)!);
            }
            catch (ScenarioException ex)
            {
                stderr.WriteLine($"error: bad scenario: {ex.Field}: {ex.Reason}");
                return 2;
            }

            ReplayRun.Run(loaded, parsed.GetValue(output)!, stdout, writeRecords: !parsed.GetValue(noRecords), chart: !parsed.GetValue(noChart));
            return 0;
        });

        ParseResult result = root.Parse(args);
        if (result.Errors.Count > 0)
        {
            foreach (System.CommandLine.Parsing.ParseError error in result.Errors)
            {
                stderr.WriteLine($"error: {error.Message}");
            }

            return 2;
        }

        return result.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
    }
}
