using BenchmarkDotNet.Running;

namespace Analytics.Core.Benchmarks;

/// <summary>
/// Entry point: <c>dotnet run -c Release --project benchmarks/Analytics.Core.Benchmarks -- --filter '*'</c> runs the
/// whole suite; any BenchmarkDotNet argument works (<c>--job short</c>, <c>--exporters json</c>, <c>--list flat</c>).
/// </summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
