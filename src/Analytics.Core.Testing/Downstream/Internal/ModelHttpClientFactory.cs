using Amazon.Runtime;

namespace Analytics.Core.Testing;

/// <summary>Hands the AWS SDK an <see cref="HttpClient"/> over a model's in-process handler: no socket is opened.</summary>
internal sealed class ModelHttpClientFactory(HttpMessageHandler handler) : HttpClientFactory
{
    // The model's latency runs on its own clock; the HttpClient must not time out in real time meanwhile.
    public override HttpClient CreateHttpClient(IClientConfig clientConfig) =>
        new(handler, disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan };

    // Cached per SDK client (null: not shared between clients) and disposed with it; the handler outlives both.
    public override string? GetConfigUniqueString(IClientConfig clientConfig) => null;
}
