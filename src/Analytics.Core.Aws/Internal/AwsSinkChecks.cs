namespace Analytics.Core;

/// <summary>The constructor checks both AWS sinks make.</summary>
internal static class AwsSinkChecks
{
    /// <summary>The longest table name DynamoDB takes, and the longest legacy bucket name.</summary>
    private const int MaxNameLength = 255;

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
                    ? $"{targetOption} '{target}' is not a DynamoDB table name: give the table's name alone (3 to 255 letters, digits, '_', '-', '.') or its ARN, without spaces."
                    : $"{targetOption} '{target}' is not an S3 bucket name: give the bucket's name alone (3 to 63 lowercase letters, digits, '.', '-'; up to 255 with '_' and capitals in a legacy bucket's), without 's3://', a key prefix or spaces, or an access point ARN.");
        }

        if (kind == Target.Bucket && HostNameBucket(target) is { } bucket)
        {
            // A bucket's host name (copied from the console or a URL) passes the name's characters; S3 then answers that
            // no such bucket exists, of a bucket that does (found by review).
            AwsThrowHelper.ThrowArgument(
                "options",
                bucket.Length > 0
                    ? $"{targetOption} '{target}' is the bucket's host name, not its name: give the name alone, '{bucket}'."
                    : $"{targetOption} '{target}' is an AWS host name, not a bucket name: give the bucket's name alone.");
        }

        if (target.StartsWith("arn:", StringComparison.Ordinal) && ArnProblem(target, kind) is { } problem)
        {
            // Sent, the SDK fails every request before it leaves ("Invalid ARN"), naming no option.
            AwsThrowHelper.ThrowArgument("options", $"{targetOption} '{target}' {problem}");
        }

        if (maxConcurrency < 1)
        {
            string options = kind == Target.Table ? "DynamoDbAggregateSinkOptions" : "S3QuarantineSinkOptions";
            AwsThrowHelper.ThrowArgumentOutOfRange("options", string.Create(
                System.Globalization.CultureInfo.InvariantCulture,
                $"MaxConcurrency must be at least 1; it is {maxConcurrency}. Start from {options}.Default with {{ ... }}: in default({options}) every field is zero."));
        }

        retry.Validate("options");
    }

    /// <summary>
    /// Why an ARN is none the service takes in place of the name, or null: DynamoDB takes a table's ARN
    /// (<c>arn:PARTITION:dynamodb:REGION:ACCOUNT:table/NAME</c>); S3 an access point's (<c>s3</c> with
    /// <c>accesspoint/NAME</c> or <c>accesspoint:NAME</c>, a Multi-Region one without a region, or an Outposts
    /// <c>outpost/ID/accesspoint/NAME</c>), but not a bucket's own ARN (<c>arn:aws:s3:::NAME</c>, what
    /// <c>!GetAtt Bucket.Arn</c> gives), with which the SDK fails every request, nor an Object Lambda access point's,
    /// which takes no writes.
    /// </summary>
    private static string? ArnProblem(string arn, Target kind)
    {
        // arn:partition:service:region:account:resource (the resource may hold further colons).
        string[] parts = arn.Split(':', 6);
        if (parts.Length < 6 || parts[1].Length == 0 || parts[5].Length == 0)
        {
            return "is not an ARN: arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE.";
        }

        string service = parts[2], region = parts[3], account = parts[4], resource = parts[5];
        if (kind == Target.Table)
        {
            return service == "dynamodb" && region.Length > 0 && account.Length > 0 && resource.StartsWith("table/", StringComparison.Ordinal) && IsName(resource["table/".Length..])
                ? null
                : "is not a DynamoDB table's ARN (arn:PARTITION:dynamodb:REGION:ACCOUNT:table/NAME): give the table's name or its ARN.";
        }

        if (service == "s3" && region.Length == 0 && account.Length == 0)
        {
            return $"is the bucket's own ARN, which S3 does not take in place of its name: give the name, '{resource}'.";
        }

        // The SDK splits an S3 ARN's resource at ':' or '/': accesspoint/NAME and accesspoint:NAME alike. A Multi-Region
        // access point has no region. Object Lambda access points take no PutObject, and an Outposts bucket's ARN is no
        // access point (the SDK: "Expected an outpost type 'accesspoint'"): the sinks write.
        string[] path = resource.Split('/', ':');
        bool accessPoint = account.Length > 0 &&
            ((service == "s3" && path is ["accesspoint", { Length: > 0 }]) ||
             (service == "s3-outposts" && region.Length > 0 && path is ["outpost", { Length: > 0 }, "accesspoint", { Length: > 0 }]));
        return accessPoint
            ? null
            : "is not an ARN S3 takes in place of a bucket's name for writing (an access point's: arn:PARTITION:s3:REGION:ACCOUNT:accesspoint/NAME, or an Outposts access point's): give the bucket's name or an access point's ARN.";
    }

    /// <summary>
    /// The bucket a virtual-hosted S3 host name names (<c>NAME.s3.amazonaws.com</c>, <c>NAME.s3.REGION.amazonaws.com</c>,
    /// <c>NAME.s3-REGION.amazonaws.com</c>, the website and dual-stack forms alike: the part before <c>.s3</c>; empty for
    /// a host name that names no bucket); null for anything that does not end in <c>.amazonaws.com</c>. S3's naming rules
    /// do not forbid a bucket so named, but one named like an AWS host is far likelier a pasted host name than a bucket.
    /// </summary>
    private static string? HostNameBucket(string target)
    {
        if (!target.EndsWith(".amazonaws.com", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        return target[..Math.Max(0, target.IndexOf(".s3", StringComparison.OrdinalIgnoreCase))];
    }

    /// <summary>
    /// A name both services could accept: only letters, digits, '_', '-' and '.' (the characters of DynamoDB table
    /// names, and of S3 bucket names old and new), or an ARN (both accept one in place of the name) without white space.
    /// A name is 3 to 255 characters long in both services: exactly DynamoDB's rule for a table, and the longest of a
    /// legacy bucket's (a new bucket's 63 characters, lowercase, and the forms S3 reserves are left to S3: a legacy bucket
    /// in us-east-1 may have another; found by review: a 256-character table name passed).
    /// </summary>
    private static bool IsName(string target)
    {
        bool arn = target.StartsWith("arn:", StringComparison.Ordinal);
        if (!arn && target.Length is < 3 or > MaxNameLength)
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
