using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Analytics.SampleLambda;

/// <summary>The arguments of <c>invoke --event &lt;file&gt; [--out &lt;dir&gt;] [--timeout-ms &lt;n&gt;] [DynamoDB and S3 targets]</c>.</summary>
/// <param name="EventPath">The event file.</param>
/// <param name="OutputDirectory">Where <c>aggregates.jsonl</c> and <c>quarantine.jsonl</c> go.</param>
/// <param name="Timeout">The time the invocation gets: its deadline is now plus this.</param>
/// <param name="DynamoDb">When given, aggregates go to this DynamoDB table instead of <c>aggregates.jsonl</c>.</param>
/// <param name="S3">When given, poison records go to this S3 bucket instead of <c>quarantine.jsonl</c>.</param>
internal sealed record InvokeArguments(string EventPath, string OutputDirectory, TimeSpan Timeout, DynamoDbTarget? DynamoDb = null, S3Target? S3 = null)
{
    /// <summary>The output directory when <c>--out</c> is not given.</summary>
    public const string DefaultOutputDirectory = "out";

    /// <summary>The timeout when <c>--timeout-ms</c> is not given: the template's function timeout.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMilliseconds(120_000);

    public const string Usage = """
        usage: bootstrap invoke --event <file> [--out <dir>] [--timeout-ms <n>]
                                [--dynamodb-endpoint <url> --table <name> [--create-table]]
                                [--s3-endpoint <url> --quarantine-bucket <name>]

          --event <file>               a Lambda Kinesis event (JSON), e.g. samples/events/kinesis-basic.json
          --out <dir>                  where aggregates.jsonl and quarantine.jsonl are written (replaced); default ./out
          --timeout-ms <n>             time the invocation gets, in milliseconds; default 120000 (the template's timeout)
          --dynamodb-endpoint <url>    a DynamoDB endpoint (e.g. a local dynalite, http://127.0.0.1:4567);
          --table <name>               with it: aggregates go to this table (exactly once per shard), not aggregates.jsonl
          --create-table               create the table first (and wait until it is ACTIVE)
          --s3-endpoint <url>          an S3 endpoint (e.g. a local s3rver, path-style);
          --quarantine-bucket <name>   with it: poison records go to this bucket, not quarantine.jsonl
          Credentials for the endpoints: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY when set, else S3RVER/S3RVER
          (the key pair s3rver accepts); region: AWS_REGION, else us-east-1.

        stdout carries only the function's response JSON; logs go to stderr.
        exit codes: 0 the function returned a response (even one reporting failures);
                    1 the function failed; 2 bad arguments, a missing file, or not a Kinesis event.
        """;

    /// <summary>Parses the arguments that follow <c>invoke</c>.</summary>
    /// <param name="args">The arguments.</param>
    /// <param name="result">The arguments, on success.</param>
    /// <param name="error">What is wrong, on failure; null when help was asked for.</param>
    /// <returns><see langword="true"/> on success.</returns>
    public static bool TryParse(IReadOnlyList<string> args, [NotNullWhen(true)] out InvokeArguments? result, out string? error)
    {
        result = null;
        error = null;
        string? eventPath = null;
        string? outputDirectory = null;
        TimeSpan? timeout = null;
        string? dynamoDbEndpoint = null;
        string? table = null;
        bool createTable = false;
        string? s3Endpoint = null;
        string? bucket = null;
        for (int i = 0; i < args.Count; i++)
        {
            string name = args[i];
            if (name is "-h" or "--help")
            {
                return false;
            }

            if (name == "--create-table")
            {
                if (createTable)
                {
                    error = "--create-table is given twice";
                    return false;
                }

                createTable = true;
                continue;
            }

            if (name is not ("--event" or "--out" or "--timeout-ms" or "--dynamodb-endpoint" or "--table" or "--s3-endpoint" or "--quarantine-bucket"))
            {
                error = $"unknown argument '{name}'";
                return false;
            }

            if (i + 1 >= args.Count || args[i + 1].Length == 0)
            {
                error = $"{name} needs a value";
                return false;
            }

            string value = args[++i];
            bool repeated;
            switch (name)
            {
                case "--event":
                    repeated = eventPath is not null;
                    eventPath = value;
                    break;
                case "--out":
                    repeated = outputDirectory is not null;
                    outputDirectory = value;
                    break;
                case "--dynamodb-endpoint":
                    repeated = dynamoDbEndpoint is not null;
                    dynamoDbEndpoint = value;
                    break;
                case "--table":
                    repeated = table is not null;
                    table = value;
                    break;
                case "--s3-endpoint":
                    repeated = s3Endpoint is not null;
                    s3Endpoint = value;
                    break;
                case "--quarantine-bucket":
                    repeated = bucket is not null;
                    bucket = value;
                    break;
                default:
                    repeated = timeout is not null;
                    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int ms) || ms <= 0)
                    {
                        error = $"--timeout-ms must be a positive whole number of milliseconds, not '{value}'";
                        return false;
                    }

                    timeout = TimeSpan.FromMilliseconds(ms);
                    break;
            }

            if (repeated)
            {
                error = $"{name} is given twice";
                return false;
            }
        }

        if (eventPath is null)
        {
            error = "--event is required";
            return false;
        }

        if (!DynamoDbTarget.TryCreate(dynamoDbEndpoint, table, createTable, out DynamoDbTarget? dynamoDb, out error) ||
            !S3Target.TryCreate(s3Endpoint, bucket, out S3Target? s3, out error))
        {
            return false;
        }

        result = new InvokeArguments(eventPath, outputDirectory ?? DefaultOutputDirectory, timeout ?? DefaultTimeout, dynamoDb, s3);
        return true;
    }
}
