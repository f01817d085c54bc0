using System.Diagnostics;
using System.Globalization;
using Analytics.Core.Testing;
using BenchmarkDotNet.Running;

namespace Analytics.Emulator.Benchmarks;

/// <summary>
/// Entry point: <c>dotnet run -c Release --project benchmarks/Analytics.Emulator.Benchmarks -- --filter '*'</c> runs
/// <see cref="EmulatorBenchmarks"/>; <c>--emulator scripted|sample|sample-free-sinks|sample-marshalled|sample-http SECONDS [SHARDS [COPIES]]</c> runs the
/// scenario once (with SHARDS of its 10 shards, and the rate and keys in proportion; COPIES runs of it side by side, each
/// on a thread of its own) and prints wall and CPU time, allocation and the DynamoDB requests per record (for a profiler
/// such as <c>dotnet-trace</c>, for whole hours, or for parts of a run side by side; figures for short runs come from
/// BenchmarkDotNet).
/// </summary>
public static class Program
{
    public static void Main(string[] args)
    {
        if (args is ["--emulator", string kind, string emulatedSeconds, ..] && args.Length <= 5)
        {
            int virtualSeconds = int.Parse(emulatedSeconds, CultureInfo.InvariantCulture);
            int shards = args.Length >= 4 ? int.Parse(args[3], CultureInfo.InvariantCulture) : EmulatorBenchmarks.Shards;
            int copies = args.Length == 5 ? int.Parse(args[4], CultureInfo.InvariantCulture) : 1;
            if (shards is < 1 or > EmulatorBenchmarks.Shards || copies is < 1 or > 8)
            {
                Console.Error.WriteLine($"SHARDS must be 1 to {EmulatorBenchmarks.Shards} and COPIES 1 to 8; they are {shards} and {copies}.");
                Environment.ExitCode = 2;
                return;
            }

            long allocated = GC.GetTotalAllocatedBytes(precise: true);
            TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var watch = Stopwatch.StartNew();

            // Each copy is a run of its own (its emulator, clock and models) on a thread of its own.
            var lines = new string[copies];
            Thread[] threads = Enumerable.Range(0, copies).Select(copy => new Thread(() => lines[copy] = RunOnce(kind, virtualSeconds, shards, watch))).ToArray();
            foreach (Thread thread in threads)
            {
                thread.Start();
            }

            foreach (Thread thread in threads)
            {
                thread.Join();
            }

            watch.Stop();
            cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu;
            allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
            foreach (string line in lines)
            {
                Console.WriteLine(line);
            }

            Console.WriteLine($"{copies} run(s) side by side: {watch.Elapsed.TotalSeconds:F2} s wall, {cpu.TotalSeconds:F2} s CPU, {allocated / 1e6:F1} MB allocated");
            Console.WriteLine($"GC pause {GC.GetTotalPauseDuration().TotalSeconds:F2} s, collections {GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)}");
            return;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }

    private static string RunOnce(string kind, int virtualSeconds, int shards, Stopwatch watch)
    {
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

        return $"{kind}, {virtualSeconds} virtual s, {shards} shards: ended at {watch.Elapsed.TotalSeconds:F2} s wall, "
            + $"{summary.RecordsIn} records in, {summary.RecordsOut} out, {summary.Invocations} invocations{detail}";
    }
}
