using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Analytics.SampleLambda;

/// <summary>The arguments of <c>invoke --event &lt;file&gt; [--out &lt;dir&gt;] [--timeout-ms &lt;n&gt;]</c>.</summary>
/// <param name="EventPath">The event file.</param>
/// <param name="OutputDirectory">Where <c>aggregates.jsonl</c> and <c>quarantine.jsonl</c> go.</param>
/// <param name="Timeout">The time the invocation gets: its deadline is now plus this.</param>
internal sealed record InvokeArguments(string EventPath, string OutputDirectory, TimeSpan Timeout)
{
    /// <summary>The output directory when <c>--out</c> is not given.</summary>
    public const string DefaultOutputDirectory = "out";

    /// <summary>The timeout when <c>--timeout-ms</c> is not given: the template's function timeout.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMilliseconds(120_000);

    public const string Usage = """
        usage: bootstrap invoke --event <file> [--out <dir>] [--timeout-ms <n>]

          --event <file>      a Lambda Kinesis event (JSON), e.g. samples/events/kinesis-basic.json
          --out <dir>         where aggregates.jsonl and quarantine.jsonl are written (replaced); default ./out
          --timeout-ms <n>    time the invocation gets, in milliseconds; default 120000 (the template's timeout)

        stdout carries only the function's response JSON; logs go to stderr.
        exit codes: 0 the function returned a response (even one reporting failures);
                    1 the function failed; 2 bad arguments, a missing file, or not a Kinesis event.
        """;

    /// <summary>Parses the arguments that follow <c>invoke</c>.</summary>
    /// <param name="args">The arguments.</param>
    /// <param name="result">The arguments, on success.</param>
    /// <param name="error">What is wrong, on failure; null when help was asked for.</param>
    /// <returns><see langword="true"/> on success.</returns>
    public static bool TryParse(IReadOnlyList<string> args, [NotNullWhen(true)] out InvokeArguments? result, out string? error)
    {
        result = null;
        error = null;
        string? eventPath = null;
        string? outputDirectory = null;
        TimeSpan? timeout = null;
        for (int i = 0; i < args.Count; i++)
        {
            string name = args[i];
            if (name is "-h" or "--help")
            {
                return false;
            }

            if (name is not ("--event" or "--out" or "--timeout-ms"))
            {
                error = $"unknown argument '{name}'";
                return false;
            }

            if (i + 1 >= args.Count || args[i + 1].Length == 0)
            {
                error = $"{name} needs a value";
                return false;
            }

            string value = args[++i];
            bool repeated;
            switch (name)
            {
                case "--event":
                    repeated = eventPath is not null;
                    eventPath = value;
                    break;
                case "--out":
                    repeated = outputDirectory is not null;
                    outputDirectory = value;
                    break;
                default:
                    repeated = timeout is not null;
                    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int ms) || ms <= 0)
                    {
                        error = $"--timeout-ms must be a positive whole number of milliseconds, not '{value}'";
                        return false;
                    }

                    timeout = TimeSpan.FromMilliseconds(ms);
                    break;
            }

            if (repeated)
            {
                error = $"{name} is given twice";
                return false;
            }
        }

        if (eventPath is null)
        {
            error = "--event is required";
            return false;
        }

        result = new InvokeArguments(eventPath, outputDirectory ?? DefaultOutputDirectory, timeout ?? DefaultTimeout);
        return true;
    }
}
