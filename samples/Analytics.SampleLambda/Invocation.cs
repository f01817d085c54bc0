namespace Analytics.SampleLambda;

/// <summary>One event handed out by the Runtime API's <c>/runtime/invocation/next</c>.</summary>
/// <param name="RequestId">The <c>Lambda-Runtime-Aws-Request-Id</c> header.</param>
/// <param name="Deadline">The <c>Lambda-Runtime-Deadline-Ms</c> header (epoch milliseconds).</param>
/// <param name="Body">The event JSON.</param>
/// <param name="TraceId">The <c>Lambda-Runtime-Trace-Id</c> header (X-Ray's tracing header), or null when absent.</param>
internal sealed record Invocation(string RequestId, DateTimeOffset Deadline, ReadOnlyMemory<byte> Body, string? TraceId = null);
