using System.Diagnostics;
using System.Globalization;
using Analytics.Core.Testing;
using BenchmarkDotNet.Running;

namespace Analytics.Emulator.Benchmarks;

/// <summary>
/// Entry point: <c>dotnet run -c Release --project benchmarks/Analytics.Emulator.Benchmarks -- --filter '*'</c> runs
/// <see cref="EmulatorBenchmarks"/>; <c>--emulator scripted|sample|sample-free-sinks|sample-marshalled|sample-http SECONDS [SHARDS]</c> runs the scenario once
/// (with SHARDS of its 10 shards, and the rate and keys in proportion) and prints wall and CPU time, allocation and the
/// DynamoDB requests per record (for a profiler such as <c>dotnet-trace</c>, for whole hours, or for parts of a run side
/// by side; figures for short runs come from BenchmarkDotNet).
/// </summary>
public static class Program
{
    public static void Main(string[] args)
    {
        if (args is ["--emulator", string kind, string emulatedSeconds, ..] && args.Length <= 4)
        {
            int virtualSeconds = int.Parse(emulatedSeconds, CultureInfo.InvariantCulture);
            int shards = args.Length == 4 ? int.Parse(args[3], CultureInfo.InvariantCulture) : EmulatorBenchmarks.Shards;
            if (shards is < 1 or > EmulatorBenchmarks.Shards)
            {
                Console.Error.WriteLine($"SHARDS must be 1 to {EmulatorBenchmarks.Shards}; it is {shards}.");
                Environment.ExitCode = 2;
                return;
            }

            long allocated = GC.GetTotalAllocatedBytes(precise: true);
            TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var watch = Stopwatch.StartNew();
            string detail = string.Empty;
            EmulationSummary summary;
            if (kind is "sample" or "sample-http" or "sample-marshalled")
            {
                (summary, DynamoDbModelCounters dynamoDb) = EmulatorBenchmarks.RunSample(virtualSeconds, httpClients: kind == "sample-http", marshalItemRequests: kind == "sample-marshalled", shards: shards);
                detail = $", {dynamoDb.Requests} DynamoDB requests ({dynamoDb.Requests / (double)summary.RecordsOut:F4} per record)";
            }
            else if (kind == "sample-free-sinks")
            {
                summary = EmulatorBenchmarks.RunSampleFreeSinks(virtualSeconds, shards);
            }
            else
            {
                summary = EmulatorBenchmarks.RunScripted(virtualSeconds, shards);
            }

            watch.Stop();
            cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu;
            allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
            Console.WriteLine($"{kind}, {virtualSeconds} virtual s, {shards} shards: {watch.Elapsed.TotalSeconds:F2} s wall, {cpu.TotalSeconds:F2} s CPU, {allocated / 1e6:F1} MB allocated, "
                + $"{summary.RecordsIn} records in, {summary.RecordsOut} out, {summary.Invocations} invocations{detail}");
            Console.WriteLine($"GC pause {GC.GetTotalPauseDuration().TotalSeconds:F2} s, collections {GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)}");
            return;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
