using System.Buffers;

namespace Analytics.SampleLambda;

/// <summary>The custom-runtime loop: initialize once, then next → handle → response (or error), until stopped.</summary>
internal static class LambdaRuntimeLoop
{
    /// <summary>The variable that holds the current invocation's X-Ray tracing header.</summary>
    internal const string TraceIdVariable = "_X_AMZN_TRACE_ID";

    /// <summary>
    /// Whether the Runtime API answered, refusing an answer (413: a response too large; 400: an invocation it no longer
    /// awaits): Lambda decides that invocation's outcome, and the loop goes on. A 500 means the runtime should exit.
    /// </summary>
    private static bool IsRefusal(HttpRequestException e) => (int?)e.StatusCode is >= 400 and < 500;

    /// <summary>Runs the loop.</summary>
    /// <param name="client">The Runtime API.</param>
    /// <param name="initialize">Builds the handler once; a throw is reported to <c>/runtime/init/error</c> and rethrown.</param>
    /// <param name="log">Where the loop's JSON error lines go (stderr under Lambda, which CloudWatch Logs captures).</param>
    /// <param name="cancellationToken">Stops the loop between invocations, or while waiting for the next one.</param>
    /// <returns>A task that completes when the loop was stopped.</returns>
    public static async Task RunAsync(RuntimeApiClient client, Func<IInvocationHandler> initialize, TextWriter log, CancellationToken cancellationToken)
    {
        IInvocationHandler handler;
        try
        {
            handler = initialize();
        }
        catch (Exception ex)
        {
            await RuntimeLog.ErrorAsync(log, "init failed", ex).ConfigureAwait(false);
            await client.PostInitErrorAsync(ex, cancellationToken).ConfigureAwait(false);
            throw;
        }

        await using (handler.ConfigureAwait(false))
        {
            // One response buffer for the life of the sandbox: invocations are sequential.
            var response = new ArrayBufferWriter<byte>(16 * 1024);
            while (!cancellationToken.IsCancellationRequested)
            {
                Invocation invocation;
                try
                {
                    invocation = await client.GetNextAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    break;
                }
                catch (RuntimeApiClient.InvalidInvocationException bad)
                {
                    // Its request id is known: answered with the error, so Lambda retries it, and the loop goes on.
                    await RuntimeLog.ErrorAsync(log, "invocation failed", bad, bad.RequestId).ConfigureAwait(false);
                    try
                    {
                        await client.PostErrorAsync(bad.RequestId, bad, CancellationToken.None).ConfigureAwait(false);
                    }
                    catch (HttpRequestException refused) when (IsRefusal(refused))
                    {
                        // Refused as any answer below is (found by review: here it ended the process, and the next
                        // invocation was never fetched).
                        await RuntimeLog.ErrorAsync(log, "answer refused", refused, bad.RequestId).ConfigureAwait(false);
                    }

                    continue;
                }

                // An invocation that has started is finished and answered even when a stop is requested meanwhile:
                // its own deadline bounds it, and an unanswered invocation would only be retried by Lambda.
                // As a custom runtime must: the invocation's tracing header goes where the AWS SDK reads it, so the
                // sinks' calls join the invocation's trace; cleared when absent, so no call joins an earlier one's.
                Environment.SetEnvironmentVariable(TraceIdVariable, invocation.TraceId);
                response.ResetWrittenCount();
                Exception? failure = null;
                try
                {
                    await handler.HandleAsync(invocation.Body, invocation.Deadline, response, CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    failure = ex;
                }

                try
                {
                    if (failure is null)
                    {
                        await client.PostResponseAsync(invocation.RequestId, response.WrittenMemory, CancellationToken.None).ConfigureAwait(false);
                    }
                    else
                    {
                        // A throw fails the whole batch: Lambda retries it, bisects it, and finally sends it to the
                        // on-failure destination. That is the right outcome for an event that is not a Kinesis event.
                        await RuntimeLog.ErrorAsync(log, "invocation failed", failure, invocation.RequestId).ConfigureAwait(false);
                        await client.PostErrorAsync(invocation.RequestId, failure, CancellationToken.None).ConfigureAwait(false);
                    }
                }
                catch (HttpRequestException refused) when (IsRefusal(refused))
                {
                    // The Runtime API answered, refusing the answer (413: a response too large; 400: an invocation it no
                    // longer awaits): Lambda decides that invocation's outcome, a failure it retries. The loop goes on.
                    // A 500 means the runtime should exit: it falls to the next catch.
                    await RuntimeLog.ErrorAsync(log, "answer refused", refused, invocation.RequestId).ConfigureAwait(false);
                }
                catch (Exception lost)
                {
                    // The Runtime API is gone: the loop ends (Lambda starts a new sandbox), and this line names the
                    // invocation whose answer did not arrive.
                    await RuntimeLog.ErrorAsync(log, "answer not delivered", lost, invocation.RequestId).ConfigureAwait(false);
                    throw;
                }
            }
        }
    }
}
