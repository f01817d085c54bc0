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
        string[] names = [options.MetricField, options.ValueField, options.TimestampField, options.DimensionsField];
        if (names.Any(string.IsNullOrEmpty) || names.Distinct(StringComparer.Ordinal).Count() != names.Length)
        {
            ThrowHelper.ThrowArgument(paramName, "Field names must be non-empty and distinct.");
        }

        if (options.MaxRecordBytes <= 0 || options.MaxDepth < 2 || options.MaxFutureSkew < TimeSpan.Zero || options.MaxAge < TimeSpan.Zero)
        {
            ThrowHelper.ThrowArgumentOutOfRange(paramName, "MaxRecordBytes must be positive, MaxDepth at least 2, and the time windows not negative.");
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
