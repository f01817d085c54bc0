using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Xml;
using Amazon.Runtime;
using Amazon.S3;

namespace Analytics.Core.Testing;

/// <summary>Options of an <see cref="S3Model"/>.</summary>
/// <remarks>Set only what differs: <c>S3ModelOptions.Default with { Latency = ... }</c>.</remarks>
public readonly record struct S3ModelOptions
{
    /// <summary>Creates the default options.</summary>
    public S3ModelOptions()
    {
    }

    /// <summary>The default options: no latency, no throttling, no outage, seed 0.</summary>
    public static S3ModelOptions Default => new();

    /// <summary>Seed of the model's random source. Default 0.</summary>
    public int Seed { get; init; }

    /// <summary>Time from a request to its answer, on the model's clock. Default none.</summary>
    public LatencyDistribution Latency { get; init; }

    /// <summary>Fraction (0 to 1) of object requests answered with HTTP 503 <c>SlowDown</c>. Default 0.</summary>
    public double ThrottleFraction { get; init; }

    /// <summary>Spans of time in which every request is answered with HTTP 500 <c>InternalError</c>, or given no answer (<see cref="OutageWindow.Unanswered"/>). Default none.</summary>
    public IReadOnlyList<OutageWindow>? Outages { get; init; }

    /// <summary>
    /// How long the model's clients wait for an answer, on the model's clock: what an AWS SDK client's <c>Timeout</c> is in
    /// production (the clients' own <c>Timeout</c> is real time, so they set none). A request that its latency or an
    /// <see cref="OutageWindow.Unanswered"/> outage keeps longer fails at that point, unapplied, with the
    /// <see cref="TimeoutException"/> the SDK throws when its HTTP timeout elapses (over a
    /// <see cref="TaskCanceledException"/>). Positive and at most about 49.7 days (4,294,967,294 ms, the longest a timer
    /// waits), or <see langword="null"/> (the default) for none: a request then
    /// waits until it is answered or its caller cancels it.
    /// </summary>
    public TimeSpan? RequestTimeout { get; init; }
}

/// <summary>What an <see cref="S3Model"/> has served so far.</summary>
/// <param name="Requests">Every request received.</param>
/// <param name="Puts">Objects stored (PutObject answered 200).</param>
/// <param name="Throttles">Requests answered with <c>SlowDown</c>.</param>
/// <param name="OutageErrors">Requests that fell in an outage: answered with a server error, or given no answer (<see cref="OutageWindow.Unanswered"/>).</param>
/// <param name="BytesStored">Body bytes of the objects stored (overwrites counted again).</param>
public readonly record struct S3ModelCounters(long Requests, long Puts, long Throttles, long OutageErrors, long BytesStored);

/// <summary>One stored object of an <see cref="S3Model"/>.</summary>
/// <param name="Key">The key.</param>
/// <param name="Body">The bytes.</param>
/// <param name="ContentType">The content type given at upload (<c>binary/octet-stream</c> when none was).</param>
/// <param name="ETag">The quoted hex MD5 of the body, as S3 gives it for a single-part upload.</param>
/// <param name="LastModified">When it was stored, by the model's clock.</param>
public sealed record S3ModelObject(string Key, ReadOnlyMemory<byte> Body, string ContentType, string ETag, DateTimeOffset LastModified)
{
    /// <summary>
    /// The headers stored with the object and returned by GetObject and HeadObject, as given at upload: user metadata
    /// (<c>x-amz-meta-*</c>, names in lower case), <c>Cache-Control</c>, <c>Content-Disposition</c>,
    /// <c>Content-Encoding</c> (without <c>aws-chunked</c>), <c>Content-Language</c> and <c>Expires</c>. Empty by default.
    /// </summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// The object's additional checksum (<c>x-amz-checksum-crc32</c> and so on, base64): the one given at upload and
    /// checked, else CRC-64/NVME, which S3 computes for every new object. Null for an object made with this constructor alone.
    /// </summary>
    public (string Name, string Value)? Checksum { get; init; }
}

/// <summary>
/// An in-process model of Amazon S3 (path-style REST) that the real <see cref="AmazonS3Client"/>, and so the real
/// <see cref="S3QuarantineSink"/>, talks to without a socket, in the model's time.
/// </summary>
/// <remarks>
/// <para><b>Operations.</b> CreateBucket, HeadBucket, ListBuckets, PutObject (conditional with <c>If-None-Match: *</c> or <c>If-Match</c>; plain bodies, as sent with
/// <c>UseChunkEncoding = false</c>, and <c>aws-chunked</c> bodies, which are decoded as S3 does; <c>Content-MD5</c> is
/// checked; user metadata and the standard stored headers are kept, see <see cref="S3ModelObject.Headers"/>), GetObject
/// and HeadObject (one byte <c>Range</c>; <c>If-Match</c>, <c>If-None-Match</c>, <c>If-Modified-Since</c>,
/// <c>If-Unmodified-Since</c>), DeleteObject (conditional with <c>If-Match</c>), ListObjectsV2 (<c>prefix</c>,
/// <c>start-after</c>, <c>max-keys</c>, continuation tokens, <c>encoding-type=url</c>; keys in UTF-8 binary order).
/// Other requests (a delimiter, ListObjects v1, DeleteObjects, copies, multipart uploads) are answered 501
/// <c>NotImplemented</c>, and so is a PutObject asking for what the model would not keep (tags, a storage class other
/// than <c>STANDARD</c>, encryption other than SSE-S3, object lock, a website redirect): never accepted and dropped. ACLs
/// are answered as by a bucket with S3's default Object Ownership: only <c>bucket-owner-full-control</c> is taken.
/// An additional checksum (<c>x-amz-checksum-crc32</c>, <c>-crc32c</c>, <c>-crc64nvme</c>, <c>-sha1</c>, <c>-sha256</c>, as a header or an
/// <c>aws-chunked</c> trailer; one at most) is checked (<c>BadDigest</c>), kept and returned with <c>x-amz-checksum-mode:
/// ENABLED</c>; an object uploaded without one gets CRC-64/NVME, as on S3.</para>
/// <para><b>Errors</b> are S3's XML errors (<c>NoSuchBucket</c>, <c>NoSuchKey</c>, <c>SlowDown</c> with 503,
/// <c>InternalError</c> with 500), so the SDK raises <see cref="AmazonS3Exception"/> with the real error code and
/// status.</para>
/// </remarks>
public sealed class S3Model : IDisposable
{
    private const string Region = "us-east-1";
    private readonly FaultPlan _faults;
    private readonly Handler _handler;
    private readonly object _gate = new();
    private readonly SortedDictionary<string, SortedDictionary<string, S3ModelObject>> _buckets = new(Utf8Order.Instance);
    private long _requests;
    private long _puts;
    private long _throttles;
    private long _outageErrors;
    private long _bytesStored;
    private long _requestIds;

    /// <summary>Creates an empty model (no buckets).</summary>
    /// <param name="timeProvider">The model's clock.</param>
    /// <param name="options">Seed, latency, throttling, outages.</param>
    /// <exception cref="ArgumentNullException"><paramref name="timeProvider"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its range.</exception>
    public S3Model(TimeProvider timeProvider, S3ModelOptions options)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);
        _faults = new FaultPlan(options.Seed, options.Latency, options.ThrottleFraction, options.Outages, timeProvider, "S3ModelOptions.", options.RequestTimeout);
        _handler = new Handler(this);
    }

    /// <summary>What the model has served so far.</summary>
    public S3ModelCounters Counters
    {
        get
        {
            lock (_gate)
            {
                return new S3ModelCounters(_requests, _puts, _throttles, _outageErrors, _bytesStored);
            }
        }
    }

    /// <summary>The handler that speaks the S3 protocol, for a client configured by hand (path-style addressing).</summary>
    public HttpMessageHandler HttpHandler => _handler;

    /// <summary>
    /// A path-style client bound to this model, with no SDK retries (<c>MaxErrorRetry = 0</c>, standard retry mode, no
    /// retry throttling), no real-time timeout, and checksums only where S3 requires them. Its pipeline is the SDK's but
    /// for the metrics and tracing handler, which would format the stack trace of every failed call (a GetObject of a
    /// missing key included) for a tracing span: the same requests, responses and exceptions.
    /// </summary>
    /// <returns>A new client; the caller disposes it.</returns>
    public AmazonS3Client CreateClient() => new ModelS3Client(new AnonymousAWSCredentials(), ModelSdkClients.S3Config(_handler, Region));

    /// <summary>Creates a bucket directly (no request, no fault); an existing bucket is kept.</summary>
    /// <param name="bucketName">The bucket.</param>
    /// <exception cref="ArgumentException">The name is empty, or one S3 refuses.</exception>
    public void CreateBucket(string bucketName)
    {
        ArgumentException.ThrowIfNullOrEmpty(bucketName);
        if (!IsValidBucketName(bucketName))
        {
            throw new ArgumentException("S3 refuses the bucket name '" + bucketName + "': 3 to 63 characters of lower-case letters, digits, dots and hyphens, beginning and ending with a letter or digit, not an IP address.", nameof(bucketName));
        }

        lock (_gate)
        {
            _buckets.TryAdd(bucketName, new SortedDictionary<string, S3ModelObject>(Utf8Order.Instance));
        }
    }

    /// <summary>
    /// Stores an object directly (no request, no latency, no fault): how the emulator's event source mapping delivers
    /// an on-failure record to an S3 destination, which is Lambda's write, not the function's.
    /// </summary>
    internal void Deliver(string bucketName, string key, byte[] body, string contentType)
    {
        lock (_gate)
        {
            if (!_buckets.TryGetValue(bucketName, out SortedDictionary<string, S3ModelObject>? bucket))
            {
                throw new ArgumentException("The model has no bucket " + bucketName + ".", nameof(bucketName));
            }

            string etag = "\"" + Convert.ToHexString(MD5.HashData(body)).ToLowerInvariant() + "\"";
            bucket[key] = new S3ModelObject(key, body, contentType, etag, _faults.Time.GetUtcNow()) { Checksum = ("x-amz-checksum-crc64nvme", S3Checksums.Compute("crc64nvme", body)!) };
            _puts++;
            _bytesStored += body.Length;
        }
    }

    /// <summary>Whether the model holds the bucket.</summary>
    internal bool HasBucket(string bucketName)
    {
        lock (_gate)
        {
            return _buckets.ContainsKey(bucketName);
        }
    }

    /// <summary>Every object of a bucket, in key order (UTF-8 binary order, as S3 lists).</summary>
    /// <param name="bucketName">The bucket.</param>
    /// <returns>The objects.</returns>
    /// <exception cref="ArgumentException">There is no such bucket.</exception>
    public IReadOnlyList<S3ModelObject> GetObjects(string bucketName)
    {
        lock (_gate)
        {
            return _buckets.TryGetValue(bucketName, out SortedDictionary<string, S3ModelObject>? bucket)
                ? bucket.Values.ToList()
                : throw new ArgumentException("The model has no bucket " + bucketName + ".", nameof(bucketName));
        }
    }

    /// <summary>Releases nothing unmanaged; clients created from the model stop working.</summary>
    public void Dispose()
    {
        _faults.Close();
        _handler.Dispose();
    }

    /// <summary>Decodes an <c>aws-chunked</c> body: <c>hex-size[;chunk-signature=..]\r\n data \r\n</c> up to a zero-size chunk, then optional trailers.</summary>
    internal static byte[]? DecodeAwsChunked(ReadOnlySpan<byte> body) => DecodeAwsChunked(body, out _);

    /// <summary>As <see cref="DecodeAwsChunked(ReadOnlySpan{byte})"/>, with the trailers after the last chunk (<c>name:value</c> lines).</summary>
    internal static byte[]? DecodeAwsChunked(ReadOnlySpan<byte> body, out Dictionary<string, string> trailers)
    {
        trailers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var output = new MemoryStream();
        int position = 0;
        while (true)
        {
            int lineEnd = body[position..].IndexOf("\r\n"u8);
            if (lineEnd < 0)
            {
                return null;
            }

            ReadOnlySpan<byte> header = body.Slice(position, lineEnd);
            int semicolon = header.IndexOf((byte)';');
            if (!int.TryParse(Encoding.ASCII.GetString(semicolon < 0 ? header : header[..semicolon]), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int size) || size < 0)
            {
                return null;
            }

            position += lineEnd + 2;
            if (size == 0)
            {
                foreach (string line in Encoding.ASCII.GetString(body[position..]).Split("\r\n", StringSplitOptions.RemoveEmptyEntries))
                {
                    int colon = line.IndexOf(':', StringComparison.Ordinal);
                    if (colon > 0)
                    {
                        trailers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
                    }
                }

                return output.ToArray();
            }

            if (position + size + 2 > body.Length || !body.Slice(position + size, 2).SequenceEqual("\r\n"u8))
            {
                return null;
            }

            output.Write(body.Slice(position, size));
            position += size + 2;
        }
    }

    private static bool IsObjectOperation(HttpMethod method, string key) => key.Length > 0 && method != HttpMethod.Options;

    private async Task<HttpResponseMessage> ServeAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        _faults.Enter();
        byte[] body = request.Content is null ? [] : await request.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        Uri uri = request.RequestUri ?? throw new InvalidOperationException("The request has no URI.");
        string[] segments = uri.AbsolutePath.TrimStart('/').Split('/', 2);
        string bucket = Uri.UnescapeDataString(segments[0]);
        string key = segments.Length > 1 ? Uri.UnescapeDataString(segments[1]) : string.Empty;
        Dictionary<string, string> query = ParseQuery(uri.Query);
        long id;
        lock (_gate)
        {
            _requests++;
            id = ++_requestIds;
        }

        string requestId = "model-" + id.ToString(CultureInfo.InvariantCulture);
        // The identity leaves the body out: aws-chunked bodies carry signatures made at the real time of sending.
        (TimeSpan latency, bool outage, bool throttled, _) = _faults.IsQuiet
            ? FaultPlan.Quiet()
            : _faults.Decide(IsObjectOperation(request.Method, key), Encoding.UTF8.GetBytes(request.Method.Method + " " + uri.PathAndQuery));
        if (latency == FaultPlan.Unanswered)
        {
            // Counted as it starts: it ends only by its caller's cancellation or timeout.
            lock (_gate)
            {
                _outageErrors++;
            }
        }

        await _faults.DelayAsync(latency, cancellationToken).ConfigureAwait(false);
        if (outage)
        {
            lock (_gate)
            {
                _outageErrors++;
            }

            return Error(request, HttpStatusCode.InternalServerError, "InternalError", "We encountered an internal error. Please try again.", requestId, null);
        }

        if (throttled)
        {
            lock (_gate)
            {
                _throttles++;
            }

            return Error(request, HttpStatusCode.ServiceUnavailable, "SlowDown", "Please reduce your request rate.", requestId, null);
        }

        lock (_gate)
        {
            HttpResponseMessage response = Execute(request, bucket, key, query, body, requestId);
            response.RequestMessage = request;
            response.Headers.TryAddWithoutValidation("x-amz-request-id", requestId);
            return response;
        }
    }

    private HttpResponseMessage Execute(HttpRequestMessage request, string bucketName, string key, Dictionary<string, string> query, byte[] body, string requestId)
    {
        HttpMethod method = request.Method;
        if (bucketName.Length == 0)
        {
            return method == HttpMethod.Get ? Xml(HttpStatusCode.OK, ListBuckets) : NotImplemented(request, requestId);
        }

        _buckets.TryGetValue(bucketName, out SortedDictionary<string, S3ModelObject>? bucket);
        if (key.Length == 0)
        {
            if (method == HttpMethod.Put && query.Count == 0)
            {
                if (!IsValidBucketName(bucketName))
                {
                    return Error(request, HttpStatusCode.BadRequest, "InvalidBucketName", "The specified bucket is not valid.", requestId, null, ("BucketName", bucketName));
                }

                // The model is in us-east-1, where creating a bucket one already owns answers 200 (elsewhere 409
                // BucketAlreadyOwnedByYou), and keeps the bucket as it is.
                _buckets.TryAdd(bucketName, new SortedDictionary<string, S3ModelObject>(Utf8Order.Instance));
                var created = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent([]) };
                created.Headers.Location = new Uri("/" + bucketName, UriKind.Relative);
                return created;
            }

            if (bucket is null)
            {
                return NoSuchBucket(request, bucketName, requestId);
            }

            if (method == HttpMethod.Head)
            {
                return new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent([]) };
            }

            if (method == HttpMethod.Get && query.TryGetValue("list-type", out string? listType) && listType == "2" && !query.ContainsKey("delimiter"))
            {
                return ListObjectsV2(request, requestId, bucketName, bucket, query);
            }

            return NotImplemented(request, requestId);
        }

        if (bucket is null)
        {
            return NoSuchBucket(request, bucketName, requestId);
        }

        if (query.Count > 0 && !(query.Count == 1 && query.ContainsKey("x-id")))
        {
            return NotImplemented(request, requestId);
        }

        if (Encoding.UTF8.GetByteCount(key) > MaxKeyBytes)
        {
            return Error(request, HttpStatusCode.BadRequest, "KeyTooLongError", "Your key is too long", requestId, null, ("MaxSizeAllowed", MaxKeyBytes.ToString(CultureInfo.InvariantCulture)), ("Size", Encoding.UTF8.GetByteCount(key).ToString(CultureInfo.InvariantCulture)));
        }

        if (method == HttpMethod.Put)
        {
            if (request.Headers.Contains("x-amz-copy-source"))
            {
                return NotImplemented(request, requestId);
            }

            // A new bucket's default Object Ownership (bucket owner enforced) takes no ACL but bucket-owner-full-control.
            foreach ((string name, IEnumerable<string> values) in request.Headers)
            {
                bool acl = name.Equals("x-amz-acl", StringComparison.OrdinalIgnoreCase);
                if ((acl && values.FirstOrDefault() != "bucket-owner-full-control") || name.StartsWith("x-amz-grant-", StringComparison.OrdinalIgnoreCase))
                {
                    return Error(request, HttpStatusCode.BadRequest, "AccessControlListNotSupported", "The bucket does not allow ACLs", requestId, null);
                }
            }

            if (UnkeptFeature(request) is { } feature)
            {
                return Error(request, HttpStatusCode.NotImplemented, "NotImplemented", "The S3 model does not keep " + feature + "; it refuses the request rather than store the object without it.", requestId, null);
            }

            byte[] data = body;
            string sha = request.Headers.TryGetValues("x-amz-content-sha256", out IEnumerable<string>? shas) ? shas.FirstOrDefault() ?? string.Empty : string.Empty;
            bool chunked = sha.StartsWith("STREAMING-", StringComparison.Ordinal) ||
                (request.Content?.Headers.ContentEncoding.Contains("aws-chunked") ?? false);
            Dictionary<string, string> trailers = new(StringComparer.OrdinalIgnoreCase);
            if (chunked)
            {
                byte[]? decoded = DecodeAwsChunked(body, out trailers);
                if (decoded is null)
                {
                    return Error(request, HttpStatusCode.BadRequest, "IncompleteBody", "The request body terminated unexpectedly", requestId, null);
                }

                data = decoded;
            }

            // An additional checksum (a header, or a trailer of an aws-chunked body) is checked as S3 checks it, and kept;
            // one without any gets CRC-64/NVME, as S3 gives every new object.
            List<(string Name, string Value)> given = [.. request.Headers.Where(h => h.Key.StartsWith("x-amz-checksum-", StringComparison.OrdinalIgnoreCase) &&
                         !h.Key.Equals("x-amz-checksum-type", StringComparison.OrdinalIgnoreCase) && !h.Key.Equals("x-amz-checksum-algorithm", StringComparison.OrdinalIgnoreCase) &&
                         !h.Key.Equals("x-amz-checksum-mode", StringComparison.OrdinalIgnoreCase))
                         .Select(h => (h.Key.ToLowerInvariant(), h.Value.FirstOrDefault() ?? string.Empty))
                         .Concat(trailers.Where(t => t.Key.StartsWith("x-amz-checksum-", StringComparison.OrdinalIgnoreCase)).Select(t => (t.Key.ToLowerInvariant(), t.Value)))];
            if (given.Count > 1)
            {
                return Error(request, HttpStatusCode.BadRequest, "InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.", requestId, null);
            }

            string? declared = request.Headers.TryGetValues("x-amz-trailer", out IEnumerable<string>? trailerNames) ? trailerNames.FirstOrDefault()?.Trim().ToLowerInvariant() : null;
            if (declared is not null && declared.StartsWith("x-amz-checksum-", StringComparison.Ordinal) && !trailers.ContainsKey(declared))
            {
                // A checksum announced and not sent (or another one sent) is refused, not stored without it.
                return Error(request, HttpStatusCode.BadRequest, "InvalidRequest", "The trailer " + declared + " named in x-amz-trailer is not in the body.", requestId, null);
            }

            string? sdkAlgorithm = request.Headers.TryGetValues("x-amz-sdk-checksum-algorithm", out IEnumerable<string>? algorithms) ? algorithms.FirstOrDefault()?.ToLowerInvariant() : null;
            (string Name, string Value) checksum = ("x-amz-checksum-crc64nvme", S3Checksums.Compute("crc64nvme", data)!);
            if (given.Count == 1)
            {
                (string name, string value) = given[0];
                string algorithm = name["x-amz-checksum-".Length..];
                if (S3Checksums.Compute(algorithm, data) is not { } computed || (sdkAlgorithm is not null && sdkAlgorithm != algorithm))
                {
                    return Error(request, HttpStatusCode.BadRequest, "InvalidRequest", "Value for x-amz-sdk-checksum-algorithm header is invalid.", requestId, null);
                }

                if (!Convert.TryFromBase64String(value, new byte[computed.Length], out int length) || Convert.ToBase64String(new byte[length]).Length != computed.Length)
                {
                    return Error(request, HttpStatusCode.BadRequest, "InvalidRequest", "Value for " + name + " header is invalid.", requestId, null);
                }

                if (computed != value)
                {
                    return Error(request, HttpStatusCode.BadRequest, "BadDigest", "The " + algorithm.ToUpperInvariant() + " you specified did not match the calculated checksum.", requestId, null);
                }

                checksum = (name, value);
            }

            if (request.Content is not null && request.Content.Headers.TryGetValues("Content-MD5", out IEnumerable<string>? md5Texts) &&
                !(Convert.TryFromBase64String(md5Texts.FirstOrDefault() ?? string.Empty, new byte[16], out int md5Length) && md5Length == 16))
            {
                return Error(request, HttpStatusCode.BadRequest, "InvalidDigest", "The Content-MD5 you specified is not valid.", requestId, null);
            }

            if (request.Content?.Headers.ContentMD5 is { } md5 && !md5.AsSpan().SequenceEqual(MD5.HashData(data)))
            {
                return Error(request, HttpStatusCode.BadRequest, "BadDigest", "The Content-MD5 you specified did not match what we received.", requestId, null);
            }

            // Conditional writes (S3 since 2024): If-None-Match "*" only creates; If-Match replaces only that ETag.
            string? ifNoneMatch = request.Headers.TryGetValues("If-None-Match", out IEnumerable<string>? none) ? none.FirstOrDefault() : null;
            string? ifMatch = request.Headers.TryGetValues("If-Match", out IEnumerable<string>? match) ? match.FirstOrDefault() : null;
            if (ifMatch is not null && !bucket.ContainsKey(key))
            {
                return Error(request, HttpStatusCode.NotFound, "NoSuchKey", "The specified key does not exist.", requestId, key);
            }

            if ((ifNoneMatch == "*" && bucket.ContainsKey(key)) || (ifMatch is not null && bucket[key].ETag != ifMatch))
            {
                return Error(request, HttpStatusCode.PreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", requestId, key);
            }

            string etag = "\"" + Convert.ToHexString(MD5.HashData(data)).ToLowerInvariant() + "\"";
            string contentType = request.Content is not null && request.Content.Headers.TryGetValues("Content-Type", out IEnumerable<string>? types) && types.FirstOrDefault() is { Length: > 0 } type
                ? type
                : "binary/octet-stream";
            bucket[key] = new S3ModelObject(key, data, contentType, etag, _faults.Time.GetUtcNow()) { Headers = StoredHeaders(request), Checksum = checksum };
            _puts++;
            _bytesStored += data.Length;
            var put = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent([]) };
            put.Headers.TryAddWithoutValidation("ETag", etag);
            put.Headers.TryAddWithoutValidation("x-amz-server-side-encryption", "AES256");
            put.Headers.TryAddWithoutValidation(checksum.Name, checksum.Value);
            put.Headers.TryAddWithoutValidation("x-amz-checksum-type", "FULL_OBJECT");
            return put;
        }

        if (method == HttpMethod.Delete)
        {
            // Conditional deletes (S3 documents them for general purpose buckets): If-Match deletes only that ETag ("*":
            // any existing object); a missing object is 404, as for a conditional write.
            string? ifMatch = request.Headers.TryGetValues("If-Match", out IEnumerable<string>? match) ? match.FirstOrDefault() : null;
            if (ifMatch is not null && !bucket.ContainsKey(key))
            {
                return Error(request, HttpStatusCode.NotFound, "NoSuchKey", "The specified key does not exist.", requestId, key);
            }

            if (ifMatch is not null && ifMatch != "*" && bucket[key].ETag != ifMatch)
            {
                return Error(request, HttpStatusCode.PreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", requestId, key);
            }

            bucket.Remove(key);
            return new HttpResponseMessage(HttpStatusCode.NoContent) { Content = new ByteArrayContent([]) };
        }

        if (method == HttpMethod.Get || method == HttpMethod.Head)
        {
            if (!bucket.TryGetValue(key, out S3ModelObject? found))
            {
                return method == HttpMethod.Head
                    ? new HttpResponseMessage(HttpStatusCode.NotFound) { Content = new ByteArrayContent([]) }
                    : Error(request, HttpStatusCode.NotFound, "NoSuchKey", "The specified key does not exist.", requestId, key);
            }

            if (Precondition(request, found) is { } failed)
            {
                if (failed == HttpStatusCode.NotModified)
                {
                    var notModified = new HttpResponseMessage(HttpStatusCode.NotModified) { Content = new ByteArrayContent([]) };
                    notModified.Content.Headers.LastModified = Seconds(found.LastModified);
                    notModified.Headers.TryAddWithoutValidation("ETag", found.ETag);
                    return notModified;
                }

                return Error(request, HttpStatusCode.PreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", requestId, null, ("Condition", request.Headers.Contains("If-Match") ? "If-Match" : "If-Unmodified-Since"));
            }

            int length = found.Body.Length;
            (int Start, int End)? range = null;
            if (request.Headers.TryGetValues("Range", out IEnumerable<string>? ranges) && ranges.FirstOrDefault() is { } rangeText)
            {
                switch (ParseRange(rangeText, length, out int first, out int last))
                {
                    case RangeOutcome.Satisfiable:
                        range = (first, last);
                        break;
                    case RangeOutcome.Unsatisfiable:
                        HttpResponseMessage invalid = Error(request, HttpStatusCode.RequestedRangeNotSatisfiable, "InvalidRange", "The requested range is not satisfiable", requestId, null, ("RangeRequested", rangeText), ("ActualObjectSize", length.ToString(CultureInfo.InvariantCulture)));
                        invalid.Content.Headers.TryAddWithoutValidation("Content-Range", "bytes */" + length.ToString(CultureInfo.InvariantCulture));
                        return invalid;
                    default:
                        break; // not one byte range S3 serves: the whole object, as HTTP says for a range it ignores
                }
            }

            ReadOnlyMemory<byte> served = range is { } r ? found.Body[r.Start..(r.End + 1)] : found.Body;
            var response = new HttpResponseMessage(range is null ? HttpStatusCode.OK : HttpStatusCode.PartialContent)
            {
                Content = new ByteArrayContent(method == HttpMethod.Head ? [] : served.ToArray()),
            };
            response.Content.Headers.ContentLength = served.Length;
            if (range is { } part)
            {
                response.Content.Headers.TryAddWithoutValidation("Content-Range", string.Create(CultureInfo.InvariantCulture, $"bytes {part.Start}-{part.End}/{length}"));
            }

            response.Content.Headers.TryAddWithoutValidation("Content-Type", found.ContentType);
            response.Content.Headers.LastModified = Seconds(found.LastModified);
            response.Headers.TryAddWithoutValidation("ETag", found.ETag);
            response.Headers.TryAddWithoutValidation("Accept-Ranges", "bytes");
            response.Headers.TryAddWithoutValidation("x-amz-server-side-encryption", "AES256");
            if (range is null && found.Checksum is { } stored && request.Headers.TryGetValues("x-amz-checksum-mode", out IEnumerable<string>? mode) && mode.FirstOrDefault() == "ENABLED")
            {
                // The whole object's checksum, as S3 returns it when asked (not for a range: it is the object's, not the part's).
                response.Headers.TryAddWithoutValidation(stored.Name, stored.Value);
                response.Headers.TryAddWithoutValidation("x-amz-checksum-type", "FULL_OBJECT");
            }

            foreach ((string name, string value) in found.Headers)
            {
                if (!response.Headers.TryAddWithoutValidation(name, value))
                {
                    response.Content.Headers.TryAddWithoutValidation(name, value);
                }
            }

            return response;
        }

        return NotImplemented(request, requestId);
    }

    private void ListBuckets(XmlWriter w)
    {
        w.WriteStartElement("ListAllMyBucketsResult", "http://s3.amazonaws.com/doc/2006-03-01/");
        w.WriteStartElement("Owner");
        w.WriteElementString("ID", "model");
        w.WriteElementString("DisplayName", "model");
        w.WriteEndElement();
        w.WriteStartElement("Buckets");
        foreach (string name in _buckets.Keys)
        {
            w.WriteStartElement("Bucket");
            w.WriteElementString("Name", name);
            w.WriteElementString("CreationDate", "2020-01-01T00:00:00.000Z");
            w.WriteEndElement();
        }

        w.WriteEndElement();
        w.WriteEndElement();
    }

    private static HttpResponseMessage ListObjectsV2(HttpRequestMessage request, string requestId, string bucketName, SortedDictionary<string, S3ModelObject> bucket, Dictionary<string, string> query)
    {
        string prefix = query.GetValueOrDefault("prefix") ?? string.Empty;
        int maxKeys = 1000;
        if (query.TryGetValue("max-keys", out string? mk))
        {
            if (!int.TryParse(mk, NumberStyles.None, CultureInfo.InvariantCulture, out maxKeys))
            {
                return Error(request, HttpStatusCode.BadRequest, "InvalidArgument", "Provided max-keys not an integer or within integer range", requestId, null, ("ArgumentName", "max-keys"), ("ArgumentValue", mk));
            }

            maxKeys = Math.Min(maxKeys, 1000);
        }

        bool urlEncoded = false;
        if (query.TryGetValue("encoding-type", out string? encoding))
        {
            if (encoding != "url")
            {
                return Error(request, HttpStatusCode.BadRequest, "InvalidArgument", "Invalid Encoding Method specified in Request", requestId, null, ("ArgumentName", "encoding-type"), ("ArgumentValue", encoding));
            }

            urlEncoded = true;
        }

        string? token = query.GetValueOrDefault("continuation-token");
        string? startAfter = query.GetValueOrDefault("start-after");
        string? after = startAfter;
        if (token is not null)
        {
            // The model's tokens are the base64 of the last key listed; anything else is not one of its tokens.
            byte[] decoded = new byte[token.Length];
            if (!Convert.TryFromBase64String(token, decoded, out int decodedLength) || decodedLength == 0)
            {
                return Error(request, HttpStatusCode.BadRequest, "InvalidArgument", "The continuation token provided is incorrect", requestId, null, ("ArgumentName", "continuation-token"));
            }

            after = Encoding.UTF8.GetString(decoded, 0, decodedLength);
        }

        var matching = bucket.Values
            .Where(o => o.Key.StartsWith(prefix, StringComparison.Ordinal) && (after is null || Utf8Order.Instance.Compare(o.Key, after) > 0))
            .ToList();
        List<S3ModelObject> page = matching.Take(maxKeys).ToList();
        bool truncated = matching.Count > page.Count && page.Count > 0;
        string Text(string value) => urlEncoded ? UrlEncode(value) : value;
        return Xml(HttpStatusCode.OK, w =>
        {
            w.WriteStartElement("ListBucketResult", "http://s3.amazonaws.com/doc/2006-03-01/");
            w.WriteElementString("Name", bucketName);
            w.WriteElementString("Prefix", Text(prefix));
            if (startAfter is not null)
            {
                w.WriteElementString("StartAfter", Text(startAfter));
            }

            w.WriteElementString("KeyCount", page.Count.ToString(CultureInfo.InvariantCulture));
            w.WriteElementString("MaxKeys", maxKeys.ToString(CultureInfo.InvariantCulture));
            if (urlEncoded)
            {
                w.WriteElementString("EncodingType", "url");
            }

            w.WriteElementString("IsTruncated", truncated ? "true" : "false");
            if (token is not null)
            {
                w.WriteElementString("ContinuationToken", token);
            }

            if (truncated)
            {
                w.WriteElementString("NextContinuationToken", Convert.ToBase64String(Encoding.UTF8.GetBytes(page[^1].Key)));
            }

            foreach (S3ModelObject o in page)
            {
                w.WriteStartElement("Contents");
                w.WriteElementString("Key", Text(o.Key));
                w.WriteElementString("LastModified", Seconds(o.LastModified).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
                w.WriteElementString("ETag", o.ETag);
                w.WriteElementString("Size", o.Body.Length.ToString(CultureInfo.InvariantCulture));
                w.WriteElementString("StorageClass", "STANDARD");
                w.WriteEndElement();
            }

            w.WriteEndElement();
        });
    }

    private static Dictionary<string, string> ParseQuery(string query)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string part in query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = part.IndexOf('=', StringComparison.Ordinal);
            string name = Uri.UnescapeDataString(eq < 0 ? part : part[..eq]);
            result[name] = eq < 0 ? string.Empty : Uri.UnescapeDataString(part[(eq + 1)..].Replace('+', ' '));
        }

        return result;
    }

    private static HttpResponseMessage Xml(HttpStatusCode status, Action<XmlWriter> write)
    {
        using var buffer = new MemoryStream();
        // Characters XML 1.0 cannot hold are written as they are, as S3 writes a key with them when the request did not
        // ask for encoding-type=url: the client's parser then fails on the answer, as it does on S3's.
        using (var writer = XmlWriter.Create(buffer, new XmlWriterSettings { Encoding = new UTF8Encoding(false), CheckCharacters = false }))
        {
            writer.WriteStartDocument();
            write(writer);
        }

        var response = new HttpResponseMessage(status) { Content = new ByteArrayContent(buffer.ToArray()) };
        response.Content.Headers.TryAddWithoutValidation("Content-Type", "application/xml");
        return response;
    }

    private static HttpResponseMessage Error(HttpRequestMessage request, HttpStatusCode status, string code, string message, string requestId, string? key, params (string Name, string Value)[] details)
    {
        if (request.Method == HttpMethod.Head)
        {
            return new HttpResponseMessage(status) { RequestMessage = request, Content = new ByteArrayContent([]) };
        }

        HttpResponseMessage response = Xml(status, w =>
        {
            w.WriteStartElement("Error");
            w.WriteElementString("Code", code);
            w.WriteElementString("Message", message);
            if (key is not null)
            {
                w.WriteElementString("Key", key);
            }

            foreach ((string name, string value) in details)
            {
                w.WriteElementString(name, value);
            }

            w.WriteElementString("RequestId", requestId);
            w.WriteEndElement();
        });
        response.RequestMessage = request;
        return response;
    }

    private static HttpResponseMessage NoSuchBucket(HttpRequestMessage request, string bucket, string requestId) =>
        Error(request, HttpStatusCode.NotFound, "NoSuchBucket", "The specified bucket does not exist", requestId, null, ("BucketName", bucket));

    private static HttpResponseMessage NotImplemented(HttpRequestMessage request, string requestId) =>
        Error(request, HttpStatusCode.NotImplemented, "NotImplemented", "The S3 model does not implement " + request.Method + " " + request.RequestUri?.PathAndQuery + ".", requestId, null);

    /// <summary>The longest key S3 takes, in UTF-8 bytes.</summary>
    private const int MaxKeyBytes = 1024;

    /// <summary>
    /// S3's rules for a general purpose bucket's name: 3 to 63 characters, lower-case letters, digits, dots and hyphens,
    /// beginning and ending with a letter or digit, no two dots in a row, not formatted as an IP address, none of the
    /// reserved prefixes and suffixes.
    /// </summary>
    internal static bool IsValidBucketName(string name)
    {
        if (name.Length is < 3 or > 63 || !char.IsAsciiLetterLower(name[0]) && !char.IsAsciiDigit(name[0]) ||
            !char.IsAsciiLetterLower(name[^1]) && !char.IsAsciiDigit(name[^1]) || name.Contains("..", StringComparison.Ordinal) ||
            IsDottedQuad(name) ||
            name.StartsWith("xn--", StringComparison.Ordinal) || name.StartsWith("sthree-", StringComparison.Ordinal) || name.StartsWith("amzn-s3-demo-", StringComparison.Ordinal) ||
            name.EndsWith("-s3alias", StringComparison.Ordinal) || name.EndsWith("--ol-s3", StringComparison.Ordinal) || name.EndsWith(".mrap", StringComparison.Ordinal) ||
            name.EndsWith("--x-s3", StringComparison.Ordinal) || name.EndsWith("--table-s3", StringComparison.Ordinal))
        {
            return false;
        }

        foreach (char c in name)
        {
            if (!char.IsAsciiLetterLower(c) && !char.IsAsciiDigit(c) && c != '.' && c != '-')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>"Formatted as an IP address" (192.168.5.4): four groups of digits; "2024" or "1.2.3" are names.</summary>
    private static bool IsDottedQuad(string name)
    {
        string[] parts = name.Split('.');
        return parts.Length == 4 && parts.All(p => p.Length is > 0 and <= 3 && p.All(char.IsAsciiDigit));
    }

    /// <summary>What a PutObject asks to keep that the model would not: named for the refusal, or null.</summary>
    private static string? UnkeptFeature(HttpRequestMessage request)
    {
        foreach ((string name, IEnumerable<string> values) in request.Headers)
        {
            string lower = name.ToLowerInvariant();
            string value = values.FirstOrDefault() ?? string.Empty;
            string? feature = lower switch
            {
                "x-amz-tagging" => "object tags (x-amz-tagging)",
                "x-amz-storage-class" when value != "STANDARD" => "a storage class other than STANDARD (x-amz-storage-class: " + value + ")",
                "x-amz-website-redirect-location" => "a website redirect (x-amz-website-redirect-location)",
                // SSE-S3 is what every object gets (S3 encrypts every new object with it), so AES256 asks for nothing more.
                "x-amz-server-side-encryption" when value == "AES256" => null,
                _ when lower.StartsWith("x-amz-server-side-encryption", StringComparison.Ordinal) => "server-side encryption other than SSE-S3 (" + lower + ")",
                _ when lower.StartsWith("x-amz-object-lock", StringComparison.Ordinal) => "object lock settings (" + lower + ")",
                _ => null,
            };
            if (feature is not null)
            {
                return feature;
            }
        }

        return null;
    }

    /// <summary>The headers a PutObject stores with the object (see <see cref="S3ModelObject.Headers"/>).</summary>
    private static Dictionary<string, string> StoredHeaders(HttpRequestMessage request)
    {
        var stored = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach ((string name, IEnumerable<string> values) in request.Headers)
        {
            if (name.StartsWith("x-amz-meta-", StringComparison.OrdinalIgnoreCase))
            {
                stored[name.ToLowerInvariant()] = string.Join(",", values);
            }
            else if (name.Equals("Cache-Control", StringComparison.OrdinalIgnoreCase))
            {
                stored["Cache-Control"] = string.Join(", ", values);
            }
        }

        if (request.Content is not null)
        {
            foreach ((string name, IEnumerable<string> values) in request.Content.Headers)
            {
                if (name.Equals("Content-Encoding", StringComparison.OrdinalIgnoreCase))
                {
                    // aws-chunked is how the body was sent, not what it is: S3 leaves it out.
                    string[] kept = [.. values.SelectMany(v => v.Split(',')).Select(v => v.Trim()).Where(v => v.Length > 0 && !v.Equals("aws-chunked", StringComparison.OrdinalIgnoreCase))];
                    if (kept.Length > 0)
                    {
                        stored["Content-Encoding"] = string.Join(",", kept);
                    }
                }
                else if (name.Equals("Content-Disposition", StringComparison.OrdinalIgnoreCase) || name.Equals("Content-Language", StringComparison.OrdinalIgnoreCase) ||
                         name.Equals("Expires", StringComparison.OrdinalIgnoreCase))
                {
                    stored[name] = string.Join(", ", values);
                }
            }
        }

        return stored;
    }

    /// <summary>
    /// The outcome of a GetObject's or HeadObject's conditions, as S3 documents them: 412 when <c>If-Match</c> fails (or,
    /// without it, <c>If-Unmodified-Since</c>), then 304 when <c>If-None-Match</c> matches (or, without it,
    /// <c>If-Modified-Since</c> finds no change); null to serve the object. Times compare at whole seconds, as HTTP dates hold them.
    /// </summary>
    private static HttpStatusCode? Precondition(HttpRequestMessage request, S3ModelObject found)
    {
        DateTimeOffset modified = Seconds(found.LastModified);
        HttpRequestHeaders headers = request.Headers;
        if (headers.TryGetValues("If-Match", out IEnumerable<string>? match))
        {
            if (!EtagListHas(match, found.ETag))
            {
                return HttpStatusCode.PreconditionFailed;
            }
        }
        else if (headers.IfUnmodifiedSince is { } unmodifiedSince && modified > unmodifiedSince)
        {
            return HttpStatusCode.PreconditionFailed;
        }

        if (headers.TryGetValues("If-None-Match", out IEnumerable<string>? noneMatch))
        {
            // If-None-Match compares weakly (RFC 9110): W/"x" matches "x".
            if (EtagListHas(noneMatch.Select(v => v.Replace("W/", string.Empty, StringComparison.Ordinal)), found.ETag))
            {
                return HttpStatusCode.NotModified;
            }
        }
        else if (headers.IfModifiedSince is { } modifiedSince && modified <= modifiedSince)
        {
            return HttpStatusCode.NotModified;
        }

        return null;
    }

    private static bool EtagListHas(IEnumerable<string> values, string etag) =>
        values.SelectMany(v => v.Split(',')).Select(v => v.Trim()).Any(v => v == "*" || v == etag || v == etag.Trim('"'));

    private enum RangeOutcome
    {
        Ignored,
        Satisfiable,
        Unsatisfiable,
    }

    /// <summary>
    /// One byte range (<c>bytes=first-last</c>, <c>bytes=first-</c>, <c>bytes=-suffix</c>); S3 serves no more than one,
    /// and a header it cannot read is ignored (the whole object), as HTTP says.
    /// </summary>
    private static RangeOutcome ParseRange(string text, int length, out int first, out int last)
    {
        first = last = 0;
        if (!text.StartsWith("bytes=", StringComparison.Ordinal) || text.Contains(',', StringComparison.Ordinal))
        {
            return RangeOutcome.Ignored;
        }

        string spec = text["bytes=".Length..].Trim();
        int dash = spec.IndexOf('-', StringComparison.Ordinal);
        if (dash < 0)
        {
            return RangeOutcome.Ignored;
        }

        string from = spec[..dash], to = spec[(dash + 1)..];
        if (from.Length == 0)
        {
            if (!long.TryParse(to, NumberStyles.None, CultureInfo.InvariantCulture, out long suffix))
            {
                return RangeOutcome.Ignored;
            }

            if (suffix == 0 || length == 0)
            {
                return RangeOutcome.Unsatisfiable;
            }

            first = (int)Math.Max(0, length - suffix);
            last = length - 1;
            return RangeOutcome.Satisfiable;
        }

        if (!long.TryParse(from, NumberStyles.None, CultureInfo.InvariantCulture, out long start))
        {
            return RangeOutcome.Ignored;
        }

        long end = length - 1L;
        if (to.Length > 0)
        {
            if (!long.TryParse(to, NumberStyles.None, CultureInfo.InvariantCulture, out end) || end < start)
            {
                return RangeOutcome.Ignored;
            }
        }

        if (start >= length)
        {
            return RangeOutcome.Unsatisfiable;
        }

        first = (int)start;
        last = (int)Math.Min(end, length - 1L);
        return RangeOutcome.Satisfiable;
    }

    /// <summary>A time at whole seconds: what an HTTP date holds, and what S3 lists (<c>.000Z</c>).</summary>
    private static DateTimeOffset Seconds(DateTimeOffset time) => new(time.UtcTicks - (time.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);

    /// <summary>
    /// A key as S3 writes it under <c>encoding-type=url</c>: the UTF-8 bytes of every character but unreserved ones and
    /// <c>/</c> percent-encoded (S3's example: <c>test_file(3).png</c> as <c>test_file%283%29.png</c>), a space as
    /// <c>+</c> (the AWS SDK for Python decodes these keys as form data). The AWS SDK for .NET hands them on encoded.
    /// </summary>
    private static string UrlEncode(string value) =>
        Uri.EscapeDataString(value).Replace("%2F", "/", StringComparison.Ordinal).Replace("%20", "+", StringComparison.Ordinal);

    /// <summary>Keys in UTF-8 binary order, as S3 lists them (ordinal UTF-16 order puts U+E000-U+FFFF after supplementary characters).</summary>
    internal sealed class Utf8Order : IComparer<string>
    {
        public static readonly Utf8Order Instance = new();

        public int Compare(string? x, string? y)
        {
            if (ReferenceEquals(x, y))
            {
                return 0;
            }

            if (x is null || y is null)
            {
                return x is null ? -1 : 1;
            }

            int length = Math.Min(x.Length, y.Length);
            for (int i = 0; i < length; i++)
            {
                char a = x[i], b = y[i];
                if (a != b)
                {
                    // UTF-8 order is code point order: surrogates (supplementary characters) sort after U+E000-U+FFFF.
                    return Rank(a).CompareTo(Rank(b));
                }
            }

            return x.Length.CompareTo(y.Length);
        }

        private static int Rank(char c) => char.IsSurrogate(c) ? c + 0x2000 : c >= '\uE000' ? c - 0x800 : c;
    }

    private sealed class Handler(S3Model model) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            model.ServeAsync(request, cancellationToken);
    }
}
