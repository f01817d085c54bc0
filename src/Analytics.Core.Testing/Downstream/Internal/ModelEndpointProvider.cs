using Amazon.Runtime.Endpoints;

namespace Analytics.Core.Testing;

/// <summary>
/// Resolves every request of a model's client to the model's fixed address. The service's generated provider evaluates
/// its endpoint rules (partitions, FIPS, dual-stack, account endpoints) on every request, about 7% of the emulator
/// thread's time under the sample handler, for an address that never changes.
/// </summary>
internal sealed class ModelEndpointProvider(string url) : IEndpointProvider
{
    private readonly Endpoint _endpoint = new(url);

    public Endpoint ResolveEndpoint(EndpointParameters parameters) => _endpoint;
}
