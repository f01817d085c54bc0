using System.Globalization;
using Analytics.Core;

namespace Analytics.SampleLambda;

/// <summary>
/// The function's configuration, read from environment variables (documented in the sample README): the library's
/// variables, read by <see cref="KinesisFunctionSettings"/> (window, pair cap, log level, metrics namespace, table,
/// quarantine bucket, output directory), and the sample's own spill variables.
/// </summary>
/// <param name="Function">What <see cref="KinesisFunctionSettings.FromEnvironment(Func{string, string?})"/> reads.</param>
/// <param name="SpillBucket">S3 bucket for spills (<c>ANALYTICS_SPILL_BUCKET</c>, only with a table); null: no spilling.</param>
/// <param name="SpillAfter">Age of a batch's oldest record from which it is spilled when the table fails (<c>ANALYTICS_SPILL_AFTER_SECONDS</c>, default 300).</param>
/// <param name="PerShardWatermarkOnly">The DynamoDB sink's <c>PerShardWatermarkOnly</c> (<c>ANALYTICS_PER_SHARD_WATERMARK_ONLY</c>, only with a table): for random partition keys per record at ParallelizationFactor 1.</param>
internal sealed record SampleSettings(KinesisFunctionSettings Function, string? SpillBucket = null, TimeSpan? SpillAfter = null, bool PerShardWatermarkOnly = false)
{
    internal const string OutputDirectoryVariable = KinesisFunctionSettings.OutputDirectoryVariable;
    internal const string WindowSecondsVariable = KinesisFunctionSettings.WindowSecondsVariable;
    internal const string AggregateTableVariable = KinesisFunctionSettings.AggregateTableVariable;
    internal const string QuarantineBucketVariable = KinesisFunctionSettings.QuarantineBucketVariable;
    internal const string SpillBucketVariable = "ANALYTICS_SPILL_BUCKET";
    internal const string SpillAfterSecondsVariable = "ANALYTICS_SPILL_AFTER_SECONDS";
    internal const string PerShardWatermarkOnlyVariable = "ANALYTICS_PER_SHARD_WATERMARK_ONLY";
    internal const string DefaultOutputDirectory = "/tmp/analytics";

    /// <summary>The prefix of every variable the function reads.</summary>
    internal const string VariablePrefix = "ANALYTICS_";

    /// <summary>Every variable the function reads: the library's and the spill's.</summary>
    internal static readonly string[] Variables =
    [
        KinesisFunctionSettings.WindowSecondsVariable, KinesisFunctionSettings.MaxPairsVariable, KinesisFunctionSettings.LogLevelVariable,
        KinesisFunctionSettings.MetricsNamespaceVariable, KinesisFunctionSettings.AggregateTableVariable, KinesisFunctionSettings.QuarantineBucketVariable,
        KinesisFunctionSettings.OutputDirectoryVariable, SpillBucketVariable, SpillAfterSecondsVariable, PerShardWatermarkOnlyVariable,
    ];

    /// <summary>
    /// Refuses an <c>ANALYTICS_</c> variable the function does not read (a misspelled or lowercased name): it would
    /// leave the default in effect without a word (review: ANALYTICS_WINDOW_SIZE=300 ran with 60-second windows).
    /// </summary>
    /// <param name="names">The environment's variable names.</param>
    /// <exception cref="InvalidOperationException">A name starts with ANALYTICS_ (in any case) and is not one of <see cref="Variables"/>.</exception>
    public static void CheckNames(IEnumerable<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        foreach (string name in names.Order(StringComparer.Ordinal))
        {
            if (name.StartsWith(VariablePrefix, StringComparison.OrdinalIgnoreCase) && !Variables.Contains(name, StringComparer.Ordinal))
            {
                throw new InvalidOperationException($"{name} is not a setting of this function, which reads {string.Join(", ", Variables)}: a misspelled name leaves the default in effect.");
            }
        }
    }

    /// <summary>Where the JSON-lines sinks write (<c>ANALYTICS_OUTPUT_DIR</c>, default <c>/tmp/analytics</c>).</summary>
    public string OutputDirectory => Function.OutputDirectory;

    /// <summary>Aggregation window (<c>ANALYTICS_WINDOW_SECONDS</c>, default 60).</summary>
    public TimeSpan WindowSize => Function.WindowSize;

    /// <summary>DynamoDB table for aggregates (<c>ANALYTICS_AGGREGATE_TABLE</c>), set by the template.</summary>
    public string? AggregateTable => Function.AggregateTable;

    /// <summary>S3 bucket for poison records (<c>ANALYTICS_QUARANTINE_BUCKET</c>), set by the template.</summary>
    public string? QuarantineBucket => Function.QuarantineBucket;

    /// <summary>Reads the settings.</summary>
    /// <param name="getVariable">Reads one environment variable (tests pass a dictionary).</param>
    /// <returns>The settings.</returns>
    /// <exception cref="InvalidOperationException">A variable holds a value the function cannot use.</exception>
    public static SampleSettings FromEnvironment(Func<string, string?> getVariable)
    {
        ArgumentNullException.ThrowIfNull(getVariable);
        KinesisFunctionSettings function = KinesisFunctionSettings.FromEnvironment(getVariable);
        string? Get(string name) => NullIfUnset(name, getVariable(name));
        TimeSpan spillAfter = ProcessorOptions.Default.SpillAfterAge;
        if (Get(SpillAfterSecondsVariable) is { } after)
        {
            if (!int.TryParse(after, NumberStyles.None, CultureInfo.InvariantCulture, out int s) || s is < 1 or > 604_800)
            {
                throw new InvalidOperationException($"{SpillAfterSecondsVariable} must be a whole number of seconds from 1 to 604800, not '{after}'.");
            }

            spillAfter = TimeSpan.FromSeconds(s);
        }

        string? spillBucket = Get(SpillBucketVariable);
        if (spillBucket is not null && function.AggregateTable is null)
        {
            throw new InvalidOperationException($"{SpillBucketVariable} needs {AggregateTableVariable}: spills hold what the DynamoDB table could not take.");
        }

        if (spillBucket is null && Get(SpillAfterSecondsVariable) is not null)
        {
            // Review: taken without a word, and nothing was ever spilled.
            throw new InvalidOperationException($"{SpillAfterSecondsVariable} needs {SpillBucketVariable}: without a bucket nothing is spilled.");
        }

        bool perShardOnly = false;
        if (Get(PerShardWatermarkOnlyVariable) is { } only)
        {
            // Found by review: the README and template told random-key operators to use the sink's option, and no
            // variable set it.
            perShardOnly = only switch
            {
                "true" => true,
                "false" => false,
                _ => throw new InvalidOperationException($"{PerShardWatermarkOnlyVariable} must be true or false, not '{only}'."),
            };
            if (function.AggregateTable is null)
            {
                throw new InvalidOperationException($"{PerShardWatermarkOnlyVariable} needs {AggregateTableVariable}: it is the DynamoDB sink's setting.");
            }
        }

        return new SampleSettings(function, spillBucket, spillAfter, perShardOnly);
    }

    /// <summary>The function's options these settings imply: the library's (processor, log level, metrics namespace) and the spill age.</summary>
    /// <returns>The options.</returns>
    public KinesisFunctionOptions ToFunctionOptions()
    {
        KinesisFunctionOptions options = Function.ToFunctionOptions();
        return options with { Processor = options.Processor with { SpillAfterAge = SpillAfter ?? ProcessorOptions.Default.SpillAfterAge } };
    }

    /// <summary>The processor options these settings imply.</summary>
    /// <returns>The options.</returns>
    public ProcessorOptions ToProcessorOptions() => ToFunctionOptions().Processor;

    /// <summary>Where the sinks these settings imply write: the table and bucket when set, else files in the output directory.</summary>
    /// <returns>The targets.</returns>
    public SinkTargets ToSinkTargets() => new(OutputDirectory, AggregateTable, QuarantineBucket, SpillBucket: SpillBucket, PerShardWatermarkOnly: PerShardWatermarkOnly);

    /// <summary>
    /// The variable's value, null when it is not set. Set but empty or white space is refused, naming it, as the
    /// library's variables are: read as unset, a blank spill bucket turned spilling off.
    /// </summary>
    private static string? NullIfUnset(string name, string? value) =>
        value is null ? null
        : string.IsNullOrWhiteSpace(value) ? throw new InvalidOperationException($"{name} is set but empty; give a value, or remove the variable for its default.")
        : value.Trim();
}
