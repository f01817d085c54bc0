using System.Globalization;
using System.Text;
using Analytics.Core.Testing;

namespace Analytics.Replay.Incident;

/// <summary>
/// The incident's records: one metric sample each, 200 to 300 bytes, as a service fleet's instrumentation writes them
/// (a request metric with the service, region, cluster, environment, host and build as dimensions; the service is the
/// partition key, the other dimensions are fixed per service).
/// </summary>
internal static class IncidentRecords
{
    /// <summary>The generator (scenario <c>"generator":{"kind":"service-metric"}</c>).</summary>
    /// <param name="metrics">How many metric names.</param>
    /// <returns>The generator.</returns>
    public static RecordGenerator ServiceMetric(int metrics) => (index, key, time, random) =>
    {
        int metric = random.Next(metrics);
        double value = random.Next(1, 5_000_000) / 1000.0;
        uint host = Fnv(key);
        // A key prefix with a quote, a backslash or a control character: escaped, so the record stays valid JSON with the
        // key as its service (as the metric generator does).
        key = RecordGenerators.JsonStringContent(key);

        return Encoding.UTF8.GetBytes(string.Create(
            CultureInfo.InvariantCulture,
            $"{{\"metric\":\"http.server.request.duration.{metric}\",\"value\":{value:R},\"timestamp\":{time.ToUnixTimeMilliseconds()},\"dimensions\":{{\"service\":\"{key}\",\"region\":\"eu-west-1\",\"cluster\":\"analytics-prod-{host % 4}\",\"environment\":\"production\",\"host\":\"ip-10-{host % 250}-{host / 250 % 250}-{host / 62500 % 250}.eu-west-1.compute.internal\",\"build\":\"2025.01.{host % 28 + 1}-{host % 9000 + 1000}\"}}}}"));
    };

    private static uint Fnv(string text)
    {
        uint hash = 2166136261;
        foreach (char c in text)
        {
            hash = (hash ^ c) * 16777619;
        }

        return hash;
    }
}
