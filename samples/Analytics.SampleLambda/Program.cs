using System.Runtime.InteropServices;
using Analytics.SampleLambda;

// Entry point of the `bootstrap` executable. It only dispatches:
// - `bootstrap invoke --event <file> ...` runs one invocation locally (see InvokeCommand);
// - `bootstrap query --dynamodb-endpoint <url> --table <name>` prints a DynamoDB aggregate table as JSON lines;
// - under Lambda (AWS_LAMBDA_RUNTIME_API is set) it runs the Runtime API loop until the sandbox stops; log and EMF
//   lines go to stdout, loop diagnostics to stderr (CloudWatch Logs captures both).
if (args.Length > 0 && args[0] == "invoke")
{
    return await InvokeCommand.RunAsync(args[1..], Console.Out, Console.Error).ConfigureAwait(false);
}

if (args.Length > 0 && args[0] == "query")
{
    return await QueryCommand.RunAsync(args[1..], Console.Out, Console.Error).ConfigureAwait(false);
}

string? runtimeApi = Environment.GetEnvironmentVariable("AWS_LAMBDA_RUNTIME_API");
if (string.IsNullOrEmpty(runtimeApi))
{
    await Console.Error.WriteLineAsync("AWS_LAMBDA_RUNTIME_API is not set: not running under Lambda.").ConfigureAwait(false);
    await Console.Error.WriteLineAsync(InvokeArguments.Usage).ConfigureAwait(false);
    return 2;
}

using var stop = new CancellationTokenSource();
using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    stop.Cancel();
});

using var client = new RuntimeApiClient(runtimeApi);
await LambdaRuntimeLoop.RunAsync(
    client,
    () => FunctionHandler.FromEnvironment(Environment.GetEnvironmentVariable, Console.Out),
    Console.Error,
    stop.Token).ConfigureAwait(false);
return 0;
