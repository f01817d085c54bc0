using Amazon.S3;
using Amazon.S3.Model;
using Analytics.Core;

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

    /// <summary>Most top-level folders of the spill bucket read when looking for spill objects under another prefix.</summary>
    private const int MaxFoldersRead = 20;

    /// <summary>Most folders beside a prefix read for <see cref="SiblingsHoldingAsync"/>.</summary>
    private const int MaxSiblingsRead = 100;

    /// <summary>Most folders beside a prefix named in a note.</summary>
    private const int MaxSiblingsNamed = 5;

    /// <summary>
    /// Whether every bucket exists and the spill and destination buckets are not each other's; otherwise one
    /// <c>error:</c> line on <paramref name="stderr"/> naming the flag and the bucket.
    /// </summary>
    /// <param name="s3">The S3 client.</param>
    /// <param name="options">The run's buckets and prefixes.</param>
    /// <param name="stderr">Receives the error line.</param>
    /// <param name="cancellationToken">Stops the requests.</param>
    /// <returns>True when the run may go on.</returns>
    /// <param name="notes">
    /// Receives a note for each prefix narrower than its bucket's top level with nothing under it, naming the folders
    /// beside it that hold objects of the kind (<see cref="SiblingsHoldingAsync"/>): a mistyped folder
    /// (<c>spill/metrics-strem</c>) looks just like a prefix narrowed to a stream, shard or day with nothing to do, so the
    /// run goes on and names them instead of refusing.
    /// </param>
    public static async Task<bool> CheckAsync(IAmazonS3 s3, RedriveRunOptions options, TextWriter stderr, CancellationToken cancellationToken, List<string>? notes = null)
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

        // The run lists the folder a prefix names: one object's key (pasted to redrive just that object) found nothing, and
        // the run said "done, nothing left", exit 0, with the object still there (found by review).
        if (options.SpillPrefix.Trim('/') is { Length: > 0 } spillKey &&
            await FirstKeyAsync(s3, options.SpillBucket, spillKey, null, cancellationToken).ConfigureAwait(false) == spillKey)
        {
            string folder = spillKey[..(spillKey.LastIndexOf('/') + 1)]; // empty for a key at the bucket's top
            await stderr.WriteLineAsync($"error: --spill-prefix '{options.SpillPrefix}' is the key of an object in --spill-bucket '{options.SpillBucket}', not a folder: a run applies the spill objects of a folder, so give the function's spill prefix or a folder under it ('{folder}'); nothing done").ConfigureAwait(false);
            return false;
        }

        if (await SpillsElsewhereAsync(s3, options.SpillBucket, options.SpillPrefix, cancellationToken).ConfigureAwait(false) is { } elsewhere)
        {
            await stderr.WriteLineAsync($"error: --spill-bucket '{options.SpillBucket}' holds spill objects under {elsewhere.Folder} (e.g. {elsewhere.Key}), and --spill-prefix is '{options.SpillPrefix}', under which it holds none: give the function's spill prefix (a run that finds no spill holds back no destination object, and a spill applied after its batch's destination object is counted twice); nothing done").ConfigureAwait(false);
            return false;
        }

        if (options.FailureBucket is { } failureBucket && await DestinationsElsewhereAsync(s3, failureBucket, options.FailurePrefix, cancellationToken).ConfigureAwait(false) is { } misplaced)
        {
            await stderr.WriteLineAsync($"error: --failure-bucket '{failureBucket}' holds on-failure destination objects under {misplaced.Folder} (e.g. {misplaced.Key}), and --failure-prefix is '{options.FailurePrefix}', under which it holds none: give the prefix Lambda writes them under, {DestinationPrefix} or narrower ({DestinationPrefix}<mapping UUID>/); nothing done").ConfigureAwait(false);
            return false;
        }

        if (notes is not null)
        {
            string spillList = options.SpillPrefix.Trim('/') is { Length: > 0 } sp ? sp + "/" : string.Empty;
            if (await SiblingsHoldingAsync(s3, options.SpillBucket, spillList, spills: true, cancellationToken).ConfigureAwait(false) is { Count: > 0 } spillSiblings)
            {
                notes.Add($"note: --spill-bucket '{options.SpillBucket}' holds no spill object under --spill-prefix '{options.SpillPrefix}', and holds spill objects under {string.Join(", ", spillSiblings)}: if one is this function's (a mistyped prefix), run again with it");
            }

            if (options.FailureBucket is { } fb && await SiblingsHoldingAsync(s3, fb, options.FailurePrefix, spills: false, cancellationToken).ConfigureAwait(false) is { Count: > 0 } failureSiblings)
            {
                notes.Add($"note: --failure-bucket '{fb}' holds nothing under --failure-prefix '{options.FailurePrefix}', and holds objects under {string.Join(", ", failureSiblings)}: if one is this mapping's (a mistyped prefix), run again with it");
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

    /// <summary>
    /// When the spill bucket holds no spill object under <paramref name="prefix"/>: a top-level folder of it whose first
    /// object is a spill object (read, not guessed from its key: quarantine objects are keyed the same way). The folder
    /// that holds the prefix is not one: a prefix may be narrower than the function's, one stream's folder
    /// (<see cref="SiblingsHoldingAsync"/> names what is beside it).
    /// </summary>
    private static async Task<(string Folder, string Key)?> SpillsElsewhereAsync(IAmazonS3 s3, string bucket, string prefix, CancellationToken cancellationToken)
    {
        string listPrefix = prefix.Trim('/') is { Length: > 0 } p ? p + "/" : string.Empty;
        if (listPrefix.Length == 0 || await FirstKeyAsync(s3, bucket, listPrefix, ".json", cancellationToken).ConfigureAwait(false) is not null)
        {
            return null;
        }

        IEnumerable<string> topLevel = (await FoldersAsync(s3, bucket, string.Empty, MaxFoldersRead, cancellationToken).ConfigureAwait(false))
            .Where(f => !listPrefix.StartsWith(f, StringComparison.Ordinal) && f != DestinationPrefix[..4]);
        foreach (string folder in topLevel)
        {
            if (await FirstSpillKeyAsync(s3, bucket, folder, cancellationToken).ConfigureAwait(false) is { } key)
            {
                return (folder, key);
            }
        }

        return null;
    }

    /// <summary>The first <c>.json</c> key under <paramref name="folder"/> when that object is a spill object (read, not guessed from its key: quarantine objects are keyed the same way); null otherwise.</summary>
    private static async Task<string?> FirstSpillKeyAsync(IAmazonS3 s3, string bucket, string folder, CancellationToken cancellationToken)
    {
        if (await FirstKeyAsync(s3, bucket, folder, ".json", cancellationToken).ConfigureAwait(false) is not { } key)
        {
            return null;
        }

        using GetObjectResponse got = await s3.GetObjectAsync(bucket, key, cancellationToken).ConfigureAwait(false);
        using var body = new MemoryStream();
        await got.ResponseStream.CopyToAsync(body, cancellationToken).ConfigureAwait(false);
        return SpillObject.TryRead(body.GetBuffer().AsMemory(0, (int)body.Length), out SpillObjectContent? content, out _) && content is not null ? key : null;
    }

    /// <summary>
    /// When the destination bucket holds nothing under <paramref name="prefix"/>, a prefix outside
    /// <see cref="DestinationPrefix"/> (where Lambda writes them), and objects under that: a mistyped prefix
    /// (<c>aws/lamda/</c>) found nothing and the run said "done, nothing left", exit 0, while the batches Lambda gave up
    /// on waited (found by review). Nothing is under such a prefix but what an operator moved there.
    /// </summary>
    private static async Task<(string Folder, string Key)?> DestinationsElsewhereAsync(IAmazonS3 s3, string bucket, string prefix, CancellationToken cancellationToken)
    {
        // As the destination phase lists it, which skips the redrive's own markers: a prefix of their folder (redrive/)
        // found them, so the check passed, and the run skipped every one and said done (found by review).
        string listPrefix = prefix;
        if (await FirstKeyAsync(s3, bucket, listPrefix, null, cancellationToken, skip: DestinationRedriveOptions.MarkerPrefix).ConfigureAwait(false) is not null)
        {
            return null;
        }

        return !listPrefix.StartsWith(DestinationPrefix, StringComparison.Ordinal) && await FirstKeyAsync(s3, bucket, DestinationPrefix, null, cancellationToken).ConfigureAwait(false) is { } key
            ? (DestinationPrefix, key)
            : null;
    }

    /// <summary>
    /// When nothing of the kind is under <paramref name="listPrefix"/> (spill objects, or any object): the folders beside
    /// the prefix's folder at the deepest level whose parent holds anything (so a typo in a higher folder than the last,
    /// <c>spill/strem/shardId-...</c>, is found too) that hold objects of the kind, at most <see cref="MaxSiblingsNamed"/>
    /// of the first <see cref="MaxSiblingsRead"/>. Empty for a prefix whose parents hold nothing below the top level,
    /// which the callers check otherwise.
    /// </summary>
    private static async Task<List<string>> SiblingsHoldingAsync(IAmazonS3 s3, string bucket, string listPrefix, bool spills, CancellationToken cancellationToken)
    {
        if (await FirstKeyAsync(s3, bucket, listPrefix, spills ? ".json" : null, cancellationToken).ConfigureAwait(false) is not null)
        {
            return [];
        }

        string folder = listPrefix.TrimEnd('/');
        string parent;
        while (true)
        {
            int slash = folder.LastIndexOf('/');
            if (slash <= 0)
            {
                return [];
            }

            parent = folder[..(slash + 1)];
            if (await FirstKeyAsync(s3, bucket, parent, null, cancellationToken).ConfigureAwait(false) is not null)
            {
                break;
            }

            folder = folder[..slash];
        }

        var holding = new List<string>();
        foreach (string sibling in await FoldersAsync(s3, bucket, parent, MaxSiblingsRead, cancellationToken).ConfigureAwait(false))
        {
            if (holding.Count < MaxSiblingsNamed && sibling != folder + "/" &&
                (spills ? await FirstSpillKeyAsync(s3, bucket, sibling, cancellationToken).ConfigureAwait(false) : await FirstKeyAsync(s3, bucket, sibling, null, cancellationToken).ConfigureAwait(false)) is not null)
            {
                holding.Add(sibling);
            }
        }

        return holding;
    }

    /// <summary>
    /// The folders right under <paramref name="parent"/> (a prefix ending in '/', or empty for the top level), at most
    /// <paramref name="max"/>, one page each at most: after a page, the listing starts past the last folder it
    /// reached ("<c>folder0</c>" sorts after every "<c>folder/...</c>" key). Not a delimiter listing, which not every S3
    /// server answers.
    /// </summary>
    private static async Task<List<string>> FoldersAsync(IAmazonS3 s3, string bucket, string parent, int max, CancellationToken cancellationToken)
    {
        var folders = new List<string>();
        string? after = null;
        while (folders.Count < max)
        {
            ListObjectsV2Response page = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = parent.Length == 0 ? null : parent, StartAfter = after }, cancellationToken).ConfigureAwait(false);
            List<S3Object> objects = page.S3Objects ?? [];
            foreach (S3Object o in objects)
            {
                int slash = o.Key.IndexOf('/', parent.Length);
                if (slash > parent.Length && (folders.Count == 0 || folders[^1] != o.Key[..(slash + 1)]))
                {
                    folders.Add(o.Key[..(slash + 1)]);
                }
            }

            if (page.IsTruncated != true || objects.Count == 0)
            {
                break;
            }

            string last = objects[^1].Key;
            int lastSlash = last.IndexOf('/', parent.Length);
            after = lastSlash > parent.Length ? last[..lastSlash] + "0" : last;
        }

        return [.. folders.Take(max)];
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
    private static async Task<string?> FirstKeyAsync(IAmazonS3 s3, string bucket, string prefix, string? suffix, CancellationToken cancellationToken, string? skip = null)
    {
        string? token = null;
        do
        {
            ListObjectsV2Response page = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = prefix, ContinuationToken = token }, cancellationToken).ConfigureAwait(false);
            if ((page.S3Objects ?? []).FirstOrDefault(o => (suffix is null || o.Key.EndsWith(suffix, StringComparison.Ordinal)) && (skip is null || !o.Key.StartsWith(skip, StringComparison.Ordinal))) is { } found)
            {
                return found.Key;
            }

            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (token is not null);
        return null;
    }
}
