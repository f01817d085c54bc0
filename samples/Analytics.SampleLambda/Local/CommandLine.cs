using System.CommandLine;

namespace Analytics.SampleLambda;

/// <summary>
/// Runs a System.CommandLine command with this repository's exit codes: 0 done, 1 runtime failure, 2 bad arguments
/// or input. Every failure is one clear <c>error:</c> line on stderr, never a stack trace.
/// </summary>
internal static class CommandLine
{
    public const int Success = 0;
    public const int Failed = 1;
    public const int UsageError = 2;

    /// <summary>Parses and runs.</summary>
    /// <param name="program">The program's name, for the hint after an error (<c>bootstrap</c>).</param>
    /// <param name="root">The command tree.</param>
    /// <param name="args">The arguments.</param>
    /// <param name="stdout">Receives the command's output and help.</param>
    /// <param name="stderr">Receives errors.</param>
    /// <param name="cancellationToken">Passed to the command's action.</param>
    /// <param name="interruptGrace">
    /// Null: Ctrl-C and SIGTERM end the process at once (the bootstrap handles SIGTERM itself). Otherwise they cancel the
    /// action's token and wait this long for it to end (a redrive releases its lease): an action that ends in time gives
    /// its own exit code; one that does not is left, and the process exits 130 or 143.
    /// </param>
    /// <returns>The exit code.</returns>
    public static async Task<int> RunAsync(string program, RootCommand root, IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default, TimeSpan? interruptGrace = null)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (string message in parsed.Errors.Select(static e => e.Message).Distinct(StringComparer.Ordinal))
            {
                await stderr.WriteLineAsync("error: " + message).ConfigureAwait(false);
            }

            string command = parsed.CommandResult.Command == root ? program : program + " " + parsed.CommandResult.Command.Name;
            await stderr.WriteLineAsync($"see '{command} --help'").ConfigureAwait(false);
            return UsageError;
        }

        try
        {
            return await parsed.InvokeAsync(
                new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = interruptGrace },
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            await stderr.WriteLineAsync($"error: {ex.GetType().Name}: {ex.Message}").ConfigureAwait(false);
            return Failed;
        }
    }

    /// <summary>
    /// An option whose value must be a whole number from <paramref name="min"/> to <paramref name="max"/>: anything else
    /// (<c>abc</c>, <c>1e3</c>, <c>60s</c>, empty, past <see cref="int.MaxValue"/>) is one error naming the option and the
    /// range, exit 2 (found by review: a validator that read the value of an option that did not parse threw, and the
    /// tool died with a stack trace).
    /// </summary>
    /// <param name="name">The option name.</param>
    /// <param name="description">The help text.</param>
    /// <param name="helpName">The value's name in the help.</param>
    /// <param name="min">The least value.</param>
    /// <param name="max">The greatest value.</param>
    /// <param name="defaultValue">The value when the option is not given.</param>
    /// <param name="range">Says what the range is, after the numbers (e.g. "(a year)"); empty for nothing.</param>
    /// <returns>The option.</returns>
    public static Option<int> WholeNumberOption(string name, string description, string helpName, int min, int max, int defaultValue, string range = "") => new(name)
    {
        Description = description,
        HelpName = helpName,
        DefaultValueFactory = _ => defaultValue,
        CustomParser = result =>
        {
            string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : string.Empty;
            if (int.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out int value) && value >= min && value <= max)
            {
                return value;
            }

            result.AddError($"{name} must be a whole number from {min} to {max}{(range.Length == 0 ? string.Empty : " " + range)}, not '{text}'");
            return default;
        },
    };

    /// <summary>An option whose value must be an absolute http or https URL.</summary>
    /// <param name="name">The option name.</param>
    /// <param name="description">The help text.</param>
    /// <returns>The option.</returns>
    public static Option<Uri?> UrlOption(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "url",
        CustomParser = result =>
        {
            string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : string.Empty;
            if (Uri.TryCreate(text, UriKind.Absolute, out Uri? uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps))
            {
                return uri;
            }

            result.AddError($"{name} must be an http(s) URL, not '{text}'");
            return null;
        },
    };
}
