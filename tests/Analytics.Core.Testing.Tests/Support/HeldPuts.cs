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

    /// <summary>Sends a held request's copy to <paramref name="model"/> after <paramref name="delay"/> of <paramref name="clock"/>; whether the model applied it (HTTP 200).</summary>
    public static async Task<bool> ApplyAfterAsync(HttpMessageHandler model, HttpRequestMessage copy, TimeSpan delay, TimeProvider clock)
    {
        await Task.Delay(delay, clock).ConfigureAwait(false);
        using var invoker = new HttpMessageInvoker(model, disposeHandler: false);
        using HttpResponseMessage answer = await invoker.SendAsync(copy, CancellationToken.None).ConfigureAwait(false);
        copy.Dispose();
        return answer.StatusCode == System.Net.HttpStatusCode.OK;
    }
}
