namespace Analytics.Core;

/// <summary>Options of <see cref="EmfMetrics"/>: the CloudWatch namespace, the function-name dimension and the clock.</summary>
/// <remarks>Set only what differs: <c>EmfOptions.Default with { Namespace = "Orders/Analytics" }</c>.</remarks>
public readonly record struct EmfOptions
{
    /// <summary>Creates the default options.</summary>
    public EmfOptions()
    {
    }

    /// <summary>The default options.</summary>
    public static EmfOptions Default => new();

    /// <summary>
    /// The CloudWatch metric namespace, as CloudWatch takes it: 1 to 255 letters, digits, spaces and <c>. - _ / # :</c>,
    /// not all spaces, not starting with <c>:</c> or <c>AWS/</c>. Default <c>Analytics.Core</c>.
    /// </summary>
    public string Namespace { get; init; } = EmfMetrics.DefaultNamespace;

    /// <summary>
    /// Value of the <c>FunctionName</c> dimension. Default <see langword="null"/> (and the empty string, which no
    /// dimension can hold): the environment variable <c>AWS_LAMBDA_FUNCTION_NAME</c> that Lambda sets, or <c>local</c>
    /// outside Lambda. Set, it must be 1 to 1,024 printable ASCII characters, not all spaces (a dimension value
    /// CloudWatch takes).
    /// </summary>
    public string? FunctionName { get; init; }

    /// <summary>The clock that stamps <c>_aws.Timestamp</c> when <see cref="Timestamp"/> is not set. Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>An explicit <c>_aws.Timestamp</c>; wins over <see cref="TimeProvider"/>. Default <see langword="null"/>.</summary>
    public DateTimeOffset? Timestamp { get; init; }
}
