using SharpFuzz;

namespace Analytics.Core.Fuzz;

/// <summary>
/// Entry point of the fuzzing targets. <c>Analytics.Core.Fuzz TARGET</c> runs TARGET under afl-fuzz (persistent
/// mode; once on standard input when not under afl-fuzz); <c>Analytics.Core.Fuzz TARGET --replay PATH...</c> runs
/// every file (directories: every file in them) through TARGET's oracles and exits 1 when one fails, naming it.
/// </summary>
internal static class Program
{
    private static readonly Dictionary<string, Targets.Target> s_targets = new(StringComparer.Ordinal)
    {
        ["event"] = Targets.Event,
        ["record"] = Targets.Record,
        ["kpl"] = Targets.Kpl,
        ["window"] = Targets.Window,
        ["aggregate"] = Targets.Aggregate,
        ["processor"] = Targets.Processor,
    };

    private static int Main(string[] args)
    {
        if (args.Length == 1 && args[0] == "--list")
        {
            Console.WriteLine(string.Join(Environment.NewLine, s_targets.Keys));
            return 0;
        }

        if (args.Length == 2 && args[0] == "--write-aggregate-seeds")
        {
            EnsureCoverageMap();
            Targets.WriteAggregateSeeds(args[1]);
            return 0;
        }

        if (args.Length == 0 || !s_targets.TryGetValue(args[0], out Targets.Target? target))
        {
            Console.Error.WriteLine("usage: Analytics.Core.Fuzz TARGET [--replay PATH...]  (targets: " + string.Join(", ", s_targets.Keys) + ")");
            return 2;
        }

        if (args.Length > 1 && args[1] == "--replay")
        {
            return Replay(target, args.AsSpan(2));
        }

        byte[] buffer = new byte[Targets.MaxInputBytes];
        Fuzzer.Run(stream =>
        {
            int length = ReadAll(stream, buffer);
            target(buffer.AsSpan(0, length));
        });
        return 0;
    }

    /// <summary>An instrumented library writes its coverage to SharpFuzz's map, which only the fuzzing loop sets up.</summary>
    private static unsafe void EnsureCoverageMap()
    {
        if (SharpFuzz.Common.Trace.SharedMem == null)
        {
            SharpFuzz.Common.Trace.SharedMem = (byte*)System.Runtime.InteropServices.NativeMemory.AllocZeroed(1 << 16);
        }
    }

    private static int Replay(Targets.Target target, ReadOnlySpan<string> paths)
    {
        EnsureCoverageMap();

        int files = 0;
        int failures = 0;
        foreach (string path in paths)
        {
            IEnumerable<string> inputs = Directory.Exists(path) ? Directory.EnumerateFiles(path).Order(StringComparer.Ordinal) : [path];
            foreach (string file in inputs)
            {
                files++;
                byte[] data = File.ReadAllBytes(file);
                try
                {
                    target(data.AsSpan(0, Math.Min(data.Length, Targets.MaxInputBytes)));
                }
                catch (Exception e)
                {
                    failures++;
                    Console.Error.WriteLine($"FAIL {file}: {e.GetType().Name}: {e.Message}");
                    Console.Error.WriteLine(e.StackTrace);
                }
            }
        }

        Console.WriteLine($"replayed {files} inputs, {failures} failed");
        return failures == 0 && files > 0 ? 0 : 1;
    }

    private static int ReadAll(Stream stream, byte[] buffer)
    {
        int length = 0;
        int read;
        while (length < buffer.Length && (read = stream.Read(buffer, length, buffer.Length - length)) > 0)
        {
            length += read;
        }

        return length;
    }
}
