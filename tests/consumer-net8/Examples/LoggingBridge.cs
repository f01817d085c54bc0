namespace ConsumerNet8.Logging;

// README:start
using Analytics.Core;
using Microsoft.Extensions.Logging;

public static class Functions
{
    public static KinesisFunction Create(ILoggerFactory loggerFactory) => new(
        new JsonLinesAggregateSink("/tmp/aggregates.jsonl"),
        new JsonLinesQuarantineSink("/tmp/quarantine.jsonl"),
        KinesisFunctionSettings.FromEnvironment().ToFunctionOptions() with
        {
            LogWriter = new LoggerJsonLogWriter(loggerFactory.CreateLogger("Analytics.Core")),
        });
}
// README:end
