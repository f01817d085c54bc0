namespace Analytics.Core.Testing.Tests;

/// <summary>
/// A handler that answers <paramref name="late"/> after the one it wraps has finished (with its answer or its
/// exception): time the function spends after its work that it did not plan for (a collector's pause, a slow flush of
/// its logs). With a short timeout, an invocation whose writes were slow then times out after its effects landed, and
/// the re-delivery meets items that already hold part of the batch. (Modeled compute time cannot do this: it runs
/// before the handler, which sees it and plans by what is left.)
/// </summary>
internal sealed class AnswersLateHandler(ILambdaHandler inner, TimeProvider clock, TimeSpan late) : ILambdaHandler
{
    public async Task<ReadOnlyMemory<byte>> InvokeAsync(ReadOnlyMemory<byte> utf8Event, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        Task<ReadOnlyMemory<byte>> work = inner.InvokeAsync(utf8Event, deadline, cancellationToken);
        try
        {
            await work.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Answered below, after the pause, as it would have been.
        }

        await Task.Delay(late, clock, CancellationToken.None).ConfigureAwait(false);
        return await work.ConfigureAwait(false);
    }
}
