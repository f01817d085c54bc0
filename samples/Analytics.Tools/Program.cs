using System.CommandLine;
using Analytics.SampleLambda;
using Analytics.Tools;

// Tooling for the sample function's DynamoDB table: `create-table`, `query` and `redrive` (spill objects, then the
// batches Lambda gave up on). See `--help`.
return await ToolsCommand.RunAsync(args, Console.Out, Console.Error).ConfigureAwait(false);

namespace Analytics.Tools
{
    /// <summary>The tools' command tree.</summary>
    internal static class ToolsCommand
    {
        /// <summary>
        /// How long a command has, after Ctrl-C or SIGTERM cancelled it, to end on its own (a redrive releases the table's
        /// lease and says so); after it the process ends with 130 or 143 and nothing more is said.
        /// </summary>
        public static readonly TimeSpan InterruptGrace = TimeSpan.FromSeconds(20);

        /// <summary>Parses and runs.</summary>
        /// <param name="args">The arguments.</param>
        /// <param name="stdout">Receives output and help.</param>
        /// <param name="stderr">Receives errors.</param>
        /// <returns>The exit code: 0 done, 1 runtime failure, 2 bad arguments.</returns>
        public static Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr)
        {
            var root = new RootCommand("Tooling for the Analytics.Core sample: a DynamoDB aggregate table on a local server.")
            {
                CreateTableCommand.Create(),
                QueryCommand.Create(),
                RedriveCommand.Create(),
            };
            // Ctrl-C or SIGTERM cancels a command and gives it time to end: a redrive then releases the table's lease
            // (found by review: killed so, it kept the lease and every run was refused for 10 minutes).
            return CommandLine.RunAsync("analytics-tools", root, args, stdout, stderr, interruptGrace: InterruptGrace);
        }

        /// <summary>The two options every table command needs.</summary>
        /// <returns>The endpoint and table options.</returns>
        public static (Option<Uri?> Endpoint, Option<string> Table) TableOptions()
        {
            Option<Uri?> endpoint = CommandLine.UrlOption("--dynamodb-endpoint", "A DynamoDB endpoint, e.g. a local dynalite at http://127.0.0.1:4567");
            endpoint.Required = true;
            return (endpoint, new Option<string>("--table") { Description = "The table", HelpName = "name", Required = true });
        }
    }
}
