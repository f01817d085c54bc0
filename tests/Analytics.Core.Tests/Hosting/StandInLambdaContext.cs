namespace Analytics.Core.Tests.Hosting;

/// <summary>
/// Stand-ins for Amazon.Lambda.Core's <c>ILambdaContext</c> and <c>ILambdaLogger</c> (not served to this build), with
/// the members a handler uses, named and typed as there.
/// </summary>
internal interface ILambdaLogger
{
    void LogLine(string message);
}

internal interface ILambdaContext
{
    string AwsRequestId { get; }

    TimeSpan RemainingTime { get; }

    ILambdaLogger Logger { get; }
}

internal sealed class StandInLogger : ILambdaLogger
{
    public List<string> Lines { get; } = [];

    public void LogLine(string message) => Lines.Add(message);
}

internal sealed class StandInContext(TimeSpan remainingTime) : ILambdaContext
{
    public string AwsRequestId { get; } = Guid.NewGuid().ToString();

    public TimeSpan RemainingTime { get; } = remainingTime;

    public StandInLogger Log { get; } = new();

    public ILambdaLogger Logger => Log;
}

/// <summary>An <see cref="IJsonLogWriter"/> that forwards to the context's logger, as a function that wants its lines there would write it.</summary>
internal sealed class LambdaLoggerJsonLogWriter(ILambdaLogger logger) : IJsonLogWriter
{
    public List<JsonLogLevel> Levels { get; } = [];

    public void WriteLine(JsonLogLevel level, ReadOnlySpan<byte> utf8Json)
    {
        Levels.Add(level);
        logger.LogLine(System.Text.Encoding.UTF8.GetString(utf8Json));
    }
}
