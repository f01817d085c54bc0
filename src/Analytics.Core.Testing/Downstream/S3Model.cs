using System.Globalization;
using System.Net;
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

    /// <summary>Spans of time in which every request is answered with HTTP 500 <c>InternalError</c>. Default none.</summary>
    public IReadOnlyList<OutageWindow>? Outages { get; init; }
}

/// <summary>What an <see cref="S3Model"/> has served so far.</summary>
/// <param name="Requests">Every request received.</param>
/// <param name="Puts">Objects stored (PutObject answered 200).</param>
/// <param name="Throttles">Requests answered with <c>SlowDown</c>.</param>
/// <param name="OutageErrors">Requests answered with a server error because they fell in an outage.</param>
/// <param name="BytesStored">Body bytes of the objects stored (overwrites counted again).</param>
public readonly record struct S3ModelCounters(long Requests, long Puts, long Throttles, long OutageErrors, long BytesStored);

/// <summary>One stored object of an <see cref="S3Model"/>.</summary>
/// <param name="Key">The key.</param>
/// <param name="Body">The bytes.</param>
/// <param name="ContentType">The content type given at upload (<c>binary/octet-stream</c> when none was).</param>
/// <param name="ETag">The quoted hex MD5 of the body, as S3 gives it for a single-part upload.</param>
/// <param name="LastModified">When it was stored, by the model's clock.</param>
public sealed record S3ModelObject(string Key, ReadOnlyMemory<byte> Body, string ContentType, string ETag, DateTimeOffset LastModified);

/// <summary>
/// An in-process model of Amazon S3 (path-style REST) that the real <see cref="AmazonS3Client"/>, and so the real
/// <see cref="S3QuarantineSink"/>, talks to without a socket, in the model's time.
/// </summary>
/// <remarks>
/// <para><b>Operations.</b> CreateBucket, HeadBucket, ListBuckets, PutObject (conditional with <c>If-None-Match: *</c> or <c>If-Match</c>; plain bodies, as sent with
/// <c>UseChunkEncoding = false</c>, and <c>aws-chunked</c> bodies, which are decoded as S3 does; <c>Content-MD5</c> is
/// checked), GetObject, HeadObject, DeleteObject (conditional with <c>If-Match</c>), ListObjectsV2 (<c>prefix</c>, <c>start-after</c>, <c>max-keys</c>,
/// continuation tokens). Other requests are answered 501 <c>NotImplemented</c>.</para>
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
    private readonly SortedDictionary<string, SortedDictionary<string, S3ModelObject>> _buckets = new(StringComparer.Ordinal);
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
        _faults = new FaultPlan(options.Seed, options.Latency, options.ThrottleFraction, options.Outages, timeProvider, "S3ModelOptions.");
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
    /// retry throttling), no real-time timeout, and checksums only where S3 requires them.
    /// </summary>
    /// <returns>A new client; the caller disposes it.</returns>
    public AmazonS3Client CreateClient()
    {
        var config = new AmazonS3Config
        {
            ServiceURL = "http://s3.model.invalid",
            AuthenticationRegion = Region,
            ForcePathStyle = true,
            MaxErrorRetry = 0,
            RetryMode = RequestRetryMode.Standard,
            ThrottleRetries = false,
            Timeout = Timeout.InfiniteTimeSpan,
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            HttpClientFactory = new ModelHttpClientFactory(_handler),
        };
        return new AmazonS3Client(new AnonymousAWSCredentials(), config);
    }

    /// <summary>Creates a bucket directly (no request, no fault); an existing bucket is kept.</summary>
    /// <param name="bucketName">The bucket.</param>
    public void CreateBucket(string bucketName)
    {
        ArgumentException.ThrowIfNullOrEmpty(bucketName);
        lock (_gate)
        {
            _buckets.TryAdd(bucketName, new SortedDictionary<string, S3ModelObject>(StringComparer.Ordinal));
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
            bucket[key] = new S3ModelObject(key, body, contentType, etag, _faults.Time.GetUtcNow());
            _puts++;
            _bytesStored += body.Length;
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
    public void Dispose() => _handler.Dispose();

    /// <summary>Decodes an <c>aws-chunked</c> body: <c>hex-size[;chunk-signature=..]\r\n data \r\n</c> up to a zero-size chunk, then optional trailers.</summary>
    internal static byte[]? DecodeAwsChunked(ReadOnlySpan<byte> body)
    {
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
                if (bucket is not null)
                {
                    return Error(request, HttpStatusCode.Conflict, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.", requestId, null);
                }

                _buckets[bucketName] = new SortedDictionary<string, S3ModelObject>(StringComparer.Ordinal);
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
                return ListObjectsV2(bucketName, bucket, query);
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

        if (method == HttpMethod.Put)
        {
            if (request.Headers.Contains("x-amz-copy-source"))
            {
                return NotImplemented(request, requestId);
            }

            byte[] data = body;
            string sha = request.Headers.TryGetValues("x-amz-content-sha256", out IEnumerable<string>? shas) ? shas.FirstOrDefault() ?? string.Empty : string.Empty;
            bool chunked = sha.StartsWith("STREAMING-", StringComparison.Ordinal) ||
                (request.Content?.Headers.ContentEncoding.Contains("aws-chunked") ?? false);
            if (chunked)
            {
                byte[]? decoded = DecodeAwsChunked(body);
                if (decoded is null)
                {
                    return Error(request, HttpStatusCode.BadRequest, "IncompleteBody", "The request body terminated unexpectedly", requestId, null);
                }

                data = decoded;
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
            string contentType = request.Content?.Headers.ContentType?.ToString() ?? "binary/octet-stream";
            bucket[key] = new S3ModelObject(key, data, contentType, etag, _faults.Time.GetUtcNow());
            _puts++;
            _bytesStored += data.Length;
            var put = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent([]) };
            put.Headers.TryAddWithoutValidation("ETag", etag);
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

            var response = new HttpResponseMessage(HttpStatusCode.OK)
            {
                Content = new ByteArrayContent(method == HttpMethod.Head ? [] : found.Body.ToArray()),
            };
            response.Content.Headers.ContentLength = found.Body.Length;
            response.Content.Headers.TryAddWithoutValidation("Content-Type", found.ContentType);
            response.Content.Headers.LastModified = found.LastModified;
            response.Headers.TryAddWithoutValidation("ETag", found.ETag);
            response.Headers.TryAddWithoutValidation("Accept-Ranges", "bytes");
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

    private static HttpResponseMessage ListObjectsV2(string bucketName, SortedDictionary<string, S3ModelObject> bucket, Dictionary<string, string> query)
    {
        string prefix = query.GetValueOrDefault("prefix") ?? string.Empty;
        int maxKeys = query.TryGetValue("max-keys", out string? mk) && int.TryParse(mk, NumberStyles.None, CultureInfo.InvariantCulture, out int m) ? Math.Min(m, 1000) : 1000;
        string? token = query.GetValueOrDefault("continuation-token");
        string? after = token is not null ? Encoding.UTF8.GetString(Convert.FromBase64String(token)) : query.GetValueOrDefault("start-after");
        var matching = bucket.Values
            .Where(o => o.Key.StartsWith(prefix, StringComparison.Ordinal) && (after is null || string.CompareOrdinal(o.Key, after) > 0))
            .ToList();
        List<S3ModelObject> page = matching.Take(maxKeys).ToList();
        bool truncated = matching.Count > page.Count;
        return Xml(HttpStatusCode.OK, w =>
        {
            w.WriteStartElement("ListBucketResult", "http://s3.amazonaws.com/doc/2006-03-01/");
            w.WriteElementString("Name", bucketName);
            w.WriteElementString("Prefix", prefix);
            w.WriteElementString("KeyCount", page.Count.ToString(CultureInfo.InvariantCulture));
            w.WriteElementString("MaxKeys", maxKeys.ToString(CultureInfo.InvariantCulture));
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
                w.WriteElementString("Key", o.Key);
                w.WriteElementString("LastModified", o.LastModified.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
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
        using (var writer = XmlWriter.Create(buffer, new XmlWriterSettings { Encoding = new UTF8Encoding(false) }))
        {
            writer.WriteStartDocument();
            write(writer);
        }

        var response = new HttpResponseMessage(status) { Content = new ByteArrayContent(buffer.ToArray()) };
        response.Content.Headers.TryAddWithoutValidation("Content-Type", "application/xml");
        return response;
    }

    private static HttpResponseMessage Error(HttpRequestMessage request, HttpStatusCode status, string code, string message, string requestId, string? key)
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

            w.WriteElementString("RequestId", requestId);
            w.WriteEndElement();
        });
        response.RequestMessage = request;
        return response;
    }

    private static HttpResponseMessage NoSuchBucket(HttpRequestMessage request, string bucket, string requestId) =>
        Error(request, HttpStatusCode.NotFound, "NoSuchBucket", "The specified bucket does not exist: " + bucket, requestId, null);

    private static HttpResponseMessage NotImplemented(HttpRequestMessage request, string requestId) =>
        Error(request, HttpStatusCode.NotImplemented, "NotImplemented", "The S3 model does not implement " + request.Method + " " + request.RequestUri?.PathAndQuery + ".", requestId, null);

    private sealed class Handler(S3Model model) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            model.ServeAsync(request, cancellationToken);
    }
}
