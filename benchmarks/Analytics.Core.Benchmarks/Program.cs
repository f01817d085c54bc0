using BenchmarkDotNet.Running;

namespace Analytics.Core.Benchmarks;

/// <summary>
/// Entry point: <c>dotnet run -c Release --project benchmarks/Analytics.Core.Benchmarks -- --filter '*'</c> runs the
/// whole suite; any BenchmarkDotNet argument works (<c>--job short</c>, <c>--exporters json</c>, <c>--list flat</c>); <c>--check</c> only checks the inputs; <c>--coldstart</c> times bootstraps from process start to first response (see <see cref="ColdStart"/>).
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

            var kpl = new Micro.KplBenchmarks();
            kpl.Setup();
            Console.WriteLine($"KPL: {Micro.KplBenchmarks.Containers} containers of {Micro.KplBenchmarks.UserRecordsPerContainer} user records, {Micro.KplBenchmarks.ContainerBytes} bytes");
            foreach (int n in new[] { 1, 100, 10_000, 1_000_000 })
            {
                foreach (string d in new[] { "Latency", "Wide" })
                {
                    MetricAggregate a = Micro.SketchSerializationBenchmarks.Build(n, d);
                    Console.WriteLine($"Aggregate of {n} {d} values: {Micro.SketchSerializationBenchmarks.SerializedBytes(a).Length} bytes, {a.Sketch.Positive.CountNonEmptyBins()} non-empty bins");
                }
            }

            return;
        }

        if (args is ["--coldstart", string coldRuns, .. var variants] && variants.Length > 0)
        {
            // Whole-process cold start of bootstraps against a Runtime API stub: label=path pairs (see ColdStart).
            Environment.ExitCode = ColdStart.RunAsync(
                int.Parse(coldRuns, System.Globalization.CultureInfo.InvariantCulture),
                [.. variants.Select(v => (v[..v.IndexOf('=', StringComparison.Ordinal)], v[(v.IndexOf('=', StringComparison.Ordinal) + 1)..]))]).GetAwaiter().GetResult();
            return;
        }

        if (args is ["--alloc"])
        {
            // Allocation of Pipeline per event, on this thread and on all threads, after warm-up.
            foreach (int count in new[] { 100, 10000 })
            {
                var b = new EventBenchmarks { RecordCount = count };
                b.Setup();
                for (int i = 0; i < 50; i++)
                {
                    b.Pipeline();
                }

                const int Ops = 40;
                long thread = GC.GetAllocatedBytesForCurrentThread();
                long total = GC.GetTotalAllocatedBytes(precise: true);
                for (int i = 0; i < Ops; i++)
                {
                    b.Pipeline();
                }

                thread = GC.GetAllocatedBytesForCurrentThread() - thread;
                total = GC.GetTotalAllocatedBytes(precise: true) - total;
                Console.WriteLine($"RecordCount {count}: {thread / (double)Ops} B/event on this thread, {total / (double)Ops} B/event in total");
            }

            return;
        }

        if (args is ["--ratio"])
        {
            // Pipeline, Floor and Baseline interleaved at 10,000 records, so a busy machine slows all alike; medians.
            var b = new EventBenchmarks { RecordCount = 10000 };
            b.Setup();
            var times = new List<double>[] { [], [], [] };
            Func<int>[] runs = [b.Pipeline, b.Floor, b.Baseline];
            for (int round = 0; round < 25; round++)
            {
                for (int m = 0; m < runs.Length; m++)
                {
                    long start = System.Diagnostics.Stopwatch.GetTimestamp();
                    runs[m]();
                    times[m].Add(System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                }
            }

            double[] medians = times.Select(t => t.Order().ElementAt(t.Count / 2)).ToArray();
            Console.WriteLine($"medians of 25 at 10,000 records: pipeline {medians[0]:F2} ms, floor {medians[1]:F2} ms, baseline {medians[2]:F2} ms; "
                + $"pipeline/floor {medians[0] / medians[1]:F2}, baseline/pipeline {medians[2] / medians[0]:F2}");
            return;
        }

        if (args is ["--loop", string method, string seconds])
        {
            // A steady loop of one benchmark at 10,000 records, for a sampling profiler (perf with DOTNET_PerfMapEnabled=1).
            var b = new EventBenchmarks { RecordCount = 10000 };
            b.Setup();
            var aggregator = new Micro.AggregatorBenchmarks();
            aggregator.Setup();
            Func<int> run = method switch { "Baseline" => b.Baseline, "Floor" => b.Floor, "Aggregator" => aggregator.AddSamples, _ => b.Pipeline };
            var until = DateTime.UtcNow.AddSeconds(int.Parse(seconds, System.Globalization.CultureInfo.InvariantCulture));
            int n = 0;
            var watch = System.Diagnostics.Stopwatch.StartNew();
            while (DateTime.UtcNow < until)
            {
                run();
                n++;
            }

            Console.WriteLine($"{method}: {n} events, {watch.Elapsed.TotalMilliseconds / n:F3} ms per event of 10,000 records");
            return;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
