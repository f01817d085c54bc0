namespace Analytics.Core;

/// <summary>Options of a <see cref="KinesisFunction"/>: the pipeline's, the log lines' and the metrics line's.</summary>
/// <remarks>
/// Set only what differs: <c>KinesisFunctionOptions.Default with { Log = JsonLogOptions.Default with { MinimumLevel = JsonLogLevel.Warn } }</c>,
/// or read them from environment variables with <see cref="KinesisFunctionSettings"/>.
/// </remarks>
public readonly record struct KinesisFunctionOptions
{
    /// <summary>Creates the default options.</summary>
    public KinesisFunctionOptions()
    {
    }

    /// <summary>The default options.</summary>
    public static KinesisFunctionOptions Default => new();

    /// <summary>The pipeline's options. Default <see cref="ProcessorOptions.Default"/>.</summary>
    public ProcessorOptions Processor { get; init; } = ProcessorOptions.Default;

    /// <summary>Which log lines are written. Default <see cref="JsonLogOptions.Default"/> (Info and above).</summary>
    public JsonLogOptions Log { get; init; } = JsonLogOptions.Default;

    /// <summary>The CloudWatch Embedded Metric Format line. Default <see cref="EmfOptions.Default"/>.</summary>
    public EmfOptions Metrics { get; init; } = EmfOptions.Default;

    /// <summary>Whether one EMF metrics line is written per invocation. Default <see langword="true"/>.</summary>
    public bool WriteMetrics { get; init; } = true;

    /// <summary>
    /// Where the log lines go. Default <see langword="null"/>: the process's standard output, like the metrics line.
    /// A writer that throws does not fail the invocation: the lines it threw on go to <see cref="Output"/>, after a
    /// <c>logWriterFailed</c> line naming the exception's type.
    /// </summary>
    public IJsonLogWriter? LogWriter { get; init; }

    /// <summary>
    /// Where the metrics line (and, without a <see cref="LogWriter"/>, the log lines) is written. Default
    /// <see langword="null"/>: the process's standard output stream, written directly rather than through
    /// <see cref="Console.Out"/>, which the managed .NET runtime prefixes with a timestamp, request id and level, so
    /// CloudWatch would no longer read the line as EMF. A stream that cannot be written is refused when the function is
    /// made; a write that fails later (a closed pipe) does not fail the invocation, and is said once on standard error.
    /// </summary>
    public Stream? Output { get; init; }
}
