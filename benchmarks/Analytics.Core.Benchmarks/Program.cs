using BenchmarkDotNet.Running;

namespace Analytics.Core.Benchmarks;

/// <summary>
/// Entry point: <c>dotnet run -c Release --project benchmarks/Analytics.Core.Benchmarks -- --filter '*'</c> runs the
/// whole suite; any BenchmarkDotNet argument works (<c>--job short</c>, <c>--exporters json</c>, <c>--list flat</c>); <c>--check</c> only checks the inputs.
/// </summary>
public static class Program
{
    public static void Main(string[] args)
    {
        if (args is ["--check"])
        {
            // Quick check of the inputs without measuring: each setup throws when the three disagree.
            foreach (int count in new[] { 1, 100, 1000, 10000 })
            {
                new EventBenchmarks { RecordCount = count }.Setup();
                Console.WriteLine($"RecordCount {count}: pipeline, baseline and floor agree");
            }

            return;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
