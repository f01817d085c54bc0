using System.Globalization;
using System.Text;
using System.Text.Json;
using Analytics.Core.Testing;
using Analytics.Replay.Incident;

namespace Analytics.Replay;

/// <summary>A scenario that cannot run: the field (a JSON path) and the reason.</summary>
internal sealed class ScenarioException(string field, string reason) : Exception($"{field}: {reason}")
{
    public string Field { get; } = field;

    public string Reason { get; } = reason;
}

/// <summary>What a scenario file asks for.</summary>
/// <param name="WindowSeconds">The sample handler's aggregation window (the template's, else 60 s).</param>
/// <param name="SpillAfterSeconds">The sample handler's spill age (the template's, when it spills); null: no spilling.</param>
/// <param name="MaxPairs">The sample handler's pair cap (the template's); null: the library's default.</param>
/// <param name="PerShardWatermarkOnly">The sample handler's DynamoDB sink keeps one watermark per shard (the template's setting).</param>
internal sealed record LoadedScenario(EmulatorScenario Scenario, HandlerFile Handler, DownstreamFile? Downstream, int WindowSeconds = 60, int? SpillAfterSeconds = null, int? MaxPairs = null, bool PerShardWatermarkOnly = false)
{
    /// <summary>
    /// The same scenario with another duration (for quick runs), checked again. Downstream outages and throttling
    /// episodes that start after a shorter end do not happen, as when a run is stopped early: a quick run of an incident
    /// (whose episode starts after a minute) is what this is for.
    /// </summary>
    /// <exception cref="ScenarioException">The duration is out of range or cuts off an explicit record (which the emulator refuses in any scenario).</exception>
    public LoadedScenario WithDuration(int seconds)
    {
        LoadedScenario shorter = this with { Scenario = Scenario with { DurationSeconds = seconds } };
        ScenarioLoader.Check(shorter.Scenario.Validate, "--duration");
        return shorter;
    }

    /// <summary>
    /// A slice of the load: <paramref name="shards"/> shards at the same rate and number of partition keys per shard
    /// (every producer's rate and keys scaled by shards / the scenario's shards), for runs the full load would make too
    /// long. With ParallelizationFactor and limits per shard, each shard sees what it sees in the full run.
    /// </summary>
    /// <exception cref="ScenarioException">The slice is out of range.</exception>
    public LoadedScenario WithShards(int shards)
    {
        double scale = (double)shards / Scenario.Stream.ShardCount;
        LoadedScenario slice = this with
        {
            Scenario = Scenario with
            {
                Stream = Scenario.Stream with { ShardCount = shards },
                Producers = Scenario.Producers.Select(p => p with
                {
                    RatePerSecond = p.RatePerSecond * scale,
                    Schedule = p.Schedule.Select(s => s with { RatePerSecond = s.RatePerSecond * scale }).ToArray(),
                    PartitionKeys = Math.Max(1, (int)Math.Round(p.PartitionKeys * scale)),
                }).ToArray(),
            },
        };
        ScenarioLoader.Check(slice.Scenario.Validate, "--shards");
        return slice;
    }
}

internal static partial class ScenarioLoader
{
    /// <summary>How long a process handler's process may take to ask for its first event.</summary>
    public static readonly TimeSpan ProcessInitTimeout = TimeSpan.FromSeconds(10);

    // Lambda's reserved variables that the host or the scenario's function settings give (AWS's "Defined runtime
    // environment variables"); the region and credentials stay the scenario's to give, as the process needs them.
    private static readonly HashSet<string> s_reservedVariables = new(StringComparer.Ordinal)
    {
        "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
    };

    /// <summary>The largest scenario file read: 256 MiB.</summary>
    public const int MaxBytes = 256 * 1024 * 1024;

    public static LoadedScenario Load(string path)
    {
        if (Directory.Exists(path))
        {
            throw new ScenarioException("--scenario", $"{path} is a directory; give the scenario's JSON file");
        }

        byte[] bytes = InputFile.Read(path, "--scenario", "the scenario's JSON file", MaxBytes, $"a scenario is at most {MaxBytes:N0} (for more records, describe them with producers)");
        return Parse(bytes, InputFile.BaseDirectory(path));
    }

    /// <summary>
    /// The encoding <paramref name="json"/> is in when it is UTF-16 or UTF-32, by its byte order mark or, without one, by
    /// the zero bytes of its first four octets (RFC 4627, 3: JSON's first two characters are ASCII, so UTF-8 JSON
    /// starts with no zero byte; a shorter file by its first two). Null otherwise: a file that only begins with a zero
    /// byte is no UTF-16, and the JSON reader names the byte. Windows Notepad and PowerShell's Out-File save UTF-16 with a byte order
    /// mark, and such a scenario was refused as "'0xFF' is an invalid start of a value" (found by review).
    /// </summary>
    private static string? NotUtf8(ReadOnlySpan<byte> json) => json switch
    {
        [0xFF, 0xFE, 0, 0, ..] => "UTF-32 (little-endian, with a byte order mark)",
        [0, 0, 0xFE, 0xFF, ..] => "UTF-32 (big-endian, with a byte order mark)",
        [0xFF, 0xFE, ..] => "UTF-16 (little-endian, with a byte order mark)",
        [0xFE, 0xFF, ..] => "UTF-16 (big-endian, with a byte order mark)",
        [not 0, 0, 0, 0, ..] => "UTF-32 (little-endian)",
        [0, 0, 0, not 0, ..] => "UTF-32 (big-endian)",
        [not 0, 0, not 0, 0, ..] or [not 0, 0] or [not 0, 0, _] => "UTF-16 (little-endian)",
        [0, not 0, 0, not 0, ..] or [0, not 0] or [0, not 0, _] => "UTF-16 (big-endian)",
        _ => null,
    };

    /// <param name="json">The scenario.</param>
    /// <param name="directory">Where relative paths in it (the template) start; null: the working directory.</param>
    public static LoadedScenario Parse(ReadOnlySpan<byte> json, string? directory = null)
    {
        // A UTF-8 byte order mark, as some editors save JSON: "'0xEF' is an invalid start of a value" named nothing useful.
        if (json.StartsWith("\uFEFF"u8))
        {
            json = json[3..];
        }
        else if (NotUtf8(json) is { } encoding)
        {
            throw new ScenarioException("$", $"the file is {encoding}, not UTF-8: JSON is UTF-8 (RFC 8259); save it as UTF-8 (PowerShell: Out-File -Encoding utf8)");
        }

        ScenarioFile file;
        try
        {
            file = JsonSerializer.Deserialize(json, ScenarioJsonContext.Default.ScenarioFile)
                ?? throw new ScenarioException("$", "the scenario is null; expected an object");
        }
        catch (JsonException ex)
        {
            string message = ex.Message;
            int cut = message.IndexOf(" Path:", StringComparison.Ordinal);
            string reason = Readable(cut > 0 ? message[..cut] : message);
            if (reason.StartsWith("expected a whole number", StringComparison.Ordinal) && WholeNumberAt(json, ex.Path) is { } tooLarge)
            {
                // A whole number past what the field holds is not "another kind" (found by review: that sent the user
                // looking for quotes or a fraction).
                reason = $"{tooLarge} is a whole number out of this field's range: see the range in docs/emulator.md, \"Scenario file\"";
            }

            throw new ScenarioException(ex.Path ?? "$", reason);
        }

        TemplateSettings? template = null;
        if (file.Template is not null)
        {
            if (file.Function?.MemoryMb is not null || file.Function?.TimeoutSeconds is not null)
            {
                throw new ScenarioException("$.function", "memoryMb and timeoutSeconds come from the template; remove them here");
            }

            template = SamTemplate.Read(Path.Combine(directory ?? Directory.GetCurrentDirectory(), file.Template));
            CheckTemplate(template);
            file.Mapping = Overlay(template.Mapping, file.Mapping);
            file.Function ??= new FunctionFile();
            file.Function.MemoryMb = template.MemoryMb;
            file.Function.TimeoutSeconds = template.TimeoutSeconds;
        }

        StreamOptions stream = Stream(file.Stream);
        Check(new EmulatorScenario { Stream = stream }.Validate); // first: a producer's rate is checked against it
        var scenario = new EmulatorScenario
        {
            Seed = file.Seed ?? 1,
            StartTime = file.StartTime ?? new EmulatorScenario().StartTime,
            DurationSeconds = file.DurationSeconds ?? 60,
            Stream = stream,
            Producers = (file.Producers ?? []).Select((p, i) => Producer(Element(p, $"$.producers[{i}]"), i, stream)).ToArray(),
            Records = (file.Records ?? []).Select((r, i) => Record(Element(r, $"$.records[{i}]"), i)).ToArray(),
            Mapping = Mapping(file.Mapping),
            Function = Function(file.Function),
            KeyAssignment = file.KeyAssignment switch
            {
                null or "hash" => KeyAssignment.Hash,
                "adversarial" => KeyAssignment.Adversarial,
                _ => throw new ScenarioException("$.keyAssignment", $"'{file.KeyAssignment}' is not hash or adversarial"),
            },
            RedeliveryFraction = file.RedeliveryFraction ?? 0,
            ConsolidateBisectedFailures = file.ConsolidateBisectedFailures ?? false,
            RetryDelay = file.RetryDelayMs is double retryDelayMs
                ? retryDelayMs is >= 0 and <= 3_600_000 && retryDelayMs == Math.Floor(retryDelayMs)
                    ? TimeSpan.FromMilliseconds(retryDelayMs)
                    : throw new ScenarioException("$.retryDelayMs", $"must be a whole number of milliseconds from 0 to 3600000 (1 hour); got {retryDelayMs.ToString(CultureInfo.InvariantCulture)}")
                : TimeSpan.Zero,
            EventStringEscaping = file.EventStringEscaping switch
            {
                null or "minimal" => EventStringEscaping.Minimal,
                "allNonAscii" => EventStringEscaping.AllNonAscii,
                _ => throw new ScenarioException("$.eventStringEscaping", $"'{file.EventStringEscaping}' is not minimal or allNonAscii"),
            },
        };

        Check(scenario.Validate);

        HandlerFile handler = file.Handler ?? throw new ScenarioException("$.handler", "missing; expected {\"kind\":\"sample\"}, {\"kind\":\"scripted\",\"rules\":[...]} or {\"kind\":\"process\",\"command\":[...]}");

        // The kind first: an unknown kind given with rules was reported as a mistake of the rules (found by review).
        if (handler.Kind is not ("sample" or "naive" or "scripted" or "process"))
        {
            throw new ScenarioException("$.handler.kind", $"'{handler.Kind}' is not sample, naive, scripted or process");
        }

        // A handler's setting under another kind did nothing without a word (found by review): a kind changed by hand.
        if (handler.Rules is not null && handler.Kind != "scripted")
        {
            throw new ScenarioException("$.handler.rules", $"rules are the scripted handler's; this handler is '{handler.Kind}'");
        }

        if (handler.Command is not null && handler.Kind != "process")
        {
            throw new ScenarioException("$.handler.command", $"a command is the process handler's; this handler is '{handler.Kind}'");
        }

        if (handler.Environment is not null && handler.Kind != "process")
        {
            throw new ScenarioException("$.handler.environment", $"an environment is the process handler's; this handler is '{handler.Kind}'");
        }

        // Every other kind was refused above, before its settings.
        switch (handler.Kind)
        {
            case "sample":
            case "naive":
                break;
            case "scripted":
                _ = Rules(handler);
                break;
            case "process":
                if (handler.Command is not { Count: > 0 })
                {
                    throw new ScenarioException("$.handler.command", "missing; expected the command line to start, e.g. [\"artifacts/sample/bootstrap\"]");
                }

                if (handler.Command.Any(string.IsNullOrWhiteSpace))
                {
                    throw new ScenarioException("$.handler.command", "every element must be a non-empty string");
                }

                foreach ((string name, string? value) in handler.Environment ?? [])
                {
                    if (name.Length == 0 || name.Contains('=', StringComparison.Ordinal) || name.Contains('\0', StringComparison.Ordinal))
                    {
                        throw new ScenarioException("$.handler.environment", $"'{name}' is not a variable name");
                    }

                    if (value is null)
                    {
                        throw new ScenarioException($"$.handler.environment.{name}", "expected a string");
                    }

                    if (s_reservedVariables.Contains(name))
                    {
                        // Lambda refuses these in a function's configuration; here they were replaced or took the place of
                        // the scenario's own settings without a word (found by review: a memory size of 99 under 1,024 MB).
                        throw new ScenarioException($"$.handler.environment.{name}", "reserved: Lambda sets it (the scenario's function settings give its value), and refuses it in a function's configuration");
                    }
                }

                if (file.Function?.MeasureCompute == true)
                {
                    throw new ScenarioException("$.function.measureCompute", "not available with the process handler, which runs in real time outside the emulator");
                }

                if (CannotStart(handler.Command[0]) is { } why)
                {
                    // Else every invocation fails to start it and is retried: a run of errors instead of one message.
                    throw new ScenarioException("$.handler.command[0]", $"{handler.Command[0]}: {why}");
                }

                // The process runs in real time: the emulator waits for it before virtual time moves on.
                scenario = scenario with { RealTimeSettle = TimeSpan.FromSeconds(scenario.Function.TimeoutSeconds) + ProcessInitTimeout + TimeSpan.FromSeconds(5) };
                break;
        }

        CheckDownstream("$.downstream.dynamodb", file.Downstream?.Dynamodb, scenario.DurationSeconds, "DynamoDbModelOptions.Latency");
        CheckDownstream("$.downstream.s3", file.Downstream?.S3, scenario.DurationSeconds, "S3ModelOptions.Latency");
        if (file.Downstream?.S3?.ThrottleEpisodes is { Count: > 0 })
        {
            throw new ScenarioException("$.downstream.s3.throttleEpisodes", "only the DynamoDB model has throttling episodes");
        }

        return new LoadedScenario(scenario, handler, file.Downstream, template?.WindowSeconds ?? 60, template?.SpillAfterSeconds, template?.MaxPairs, template?.PerShardWatermarkOnly ?? false);
    }

    /// <summary>
    /// Why no process can be started from <paramref name="command"/> (a path is taken from the current directory, a bare
    /// name from PATH), or null when it can: the file exists and, outside Windows, may be executed.
    /// </summary>
    private static string? CannotStart(string command)
    {
        const string missing = "no such executable file (a path is taken from the current directory, a bare name from PATH)";
        if (command.Contains('/', StringComparison.Ordinal) || command.Contains(Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            if (!File.Exists(command))
            {
                return missing;
            }

            const UnixFileMode anyExecute = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
            return OperatingSystem.IsWindows() || (File.GetUnixFileMode(command) & anyExecute) != 0 ? null : "the file is not executable (chmod +x)";
        }

        string[] folders = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        string[] names = OperatingSystem.IsWindows() ? [command, command + ".exe", command + ".cmd"] : [command];
        return folders.Any(folder => names.Any(name => File.Exists(Path.Combine(folder, name))))
            ? null
            : missing;
    }

    /// <summary>An element of a list in the file: JSON's <c>null</c> there is refused, naming the element, like any other bad value.</summary>
    private static T Element<T>(T? element, string at)
        where T : class =>
        element ?? throw new ScenarioException(at, "null; expected an object");

    public static ScriptRule[] Rules(HandlerFile handler)
    {
        if (handler.Rules is null)
        {
            throw new ScenarioException("$.handler.rules", "missing; a scripted handler needs rules (an empty list always succeeds)");
        }

        return handler.Rules.Select((element, i) =>
        {
            string at = $"$.handler.rules[{i}]";
            RuleFile rule = Element(element, at);
            ScriptAction action = rule.Action switch
            {
                "raise" => ScriptAction.Raise,
                "report" => ScriptAction.Report,
                "respond" => ScriptAction.Respond,
                "sleepMs" => ScriptAction.SleepMs,
                _ => throw new ScenarioException(at + ".action", $"'{rule.Action}' is not raise, report, respond or sleepMs"),
            };
            if (action is ScriptAction.Raise or ScriptAction.Report && rule.WhenData is null)
            {
                throw new ScenarioException(at + ".whenData", $"missing; {rule.Action} applies to the records whose data is this text");
            }

            if (action == ScriptAction.Respond && rule.Body is null)
            {
                throw new ScenarioException(at + ".body", "missing; respond returns this literal response");
            }

            // A field of another action did nothing without a word (found by review: raise with ms, report with a body).
            if (action != ScriptAction.Respond && rule.Body is not null)
            {
                throw new ScenarioException(at + ".body", $"only a respond rule has a body; this rule is {rule.Action}");
            }

            if (action != ScriptAction.SleepMs && rule.Ms is not null)
            {
                throw new ScenarioException(at + ".ms", $"only a sleepMs rule has ms; this rule is {rule.Action}");
            }

            if (action == ScriptAction.SleepMs && rule.Ms is not (>= 0 and <= 900_000))
            {
                throw new ScenarioException(at + ".ms", "must be 0 to 900000 (a sleep in virtual ms)");
            }

            return new ScriptRule(action, rule.WhenData, rule.Body, rule.Ms ?? 0);
        }).ToArray();
    }

    /// <summary>
    /// Checks the template's settings on their own, before the scenario's go on top: a value out of AWS's range there is
    /// the template's, named by its property under <c>$.template</c> (found by review: it was reported under a scenario
    /// field, <c>$.mapping.BatchSize</c>, that the scenario did not have).
    /// </summary>
    private static void CheckTemplate(TemplateSettings template)
    {
        try
        {
            Check(new EmulatorScenario
            {
                Mapping = Mapping(template.Mapping),
                Function = Function(new FunctionFile { MemoryMb = template.MemoryMb, TimeoutSeconds = template.TimeoutSeconds }),
            }.Validate);
        }
        catch (ScenarioException e)
        {
            string property = e.Field switch
            {
                "$.function.timeoutSeconds" => "Timeout",
                "$.function.memoryMb" => "MemorySize",
                var f when f.StartsWith("$.mapping.", StringComparison.Ordinal) => f["$.mapping.".Length..],
                var f => f,
            };
            throw new ScenarioException("$.template", $"the template's {property}: {e.Reason}");
        }
    }

    // The template's mapping with the scenario's own settings on top (e.g. another ParallelizationFactor).
    private static MappingFile Overlay(MappingFile template, MappingFile? own) => own is null ? template : new MappingFile
    {
        BatchSize = own.BatchSize ?? template.BatchSize,
        MaximumBatchingWindowInSeconds = own.MaximumBatchingWindowInSeconds ?? template.MaximumBatchingWindowInSeconds,
        ParallelizationFactor = own.ParallelizationFactor ?? template.ParallelizationFactor,
        BisectBatchOnFunctionError = own.BisectBatchOnFunctionError ?? template.BisectBatchOnFunctionError,
        MaximumRetryAttempts = own.MaximumRetryAttempts ?? template.MaximumRetryAttempts,
        MaximumRecordAgeInSeconds = own.MaximumRecordAgeInSeconds ?? template.MaximumRecordAgeInSeconds,
        FunctionResponseTypes = own.FunctionResponseTypes ?? template.FunctionResponseTypes,
        TumblingWindowInSeconds = own.TumblingWindowInSeconds ?? template.TumblingWindowInSeconds,
        StartingPosition = own.StartingPosition ?? template.StartingPosition,
        // The template's timestamp goes with its AT_TIMESTAMP: a scenario that sets another position does not take it.
        StartingPositionTimestamp = own.StartingPositionTimestamp ?? (own.StartingPosition is null or "AT_TIMESTAMP" ? template.StartingPositionTimestamp : null),
        DestinationConfig = own.DestinationConfig ?? template.DestinationConfig,
        Uuid = own.Uuid ?? template.Uuid,
    };

    internal static void Check(Action validate, string? field = null)
    {
        try
        {
            validate();
        }
        catch (ArgumentException ex)
        {
            string reason = ex.Message;
            int cut = reason.IndexOf(" (Parameter", StringComparison.Ordinal);
            reason = cut > 0 ? reason[..cut] : reason;
            cut = reason.IndexOf("\nActual value", StringComparison.Ordinal);
            reason = cut > 0 ? reason[..cut] : reason;
            if (field is null && ex.ParamName == nameof(EmulatorScenario.Records) && RecordIndex().Match(reason) is { Success: true } record)
            {
                // "Records[3]: ..." names the record: $.records[3].
                throw new ScenarioException("$.records[" + record.Groups[1].Value + "]", reason[record.Length..].Trim());
            }

            throw new ScenarioException(field ?? FieldOf(ex.ParamName), reason.Trim());
        }
    }

    /// <summary>
    /// The value at <paramref name="path"/> (the serializer's <c>$.a.b[2].c</c>) when it is a JSON number with no fraction
    /// or exponent: a whole number the field's type could not hold. Null for anything else, or a path not followed.
    /// </summary>
    private static string? WholeNumberAt(ReadOnlySpan<byte> json, string? path)
    {
        if (path is null || !path.StartsWith('$'))
        {
            return null;
        }

        try
        {
            // Read as the scenario is (comments, trailing commas: review).
            using JsonDocument document = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            JsonElement at = document.RootElement;
            foreach (System.Text.RegularExpressions.Match step in PathStep().Matches(path[1..]))
            {
                if (step.Groups[1].Success)
                {
                    if (at.ValueKind != JsonValueKind.Object || !at.TryGetProperty(step.Groups[1].Value, out at))
                    {
                        return null;
                    }
                }
                else if (at.ValueKind != JsonValueKind.Array || int.Parse(step.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) is var i && i >= at.GetArrayLength())
                {
                    return null;
                }
                else
                {
                    at = at[int.Parse(step.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture)];
                }
            }

            string raw = at.ValueKind == JsonValueKind.Number ? at.GetRawText() : string.Empty;

            // Cut as a template's values are quoted: a number of 100,000 digits made an error line of 100 KB (review).
            return raw.Length > 0 && raw.AsSpan().IndexOfAny('.', 'e', 'E') < 0
                ? raw.Length <= 40 ? raw : string.Create(CultureInfo.InvariantCulture, $"{raw[..20]}... ({raw.Length:N0} digits)")
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"\.([A-Za-z0-9_]+)|\[(\d{1,9})\]")]
    private static partial System.Text.RegularExpressions.Regex PathStep();

    /// <summary>The serializer's "could not be converted to System.Nullable`1[System.Int32]" in the scenario's words (review: .NET type names told a user nothing).</summary>
    private static string Readable(string message)
    {
        // The runtime's wording names .NET types; say it in the scenario's terms (found by review).
        if (UnknownProperty().Match(message) is { Success: true } unknown)
        {
            return $"unknown field '{unknown.Groups[1].Value}' (field names are case-sensitive: see docs/emulator.md, \"Scenario file\")";
        }

        if (MissingProperties().Match(message) is { Success: true } missing)
        {
            return "missing required field(s) " + missing.Groups[1].Value.TrimEnd('.');
        }

        System.Text.RegularExpressions.Match type = ConvertedType().Match(message);
        if (!type.Success)
        {
            return message;
        }

        string expected = type.Groups[1].Value switch
        {
            "Int32" or "Int64" => "a whole number",
            "Double" => "a number",
            "Boolean" => "true or false",
            "String" => "a string (valid UTF-8 text)",
            var other when other.StartsWith("List`1", StringComparison.Ordinal) || other.EndsWith("[]", StringComparison.Ordinal) => "a list",
            _ => "an object of the documented shape",
        };
        return "expected " + expected + "; got a value of another kind";
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"could not be converted to (?:System\.Nullable`1\[)?(?:[\w.]*\.)?([\w`]+(?:\[[^\]]*\])?)")]
    private static partial System.Text.RegularExpressions.Regex ConvertedType();

    [System.Text.RegularExpressions.GeneratedRegex(@"^The JSON property '([^']*)' could not be mapped to any \.NET member")]
    private static partial System.Text.RegularExpressions.Regex UnknownProperty();

    [System.Text.RegularExpressions.GeneratedRegex(@"was missing required properties including: (.*)$")]
    private static partial System.Text.RegularExpressions.Regex MissingProperties();

    [System.Text.RegularExpressions.GeneratedRegex(@"^Records\[(\d+)\]: ")]
    private static partial System.Text.RegularExpressions.Regex RecordIndex();

    // The scenario field a setting comes from.
    private static string FieldOf(string? setting) => setting switch
    {
        null => "$",
        "DurationSeconds" => "$.durationSeconds",
        "StartTime" => "$.startTime",
        "RedeliveryFraction" => "$.redeliveryFraction",
        "ShardCount" => "$.stream.shards",
        "StreamName" or "RetentionHours" or "WriteRecordsPerSecond" or "WriteBytesPerSecond" => "$.stream." + Camel(setting),
        "FunctionName" or "TimeoutSeconds" or "MemoryMb" or "InitMs" or "ReservedConcurrency" or "ComputeMsPerRecord" or "ComputeMsPerInvocation" or "MeasureCompute" => "$.function." + Camel(setting),
        "RatePerSecond" or "PartitionKeys" => "$.producers[]." + Camel(setting),
        "Records" => "$.records[]",
        "Producers" => "$.producers",
        "OnFailure" => "$.mapping.DestinationConfig.OnFailure.Destination",
        "Uuid" => "$.mapping.UUID",
        _ => "$.mapping." + setting,
    };

    private static string Camel(string name) => name.Length == 0 ? name : char.ToLowerInvariant(name[0]) + name[1..];

    /// <param name="path">The model's JSON path.</param>
    /// <param name="model">The model's settings in the scenario.</param>
    /// <param name="duration">The run's length in seconds.</param>
    /// <param name="latencyOption">The model option's name in the model's own message.</param>
    private static void CheckDownstream(string path, ServiceModelFile? model, int duration, string latencyOption)
    {
        if (model is null)
        {
            return;
        }

        if (model.ThrottleFraction is < 0 or > 1)
        {
            throw new ScenarioException(path + ".throttleFraction", "must be 0 to 1");
        }

        if (model.LatencyMs is { } latency)
        {
            // At most the longest timeout: a slower answer cannot change a run (the invocation times out first), and a
            // latency past the range of TimeSpan cannot be made at all.
            if (latency.P50 is not (>= 0 and <= 900_000))
            {
                throw new ScenarioException(path + ".latencyMs.p50", "must be 0 to 900000 ms (the longest timeout)");
            }

            if (latency.P99 is not (>= 0 and <= 900_000))
            {
                throw new ScenarioException(path + ".latencyMs.p99", "must be 0 to 900000 ms (the longest timeout)");
            }

            // The model's own rule (what it refuses to sample), not a copy of it.
            Check(() => LatencyDistribution.FromMilliseconds(latency.P50, latency.P99).Validate(latencyOption), path + ".latencyMs");
        }

        foreach ((OutageFile? element, int i) in (model.Outages ?? []).Select((o, i) => (o, i)))
        {
            OutageFile outage = Element(element, $"{path}.outages[{i}]");
            if (outage.FromSecond < 0 || outage.ToSecond <= outage.FromSecond || outage.FromSecond > duration)
            {
                throw new ScenarioException(path + ".outages", "each outage needs 0 <= fromSecond < toSecond, within the run");
            }
        }

        foreach ((ThrottleEpisodeFile? element, int i) in (model.ThrottleEpisodes ?? []).Select((e, i) => (e, i)))
        {
            ThrottleEpisodeFile episode = Element(element, $"{path}.throttleEpisodes[{i}]");
            if (episode.FromSecond < 0 || episode.ToSecond <= episode.FromSecond || episode.FromSecond > duration)
            {
                throw new ScenarioException(path + ".throttleEpisodes", "each episode needs 0 <= fromSecond < toSecond, within the run");
            }

            if (episode.Fraction is < 0 or > 1 || double.IsNaN(episode.Fraction))
            {
                throw new ScenarioException(path + ".throttleEpisodes", "each episode's fraction must be 0 to 1");
            }
        }
    }

    private static StreamOptions Stream(StreamFile? file)
    {
        var stream = new StreamOptions();
        if (file is null)
        {
            return stream;
        }

        // Kinesis's per-shard write limit, as writeRecordsPerSecond's (found by review: a rate of 2,147,483,647 bytes let
        // one shard of 1 MB records fill 8.85 GB before the run stopped, naming rates and sizes, not this setting).
        // The library's StreamOptions takes more, for tests that put large records without throttling.
        if (file.WriteBytesPerSecond is { } bytesPerSecond && (bytesPerSecond < 1 || bytesPerSecond > MaxShardBytesPerSecond))
        {
            throw new ScenarioException("$.stream.writeBytesPerSecond", string.Create(CultureInfo.InvariantCulture, $"must be 1 to {MaxShardBytesPerSecond} (1 MiB, Kinesis's per-shard write limit), not {bytesPerSecond}"));
        }

        return stream with
        {
            ShardCount = file.Shards ?? stream.ShardCount,
            StreamName = file.StreamName ?? stream.StreamName,
            RetentionHours = file.RetentionHours ?? stream.RetentionHours,
            WriteRecordsPerSecond = file.WriteRecordsPerSecond ?? stream.WriteRecordsPerSecond,
            WriteBytesPerSecond = file.WriteBytesPerSecond ?? stream.WriteBytesPerSecond,
        };
    }

    /// <summary>Kinesis's write limit of a shard, in bytes per second (data plus partition keys): 1 MiB.</summary>
    private const int MaxShardBytesPerSecond = 1024 * 1024;

    /// <summary>Kinesis's limit on a record: data plus partition key (UTF-8).</summary>
    private const long MaxRecordBytes = 1024 * 1024;

    private static void RecordFits(long bytes, string field)
    {
        if (bytes > MaxRecordBytes)
        {
            throw new ScenarioException(field, string.Create(CultureInfo.InvariantCulture, $"a record made from it can reach {bytes} bytes with its partition key; Kinesis takes at most 1 MiB ({MaxRecordBytes} bytes)"));
        }
    }

    private static long Occurrences(string text, string part)
    {
        long count = 0;
        for (int at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    private static ProducerOptions Producer(ProducerFile file, int index, StreamOptions stream)
    {
        string at = $"$.producers[{index}]";
        var producer = new ProducerOptions();
        if (file.Generator?.Metrics is < 1)
        {
            throw new ScenarioException(at + ".generator.metrics", "must be 1 or more (the number of metric names)");
        }

        // A field of another kind, or poison without its fraction, was taken without a word and the default used: the
        // user believed they replayed their own payloads or poison (review).
        string kind = file.Generator?.Kind ?? "metric";
        if (file.Generator?.Template is not null && kind != "text")
        {
            throw new ScenarioException(at + ".generator.template", $"is the text generator's; this generator is '{kind}' (set \"kind\":\"text\")");
        }

        if (file.Generator?.Metrics is not null && kind == "text")
        {
            throw new ScenarioException(at + ".generator.metrics", "is the metric generators'; a text generator's records come from its template");
        }

        if (file.Generator?.Poison is not null && file.Generator.PoisonFraction is null)
        {
            throw new ScenarioException(at + ".generator.poison", "needs poisonFraction (0 to 1): without it no record is poison");
        }

        if (file.RatePerSecond is null)
        {
            throw new ScenarioException(at + ".ratePerSecond", "missing; a producer needs its rate in records per second (AWS has no default for it)");
        }

        for (int i = 1; i < (file.Schedule?.Count ?? 0); i++)
        {
            if (file.Schedule![i] is { } step && file.Schedule[i - 1] is { } before && step.FromSecond <= before.FromSecond)
            {
                // The rate in effect is the last step started in list order: a step listed after a later one never took effect.
                throw new ScenarioException($"{at}.schedule[{i}].fromSecond", $"must be after the step before it ({before.FromSecond}); list the steps in time order, one per second");
            }
        }

        RecordGenerator generator = file.Generator?.Kind switch
        {
            null or "metric" => RecordGenerators.Metric(file.Generator?.Metrics ?? 4),
            "service-metric" => IncidentRecords.ServiceMetric(file.Generator?.Metrics ?? 4),
            "text" => RecordGenerators.Text(file.Generator?.Template ?? throw new ScenarioException(at + ".generator.template", "missing; a text generator needs a template ({n} and {key} are replaced)")),
            _ => throw new ScenarioException(at + ".generator.kind", $"'{file.Generator.Kind}' is not metric, service-metric or text"),
        };
        if (file.Generator?.PoisonFraction is double fraction)
        {
            if (fraction is < 0 or > 1)
            {
                throw new ScenarioException(at + ".generator.poisonFraction", "must be 0 to 1");
            }

            generator = RecordGenerators.WithPoison(generator, fraction, file.Generator.Poison ?? "not json");
        }

        // A record of the template or the poison text, with its partition key, is at most 1 MiB, as Kinesis takes one:
        // refused here with the field, not by the run when a producer first makes one (exit 1 and a stack trace).
        long keyBytes = Encoding.UTF8.GetByteCount(file.KeyPrefix ?? producer.KeyPrefix) + Math.Max(1, (file.PartitionKeys ?? producer.PartitionKeys) - 1).ToString(CultureInfo.InvariantCulture).Length;
        if (file.Generator is { Kind: "text", Template: { } template })
        {
            // {n} becomes the record's index (at most 20 digits), {key} the partition key.
            long most = Encoding.UTF8.GetByteCount(template) + (Occurrences(template, "{n}") * (20 - 3)) + (Occurrences(template, "{key}") * Math.Max(0, keyBytes - 5)) + keyBytes;
            RecordFits(most, at + ".generator.template");
        }

        if (file.Generator is { PoisonFraction: > 0, Poison: { } poison })
        {
            RecordFits(Encoding.UTF8.GetByteCount(poison) + keyBytes, at + ".generator.poison");
        }

        producer = producer with
        {
            RatePerSecond = file.RatePerSecond ?? producer.RatePerSecond,
            Schedule = (file.Schedule ?? []).Select((s, i) => Element(s, $"{at}.schedule[{i}]")).Select(s => new RateStep(s.FromSecond, s.RatePerSecond)).ToArray(),
            PartitionKeys = file.PartitionKeys ?? producer.PartitionKeys,
            KeyPrefix = file.KeyPrefix ?? producer.KeyPrefix,
            Generator = generator,
        };
        try
        {
            new EmulatorScenario { Stream = stream, Producers = [producer] }.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new ScenarioException(at + "." + string.Join('.', (ex.ParamName ?? "ratePerSecond").Split('.').Select(Camel)), ex.Message.Split(" (Parameter")[0].Split('\n')[0].Trim());
        }

        return producer;
    }

    private static ExplicitRecord Record(RecordFile file, int index)
    {
        string at = $"$.records[{index}]";
        if (string.IsNullOrEmpty(file.PartitionKey) || file.PartitionKey.Length > 256)
        {
            throw new ScenarioException(at + ".partitionKey", "must be 1 to 256 characters");
        }

        if ((file.Text is null) == (file.Data is null))
        {
            throw new ScenarioException(at, "needs exactly one of text (UTF-8) or data (base64)");
        }

        byte[] data;
        if (file.Text is not null)
        {
            data = Encoding.UTF8.GetBytes(file.Text);
        }
        else
        {
            try
            {
                data = Convert.FromBase64String(file.Data!);
            }
            catch (FormatException)
            {
                throw new ScenarioException(at + ".data", "is not valid base64");
            }
        }

        return new ExplicitRecord(file.PartitionKey, data, file.AtMs);
    }

    private static MappingOptions Mapping(MappingFile? file)
    {
        var mapping = new MappingOptions();
        if (file is null)
        {
            return mapping;
        }

        bool report = false;
        foreach (string type in file.FunctionResponseTypes ?? [])
        {
            report = type == "ReportBatchItemFailures"
                ? true
                : throw new ScenarioException("$.mapping.FunctionResponseTypes", $"'{type}' is not ReportBatchItemFailures (the only value AWS accepts)");
        }

        return mapping with
        {
            BatchSize = file.BatchSize ?? mapping.BatchSize,
            MaximumBatchingWindowInSeconds = file.MaximumBatchingWindowInSeconds ?? mapping.MaximumBatchingWindowInSeconds,
            ParallelizationFactor = file.ParallelizationFactor ?? mapping.ParallelizationFactor,
            BisectBatchOnFunctionError = file.BisectBatchOnFunctionError ?? mapping.BisectBatchOnFunctionError,
            MaximumRetryAttempts = file.MaximumRetryAttempts ?? mapping.MaximumRetryAttempts,
            MaximumRecordAgeInSeconds = file.MaximumRecordAgeInSeconds ?? mapping.MaximumRecordAgeInSeconds,
            ReportBatchItemFailures = report,
            TumblingWindowInSeconds = file.TumblingWindowInSeconds ?? mapping.TumblingWindowInSeconds,
            StartingPosition = file.StartingPosition switch
            {
                null or "TRIM_HORIZON" => StartingPosition.TrimHorizon,
                "LATEST" => StartingPosition.Latest,
                "AT_TIMESTAMP" => StartingPosition.AtTimestamp,
                _ => throw new ScenarioException("$.mapping.StartingPosition", $"'{file.StartingPosition}' is not TRIM_HORIZON, LATEST or AT_TIMESTAMP"),
            },
            StartingPositionTimestamp = file.StartingPositionTimestamp,
            OnFailure = file.DestinationConfig?.OnFailure?.Destination switch
            {
                null => OnFailureDestination.None,
                "sqs" => OnFailureDestination.Sqs,
                "s3" => OnFailureDestination.S3,
                string other => throw new ScenarioException("$.mapping.DestinationConfig.OnFailure.Destination", $"'{other}' is not sqs or s3"),
            },
            Uuid = file.Uuid,
        };
    }

    private static FunctionOptions Function(FunctionFile? file)
    {
        var function = new FunctionOptions();
        if (file is null)
        {
            return function;
        }

        return function with
        {
            FunctionName = file.FunctionName ?? function.FunctionName,
            TimeoutSeconds = file.TimeoutSeconds ?? function.TimeoutSeconds,
            MemoryMb = file.MemoryMb ?? function.MemoryMb,
            InitMs = file.InitMs ?? function.InitMs,
            ReservedConcurrency = file.ReservedConcurrency,
            ComputeMsPerInvocation = file.ComputeMsPerInvocation ?? function.ComputeMsPerInvocation,
            ComputeMsPerRecord = file.ComputeMsPerRecord ?? function.ComputeMsPerRecord,
            MeasureCompute = file.MeasureCompute ?? function.MeasureCompute,
        };
    }
}
