using System.CommandLine;
using System.CommandLine.Parsing;
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
    /// <summary>The kinds of run <c>--emulator</c> takes.</summary>
    private static readonly string[] s_kinds = ["scripted", "sample", "sample-free-sinks", "sample-marshalled", "sample-http"];

    public static int Main(string[] args)
    {
        if (args is ["--emulator", ..])
        {
            return OneRun(args[1..], Console.Out, Console.Error);
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }

    /// <summary>
    /// <c>--emulator KIND SECONDS [SHARDS [COPIES]]</c>: one run (or COPIES side by side) and its figures. A bad argument
    /// is one <c>error:</c> line per fault and exit 2 (before, a negative or non-integer SECONDS ended in a stack trace
    /// and an unknown KIND ran the scripted handler).
    /// </summary>
    internal static int OneRun(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var kind = new Argument<string>("kind") { Description = "What handles the events: " + string.Join(", ", s_kinds) };
        kind.AcceptOnlyFromAmong(s_kinds);
        var seconds = new Argument<int>("seconds") { Description = "Virtual seconds of the scenario to run, 1 to 86,400", CustomParser = r => WholeNumber(r, 1, 86_400, "SECONDS") };
        var shards = new Argument<int>("shards")
        {
            Description = $"Shards of its {EmulatorBenchmarks.Shards}, with the rate and partition keys in proportion",
            Arity = ArgumentArity.ZeroOrOne,
            DefaultValueFactory = _ => EmulatorBenchmarks.Shards,
            CustomParser = r => WholeNumber(r, 1, EmulatorBenchmarks.Shards, "SHARDS"),
        };
        var copies = new Argument<int>("copies")
        {
            Description = "Runs side by side, each on a thread of its own, 1 to 8",
            Arity = ArgumentArity.ZeroOrOne,
            DefaultValueFactory = _ => 1,
            CustomParser = r => WholeNumber(r, 1, 8, "COPIES"),
        };
        var root = new RootCommand("One run of the emulator's speed scenario, with its wall and CPU time, allocation and DynamoDB requests per record") { kind, seconds, shards, copies };
        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (ParseError error in parsed.Errors)
            {
                stderr.WriteLine($"error: {error.Message}");
            }

            return 2;
        }

        root.SetAction(result =>
        {
            Run(result.GetValue(kind)!, result.GetValue(seconds), result.GetValue(shards), result.GetValue(copies), stdout);
            return 0;
        });
        return parsed.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });

        static int WholeNumber(ArgumentResult result, int min, int max, string name)
        {
            string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : string.Empty;
            if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int value) || value < min || value > max)
            {
                result.AddError($"{name} must be a whole number from {min} to {max.ToString("N0", CultureInfo.InvariantCulture)}, not '{text}'");
            }

            return value;
        }
    }

    private static void Run(string kind, int virtualSeconds, int shards, int copies, TextWriter stdout)
    {
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
            stdout.WriteLine(line);
        }

        stdout.WriteLine($"{copies} run(s) side by side: {watch.Elapsed.TotalSeconds:F2} s wall, {cpu.TotalSeconds:F2} s CPU, {allocated / 1e6:F1} MB allocated");
        stdout.WriteLine($"GC pause {GC.GetTotalPauseDuration().TotalSeconds:F2} s, collections {GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)}");
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
