using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using Analytics.Core.Testing;
using Analytics.Replay.Incident;

namespace Analytics.Replay;

/// <summary>What a run gave: the emulator's totals and, for the sample and naive handlers, the comparison with the truth.</summary>
internal sealed record ReplayResult(LoadedScenario Loaded, EmulationSummary Summary, IncidentFigures? Figures);

/// <summary>The comparison's figures of one run.</summary>
/// <param name="Verdict">Lost, doubled, poison, iterator ages.</param>
/// <param name="DynamoDbRequests">Every DynamoDB request made (including the ones throttled by an episode).</param>
/// <param name="DynamoDbThrottles">Of those, the throttled ones.</param>
/// <param name="WriteCapacityUnits">Write capacity units the table consumed.</param>
/// <param name="OtherItems">Table items that are not aggregates (none expected).</param>
/// <param name="IteratorAgePerBucket">Highest IteratorAge of the invocations that ended in each 10 s of virtual time, seconds; NaN where none ended.</param>
internal sealed record IncidentFigures(Verdict Verdict, long DynamoDbRequests, long DynamoDbThrottles, double WriteCapacityUnits, int OtherItems, double[] IteratorAgePerBucket);

/// <summary>Runs a loaded scenario and writes every output into a directory.</summary>
internal static class ReplayRun
{
    public const string ChartFileName = "iterator-age.png";

    /// <summary>Every file a run may write into its directory.</summary>
    public static readonly string[] OutputFileNames = ["invocations.jsonl", "destination.jsonl", "metrics.csv", "records.jsonl", "aggregates.jsonl", "quarantine.jsonl", "spill.jsonl", ChartFileName];

    /// <param name="progress">Told at once of the run's first function error (a run that fails at every invocation, a
    /// function whose init fails, can take long before its summary); <see langword="null"/> for none.</param>
    /// <param name="progressLabel">Put before the line told to <paramref name="progress"/> (the scenario's name when several run at once).</param>
    /// <param name="progressEvery">How often <paramref name="progress"/> is told how far a running scenario has come; <see cref="ProgressEvery"/> when null.</param>
    public static ReplayResult Run(LoadedScenario loaded, string outDirectory, TextWriter stdout, bool writeRecords = true, bool chart = true, bool httpClients = false, TextWriter? progress = null, string? progressLabel = null, TimeSpan? progressEvery = null)
    {
        // The run writes into a folder of its own inside the directory, and its files replace the directory's only once
        // it has ended: a run that stops (a bad scenario found at the first process start, exit 2; a run stopped, exit 1)
        // leaves the directory as it was. Before, it had replaced an earlier complete run's files with half-written ones
        // (an empty invocation log, a metrics header, the first second's records) and deleted its chart (found by review).
        Directory.CreateDirectory(outDirectory);
        foreach (string stale in Directory.GetDirectories(outDirectory, StagingPrefix + "*"))
        {
            // Left by a run stopped by a signal or a crash, which never reached its own removal (found by review: such
            // folders stayed, hidden, hundreds of MB each). The directory's lock, held by replay for this run, says none
            // of them is another run's.
            DeleteStaging(stale);
        }

        string staging = Path.Combine(outDirectory, StagingPrefix + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(staging);
        try
        {
            using var summary = new StringWriter();
            ReplayResult result = RunInto(loaded, staging, outDirectory, summary, writeRecords, chart, httpClients, progress, progressLabel, progressEvery ?? ProgressEvery);
            Publish(staging, outDirectory);
            stdout.Write(summary.ToString());
            return result;
        }
        finally
        {
            DeleteStaging(staging);
        }
    }

    /// <summary>Removes a run's own folder; one that cannot be removed now is left, hidden, for the next run to remove.</summary>
    private static void DeleteStaging(string staging)
    {
        try
        {
            Directory.Delete(staging, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Named as a run's own folder: nothing to take for a run's output.
        }
    }

    /// <summary>The name a run's own folder inside the output directory starts with, while it runs.</summary>
    public const string StagingPrefix = ".replay-run-";

    /// <summary>
    /// Moves a finished run's files into the directory; every file left there is this run's: what an earlier run wrote
    /// and this one does not (the sinks' state of another handler kind, a chart with --no-chart, records with
    /// --no-records) goes.
    /// </summary>
    private static void Publish(string staging, string outDirectory)
    {
        foreach (string name in OutputFileNames)
        {
            string staged = Path.Combine(staging, name), final = Path.Combine(outDirectory, name);
            if (File.Exists(staged))
            {
                File.Move(staged, final, overwrite: true);
            }
            else
            {
                File.Delete(final);
            }
        }
    }

    /// <summary>
    /// How often a running scenario says how far it has come: a week of stream can run for hours, and printed nothing
    /// until its summary, which an operator could not tell from a hang (found by review).
    /// </summary>
    public static readonly TimeSpan ProgressEvery = TimeSpan.FromSeconds(30);

    private static ReplayResult RunInto(LoadedScenario loaded, string outDirectory, string shownDirectory, TextWriter stdout, bool writeRecords, bool chart, bool httpClients, TextWriter? progress, string? progressLabel, TimeSpan progressEvery)
    {
        var watch = Stopwatch.StartNew();

        // Written to from the run's thread (its first function error) and from a timer's (how far it has come).
        progress = progress is null ? null : TextWriter.Synchronized(progress);
        SampleDownstream? downstream = null;
        var processes = new List<ProcessHandler>();
        var starts = new ProcessStarts();
        StreamEmulator emulator = null!;
        Func<int, ILambdaHandler> create = loaded.Handler.Kind switch
        {
            "sample" => _ => new SampleHandler(downstream!, emulator.Clock, loaded.WindowSeconds, loaded.SpillAfterSeconds, loaded.MaxPairs, loaded.PerShardWatermarkOnly),
            "naive" => environment => new NaiveHandler(downstream!.DynamoDbClient, SampleDownstream.TableName, emulator.Clock, unchecked(loaded.Scenario.Seed * 1009 + environment)),
            "process" => _ => Started(new ProcessHandler(loaded.Handler.Command!, loaded.Handler.Environment, emulator.Clock, loaded.Scenario.Function.MemoryMb, ScenarioLoader.ProcessInitTimeout, starts)),
            _ => _ => new ScriptedHandler(emulator.Clock, ScenarioLoader.Rules(loaded.Handler)),
        };
        emulator = new StreamEmulator(loaded.Scenario, create);
        ProcessHandler Started(ProcessHandler process)
        {
            processes.Add(process);
            return process;
        }

        IncidentLedger? ledger = null;
        if (loaded.Handler.Kind is "sample" or "naive")
        {
            downstream = new SampleDownstream(emulator.Clock, loaded.Scenario.Seed, loaded.Scenario.StartTime, loaded.Downstream, httpClients);
            long windowMs = loaded.Handler.Kind == "naive" ? NaiveHandler.WindowMs : loaded.WindowSeconds * 1000L;
            ledger = new IncidentLedger(loaded.Scenario.StartTime, loaded.Scenario.DurationSeconds, windowMs, loaded.Scenario.Mapping.TumblingWindowInSeconds * 1000L);
        }

        using SampleDownstream? owned = downstream;
        var perSecond = new PerSecond(loaded.Scenario.DurationSeconds);
        var firstError = new FirstFunctionError(progress, progressLabel is null ? string.Empty : progressLabel + ": ");
        EmulationSummary summary;
        try
        {
            using var files = new EmulationFiles(outDirectory, writeRecords);
            IEmulationObserver observer = new Tee(new Tee(files, perSecond), firstError);
            observer = loaded.Handler.Kind == "process" ? new Tee(starts, observer) : observer;
            using var heartbeat = new Heartbeat(progress, progressLabel, progressEvery, () => string.Create(
                CultureInfo.InvariantCulture,
                $"running: virtual second {(long)(emulator.Clock.GetUtcNow() - loaded.Scenario.StartTime).TotalSeconds:N0} of {loaded.Scenario.DurationSeconds:N0}, after {watch.Elapsed.TotalSeconds:N0} s"));
            summary = emulator.Run(ledger is null ? observer : new Tee(observer, ledger));
        }
        finally
        {
            foreach (ProcessHandler process in processes)
            {
                process.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }

        SinkState? sinks = null;
        IncidentFigures? figures = null;
        if (downstream is not null && ledger is not null)
        {
            var aggregates = new ArrayBufferWriter<byte>(64 * 1024);
            var quarantine = new ArrayBufferWriter<byte>(4 * 1024);
            IReadOnlyList<Dictionary<string, Amazon.DynamoDBv2.Model.AttributeValue>> items = downstream.DynamoDb.GetItems(SampleDownstream.TableName);
            int otherItems;
            Dictionary<(string Series, long Window), long> table;
            int aggregateLines;
            if (loaded.Handler.Kind == "naive")
            {
                // The naive function's own layout (series, window, count, sum), not the sink's: no aggregates.jsonl.
                table = IncidentLedger.NaiveCounts(items, out otherItems);
                aggregateLines = table.Count;
            }
            else
            {
                table = IncidentLedger.SinkCounts(items, out otherItems);
                aggregateLines = downstream.WriteAggregates(aggregates);
                File.WriteAllBytes(Path.Combine(outDirectory, "aggregates.jsonl"), aggregates.WrittenSpan.ToArray());
            }

            sinks = new SinkState(aggregateLines, downstream.WriteQuarantine(quarantine), downstream.DynamoDb.Counters, downstream.S3.Counters, downstream.EpisodeThrottles);
            File.WriteAllBytes(Path.Combine(outDirectory, "quarantine.jsonl"), quarantine.WrittenSpan.ToArray());
            if (loaded.Handler.Kind == "sample")
            {
                var spills = new System.Buffers.ArrayBufferWriter<byte>();
                downstream.WriteSpills(spills);
                File.WriteAllBytes(Path.Combine(outDirectory, "spill.jsonl"), spills.WrittenSpan.ToArray());
            }
            Dictionary<string, string> quarantined = [];
            foreach (S3ModelObject stored in downstream.QuarantineObjects())
            {
                using var body = System.Text.Json.JsonDocument.Parse(stored.Body);
                quarantined[stored.Key] = body.RootElement.TryGetProperty("data", out System.Text.Json.JsonElement data) ? data.GetString() ?? string.Empty : string.Empty;
            }

            Dictionary<(string Series, long Window), long> spilled = IncidentLedger.SpilledCounts(downstream.S3.GetObjects(SampleDownstream.BucketName).Select(o => o.Body));
            Verdict verdict = ledger.Compare(table, quarantined, loaded.Scenario.Stream.StreamName, spilled);
            DynamoDbModelCounters dynamo = downstream.DynamoDb.Counters;
            figures = new IncidentFigures(verdict, dynamo.Requests + sinks.EpisodeThrottles, dynamo.Throttles + sinks.EpisodeThrottles, dynamo.WriteCapacityUnits, otherItems, ledger.IteratorAgePerBucket.ToArray());
        }

        if (chart)
        {
            Chart.Draw(perSecond, loaded.Scenario, Path.Combine(outDirectory, ChartFileName));
        }

        watch.Stop();
        WriteSummary(stdout, loaded, summary, sinks, figures, firstError.Text, firstError.Rejected, watch.Elapsed, shownDirectory, chart);
        return new ReplayResult(loaded, summary, figures);
    }

    private static void WriteSummary(TextWriter output, LoadedScenario loaded, EmulationSummary s, SinkState? sinks, IncidentFigures? figures, string? firstError, string? firstRejected, TimeSpan wall, string directory, bool chart)
    {
        EmulatorScenario scenario = loaded.Scenario;
        var rows = new List<(string, string)>
        {
            ("scenario", $"{scenario.DurationSeconds} s virtual, {scenario.Stream.ShardCount} shard(s), seed {scenario.Seed}, handler {loaded.Handler.Kind}"),
            ("records in", N(s.RecordsIn)),
            ("puts throttled (shard write limits)", N(s.ThrottledPuts)),
            ("records processed", N(s.RecordsOut)),
            // Without a destination Lambda drops what it gives up on: no destination record holds it.
            (scenario.Mapping.OnFailure == OnFailureDestination.None ? "records dropped (no destination)" : "records to on-failure destination", N(s.RecordsToDestination)),
            ("records expired (retention)", N(s.RecordsExpired)),
            ("records not processed at the end", N(s.RecordsPending)),
            ("invocations", N(s.Invocations)),
            ("  failed (error, timeout, partial)", N(s.Errors)),
            ("  timeouts", N(s.Timeouts)),
            ("  throttled", N(s.Throttles)),
            ("  cold starts", N(s.ColdStarts)),
            ("max IteratorAge", $"{s.MaxIteratorAgeMs / 1000.0:F1} s"),
            ("max concurrency", N(s.MaxConcurrency)),
        };
        if (s.RecordsSkipped > 0)
        {
            // Only then, as for the rows below: records in = processed + destination + expired + skipped + not processed.
            rows.Insert(rows.FindIndex(r => r.Item1 == "records not processed at the end"), ("records skipped (StartingPosition)", N(s.RecordsSkipped)));
        }

        if (firstError is not null)
        {
            // Only then: why the function failed, which no other figure says (found by review: a function whose init
            // failed ran for hours in replay with "error" on every line and its init error nowhere).
            rows.Insert(rows.FindIndex(r => r.Item1 == "  timeouts"), ("  first function error", firstError));
        }

        if (firstRejected is not null)
        {
            // A response the mapping rejected is no function error (Lambda reports none), so only this says why.
            rows.Insert(rows.FindIndex(r => r.Item1 == "  timeouts"), ("  first rejected response", firstRejected));
        }

        if (s.InvocationsInFlight > 0)
        {
            // Only then (the summaries of runs that end idle stay as they were): started, never ended, so not in
            // invocations.jsonl nor in the figures above; their records are among those not processed.
            rows.Insert(rows.FindIndex(r => r.Item1 == "max IteratorAge"), ("invocations in flight at the end", $"{N(s.InvocationsInFlight)} (still running: not in invocations.jsonl nor in the figures above)"));
        }

        if (sinks is not null)
        {
            // The naive function writes its own layout, which is not read back into aggregates.jsonl.
            rows.Add((loaded.Handler.Kind == "naive" ? "items in the table (the naive function's, not written out)" : "aggregates in the table (aggregates.jsonl)", N(sinks.Aggregates)));
            rows.Add(("objects in quarantine (quarantine.jsonl)", N(sinks.Quarantined)));
            rows.Add(("DynamoDB model requests", $"{N(sinks.DynamoDb.Requests + sinks.EpisodeThrottles)} ({N(sinks.DynamoDb.Throttles + sinks.EpisodeThrottles)} throttled, {N(sinks.EpisodeThrottles)} of them in throttling episodes, {N(sinks.DynamoDb.OutageErrors)} in outages, {N(sinks.DynamoDb.ConditionalCheckFailures)} conditional check failures)"));
            rows.Add(("S3 model requests", $"{N(sinks.S3.Requests)} ({N(sinks.S3.Throttles)} throttled, {N(sinks.S3.OutageErrors)} in outages)"));
        }

        if (figures is not null)
        {
            Verdict v = figures.Verdict;
            rows.Add(("IteratorAge p99 (per invocation)", $"{v.P99IteratorAgeMs / 1000.0:F1} s"));
            rows.Add(("valid records produced", N(v.ValidRecords)));
            if (v.Checked)
            {
                rows.Add(("  lost (checked against the truth)", $"{N(v.Lost)} (over {N(v.CheckedRecords)} records whose series and window the mapping has passed)"));
                rows.Add(("  double counted", N(v.Doubled)));
                if (v.Spilled > 0)
                {
                    // Only then: missing from the table, in S3 until a redrive (README, "Spill"); not in "lost".
                    rows.Add(("  spilled (in S3 until a redrive)", N(v.Spilled)));
                }
            }
            else
            {
                string why = $"not checked: {N(v.Unjudged)} records may be valid in a form the independent check does not aggregate (a KPL aggregate, NDJSON, an RFC 3339 or fractional timestamp)";
                rows.Add(("  lost (checked against the truth)", why));
                rows.Add(("  double counted", "not checked (above)"));
            }

            rows.Add(("poison records produced", $"{N(v.Poison)} ({N(v.PoisonReached)} passed by the mapping)"));
            rows.Add(("  in the quarantine with their data", N(v.PoisonQuarantined)));
        }

        if (loaded.Handler.Kind == "process")
        {
            rows.Add(("time", "REAL for the process: each invocation runs in real time through the Runtime API host while virtual time waits; its remaining virtual budget is its real deadline"));
            rows.Add(("reproducible", "NO: the process runs in real time"));
        }
        else
        {
            rows.Add(("reproducible", s.Reproducible ? "yes: same seed and scenario give the same bytes" : s.OffClockWaits > 0 ? "NO: a handler waited off the virtual clock (WARNING below)" : "NO: compute time was measured, not modeled"));
        }

        if (loaded.Downstream is not null && loaded.Handler.Kind is "scripted" or "process")
        {
            // The models serve the sample handler alone (found by review: a downstream given to another kind did nothing).
            rows.Add(("WARNING: downstream ignored", $"the {loaded.Handler.Kind} handler calls no DynamoDB or S3 model; \"downstream\" applies to the sample handler"));
        }

        foreach ((string name, string text) in MappingWarnings(loaded))
        {
            rows.Add((name, text));
        }

        if (s.WindowsDiscarded > 0)
        {
            rows.Add(("WARNING: windows discarded", $"{N(s.WindowsDiscarded)} tumbling window(s) given up: the final invocation (isFinalInvokeForWindow) failed until MaximumRetryAttempts ran out, so what the handler writes at a window's end was not written; its records were handled by earlier invocations of the window and are counted there"));
        }

        if (s.Redeliveries > 0)
        {
            rows.Add(("redelivered batches", $"{N(s.Redeliveries)} successful invocation(s) whose checkpoint the mapping lost (redeliveryFraction): their records came again in a new batch"));
        }

        if (s.IgnoredFailureReports > 0)
        {
            // Only then: the summaries of correctly configured runs stay as they were.
            rows.Add(("WARNING: failures ignored", $"{N(s.IgnoredFailureReports)} invocation(s) reported batchItemFailures, but the mapping lacks FunctionResponseTypes [\"ReportBatchItemFailures\"]: Lambda checkpointed those batches whole, and the records reported are lost"));
        }

        if (s.OffClockWaits > 0)
        {
            // Only then, as above.
            rows.Add(("WARNING: off the virtual clock", $"{N(s.OffClockWaits)} invocation(s) waited on something outside virtual time (Task.Yield, Task.Run, a real delay or I/O) while nothing on the virtual clock could resume them: when they ended depends on real timing, so runs of this scenario may differ. See docs/emulator.md, \"Virtual time: the contract for handler authors\""));
        }

        rows.Add(("wall time", $"{wall.TotalSeconds:F2} s"));
        rows.Add(("output", directory + (chart ? " (chart: " + ChartFileName + ")" : string.Empty)));
        int width = rows.Max(r => r.Item1.Length);
        foreach ((string name, string value) in rows)
        {
            output.WriteLine($"{name.PadRight(width)}  {value}");
        }
    }

    /// <summary>
    /// Settings of the mapping that the project's docs say lose records with the sample handler (found by an operator's
    /// review: replay ran them without a word, though the function cannot see the mapping, so only replay can tell).
    /// </summary>
    internal static IEnumerable<(string Name, string Text)> MappingWarnings(LoadedScenario loaded)
    {
        if (loaded.Handler.Kind != "sample")
        {
            yield break;
        }

        MappingOptions mapping = loaded.Scenario.Mapping;
        if (mapping.TumblingWindowInSeconds > 0 && mapping.ParallelizationFactor > 1)
        {
            yield return ("WARNING: windows in parallel", $"TumblingWindowInSeconds with ParallelizationFactor {mapping.ParallelizationFactor}: Lambda keeps a window state per concurrent batch, and a flush that lies below the shard's stored watermark is taken as applied, its records lost. Use ParallelizationFactor 1 with tumbling windows (docs/dynamodb.md, \"Tumbling windows\")");
        }

        if (loaded.PerShardWatermarkOnly && mapping.ParallelizationFactor > 1)
        {
            yield return ("WARNING: one watermark per shard in parallel", $"ANALYTICS_PER_SHARD_WATERMARK_ONLY with ParallelizationFactor {mapping.ParallelizationFactor}: concurrent batches of a shard move its one watermark past each other's records, which are then lost. Use it with ParallelizationFactor 1 only (docs/dynamodb.md)");
        }

        if (mapping.TumblingWindowInSeconds > 0 && (mapping.MaximumRetryAttempts >= 0 || mapping.MaximumRecordAgeInSeconds >= 0))
        {
            yield return ("WARNING: windows given up", "TumblingWindowInSeconds with MaximumRetryAttempts or MaximumRecordAgeInSeconds bounded: a window's records are in its state alone until its final flush lands, and a flush Lambda gives up on loses the window with nothing in the on-failure destination. Keep both at -1 on a window mapping (README, \"Limitations\")");
        }

        if (loaded.SpillAfterSeconds is int spill && mapping.TumblingWindowInSeconds == 0)
        {
            long attempts = mapping.MaximumRetryAttempts + 1L;
            int timeout = loaded.Scenario.Function.TimeoutSeconds;
            if (mapping.MaximumRetryAttempts >= 0 && attempts * timeout < spill)
            {
                yield return ("WARNING: spill out of reach", $"a batch's {attempts} attempt(s) of at most {timeout} s each end before its oldest record is {spill} s old (ANALYTICS_SPILL_AFTER_SECONDS): through a table outage Lambda gives batches up to the on-failure destination instead of spilling them. Raise MaximumRetryAttempts or the timeout, or lower the spill age (docs/failure-modes.md)");
            }
            else if (mapping.MaximumRecordAgeInSeconds >= 0 && mapping.MaximumRecordAgeInSeconds <= spill)
            {
                yield return ("WARNING: spill out of reach", $"MaximumRecordAgeInSeconds {mapping.MaximumRecordAgeInSeconds} is not above the spill age of {spill} s (ANALYTICS_SPILL_AFTER_SECONDS): through a table outage records expire to the on-failure destination before they are old enough to spill. Lower the spill age (docs/failure-modes.md)");
            }
        }
    }

    private sealed record SinkState(int Aggregates, int Quarantined, DynamoDbModelCounters DynamoDb, S3ModelCounters S3, long EpisodeThrottles);

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>Per virtual second, over all shards: the highest ages and the function's concurrency (most invocations at once).</summary>
    internal sealed class PerSecond(int seconds) : IEmulationObserver
    {
        /// <summary>The highest iterator age of the invocations that ended in each second; NaN where none ended.</summary>
        public double[] IteratorAgeSeconds { get; } = Enumerable.Repeat(double.NaN, seconds).ToArray();

        public double[] OldestUnprocessedSeconds { get; } = new double[seconds];

        public double[] Concurrency { get; } = new double[seconds];

        public void OnSecond(ShardSecond metrics)
        {
            int s = metrics.Second;
            if (metrics.IteratorAgeMs >= 0)
            {
                // -1: no invocation of the shard ended this second, which is no age (not an age of 0).
                double age = metrics.IteratorAgeMs / 1000.0;
                IteratorAgeSeconds[s] = double.IsNaN(IteratorAgeSeconds[s]) ? age : Math.Max(IteratorAgeSeconds[s], age);
            }
            OldestUnprocessedSeconds[s] = Math.Max(OldestUnprocessedSeconds[s], metrics.OldestUnprocessedAgeMs / 1000.0);
            // The function's, not the sum of the shards' (each peaks at its own instant: the sum could pass reserved concurrency).
            Concurrency[s] = Math.Max(Concurrency[s], metrics.FunctionConcurrency);
        }

        public void OnRecord(StreamRecord record)
        {
        }

        public void OnInvocation(InvocationReport invocation)
        {
        }

        public void OnDestination(DestinationRecord record)
        {
        }
    }

    /// <summary>
    /// Tells <c>progress</c> a line every interval while a run goes on. Stopped by disposal, after which no line is
    /// written (a line being written is waited for: lines landed after the summary; found by review), and by a line
    /// that cannot be written (stderr on a full disk killed the run from the timer's thread; found by review).
    /// </summary>
    private sealed class Heartbeat : IDisposable
    {
        private readonly object _gate = new();
        private readonly ManualResetEventSlim _stop = new();
        private readonly Thread? _thread;
        private bool _stopped;

        public Heartbeat(TextWriter? progress, string? label, TimeSpan every, Func<string> line)
        {
            if (progress is null)
            {
                return;
            }

            string prefix = label is null ? string.Empty : label + ": ";

            // A thread of its own, not a thread-pool timer: a busy pool (a test host running many tests) held the timer's
            // callback back for seconds, and a run said nothing (a CI failure).
            _thread = new Thread(() =>
            {
                while (!_stop.Wait(every))
                {
                    lock (_gate)
                    {
                        if (_stopped)
                        {
                            return;
                        }

                        try
                        {
                            progress.WriteLine(prefix + line());
                        }
#pragma warning disable CA1031 // Anything unhandled on this thread ends the process: an unwritable stderr is UnauthorizedAccessException (review).
                        catch (Exception e) when (e is not OutOfMemoryException)
                        {
                            _stopped = true;
                            return;
                        }
#pragma warning restore CA1031
                    }
                }
            })
            {
                IsBackground = true,
                Name = "replay progress",
            };
            _thread.Start();
        }

        public void Dispose()
        {
            lock (_gate)
            {
                _stopped = true;
            }

            _stop.Set();
            _thread?.Join();
            _stop.Dispose();
        }
    }

    /// <summary>The run's first function error (Lambda's errorType and errorMessage), told to a writer as it happens.</summary>
    internal sealed class FirstFunctionError(TextWriter? progress, string prefix = "") : IEmulationObserver
    {
        /// <summary>The first function error, with its invocation; <see langword="null"/> when none failed with one.</summary>
        public string? Text { get; private set; }

        /// <summary>The first response the mapping rejected (no function error), with its invocation and the reason; <see langword="null"/> when none was.</summary>
        public string? Rejected { get; private set; }

        public void OnInvocation(InvocationReport invocation)
        {
            if (Text is null && invocation.ErrorType is not null)
            {
                // The function's own text: a terminal escape in it recoloured the terminal, a newline in the type forged a line
                // (found by review); a line ending in the message stays a space.
                Text = $"{Which(invocation)}: {ReplayCommand.OneLine(invocation.ErrorType)}: {ReplayCommand.OneLine(Shortened(invocation.ErrorMessage))}";
                progress?.WriteLine(prefix + "first function error: " + Text);
            }

            if (Rejected is null && invocation.ResponseProblem is not null)
            {
                Rejected = $"{Which(invocation)}: {invocation.ResponseProblem}";
                progress?.WriteLine(prefix + "first rejected response: " + Rejected);
            }
        }

        public void OnRecord(StreamRecord record)
        {
        }

        public void OnDestination(DestinationRecord record)
        {
        }

        public void OnSecond(ShardSecond metrics)
        {
        }

        /// <summary>The invocation, its shard and when it ended, as both rows name it.</summary>
        private static string Which(InvocationReport invocation) =>
            $"invocation {N(invocation.Invocation)} ({invocation.ShardId}, at {invocation.EndMs / 1000.0:F3} s)";

        private static string Shortened(string? message)
        {
            string text = (message ?? string.Empty).ReplaceLineEndings(" ");
            return text.Length <= 300 ? text : string.Concat(text.AsSpan(0, 300), "...");
        }
    }

    private sealed class Tee(IEmulationObserver first, IEmulationObserver second) : IEmulationObserver
    {
        public void OnRecord(StreamRecord record)
        {
            first.OnRecord(record);
            second.OnRecord(record);
        }

        public void OnInvocation(InvocationReport invocation)
        {
            first.OnInvocation(invocation);
            second.OnInvocation(invocation);
        }

        public void OnDestination(DestinationRecord record)
        {
            first.OnDestination(record);
            second.OnDestination(record);
        }

        public void OnSecond(ShardSecond metrics)
        {
            first.OnSecond(metrics);
            second.OnSecond(metrics);
        }

        public void OnEnd(EmulationSummary summary)
        {
            first.OnEnd(summary);
            second.OnEnd(summary);
        }
    }
}
