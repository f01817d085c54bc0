using System.CommandLine;
using System.Globalization;

namespace Analytics.Replay;

/// <summary>
/// <c>replay --scenario FILE --out DIR</c>: runs a stream-level scenario in virtual time and writes what happened.
/// Exit codes: 0 done, 2 bad arguments or a bad scenario (the field and the reason on stderr), 1 anything else.
/// </summary>
internal static class ReplayCommand
{
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var scenario = new Option<string>("--scenario") { Description = "The scenario JSON (see docs/emulator.md), e.g. samples/scenarios/retry-storm.json", HelpName = "file", Required = true };
        var output = new Option<string>("--out") { Description = "The output directory (created when missing; files in it are replaced)", HelpName = "dir", Required = true };
        var noRecords = new Option<bool>("--no-records") { Description = "Skip records.jsonl (every record with its data: large for long runs)" };
        var noChart = new Option<bool>("--no-chart") { Description = "Skip the chart" };
        var duration = new Option<int?>("--duration") { Description = "Run this many virtual seconds instead of the scenario's durationSeconds (a quick run)", HelpName = "seconds", CustomParser = r => WholeNumber(r, "seconds") };
        var root = new RootCommand("Runs a Kinesis stream, Lambda's event source mapping and a function in virtual time; writes invocations.jsonl, destination.jsonl, metrics.csv, records.jsonl, iterator-age.png (and aggregates.jsonl, quarantine.jsonl, spill.jsonl for the sample handler) and prints a summary.")
        {
            scenario,
            output,
            noRecords,
            noChart,
            duration,
        };
        root.Add(CompareCommand(stdout, stderr));
        root.SetAction(parsed =>
        {
            LoadedScenario loaded;
            try
            {
                loaded = ScenarioLoader.Load(parsed.GetValue(scenario)!);
                if (parsed.GetValue(duration) is int seconds)
                {
                    loaded = loaded.WithDuration(seconds);
                }
            }
            catch (ScenarioException ex)
            {
                stderr.WriteLine(OneLine($"error: bad scenario: {ex.Field}: {ex.Reason}"));
                return 2;
            }

            using FileStream? taken = TakeOutput(parsed.GetValue(output)!, stderr, ReplayRun.OutputFileNames);
            if (taken is null)
            {
                return 2;
            }

            try
            {
                ReplayRun.Run(loaded, parsed.GetValue(output)!, stdout, writeRecords: !parsed.GetValue(noRecords), chart: !parsed.GetValue(noChart), progress: stderr);
            }
            catch (ScenarioException ex)
            {
                // Found only once it runs: a process command the system cannot start.
                stderr.WriteLine(OneLine($"error: bad scenario: {ex.Field}: {ex.Reason}"));
                return 2;
            }
            catch (InvalidOperationException ex)
            {
                // The emulator stopped the run, saying why (a stream the function falls behind for good, a handler that
                // blocks the run's thread): one line, not a stack trace.
                stderr.WriteLine($"error: the run stopped: {ex.Message}");
                return 1;
            }
            catch (Exception ex) when (IsOutputFailure(ex))
            {
                // A full disk: a retry storm writes an invocation line per attempt (found by review: a stack trace).
                stderr.WriteLine($"error: the run stopped: its output could not be written: {OutputFailure(ex)}");
                return 1;
            }

            return 0;
        });

        // "compare" is a subcommand; the root's required options do not apply to it.
        ParseResult result = root.Parse(args);
        if (result.Errors.Count > 0)
        {
            foreach (System.CommandLine.Parsing.ParseError error in result.Errors)
            {
                stderr.WriteLine($"error: {error.Message}");
            }

            return 2;
        }

        return result.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
    }

    private static Command CompareCommand(TextWriter stdout, TextWriter stderr)
    {
        var scenarios = new Option<string[]>("--scenario") { Description = "A scenario (give two or more, e.g. samples/scenarios/incident-before.json and incident-after.json); each runs on its own", HelpName = "file", Required = true, AllowMultipleArgumentsPerToken = false, Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--out") { Description = "The output directory: one subdirectory per scenario (named after its file; -2, -3 ... for a name an earlier scenario has), comparison.md and the chart", HelpName = "dir", Required = true };
        var chart = new Option<string?>("--chart") { Description = "Where the comparison chart goes (default <out>/iterator-age-compare.png)", HelpName = "png" };
        var duration = new Option<int?>("--duration") { Description = "Run this many virtual seconds instead of each scenario's durationSeconds", HelpName = "seconds", CustomParser = r => WholeNumber(r, "seconds") };
        var shards = new Option<int?>("--shards") { Description = "Run a slice of the load: this many shards at the same rate and partition keys per shard", HelpName = "n", CustomParser = r => WholeNumber(r, "shards") };
        var jobs = new Option<int>("--jobs") { Description = "How many scenarios run at once (default: the processor count). Each holds its stream's unprocessed records in memory; fewer at once need less", HelpName = "n", DefaultValueFactory = _ => Environment.ProcessorCount };
        jobs.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 1)
            {
                result.AddError("--jobs must be 1 or more");
            }
        });
        var command = new Command("compare", "Runs several scenarios with the sample or naive handler and compares them: a table (stdout and comparison.md) and one chart of their iterator age over time.")
        {
            scenarios,
            output,
            chart,
            duration,
            shards,
            jobs,
        };
        command.SetAction(parsed =>
        {
            var loaded = new List<(string File, LoadedScenario Scenario)>();
            try
            {
                foreach (string file in parsed.GetValue(scenarios)!)
                {
                    LoadedScenario scenario = ScenarioLoader.Load(file);
                    if (parsed.GetValue(duration) is int seconds)
                    {
                        scenario = scenario.WithDuration(seconds);
                    }

                    if (parsed.GetValue(shards) is int count)
                    {
                        scenario = scenario.WithShards(count);
                    }

                    if (scenario.Handler.Kind is not ("sample" or "naive"))
                    {
                        throw new ScenarioException("$.handler.kind", $"{file}: compare needs the sample or naive handler (the table is read back and checked), not {scenario.Handler.Kind}");
                    }

                    loaded.Add((file, scenario));
                }
            }
            catch (ScenarioException ex)
            {
                stderr.WriteLine(OneLine($"error: bad scenario: {ex.Field}: {ex.Reason}"));
                return 2;
            }

            string directory = parsed.GetValue(output)!;
            using FileStream? taken = TakeOutput(directory, stderr);
            string chartPath = parsed.GetValue(chart) ?? Path.Combine(directory, "iterator-age-compare.png");
            if (taken is null || !CanWriteChart(chartPath, stderr))
            {
                return 2;
            }

            // A file named ".json" has no name: its run would write straight into DIR, beside the comparison's files.
            string[] names = RunNames(loaded.Select(l => Path.GetFileNameWithoutExtension(l.File) is { Length: > 0 } name ? name : "scenario").ToArray());
            string? problem = OutputProblem(directory, ["comparison.md"], writtenThrough: true);
            foreach (string name in names)
            {
                problem ??= OutputProblem(Path.Combine(directory, name), ReplayRun.OutputFileNames) is { } inRun ? name + "/" + inRun : null;
            }

            if (problem is not null)
            {
                stderr.WriteLine($"error: --out {directory}: cannot write there: {problem}");
                return 2;
            }

            // Each scenario runs on its own thread (an emulator runs everything on the thread that calls it, so runs
            // share nothing and each stays byte-reproducible), at most --jobs at once; summaries are printed in the
            // order given.
            using var gate = new SemaphoreSlim(parsed.GetValue(jobs));
            TextWriter progress = TextWriter.Synchronized(stderr); // runs at once each tell their first function error
            Task<(string Name, StringWriter Summary, ReplayResult Result)>[] running = loaded.Zip(names, (l, name) => (Name: name, l.Scenario)).Select(l => Task.Factory.StartNew(
                () =>
                {
                    gate.Wait();
                    try
                    {
                        var summary = new StringWriter();
                        ReplayResult result = ReplayRun.Run(l.Scenario, Path.Combine(directory, l.Name), summary, writeRecords: false, progress: progress, progressLabel: l.Name);
                        return (l.Name, summary, result);
                    }
                    finally
                    {
                        gate.Release();
                    }
                },
                CancellationToken.None,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default)).ToArray();
            var runs = new List<(string, ReplayResult)>();
            string table;
            try
            {
                for (int i = 0; i < running.Length; i++)
                {
                    (string name, StringWriter summary, ReplayResult result) = running[i].GetAwaiter().GetResult();
                    stdout.WriteLine(name == Path.GetFileNameWithoutExtension(loaded[i].File) ? $"== {name}" : $"== {name} ({loaded[i].File})");
                    stdout.Write(summary.ToString());
                    stdout.WriteLine();
                    runs.Add((name, result));
                }

                table = Incident.Comparison.Table(runs);
                File.WriteAllText(Path.Combine(directory, "comparison.md"), table);
                Incident.Comparison.Draw(runs, chartPath);
            }
            catch (Exception ex) when (ex is InvalidOperationException || IsOutputFailure(ex))
            {
                // As for one run: the emulator stopped a run saying why, or the output could not be written.
                string why = IsOutputFailure(ex) ? "its output could not be written: " + OutputFailure(ex) : ex.Message;
                stderr.WriteLine($"error: a run stopped: {why}");
                return 1;
            }

            stdout.Write(table);
            stdout.WriteLine($"chart: {chartPath}");

            // An earlier comparison's runs are left as they are (other files are never deleted), but named, so that
            // no one takes them for this comparison's (review).
            foreach (string earlier in Directory.GetDirectories(directory).Order(StringComparer.Ordinal))
            {
                string name = Path.GetFileName(earlier);
                if (!names.Contains(name, StringComparer.OrdinalIgnoreCase) && ReplayRun.OutputFileNames.Any(f => File.Exists(Path.Combine(earlier, f))))
                {
                    stdout.WriteLine($"note: {earlier} holds an earlier run's files; it is not part of this comparison");
                }
            }

            return 0;
        });
        return command;
    }

    /// <summary>
    /// Each run's name, its subdirectory and table row: the scenario's file name, or, when an earlier scenario has that
    /// name, the name with the first suffix -2, -3 ... that no scenario's file name has and no earlier run took (in the
    /// order given, so the same arguments give the same names). Without it two files of one name (a/s.json, b/s.json)
    /// wrote into one directory. Names are compared ignoring case, as Windows and macOS compare file names.
    /// </summary>
    private static string[] RunNames(string[] fileNames)
    {
        var own = new HashSet<string>(fileNames, StringComparer.OrdinalIgnoreCase);

        // The comparison's own files: a scenario named like one ran, then its directory stopped the comparison's writing.
        var taken = new HashSet<string>(["comparison.md", "iterator-age-compare.png", ".replay-lock"], StringComparer.OrdinalIgnoreCase);
        var names = new string[fileNames.Length];
        for (int i = 0; i < fileNames.Length; i++)
        {
            string name = fileNames[i];
            for (int n = 2; taken.Contains(name); n++)
            {
                string candidate = string.Create(CultureInfo.InvariantCulture, $"{fileNames[i]}-{n}");
                if (!own.Contains(candidate))
                {
                    name = candidate;
                }
            }

            taken.Add(name);
            names[i] = name;
        }

        return names;
    }

    /// <summary>
    /// Whether the chart can be written at <paramref name="path"/>, checked before runs that may take minutes (as
    /// <see cref="TakeOutput"/> checks the output directory): a directory there, or a place that cannot be written, is a
    /// clear error (exit 2) instead of an exception after every run. The chart's directory is created, as drawing it
    /// would; a file made only for the check is deleted again.
    /// </summary>
    private static bool CanWriteChart(string path, TextWriter stderr)
    {
        try
        {
            if (Directory.Exists(path))
            {
                throw new IOException("it is a directory; give the chart's file name (e.g. compare.png)");
            }

            // As in the output directory (OutputProblem), but through a link, as the chart is drawn: a named pipe here
            // blocked the check for ever (found by review).
            if (OutputFile.NotRegular(path, followLinks: true) is { } kind)
            {
                throw new IOException($"it is {kind}, not a regular file; give the chart's file name (e.g. compare.png)");
            }

            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            bool existed = File.Exists(path);
            using (new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
            {
            }

            if (!existed)
            {
                File.Delete(path);
            }

            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            stderr.WriteLine($"error: --chart {path}: cannot write there: {e.Message}");
            return false;
        }
    }

    /// <summary>
    /// What stands where a run writes its files: a directory or a file it cannot write failed the run with exit 1 and a
    /// stack trace after it had started (found by review). A file there is opened for writing once (the run replaces it);
    /// none is made. Null when nothing stands in the way.
    /// </summary>
    /// <param name="writtenThrough">The files are written where they stand, through a link (the comparison's table), not
    /// renamed into place: a link to a regular file is then taken, as the chart's is.</param>
    private static string? OutputProblem(string directory, IReadOnlyList<string> files, bool writtenThrough = false)
    {
        foreach (string file in files)
        {
            string path = Path.Combine(directory, file);

            // Anything but a regular file is refused before it is opened, the same for every kind: a named pipe blocked
            // the run for ever (opening it for writing waits for a reader), a socket said "No such device or address",
            // and a link (to /dev/stdout, to a file elsewhere) was replaced by the run's own file, its target never
            // written, without a word (found by review): a run renames its files into place, replacing a link, never
            // writing through it.
            if (OutputFile.NotRegular(path, followLinks: writtenThrough) is { } kind)
            {
                return $"{file} there is {kind}, not a regular file; replay writes its outputs as regular files: remove it, or give another --out.";
            }

            if (File.Exists(path))
            {
                try
                {
                    using var probe = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    return $"{file}: {e.Message}";
                }
            }
        }

        return null;
    }

    /// <summary>
    /// A write the file system refused: a full disk (<see cref="IOException"/>), or a file grown past the largest the
    /// file system or the process's file-size limit allows, which .NET's file writes throw as an
    /// <see cref="ArgumentOutOfRangeException"/> (EFBIG; found by a test under <c>ulimit -f</c>: a stack trace).
    /// </summary>
    private static bool IsOutputFailure(Exception e) =>
        e is IOException || (e is ArgumentOutOfRangeException && e.TargetSite?.DeclaringType == typeof(RandomAccess));

    /// <summary>What <see cref="IsOutputFailure"/> found, in the run's terms.</summary>
    private static string OutputFailure(Exception e) =>
        e is IOException ? e.Message : "a file grew past the largest the file system, or the process's file-size limit (ulimit -f), allows.";

    /// <summary>
    /// Creates the output directory and takes it for this run before a run that may take minutes: a path that is a
    /// file, or not writable, is a clear error (exit 2) instead of an exception at the end, and so is a directory another
    /// replay is writing (two runs into one directory would interleave their files). The lock file (<c>.replay-lock</c>,
    /// held open exclusively) goes when the returned stream is disposed, or with the process.
    /// </summary>
    private static FileStream? TakeOutput(string directory, TextWriter stderr, IReadOnlyList<string>? files = null)
    {
        FileStream? taken = null;
        try
        {
            if (!Directory.Exists(directory) && Path.Exists(directory))
            {
                // A file there said "The file ... already exists", a named pipe the same (found by review): say what it is.
                // Not followed: a link to a directory passed above, and a link to nothing is named as one, not as "a file".
                throw new IOException($"it is {OutputFile.NotRegular(directory, followLinks: false) ?? "a file"}, not a directory; --out names the directory the run writes its files into (made when missing).");
            }

            Directory.CreateDirectory(directory);
            taken = new FileStream(Path.Combine(directory, ".replay-lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);

            if (OutputProblem(directory, files ?? []) is { } problem)
            {
                throw new IOException(problem);
            }

            return taken;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            taken?.Dispose();
            stderr.WriteLine($"error: --out {directory}: cannot write there: {e.Message}");
            return null;
        }
    }

    /// <summary>
    /// <paramref name="message"/> with its control characters (and the characters that break or reorder a line) written as escapes (<c>\n</c>, <c>\u001b</c>): a reason
    /// quotes the scenario's and the template's own text (a key, a kind), and a newline or a terminal escape in it made
    /// lines that looked like replay's own, or recoloured the terminal (found by review).
    /// </summary>
    internal static string OneLine(string message)
    {
        string line = message.Any(Escaped) ? Escape(message) : message;

        // A reason quotes the file's text, which may be a string or a key of 100,000 characters: an error line of 100 KB
        // and more (found by review). Both ends are kept, the field and what is wrong with it.
        const int Head = 1_000, Tail = 500;
        if (line.Length <= Head + Tail + 100)
        {
            return line;
        }

        int head = char.IsHighSurrogate(line[Head - 1]) ? Head - 1 : Head;
        int tail = char.IsLowSurrogate(line[^Tail]) ? Tail - 1 : Tail;
        return string.Create(CultureInfo.InvariantCulture, $"{line.AsSpan(0, head)}... ({line.Length - head - tail:N0} characters cut) ...{line.AsSpan(line.Length - tail)}");
    }

    /// <summary><paramref name="message"/> with the characters <see cref="Escaped"/> names written as escapes.</summary>
    private static string Escape(string message)
    {
        var text = new System.Text.StringBuilder(message.Length + 16);
        foreach (char c in message)
        {
            _ = c switch
            {
                '\n' => text.Append("\\n"),
                '\r' => text.Append("\\r"),
                '\t' => text.Append("\\t"),
                _ when Escaped(c) => text.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}"),
                _ => text.Append(c),
            };
        }

        return text.ToString();
    }

    /// <summary>
    /// Whether <paramref name="c"/> is written as an escape: a control character, a line or paragraph separator
    /// (U+2028, U+2029: a line break in editors and log viewers), or a bidirectional mark, embedding, override or
    /// isolate, which shows the rest of the line reordered (found by review).
    /// </summary>
    private static bool Escaped(char c) =>
        char.IsControl(c) || c is '\u2028' or '\u2029' or '\u061c' or '\u200e' or '\u200f' or (>= '\u202a' and <= '\u202e') or (>= '\u2066' and <= '\u2069');

    /// <summary>
    /// Reads a whole number, or says which option wanted one in the command's terms (found by review: the parser's own
    /// message named <c>System.Nullable`1[System.Int32]</c>).
    /// </summary>
    private static int? WholeNumber(System.CommandLine.Parsing.ArgumentResult result, string unit)
    {
        string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : string.Empty;
        if (int.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out int value))
        {
            return value;
        }

        string name = result.Parent is System.CommandLine.Parsing.OptionResult option ? option.Option.Name : "the option";
        bool digits = text.TrimStart('-').Length > 0 && text.TrimStart('-').All(char.IsAsciiDigit);
        result.AddError(digits ? $"{name} {text} is too large" : $"{name} must be a whole number of {unit}, not '{text}'");
        return null;
    }
}
