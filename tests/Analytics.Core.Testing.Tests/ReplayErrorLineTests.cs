using Analytics.Replay;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// A bad scenario is one line on stderr (found by a review, 2026-12-07, s66): reasons quote the file's own text, and a
/// newline or a terminal escape in it forged lines that looked like replay's own; a number of 100,000 digits was quoted
/// whole, an error line of 100 KB.
/// </summary>
public class ReplayErrorLineTests
{
    private static (int Exit, string Error) Run(string json)
    {
        string scenario = Path.GetTempFileName();
        try
        {
            File.WriteAllText(scenario, json);
            (int exit, _, string error) = ReplayHarness.Replay("--scenario", scenario, "--out", ReplayHarness.Temp());
            return (exit, error);
        }
        finally
        {
            File.Delete(scenario);
        }
    }

    [Fact]
    public void ControlCharactersInTheFilesText_AreEscaped_InTheOneErrorLine()
    {
        (int exit, string error) = Run("""{"keyAssignment":"\u001b[2J\nerror: forged","handler":{"kind":"sample"}}""");

        Assert.Equal(2, exit);
        Assert.Equal("error: bad scenario: $.keyAssignment: '\\u001b[2J\\nerror: forged' is not hash or adversarial" + Environment.NewLine, error);
    }

    /// <summary>
    /// Not only Cc: a line or paragraph separator (U+2028, U+2029) breaks the line in editors and log viewers, and a
    /// bidirectional override (U+202E) shows the rest of the line reversed, so that the line reads other than it is
    /// (found by a review, 2026-12-07, s66).
    /// </summary>
    [Fact]
    public void LineSeparatorsAndBidiControlsInTheFilesText_AreEscaped_InTheOneErrorLine()
    {
        (int exit, string error) = Run("""{"keyAssignment":"a\u2028error: forged\u2029\u202etxt.exe\u2066\u200f","handler":{"kind":"sample"}}""");

        Assert.Equal(2, exit);
        Assert.Equal("error: bad scenario: $.keyAssignment: 'a\\u2028error: forged\\u2029\\u202etxt.exe\\u2066\\u200f' is not hash or adversarial" + Environment.NewLine, error);
    }

    /// <summary>
    /// A string or a key of 100,000 characters was quoted whole, as a number was before: an error line of 100 KB (200 KB
    /// for a key, quoted twice). The line keeps its start (the field) and its end (what is wrong) (review, s66).
    /// </summary>
    [Fact]
    public void AStringOfThousandsOfCharacters_IsQuotedCut_KeepingBothEnds()
    {
        (int exit, string error) = Run("{\"keyAssignment\":\"" + new string('x', 100_000) + "\",\"handler\":{\"kind\":\"sample\"}}");

        Assert.Equal(2, exit);
        string expected = "error: bad scenario: $.keyAssignment: '" + new string('x', 100_000) + "' is not hash or adversarial";
        Assert.Equal(string.Concat(expected.AsSpan(0, 1_000), $"... ({expected.Length - 1_500:N0} characters cut) ...", expected.AsSpan(expected.Length - 500)) + Environment.NewLine, error);
    }

    [Fact]
    public void AWholeNumberOfThousandsOfDigits_IsQuotedCut()
    {
        (int exit, string error) = Run("{\"durationSeconds\":" + new string('9', 5_000) + ",\"handler\":{\"kind\":\"sample\"}}");

        Assert.Equal(2, exit);
        Assert.Equal("error: bad scenario: $.durationSeconds: 99999999999999999999... (5,000 digits) is a whole number out of this field's range: see the range in docs/emulator.md, \"Scenario file\"" + Environment.NewLine, error);
    }

    /// <summary>
    /// The first function error is told on stderr as it happens, quoting the function's own errorType and errorMessage
    /// (a process handler's, as it posted them): a line ending became a space, but a terminal escape went through as
    /// it was, and the errorType whole (found by a review, 2026-12-07, s66).
    /// </summary>
    [Fact]
    public void TheFirstFunctionErrorsLine_EscapesTheFunctionsControlCharacters()
    {
        var progress = new StringWriter();
        var first = new ReplayRun.FirstFunctionError(progress);

        first.OnInvocation(new Analytics.Core.Testing.InvocationReport
        {
            Invocation = 1,
            StartMs = 0,
            EndMs = 1500,
            ShardId = "shardId-000000000000",
            Lane = 0,
            Records = [],
            Outcome = Analytics.Core.Testing.InvocationOutcome.Error,
            Checkpoint = null,
            Environment = 1,
            ColdStart = true,
            IteratorAgeMs = 0,
            ErrorType = "Boom\u001b[2J\nerror: forged",
            ErrorMessage = "it failed\u001b[31m\nagain\u202e",
        });

        Assert.Equal("first function error: invocation 1 (shardId-000000000000, at 1.500 s): Boom\\u001b[2J\\nerror: forged: it failed\\u001b[31m again\\u202e" + Environment.NewLine, progress.ToString());
    }
}
