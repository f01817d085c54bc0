using System.CommandLine;
using System.Runtime.InteropServices;
using Analytics.SampleLambda;

// Entry point of the `bootstrap` executable:
// - under Lambda (AWS_LAMBDA_RUNTIME_API is set) it runs the Runtime API loop until the sandbox stops; log and EMF
//   lines go to stdout, the loop's JSON error lines to stderr (CloudWatch Logs captures both);
// - `bootstrap invoke --event <file> ...` runs one invocation locally (Local/InvokeCommand.cs).
// Tooling for tables and queries lives in samples/Analytics.Tools.
var root = new RootCommand("Analytics.Core sample function: the Lambda Runtime API loop (no arguments), or a local run with 'invoke'.")
{
    InvokeCommand.Create(TimeProvider.System),
};
root.SetAction(async (_, cancellationToken) =>
{
    string? runtimeApi = Environment.GetEnvironmentVariable("AWS_LAMBDA_RUNTIME_API");
    if (string.IsNullOrEmpty(runtimeApi))
    {
        await Console.Error.WriteLineAsync("error: AWS_LAMBDA_RUNTIME_API is not set: not running under Lambda; for a local run see 'bootstrap invoke --help'").ConfigureAwait(false);
        return CommandLine.UsageError;
    }

    using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
    using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
    {
        context.Cancel = true;
        stop.Cancel();
    });
    using var client = new RuntimeApiClient(runtimeApi);
    try
    {
        await LambdaRuntimeLoop.RunAsync(
            client,
            () =>
            {
                SampleSettings.CheckNames(Environment.GetEnvironmentVariables().Keys.Cast<string>());
                return FunctionHandler.FromEnvironment(Environment.GetEnvironmentVariable, Console.Out);
            },
            Console.Error,
            stop.Token).ConfigureAwait(false);
        return CommandLine.Success;
    }
    catch (Exception ex)
    {
        // The Runtime API went away or init failed (already reported): end the process; Lambda starts a new sandbox.
        await RuntimeLog.ErrorAsync(Console.Error, "runtime loop failed", ex).ConfigureAwait(false);
        return CommandLine.Failed;
    }
});
return await CommandLine.RunAsync("bootstrap", root, args, Console.Out, Console.Error).ConfigureAwait(false);
