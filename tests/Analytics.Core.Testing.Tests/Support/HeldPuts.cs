namespace Analytics.Core.Testing.Tests;

/// <summary>
/// A request DynamoDB holds and applies later: a copy of it (its body and headers read now, as they went on the wire),
/// handed to <c>land</c>, which is started owned by no invocation (the emulator stops a timed-out invocation's timers,
/// not DynamoDB's work).
/// </summary>
internal static class HeldPuts
{
    public static async Task HoldAsync(HttpRequestMessage request, Func<HttpRequestMessage, Task> land, CancellationToken cancellationToken)
    {
        byte[] body = await request.Content!.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        var copy = new HttpRequestMessage(request.Method, request.RequestUri) { Content = new ByteArrayContent(body) };
        foreach (KeyValuePair<string, IEnumerable<string>> header in request.Headers)
        {
            copy.Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        foreach (KeyValuePair<string, IEnumerable<string>> header in request.Content.Headers)
        {
            copy.Content.Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        object? owner = VirtualClock.CurrentOwner.Value;
        VirtualClock.CurrentOwner.Value = null;
        try
        {
            _ = land(copy);
        }
        finally
        {
            VirtualClock.CurrentOwner.Value = owner;
        }
    }
}
