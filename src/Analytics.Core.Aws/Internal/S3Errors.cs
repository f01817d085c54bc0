using Amazon.S3;

namespace Analytics.Core;

/// <summary>S3 errors that mean the sink's bucket is misconfigured, restated with the bucket and its option.</summary>
internal static class S3Errors
{
    /// <summary>
    /// A missing bucket, a denied request or a bucket in another region than the client's, as the same exception (type,
    /// error code, status) with a message that names the bucket and the option: S3's own ("The specified bucket does not
    /// exist", "Access Denied", "The bucket you are attempting to access must be addressed using the specified
    /// endpoint", "The authorization header is malformed; the region 'us-east-1' is wrong") names neither. Null for any
    /// other error.
    /// </summary>
    /// <param name="e">The error S3 answered.</param>
    /// <param name="bucket">The sink's bucket.</param>
    /// <param name="option">The option that names it.</param>
    public static AmazonS3Exception? NamingTheBucket(AmazonS3Exception e, string bucket, string option) =>
        e.GetType() == typeof(AmazonS3Exception) && e.ErrorCode is "NoSuchBucket" or "AccessDenied" or "PermanentRedirect" or "AuthorizationHeaderMalformed"
            ? new AmazonS3Exception("Bucket '" + bucket + "' (" + option + "): " + e.Message, e, e.ErrorType, e.ErrorCode, e.RequestId, e.StatusCode)
            : null;
}
