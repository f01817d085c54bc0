using System.Globalization;

namespace Analytics.Core;

/// <summary>
/// A function's configuration read from environment variables, so a function (or its template) configures the
/// pipeline without code. Every variable is optional.
/// </summary>
/// <remarks>
/// <list type="table">
/// <listheader><term>Variable</term><description>Meaning (default)</description></listheader>
/// <item><term><c>ANALYTICS_WINDOW_SECONDS</c></term><description>Aggregation window, whole seconds 1 to 3600 (60).</description></item>
/// <item><term><c>ANALYTICS_MAX_PAIRS</c></term><description>Cap on (series, window) pairs per batch, 1 to 1,000,000 (10,000).</description></item>
/// <item><term><c>ANALYTICS_LOG_LEVEL</c></term><description>Least level of the JSON log lines: <c>Debug</c>, <c>Info</c>, <c>Warn</c>, <c>Error</c> or <c>None</c> (Info).</description></item>
/// <item><term><c>ANALYTICS_METRICS_NAMESPACE</c></term><description>CloudWatch namespace of the EMF metrics (<c>Analytics.Core</c>).</description></item>
/// <item><term><c>ANALYTICS_AGGREGATE_TABLE</c></term><description>DynamoDB table for the aggregates (none: the function decides).</description></item>
/// <item><term><c>ANALYTICS_QUARANTINE_BUCKET</c></term><description>S3 bucket for poison records (none: the function decides).</description></item>
/// <item><term><c>ANALYTICS_OUTPUT_DIR</c></term><description>Directory for local JSON-lines files (<c>/tmp/analytics</c>).</description></item>
/// </list>
/// <para><see cref="FromEnvironment()"/> also refuses any other variable whose name starts with <c>ANALYTICS_</c> (a
/// misspelled name would leave the default in effect); <see cref="FromEnvironment(Func{string, string?})"/> reads only the
/// seven and checks no names.</para>
/// <para>A value that cannot be used throws when the settings are read, naming the variable, so a misconfigured function
/// fails at its first (init) call instead of running on defaults; so does a variable set to an empty or white-space
/// value (remove it for the default): a blank table or bucket read as unset left the choice to the function, which
/// could then write to files that a Lambda sandbox loses.</para>
/// </remarks>
public sealed record KinesisFunctionSettings
{
    /// <summary>Name of the variable for <see cref="WindowSize"/>.</summary>
    public const string WindowSecondsVariable = "ANALYTICS_WINDOW_SECONDS";

    /// <summary>Name of the variable for <see cref="MaxPairs"/>.</summary>
    public const string MaxPairsVariable = "ANALYTICS_MAX_PAIRS";

    /// <summary>Name of the variable for <see cref="LogLevel"/>.</summary>
    public const string LogLevelVariable = "ANALYTICS_LOG_LEVEL";

    /// <summary>Name of the variable for <see cref="MetricsNamespace"/>.</summary>
    public const string MetricsNamespaceVariable = "ANALYTICS_METRICS_NAMESPACE";

    /// <summary>Name of the variable for <see cref="AggregateTable"/>.</summary>
    public const string AggregateTableVariable = "ANALYTICS_AGGREGATE_TABLE";

    /// <summary>Name of the variable for <see cref="QuarantineBucket"/>.</summary>
    public const string QuarantineBucketVariable = "ANALYTICS_QUARANTINE_BUCKET";

    /// <summary>Name of the variable for <see cref="OutputDirectory"/>.</summary>
    public const string OutputDirectoryVariable = "ANALYTICS_OUTPUT_DIR";

    /// <summary>The aggregation window. Default 60 s.</summary>
    public TimeSpan WindowSize { get; init; } = AggregatorOptions.Default.WindowSize;

    /// <summary>Cap on (series, window) pairs per batch. Default 10,000.</summary>
    public int MaxPairs { get; init; } = AggregatorOptions.Default.MaxPairs;

    /// <summary>Least level of the JSON log lines. Default <see cref="JsonLogLevel.Info"/>.</summary>
    public JsonLogLevel LogLevel { get; init; } = JsonLogOptions.Default.MinimumLevel;

    /// <summary>CloudWatch namespace of the EMF metrics. Default <c>Analytics.Core</c>.</summary>
    public string MetricsNamespace { get; init; } = EmfMetrics.DefaultNamespace;

    /// <summary>DynamoDB table for the aggregates, or null when not set.</summary>
    public string? AggregateTable { get; init; }

    /// <summary>S3 bucket for poison records, or null when not set.</summary>
    public string? QuarantineBucket { get; init; }

    /// <summary>Directory for local JSON-lines files. Default <c>/tmp/analytics</c> (Lambda's writable directory).</summary>
    public string OutputDirectory { get; init; } = "/tmp/analytics";

    /// <summary>
    /// Reads the settings from the process's environment variables, and refuses a variable whose name starts with
    /// <c>ANALYTICS_</c> (in any case) that is none of the seven: a misspelled name (<c>ANALYTICS_WINDOW_SIZE</c>,
    /// <c>analytics_max_pairs</c>) would leave the default in effect without a word. A function with variables of its
    /// own under that prefix reads the settings with <see cref="FromEnvironment(Func{string, string?})"/>, which checks
    /// no names, and checks its own.
    /// </summary>
    /// <returns>The settings.</returns>
    /// <exception cref="InvalidOperationException">A variable holds a value that cannot be used, or an <c>ANALYTICS_</c> variable is not one of the settings; the message names it.</exception>
    public static KinesisFunctionSettings FromEnvironment() =>
        FromEnvironment(Environment.GetEnvironmentVariables().Keys.Cast<string>(), Environment.GetEnvironmentVariable);

    /// <summary><see cref="FromEnvironment()"/> over given names and values (tests).</summary>
    internal static KinesisFunctionSettings FromEnvironment(IEnumerable<string> names, Func<string, string?> getVariable)
    {
        CheckNames(names);
        return FromEnvironment(getVariable);
    }

    /// <summary>Every variable <see cref="FromEnvironment(Func{string, string?})"/> reads.</summary>
    internal static readonly string[] Variables =
    [
        WindowSecondsVariable, MaxPairsVariable, LogLevelVariable, MetricsNamespaceVariable, AggregateTableVariable, QuarantineBucketVariable, OutputDirectoryVariable,
    ];

    /// <summary>Refuses the first name (in ordinal order) that starts with <c>ANALYTICS_</c> in any case and is not one of <see cref="Variables"/>.</summary>
    /// <exception cref="InvalidOperationException">Such a name; the message names it and the settings.</exception>
    internal static void CheckNames(IEnumerable<string> names)
    {
        foreach (string name in names.Order(StringComparer.Ordinal))
        {
            if (name.StartsWith("ANALYTICS_", StringComparison.OrdinalIgnoreCase) && Array.IndexOf(Variables, name) < 0)
            {
                ThrowHelper.ThrowInvalidOperation(
                    $"{name} is not a setting of Analytics.Core, which reads {string.Join(", ", Variables)}: a misspelled name leaves the default in effect. " +
                    "A variable of the function's own under this prefix: read the settings with KinesisFunctionSettings.FromEnvironment(Environment.GetEnvironmentVariable), which checks no names.");
            }
        }
    }

    /// <summary>Reads the settings through <paramref name="getVariable"/> (tests pass a dictionary's lookup).</summary>
    /// <param name="getVariable">Returns a variable's value, or null when it is not set.</param>
    /// <returns>The settings.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="getVariable"/> is null.</exception>
    /// <exception cref="InvalidOperationException">A variable holds a value that cannot be used; the message names it.</exception>
    public static KinesisFunctionSettings FromEnvironment(Func<string, string?> getVariable)
    {
        ArgumentNullException.ThrowIfNull(getVariable);
        var settings = new KinesisFunctionSettings();
        if (Get(getVariable, WindowSecondsVariable) is { } window)
        {
            settings = settings with { WindowSize = TimeSpan.FromSeconds(ParseInt(WindowSecondsVariable, window, 1, 3600, "a whole number of seconds")) };
        }

        if (Get(getVariable, MaxPairsVariable) is { } maxPairs)
        {
            settings = settings with { MaxPairs = ParseInt(MaxPairsVariable, maxPairs, 1, 1_000_000, "a whole number") };
        }

        if (Get(getVariable, LogLevelVariable) is { } level)
        {
            // A list ("Info,Warn") parses as the flags' sum, another level.
            if (!Enum.TryParse(level, ignoreCase: true, out JsonLogLevel parsed) || level.Contains(',', StringComparison.Ordinal) || !Enum.IsDefined(parsed) || int.TryParse(level, out _))
            {
                ThrowHelper.ThrowInvalidOperation($"{LogLevelVariable} must be Debug, Info, Warn, Error or None, not '{level}'.");
            }

            settings = settings with { LogLevel = parsed };
        }

        if (Get(getVariable, MetricsNamespaceVariable) is { } ns)
        {
            if (EmfMetrics.NamespaceProblem(ns) is { } problem)
            {
                // CloudWatch would drop every metric line without an error the function sees.
                ThrowHelper.ThrowInvalidOperation($"{MetricsNamespaceVariable} {problem}");
            }

            settings = settings with { MetricsNamespace = ns };
        }

        return settings with
        {
            AggregateTable = Get(getVariable, AggregateTableVariable),
            QuarantineBucket = Get(getVariable, QuarantineBucketVariable),
            OutputDirectory = Get(getVariable, OutputDirectoryVariable) ?? settings.OutputDirectory,
        };
    }

    /// <summary>The processor options these settings imply (window size and pair cap; everything else default).</summary>
    /// <returns>The options.</returns>
    public ProcessorOptions ToProcessorOptions() =>
        ProcessorOptions.Default with { Aggregator = AggregatorOptions.Default with { WindowSize = WindowSize, MaxPairs = MaxPairs } };

    /// <summary>The function options these settings imply: <see cref="ToProcessorOptions"/>, the log level and the metrics namespace.</summary>
    /// <returns>The options.</returns>
    public KinesisFunctionOptions ToFunctionOptions() => KinesisFunctionOptions.Default with
    {
        Processor = ToProcessorOptions(),
        Log = JsonLogOptions.Default with { MinimumLevel = LogLevel },
        Metrics = EmfOptions.Default with { Namespace = MetricsNamespace },
    };

    private static string? Get(Func<string, string?> getVariable, string name)
    {
        if (getVariable(name) is not { } value)
        {
            return null;
        }

        if (string.IsNullOrWhiteSpace(value))
        {
            ThrowHelper.ThrowInvalidOperation($"{name} is set but empty; give a value, or remove the variable for its default.");
        }

        return value.Trim();
    }

    private static int ParseInt(string name, string value, int min, int max, string what)
    {
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int parsed) || parsed < min || parsed > max)
        {
            ThrowHelper.ThrowInvalidOperation($"{name} must be {what} from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}, not '{value}'.");
        }

        return parsed;
    }
}
