using System.CommandLine;
using Analytics.Core;
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
            var table = new Option<string>("--table") { Description = "The table", HelpName = "name", Required = true };
            table.Validators.Add(result =>
            {
                // The sink's rule for a table name, as `invoke` applies it: a name DynamoDB refuses was sent, and its
                // answer ended the command with exit 1 instead of 2 (found by review).
                string name = result.GetValueOrDefault<string>() ?? string.Empty;
                if (name.Trim().Length == 0)
                {
                    // An empty name reached the SDK, whose error named a request property (review).
                    result.AddError("--table must not be empty");
                    return;
                }

                try
                {
                    // The check wants a client only to refuse a null one; the result stands in for it.
                    AwsSinkChecks.Validate(result, name, "--table", AwsSinkChecks.Target.Table, 1, AwsRetryOptions.Default);
                }
                catch (ArgumentException e)
                {
                    result.AddError(SampleSinks.MessageAlone(e));
                }
            });
            return (endpoint, table);
        }
    }
}
