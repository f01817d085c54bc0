using System.Globalization;
using Analytics.Core;

namespace Analytics.SampleLambda;

/// <summary>The function's configuration, read from environment variables (documented in the sample README).</summary>
/// <param name="OutputDirectory">Where the JSON-lines sinks write (<c>ANALYTICS_OUTPUT_DIR</c>, default <c>/tmp/analytics</c>).</param>
/// <param name="WindowSize">Aggregation window (<c>ANALYTICS_WINDOW_SECONDS</c>, default 60).</param>
/// <param name="AggregateTable">DynamoDB table for aggregates (<c>ANALYTICS_AGGREGATE_TABLE</c>), set by the template.</param>
/// <param name="QuarantineBucket">S3 bucket for poison records (<c>ANALYTICS_QUARANTINE_BUCKET</c>), set by the template.</param>
/// <param name="SpillBucket">S3 bucket for spills (<c>ANALYTICS_SPILL_BUCKET</c>, only with a table); null: no spilling.</param>
/// <param name="SpillAfter">Age of a batch's oldest record from which it is spilled when the table fails (<c>ANALYTICS_SPILL_AFTER_SECONDS</c>, default 300).</param>
internal sealed record SampleSettings(string OutputDirectory, TimeSpan WindowSize, string? AggregateTable, string? QuarantineBucket, string? SpillBucket = null, TimeSpan? SpillAfter = null)
{
    internal const string OutputDirectoryVariable = "ANALYTICS_OUTPUT_DIR";
    internal const string WindowSecondsVariable = "ANALYTICS_WINDOW_SECONDS";
    internal const string AggregateTableVariable = "ANALYTICS_AGGREGATE_TABLE";
    internal const string QuarantineBucketVariable = "ANALYTICS_QUARANTINE_BUCKET";
    internal const string SpillBucketVariable = "ANALYTICS_SPILL_BUCKET";
    internal const string SpillAfterSecondsVariable = "ANALYTICS_SPILL_AFTER_SECONDS";
    internal const string DefaultOutputDirectory = "/tmp/analytics";

    /// <summary>Reads the settings.</summary>
    /// <param name="getVariable">Reads one environment variable (tests pass a dictionary).</param>
    /// <returns>The settings.</returns>
    /// <exception cref="InvalidOperationException">A variable holds a value the function cannot use.</exception>
    public static SampleSettings FromEnvironment(Func<string, string?> getVariable)
    {
        ArgumentNullException.ThrowIfNull(getVariable);
        string? Get(string name) => NullIfUnset(name, getVariable(name));
        string outputDirectory = Get(OutputDirectoryVariable) ?? DefaultOutputDirectory;
        TimeSpan window = AggregatorOptions.Default.WindowSize;
        if (Get(WindowSecondsVariable) is { } seconds)
        {
            if (!int.TryParse(seconds, NumberStyles.None, CultureInfo.InvariantCulture, out int s) || s is < 1 or > 3600)
            {
                throw new InvalidOperationException($"{WindowSecondsVariable} must be a whole number of seconds from 1 to 3600, not '{seconds}'.");
            }

            window = TimeSpan.FromSeconds(s);
        }

        TimeSpan spillAfter = ProcessorOptions.Default.SpillAfterAge;
        if (Get(SpillAfterSecondsVariable) is { } after)
        {
            if (!int.TryParse(after, NumberStyles.None, CultureInfo.InvariantCulture, out int s) || s is < 1 or > 604_800)
            {
                throw new InvalidOperationException($"{SpillAfterSecondsVariable} must be a whole number of seconds from 1 to 604800, not '{after}'.");
            }

            spillAfter = TimeSpan.FromSeconds(s);
        }

        string? table = Get(AggregateTableVariable);
        string? spillBucket = Get(SpillBucketVariable);
        if (spillBucket is not null && table is null)
        {
            throw new InvalidOperationException($"{SpillBucketVariable} needs {AggregateTableVariable}: spills hold what the DynamoDB table could not take.");
        }

        return new SampleSettings(outputDirectory, window, table, Get(QuarantineBucketVariable), spillBucket, spillAfter);
    }

    /// <summary>The processor options these settings imply.</summary>
    /// <returns>The options.</returns>
    public ProcessorOptions ToProcessorOptions() =>
        ProcessorOptions.Default with
        {
            Aggregator = AggregatorOptions.Default with { WindowSize = WindowSize },
            SpillAfterAge = SpillAfter ?? ProcessorOptions.Default.SpillAfterAge,
        };

    /// <summary>Where the sinks these settings imply write: the table and bucket when set, else files in the output directory.</summary>
    /// <returns>The targets.</returns>
    public SinkTargets ToSinkTargets() => new(OutputDirectory, AggregateTable, QuarantineBucket, SpillBucket: SpillBucket);

    /// <summary>
    /// The variable's value, null when it is not set. Set but empty or white space is refused, naming it: read as
    /// unset, a blank table or bucket sent the aggregates or the poison records to files in /tmp, lost with the sandbox,
    /// while every invocation reported success.
    /// </summary>
    private static string? NullIfUnset(string name, string? value) =>
        value is null ? null
        : string.IsNullOrWhiteSpace(value) ? throw new InvalidOperationException($"{name} is set but empty; give a value, or remove the variable for its default.")
        : value;
}
