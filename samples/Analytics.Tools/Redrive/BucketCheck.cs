using Amazon.S3;
using Amazon.S3.Model;

namespace Analytics.Tools.Redrive;

/// <summary>
/// Before a redrive takes the lease or reads anything, its buckets are checked. A bucket that does not exist failed the
/// run half way with S3's "The specified bucket does not exist", naming neither the bucket nor the flag; and the spill
/// bucket and the on-failure destination bucket swapped found nothing in either and ended "done, nothing left", exit 0,
/// while both kinds of objects waited where this run did not look.
/// </summary>
internal static class BucketCheck
{
    /// <summary>Where Lambda writes an S3 on-failure destination's objects, whatever <c>--failure-prefix</c> narrows it to.</summary>
    public const string DestinationPrefix = "aws/lambda/";

    /// <summary>
    /// Whether every bucket exists and the spill and destination buckets are not each other's; otherwise one
    /// <c>error:</c> line on <paramref name="stderr"/> naming the flag and the bucket.
    /// </summary>
    /// <param name="s3">The S3 client.</param>
    /// <param name="options">The run's buckets and prefixes.</param>
    /// <param name="stderr">Receives the error line.</param>
    /// <param name="cancellationToken">Stops the requests.</param>
    /// <returns>True when the run may go on.</returns>
    public static async Task<bool> CheckAsync(IAmazonS3 s3, RedriveRunOptions options, TextWriter stderr, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(stderr);
        var buckets = new List<(string Flag, string Bucket, bool MayDenyListing)> { ("--spill-bucket", options.SpillBucket, false) };
        if (options.FailureBucket is not null)
        {
            buckets.Add(("--failure-bucket", options.FailureBucket, false));
        }

        // Only written to: a policy that lets the operator write but not list it is no mistake.
        buckets.Add(("--quarantine-bucket", options.QuarantineBucket, true));
        foreach ((string flag, string bucket, bool mayDenyListing) in buckets.DistinctBy(b => b.Bucket, StringComparer.Ordinal))
        {
            string? error = await ListErrorAsync(s3, bucket, string.Empty, cancellationToken).ConfigureAwait(false) is not { } e ? null
                : e.Kind == "NoSuchBucket" ? $"error: the bucket given as {flag} '{bucket}' does not exist: check {flag} and the endpoint or region"
                : mayDenyListing && e.Kind == "AccessDenied" ? null
                : $"error: the bucket given as {flag} '{bucket}' could not be listed: {e.Text}";
            if (error is not null)
            {
                await stderr.WriteLineAsync(error).ConfigureAwait(false);
                return false;
            }
        }

        if (options.FailureBucket is not { } failure || failure == options.SpillBucket)
        {
            return true;
        }

        // The spill objects of the function are where --spill-bucket says: spill objects in the destination bucket would be
        // neither applied nor hold back their shard's destination objects; destination objects in the spill bucket would
        // not be redriven.
        string spillPrefix = options.SpillPrefix.Trim('/') is { Length: > 0 } p ? p + "/" : string.Empty;
        string? spillInFailure = spillPrefix.Length == 0 ? null : await FirstKeyAsync(s3, failure, spillPrefix, ".json", cancellationToken).ConfigureAwait(false);
        string? failureInSpill = await FirstKeyAsync(s3, options.SpillBucket, DestinationPrefix, null, cancellationToken).ConfigureAwait(false);
        if (spillInFailure is null && failureInSpill is null)
        {
            return true;
        }

        string what = (spillInFailure, failureInSpill) switch
        {
            ({ }, { }) => $"--failure-bucket '{failure}' holds spill objects (under {spillPrefix}) and --spill-bucket '{options.SpillBucket}' holds on-failure destination objects (under {DestinationPrefix}): the two look swapped",
            ({ }, null) => $"--failure-bucket '{failure}' holds spill objects (under {spillPrefix}), which a run reading spills from --spill-bucket '{options.SpillBucket}' would neither apply nor wait for: give the function's spill bucket as --spill-bucket",
            _ => $"--spill-bucket '{options.SpillBucket}' holds on-failure destination objects (under {DestinationPrefix}), which a run reading --failure-bucket '{failure}' would not redrive: give the mapping's destination bucket as --failure-bucket",
        };
        await stderr.WriteLineAsync($"error: {what}; nothing done").ConfigureAwait(false);
        return false;
    }

    private static async Task<(string Kind, string Text)?> ListErrorAsync(IAmazonS3 s3, string bucket, string prefix, CancellationToken cancellationToken)
    {
        try
        {
            await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = prefix }, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (AmazonS3Exception e)
        {
            return (e is NoSuchBucketException ? "NoSuchBucket" : e.ErrorCode ?? string.Empty, $"{e.GetType().Name}: {e.Message}");
        }
        catch (HttpRequestException e)
        {
            return (string.Empty, $"{e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>The first key under <paramref name="prefix"/> (ending in <paramref name="suffix"/> when given), or null.</summary>
    private static async Task<string?> FirstKeyAsync(IAmazonS3 s3, string bucket, string prefix, string? suffix, CancellationToken cancellationToken)
    {
        string? token = null;
        do
        {
            ListObjectsV2Response page = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = prefix, ContinuationToken = token }, cancellationToken).ConfigureAwait(false);
            if ((page.S3Objects ?? []).FirstOrDefault(o => suffix is null || o.Key.EndsWith(suffix, StringComparison.Ordinal)) is { } found)
            {
                return found.Key;
            }

            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (token is not null);
        return null;
    }
}
