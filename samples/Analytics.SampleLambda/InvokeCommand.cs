using System.Buffers;
using System.Text;
using Analytics.Core;

namespace Analytics.SampleLambda;

/// <summary>
/// <c>invoke</c>: runs the function once on an event file, as Lambda would, with the JSON-lines sinks in a local
/// directory. A stable contract for users and scripts: stdout is exactly the response JSON (one line), everything
/// else goes to stderr; the output files are replaced on every run.
/// </summary>
internal static class InvokeCommand
{
    public const int Success = 0;
    public const int FunctionFailed = 1;
    public const int UsageError = 2;

    /// <summary>Runs the command.</summary>
    /// <param name="args">The arguments after <c>invoke</c>.</param>
    /// <param name="stdout">Receives the response JSON (or the usage, when asked for).</param>
    /// <param name="stderr">Receives logs and errors.</param>
    /// <param name="timeProvider">The clock behind the deadline; default <see cref="TimeProvider.System"/>.</param>
    /// <returns>The exit code.</returns>
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        timeProvider ??= TimeProvider.System;

        if (!InvokeArguments.TryParse(args, out InvokeArguments? arguments, out string? error))
        {
            if (error is null)
            {
                await stdout.WriteLineAsync(InvokeArguments.Usage).ConfigureAwait(false);
                return Success;
            }

            await stderr.WriteLineAsync("error: " + error).ConfigureAwait(false);
            await stderr.WriteLineAsync(InvokeArguments.Usage).ConfigureAwait(false);
            return UsageError;
        }

        if (!File.Exists(arguments.EventPath))
        {
            await stderr.WriteLineAsync($"error: event file '{arguments.EventPath}' not found").ConfigureAwait(false);
            return UsageError;
        }

        byte[] utf8Event = await File.ReadAllBytesAsync(arguments.EventPath).ConfigureAwait(false);
        DateTimeOffset deadline = timeProvider.GetUtcNow() + arguments.Timeout;

        // Replace, never append: the same event gives the same files on every run.
        string aggregatesPath = Path.Combine(arguments.OutputDirectory, FunctionHandler.AggregatesFileName);
        string quarantinePath = Path.Combine(arguments.OutputDirectory, FunctionHandler.QuarantineFileName);
        Directory.CreateDirectory(arguments.OutputDirectory);
        File.Delete(aggregatesPath);
        File.Delete(quarantinePath);

        var response = new ArrayBufferWriter<byte>(4096);
        try
        {
            FunctionHandler handler = FunctionHandler.WithFileSinks(arguments.OutputDirectory, ProcessorOptions.Default, stderr);
            await using (handler.ConfigureAwait(false))
            {
                await handler.HandleAsync(utf8Event, deadline, response, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (KinesisEventFormatException ex)
        {
            await stderr.WriteLineAsync($"error: '{arguments.EventPath}' is not a Kinesis event: {ex.Message}").ConfigureAwait(false);
            return UsageError;
        }
        catch (Exception ex)
        {
            // Under Lambda this would be a function error: the whole batch is retried.
            await stderr.WriteLineAsync($"error: the function failed: {ex.GetType().Name}: {ex.Message}").ConfigureAwait(false);
            return FunctionFailed;
        }

        // A sink may create its file only when it has something to write; scripts can rely on both files existing.
        EnsureExists(aggregatesPath);
        EnsureExists(quarantinePath);
        await stderr.WriteLineAsync($"wrote {aggregatesPath} and {quarantinePath}").ConfigureAwait(false);

        await stdout.WriteLineAsync(Encoding.UTF8.GetString(response.WrittenSpan)).ConfigureAwait(false);
        await stdout.FlushAsync().ConfigureAwait(false);
        return Success;
    }

    private static void EnsureExists(string path)
    {
        if (!File.Exists(path))
        {
            File.WriteAllBytes(path, []);
        }
    }
}
