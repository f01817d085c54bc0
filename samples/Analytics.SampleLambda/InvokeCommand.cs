using System.Buffers;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.S3;
using Analytics.Core;

namespace Analytics.SampleLambda;

/// <summary>
/// <c>invoke</c>: runs the function once on an event file, as Lambda would, with the JSON-lines sinks in a local
/// directory, or with the DynamoDB and S3 sinks against the given endpoints. A stable contract for users and scripts: stdout is exactly the response JSON (one line), everything
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
        BatchSummary? summary;
        using AmazonDynamoDBClient? dynamoDb = arguments.DynamoDb?.CreateClient();
        using AmazonS3Client? s3 = arguments.S3?.CreateClient();
        ProcessorOptions options = ProcessorOptions.Default;
        if (arguments.DynamoDb is { CreateTable: true } target)
        {
            try
            {
                using var createTimeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
                await DynamoDbAggregateSink.CreateTableAsync(dynamoDb!, target.Table, createTimeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                await stderr.WriteLineAsync($"error: could not create table '{target.Table}' at {target.Endpoint}: {ex.Message}").ConfigureAwait(false);
                return FunctionFailed;
            }
        }

        try
        {
            IAggregateSink aggregateSink = arguments.DynamoDb is { } table
                ? new DynamoDbAggregateSink(dynamoDb!, DynamoDbAggregateSinkOptions.Default with { TableName = table.Table, Aggregator = options.Aggregator })
                : new JsonLinesAggregateSink(aggregatesPath);
            IQuarantineSink quarantineSink = arguments.S3 is { } bucket
                ? new S3QuarantineSink(s3!, S3QuarantineSinkOptions.Default with { BucketName = bucket.Bucket })
                : new JsonLinesQuarantineSink(quarantinePath);
            var handler = new FunctionHandler(aggregateSink, quarantineSink, options, stderr);
            await using (handler.ConfigureAwait(false))
            {
                await handler.HandleAsync(utf8Event, deadline, response, CancellationToken.None).ConfigureAwait(false);
                summary = handler.LastSummary;
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
        string aggregatesTarget = arguments.DynamoDb is { } d ? $"table {d.Table} at {d.Endpoint}" : aggregatesPath;
        string quarantineTarget = arguments.S3 is { } b ? $"bucket {b.Bucket} at {b.Endpoint}" : quarantinePath;
        await stderr.WriteLineAsync(
            $"{summary?.Records} records: {summary?.ValidRecords} valid, {summary?.PoisonRecords} poison; " +
            $"wrote {summary?.AggregatesWritten} aggregates to {aggregatesTarget} and {summary?.Quarantined} poison records to {quarantineTarget}").ConfigureAwait(false);

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
