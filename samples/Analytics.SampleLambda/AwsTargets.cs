using System.Diagnostics.CodeAnalysis;
using Amazon.DynamoDBv2;
using Amazon.Runtime;
using Amazon.S3;

namespace Analytics.SampleLambda;

/// <summary>A DynamoDB endpoint and table for the aggregates (<c>--dynamodb-endpoint</c>, <c>--table</c>, <c>--create-table</c>).</summary>
/// <param name="Endpoint">The endpoint, http or https.</param>
/// <param name="Table">The table.</param>
/// <param name="CreateTable">Whether to create the table before the invocation.</param>
internal sealed record DynamoDbTarget(Uri Endpoint, string Table, bool CreateTable)
{
    /// <summary>Checks the pair of options; both absent is fine (no target).</summary>
    public static bool TryCreate(string? endpoint, string? table, bool createTable, out DynamoDbTarget? target, out string? error)
    {
        target = null;
        error = null;
        if (endpoint is null && table is null)
        {
            if (createTable)
            {
                error = "--create-table needs --dynamodb-endpoint and --table";
                return false;
            }

            return true;
        }

        if (endpoint is null || table is null)
        {
            error = "--dynamodb-endpoint and --table go together";
            return false;
        }

        if (!AwsEndpoints.TryParse(endpoint, out Uri? uri))
        {
            error = $"--dynamodb-endpoint must be an http(s) URL, not '{endpoint}'";
            return false;
        }

        target = new DynamoDbTarget(uri, table, createTable);
        return true;
    }

    /// <summary>A client for the endpoint: few SDK retries and a short timeout, since the sink retries within the deadline.</summary>
    public AmazonDynamoDBClient CreateClient() => new(AwsEndpoints.Credentials(), new AmazonDynamoDBConfig
    {
        ServiceURL = Endpoint.ToString(),
        AuthenticationRegion = AwsEndpoints.Region(),
        MaxErrorRetry = 1,
        Timeout = TimeSpan.FromSeconds(5),
    });
}

/// <summary>An S3 endpoint and bucket for poison records (<c>--s3-endpoint</c>, <c>--quarantine-bucket</c>).</summary>
/// <param name="Endpoint">The endpoint, http or https; addressed path-style.</param>
/// <param name="Bucket">The bucket.</param>
internal sealed record S3Target(Uri Endpoint, string Bucket)
{
    /// <summary>Checks the pair of options; both absent is fine (no target).</summary>
    public static bool TryCreate(string? endpoint, string? bucket, out S3Target? target, out string? error)
    {
        target = null;
        error = null;
        if (endpoint is null && bucket is null)
        {
            return true;
        }

        if (endpoint is null || bucket is null)
        {
            error = "--s3-endpoint and --quarantine-bucket go together";
            return false;
        }

        if (!AwsEndpoints.TryParse(endpoint, out Uri? uri))
        {
            error = $"--s3-endpoint must be an http(s) URL, not '{endpoint}'";
            return false;
        }

        target = new S3Target(uri, bucket);
        return true;
    }

    /// <summary>A path-style client for the endpoint.</summary>
    public AmazonS3Client CreateClient() => new(AwsEndpoints.Credentials(), new AmazonS3Config
    {
        ServiceURL = Endpoint.ToString(),
        AuthenticationRegion = AwsEndpoints.Region(),
        ForcePathStyle = true,
        MaxErrorRetry = 1,
        Timeout = TimeSpan.FromSeconds(10),
    });
}

/// <summary>Endpoint parsing and the credentials and region used with an explicit endpoint.</summary>
internal static class AwsEndpoints
{
    public static bool TryParse(string value, [NotNullWhen(true)] out Uri? uri) =>
        Uri.TryCreate(value, UriKind.Absolute, out uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);

    /// <summary>The environment's keys when set; otherwise the key pair the s3rver test server accepts (dynalite accepts any).</summary>
    public static BasicAWSCredentials Credentials()
    {
        string? key = Environment.GetEnvironmentVariable("AWS_ACCESS_KEY_ID");
        string? secret = Environment.GetEnvironmentVariable("AWS_SECRET_ACCESS_KEY");
        return string.IsNullOrEmpty(key) || string.IsNullOrEmpty(secret) ? new BasicAWSCredentials("S3RVER", "S3RVER") : new BasicAWSCredentials(key, secret);
    }

    public static string Region() => Environment.GetEnvironmentVariable("AWS_REGION") is { Length: > 0 } region ? region : "us-east-1";
}
