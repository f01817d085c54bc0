using System.Buffers;

namespace Analytics.SampleLambda;

/// <summary>Handles one invocation: the event in, the response JSON out.</summary>
internal interface IInvocationHandler : IAsyncDisposable
{
    /// <summary>Processes one event and writes the response JSON.</summary>
    /// <param name="utf8Event">The event body as Lambda delivered it.</param>
    /// <param name="deadline">When Lambda ends the invocation.</param>
    /// <param name="response">Receives the response JSON.</param>
    /// <param name="cancellationToken">Cancels the invocation (the sandbox is shutting down).</param>
    /// <returns>A task that completes when the response is written; a throw is a function error.</returns>
    Task HandleAsync(ReadOnlyMemory<byte> utf8Event, DateTimeOffset deadline, IBufferWriter<byte> response, CancellationToken cancellationToken);
}
