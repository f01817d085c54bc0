namespace Analytics.Core;

/// <summary>The constructor checks both AWS sinks make.</summary>
internal static class AwsSinkChecks
{
    /// <summary>What the sink writes to: says which name rules apply and how the message calls it.</summary>
    public enum Target
    {
        /// <summary>A DynamoDB table: its name or ARN.</summary>
        Table,

        /// <summary>An S3 bucket: its name or an access point ARN.</summary>
        Bucket,
    }

    /// <summary>Throws unless the client is set, the target is named, concurrency is positive and the retry options are valid.</summary>
    /// <param name="client">The AWS client.</param>
    /// <param name="target">The table or bucket name.</param>
    /// <param name="targetOption">The option that names it, for the message.</param>
    /// <param name="kind">A table or a bucket.</param>
    /// <param name="maxConcurrency">Most requests in flight.</param>
    /// <param name="retry">The retry options.</param>
    public static void Validate(object client, string? target, string targetOption, Target kind, int maxConcurrency, in AwsRetryOptions retry)
    {
        ArgumentNullException.ThrowIfNull(client);
        if (string.IsNullOrEmpty(target))
        {
            AwsThrowHelper.ThrowArgument("options", targetOption + " is required.");
        }

        if (!IsName(target))
        {
            // Caught here, it is an init error naming the option; sent, DynamoDB's or S3's answer names neither (S3's
            // says "bucket does not exist" of a bucket that does, DynamoDB's quotes the request's keys instead).
            AwsThrowHelper.ThrowArgument(
                "options",
                kind == Target.Table
                    ? $"{targetOption} '{target}' is not a DynamoDB table name: give the table's name alone (3 or more letters, digits, '_', '-', '.') or its ARN, without spaces."
                    : $"{targetOption} '{target}' is not an S3 bucket name: give the bucket's name alone (3 or more letters, digits, '.', '-'; '_' in a legacy bucket's), without 's3://', a key prefix or spaces, or an access point ARN.");
        }

        if (maxConcurrency < 1)
        {
            AwsThrowHelper.ThrowArgumentOutOfRange("options", "MaxConcurrency must be at least 1.");
        }

        retry.Validate("options");
    }

    /// <summary>
    /// A name both services could accept: only letters, digits, '_', '-' and '.' (the characters of DynamoDB table
    /// names, and of S3 bucket names old and new), or an ARN (both accept one in place of the name) without white space.
    /// A name is at least 3 characters long in both services; the longest lengths (255 for a table, 63 for a bucket, longer
    /// for a legacy one) are left to the service.
    /// </summary>
    private static bool IsName(string target)
    {
        bool arn = target.StartsWith("arn:", StringComparison.Ordinal);
        if (!arn && target.Length < 3)
        {
            return false;
        }

        foreach (char c in target)
        {
            bool allowed = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_' or '-' or '.' ||
                           (arn && c > ' ' && c < (char)0x7F);
            if (!allowed)
            {
                return false;
            }
        }

        return true;
    }
}
