using System.Buffers;
using System.Globalization;
using Amazon.S3;
using Amazon.S3.Model;

namespace Analytics.Core;

/// <summary>
/// Keeps every poison record as one JSON object in Amazon S3, under a key derived from the record alone, so a
/// re-delivered batch overwrites the same objects instead of adding copies.
/// </summary>
/// <remarks>
/// <para>Key: <c>&lt;KeyPrefix&gt;/&lt;stream name from the ARN, or unknown&gt;/&lt;shardId&gt;/&lt;sequenceNumber&gt;[-&lt;subSequenceNumber&gt;].json</c>.</para>
/// <para>Body: <c>{"shardId","sequenceNumber","subSequenceNumber" (KPL user records only),"partitionKey",
/// "approximateArrival" (ISO-8601 UTC),"reason" (the <see cref="PoisonReason"/> name),"detail","data" (the original
/// base64)}</c>.</para>
/// <para>Uploads run in parallel (bounded by <see cref="S3QuarantineSinkOptions.MaxConcurrency"/>); the result counts
/// only the leading records whose upload completed, so it never claims a record that is not stored.</para>
/// </remarks>
public sealed class S3QuarantineSink : IQuarantineSink
{
    private readonly IAmazonS3 _client;
    private readonly S3QuarantineSinkOptions _options;
    private long _retries;

    /// <summary>Creates the sink.</summary>
    /// <param name="client">The S3 client; the sink does not dispose it.</param>
    /// <param name="options">Bucket, key prefix, concurrency and retry bounds.</param>
    /// <exception cref="ArgumentNullException"><paramref name="client"/> is null.</exception>
    /// <exception cref="ArgumentException">The bucket name is empty or not a bucket name or ARN (white space, <c>s3://</c>, a key prefix).</exception>
    /// <exception cref="ArgumentOutOfRangeException">Concurrency or attempts are below 1, or a retry delay is negative.</exception>
    public S3QuarantineSink(IAmazonS3 client, S3QuarantineSinkOptions options)
    {
        AwsSinkChecks.Validate(client, options.BucketName, nameof(options.BucketName), AwsSinkChecks.Target.Bucket, options.MaxConcurrency, options.Retry);
        _client = client;
        _options = options with { KeyPrefix = options.KeyPrefix ?? string.Empty };
    }

    /// <summary>The last transient error of the current write.</summary>
    private Exception? _lastTransient;

    /// <summary>Uploads that failed transiently and were tried again, since the sink was created.</summary>
    internal long Retries => Interlocked.Read(ref _retries);

    /// <summary>Writes each record as one object, in parallel.</summary>
    /// <param name="records">The poison records, in sequence order; read only during the call.</param>
    /// <param name="cancellationToken">Cancelled at the invocation's deadline less its margin; uploads in flight are abandoned.</param>
    /// <returns>How many records, counted from the first, are stored; less than <c>records.Count</c> when time ran out.
    /// With none stored after failed attempts it throws instead: an <see cref="OperationCanceledException"/> whose inner
    /// exception is the last failure.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="records"/> is null.</exception>
    /// <exception cref="AmazonS3Exception">A non-transient error (missing bucket, access denied); or a transient one
    /// (throttling, a server error) when an upload still failed after <see cref="AwsRetryOptions.MaxAttempts"/> attempts
    /// with time left: the last such error, whatever its type (a broken connection is an
    /// <see cref="System.Net.Http.HttpRequestException"/>), thrown once every upload is done. The processor then counts
    /// none of the records stored; the ones that were are overwritten by the same objects when they come again.</exception>
    public async Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(records);
        int count = records.Count;
        if (count == 0)
        {
            return 0;
        }

        bool[] stored = new bool[count];
        _lastTransient = null;
        try
        {
            await BoundedWorkers.RunAsync(
                count,
                _options.MaxConcurrency,
                () => new ArrayBufferWriter<byte>(1024),
                async (i, buffer, token) =>
                {
                    // A record that could not be stored ends the run: records after it cannot count any more.
                    stored[i] = await PutWithRetriesAsync(records[i], buffer, token).ConfigureAwait(false);
                    return stored[i];
                },
                cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonS3Exception e) when (S3Errors.NamingTheBucket(e, _options.BucketName, "S3QuarantineSinkOptions.BucketName") is { } named)
        {
            throw named;
        }

        int leading = 0;
        while (leading < count && stored[leading])
        {
            leading++;
        }

        if (leading < count && !cancellationToken.IsCancellationRequested && Volatile.Read(ref _lastTransient) is { } transient)
        {
            // Given up with time left: never silent (the invocation's log line says the sink failed, and why).
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(transient);
        }

        if (leading == 0 && count > 0 && Volatile.Read(ref _lastTransient) is { } cause)
        {
            // Out of time with nothing stored, after failed attempts: a time-out with its cause, as the DynamoDB sink's
            // (found by review). With some stored it returns how many, which is worth more than the cause.
            AwsThrowHelper.ThrowStoppedAfterFailures(
                string.Format(CultureInfo.InvariantCulture, "None of {0} quarantine object(s) was stored before the sink was stopped (its time was up, or the invocation was cancelled); the last of the failed attempts is the inner exception.", count),
                cause,
                cancellationToken);
        }

        return leading;
    }

    private async Task<bool> PutWithRetriesAsync(QuarantinedRecord record, ArrayBufferWriter<byte> buffer, CancellationToken token)
    {
        buffer.ResetWrittenCount();
        QuarantineObject.WriteBody(record, buffer);
        string key = QuarantineObject.Key(_options.KeyPrefix, record);
        for (int attempt = 0; attempt < _options.Retry.MaxAttempts; attempt++)
        {
            if (attempt > 0)
            {
                Interlocked.Increment(ref _retries);
                if (!await RetryPolicy.TryDelayAsync(_options.Retry, attempt, key, token).ConfigureAwait(false))
                {
                    return false;
                }
            }

            try
            {
                using var body = new MemoryStream(buffer.WrittenSpan.ToArray(), writable: false);
                var request = new PutObjectRequest
                {
                    BucketName = _options.BucketName,
                    Key = key,
                    InputStream = body,
                    AutoCloseStream = false,
                    ContentType = "application/json",
                    // A plain signed body: S3 stores it as is, and S3-compatible servers need no aws-chunked decoding.
                    UseChunkEncoding = false,
                };
                await _client.PutObjectAsync(request, token).ConfigureAwait(false);
                return true;
            }
            catch (Exception e) when (RetryPolicy.IsTransient(e, token))
            {
                Volatile.Write(ref _lastTransient, e);
            }
            catch (Exception) when (token.IsCancellationRequested)
            {
                // Out of time: whether this upload landed is unknown, so it is not counted.
                return false;
            }
        }

        return false;
    }
}
