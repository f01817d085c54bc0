using System.Globalization;
using System.Text;

namespace Analytics.Core;

/// <summary>
/// <see cref="MetricParserOptions"/> compiled for the parser: field names as UTF-8, limits as milliseconds.
/// The processor and the validator compile their options once, at construction; it is immutable and thread-safe.
/// </summary>
internal sealed class MetricSchema
{
    /// <summary>Compiles options.</summary>
    /// <param name="options">The options.</param>
    /// <param name="paramName">The name of the caller's parameter that holds the options, for the exceptions.</param>
    /// <exception cref="ArgumentException">A field name is empty, or two field names are the same.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A limit is not positive.</exception>
    public MetricSchema(MetricParserOptions options, string paramName = "options")
    {
        (string Name, string Value)[] fields = [("MetricField", options.MetricField), ("ValueField", options.ValueField), ("TimestampField", options.TimestampField), ("DimensionsField", options.DimensionsField)];
        foreach ((string name, string value) in fields)
        {
            if (string.IsNullOrEmpty(value))
            {
                ThrowHelper.ThrowArgument(paramName, $"MetricParserOptions.{name} is empty: field names must be non-empty and distinct.");
            }

            if (fields.First(f => f.Value == value) is var first && first.Name != name)
            {
                ThrowHelper.ThrowArgument(paramName, $"MetricParserOptions.{name} is \"{value}\", as {first.Name} is: field names must be non-empty and distinct.");
            }
        }

        string? wrong = options.MaxRecordBytes <= 0 ? string.Create(CultureInfo.InvariantCulture, $"MaxRecordBytes must be positive; it is {options.MaxRecordBytes}.")
            : options.MaxDepth < 2 ? string.Create(CultureInfo.InvariantCulture, $"MaxDepth must be at least 2 (the record's object and its dimensions); it is {options.MaxDepth}.")
            : options.MaxFutureSkew < TimeSpan.Zero ? string.Create(CultureInfo.InvariantCulture, $"MaxFutureSkew must not be negative; it is {options.MaxFutureSkew}.")
            : options.MaxAge < TimeSpan.Zero ? string.Create(CultureInfo.InvariantCulture, $"MaxAge must not be negative; it is {options.MaxAge}.")
            : null;
        if (wrong is not null)
        {
            ThrowHelper.ThrowArgumentOutOfRange(paramName, "MetricParserOptions." + wrong);
        }

        Options = options;
        MetricField = Encoding.UTF8.GetBytes(options.MetricField);
        ValueField = Encoding.UTF8.GetBytes(options.ValueField);
        TimestampField = Encoding.UTF8.GetBytes(options.TimestampField);
        DimensionsField = Encoding.UTF8.GetBytes(options.DimensionsField);
        MaxFutureSkewMs = (long)options.MaxFutureSkew.TotalMilliseconds;
        MaxAgeMs = (long)options.MaxAge.TotalMilliseconds;
        Messages = new ParserMessages(options);
    }

    /// <summary>The schema of the default options.</summary>
    public static MetricSchema Default { get; } = new(MetricParserOptions.Default);

    /// <summary>The options it was compiled from.</summary>
    public MetricParserOptions Options { get; }

    internal byte[] MetricField { get; }

    internal byte[] ValueField { get; }

    internal byte[] TimestampField { get; }

    internal byte[] DimensionsField { get; }

    internal long MaxFutureSkewMs { get; }

    internal long MaxAgeMs { get; }

    internal ParserMessages Messages { get; }
}
