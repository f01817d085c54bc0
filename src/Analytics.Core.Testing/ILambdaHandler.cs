namespace Analytics.Core.Testing;

/// <summary>
/// A function under test, in process: the event bytes and the deadline in, the response bytes out, or an exception
/// (a function error).
/// </summary>
/// <remarks>
/// <para>The emulator calls it on its own thread. To stay deterministic the handler waits only on the emulator's
/// <see cref="TimeProvider"/> (<see cref="StreamEmulator.Clock"/>): <c>Task.Delay(t, clock)</c>, timeouts built with it,
/// and downstream models driven by it; it does not hop to the thread pool (<c>Task.Run</c>, <c>Task.Yield</c>) or wait on
/// real I/O. <c>ConfigureAwait(false)</c> is fine: continuations of clock timers run inline on the emulator's thread.
/// One trap: a <c>Task.Delay(t, clock, token)</c> ended by its token (a deadline or a cancelled retry backoff) resumes
/// its awaiter on the thread pool since .NET 8, so the code after it races the emulator; wait with a clock timer and
/// a token registration that complete a <see cref="TaskCompletionSource"/> without
/// <c>RunContinuationsAsynchronously</c> instead, as the library's AWS sinks do.</para>
/// <para>The event bytes are valid until the returned task completes: after a successful invocation the emulator builds
/// later events in the same memory. Keep a copy (<c>utf8Event.ToArray()</c>) of what you keep.</para>
/// </remarks>
public interface ILambdaHandler
{
    /// <summary>Handles one invocation.</summary>
    /// <param name="utf8Event">The event, as Lambda sends it.</param>
    /// <param name="deadline">When Lambda ends the invocation (its timeout), in the emulator's time.</param>
    /// <param name="cancellationToken">Not cancelled by the emulator (Lambda does not cancel; it stops the environment).</param>
    /// <returns>
    /// The response body (empty for none), at most 6 MiB and 100 bytes (6,291,556 bytes, Lambda's bound): as in Lambda,
    /// a larger one fails the invocation (a function error, <c>Function.ResponseSizeTooLarge</c>).
    /// </returns>
    Task<ReadOnlyMemory<byte>> InvokeAsync(ReadOnlyMemory<byte> utf8Event, DateTimeOffset deadline, CancellationToken cancellationToken);
}

/// <summary>Adapts a delegate to <see cref="ILambdaHandler"/>.</summary>
public sealed class DelegateHandler : ILambdaHandler
{
    private readonly Func<ReadOnlyMemory<byte>, DateTimeOffset, CancellationToken, Task<ReadOnlyMemory<byte>>> _invoke;

    /// <summary>Wraps <paramref name="invoke"/>.</summary>
    /// <param name="invoke">The handler.</param>
    public DelegateHandler(Func<ReadOnlyMemory<byte>, DateTimeOffset, CancellationToken, Task<ReadOnlyMemory<byte>>> invoke)
    {
        ArgumentNullException.ThrowIfNull(invoke);
        _invoke = invoke;
    }

    /// <inheritdoc />
    public Task<ReadOnlyMemory<byte>> InvokeAsync(ReadOnlyMemory<byte> utf8Event, DateTimeOffset deadline, CancellationToken cancellationToken) =>
        _invoke(utf8Event, deadline, cancellationToken);
}
