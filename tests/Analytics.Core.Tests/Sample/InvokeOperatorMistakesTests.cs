using System.CommandLine;
using System.Text.Json;
using Analytics.SampleLambda;

namespace Analytics.Core.Tests.Sample;

/// <summary>
/// What a careless operator does to <c>invoke</c>: every mistake gets one clear <c>error:</c> line and exit 2 (bad
/// arguments or input) or 1 (runtime failure), never a stack trace, and nothing of another run is lost.
/// </summary>
public sealed class InvokeOperatorMistakesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("analytics-mistakes-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string BasicEvent => SampleEventsTests.EventPath("kinesis-basic.json");

    private static string PoisonEvent => SampleEventsTests.EventPath("kinesis-poison.json");

    /// <summary>An empty --out is a usage error (found by review: exit 1 with the runtime's ArgumentException).</summary>
    [Fact]
    public async Task Out_Empty_ExitsTwo()
    {
        (int code, string stdout, string stderr) = await RunAsync("--event", BasicEvent, "--out", string.Empty);

        AssertUsageError(code, stdout, stderr, "--out is empty: give a directory");
    }

    /// <summary>An event saved as UTF-16 (PowerShell's redirection does) was "invalid JSON syntax (at byte 0)" (found by review).</summary>
    [Theory]
    [InlineData("UTF-16", false)]
    [InlineData("UTF-16", true)]
    [InlineData("UTF-32", false)]
    [InlineData("UTF-32", true)]
    public async Task Event_SavedInAnotherUnicodeEncoding_IsNamedAsSuch(string name, bool bigEndian)
    {
        string file = Path.Combine(_dir, "other.json");
        System.Text.Encoding encoding = name == "UTF-16" ? new System.Text.UnicodeEncoding(bigEndian, byteOrderMark: true) : new System.Text.UTF32Encoding(bigEndian, byteOrderMark: true);
        await File.WriteAllTextAsync(file, await File.ReadAllTextAsync(BasicEvent), encoding);

        (int code, string stdout, string stderr) = await RunAsync("--event", file, "--out", Path.Combine(_dir, "out"));

        AssertUsageError(code, stdout, stderr, $"--event '{file}' is {name} (it starts with a {name} byte order mark); Lambda sends UTF-8: save the file as UTF-8");
    }

    [Fact]
    public async Task Out_IsAFile_ExitsTwoAndLeavesTheFileAlone()
    {
        string file = Path.Combine(_dir, "results");
        await File.WriteAllTextAsync(file, "keep me");

        (int code, string stdout, string stderr) = await RunAsync("--event", BasicEvent, "--out", file);

        AssertUsageError(code, stdout, stderr, $"--out '{file}' is a file, not a directory");
        Assert.Equal("keep me", await File.ReadAllTextAsync(file));
    }

    [Fact]
    public async Task Out_CannotBeCreated_ExitsTwo()
    {
        // Nothing can create directories under /proc, not even root.
        (int code, string stdout, string stderr) = await RunAsync("--event", BasicEvent, "--out", "/proc/analytics-out/nested");

        AssertUsageError(code, stdout, stderr, "--out '/proc/analytics-out/nested' cannot be created: ");
    }

    [Fact]
    public async Task Out_MissingNestedDirectory_IsCreated()
    {
        string nested = Path.Combine(_dir, "a", "b", "c");

        (int code, _, _) = await RunAsync("--event", BasicEvent, "--out", nested);

        Assert.Equal(0, code);
        Assert.NotEmpty(File.ReadAllLines(Path.Combine(nested, SinkTargets.AggregatesFileName)));
    }

    [Theory]
    [InlineData(SinkTargets.AggregatesFileName)]
    [InlineData(SinkTargets.QuarantineFileName)]
    public async Task Out_OutputFileIsADirectory_ExitsTwoAndDeletesNothing(string name)
    {
        string output = Path.Combine(_dir, "out");
        Directory.CreateDirectory(Path.Combine(output, name, "inside"));

        (int code, string stdout, string stderr) = await RunAsync("--event", BasicEvent, "--out", output);

        AssertUsageError(code, stdout, stderr, $"'{Path.Combine(output, name)}' is a directory; --out must not hold directories named aggregates.jsonl or quarantine.jsonl");
        Assert.True(Directory.Exists(Path.Combine(output, name, "inside")));
    }

    [Fact]
    public async Task Event_IsADirectory_ExitsTwoSayingSo()
    {
        (int code, string stdout, string stderr) = await RunAsync("--event", _dir, "--out", Path.Combine(_dir, "out"));

        AssertUsageError(code, stdout, stderr, $"--event '{_dir}' is a directory, not a file");
    }

    [Fact]
    public async Task Event_Endless_StopsAtLambdasSixMegabyteLimit()
    {
        (int code, string stdout, string stderr) = await RunAsync("--event", "/dev/zero", "--out", Path.Combine(_dir, "out")).WaitAsync(TimeSpan.FromSeconds(30));

        AssertUsageError(code, stdout, stderr, "--event '/dev/zero' is larger than 6291456 bytes (6 MB, Lambda's limit for an invocation payload)");
    }

    [Fact]
    public async Task Event_OneByteOverSixMegabytes_ExitsTwo_AtTheLimitIsRead()
    {
        // A valid event padded with whitespace to exactly the limit is processed; one byte more is refused.
        byte[] basic = await File.ReadAllBytesAsync(BasicEvent);
        string atLimit = Path.Combine(_dir, "at-limit.json");
        string overLimit = Path.Combine(_dir, "over-limit.json");
        await File.WriteAllBytesAsync(atLimit, [.. basic, .. Enumerable.Repeat((byte)' ', InvokeCommand.MaxEventBytes - basic.Length)]);
        await File.WriteAllBytesAsync(overLimit, [.. basic, .. Enumerable.Repeat((byte)' ', InvokeCommand.MaxEventBytes - basic.Length + 1)]);

        (int atCode, _, string atErrors) = await RunAsync("--event", atLimit, "--out", Path.Combine(_dir, "a"));
        (int overCode, string stdout, string stderr) = await RunAsync("--event", overLimit, "--out", Path.Combine(_dir, "b"));

        Assert.True(atCode == 0, atErrors);
        AssertUsageError(overCode, stdout, stderr, $"--event '{overLimit}' is larger than 6291456 bytes");
    }

    [Theory]
    [InlineData("0", "--timeout-ms 0 leaves the function no time: give at least 1 ms (Lambda's least timeout is 1000)")]
    [InlineData("-5", "--timeout-ms must be a whole number of milliseconds up to 900000 (Lambda's 15-minute limit), not '-5'")]
    [InlineData("1.5", "--timeout-ms must be a whole number of milliseconds up to 900000 (Lambda's 15-minute limit), not '1.5'")]
    [InlineData("900001", "--timeout-ms must be a whole number of milliseconds up to 900000 (Lambda's 15-minute limit), not '900001'")]
    [InlineData("99999999999", "--timeout-ms must be a whole number of milliseconds up to 900000 (Lambda's 15-minute limit), not '99999999999'")]
    [InlineData("99999999999999999999999", "--timeout-ms must be a whole number of milliseconds up to 900000 (Lambda's 15-minute limit), not '99999999999999999999999'")]
    public async Task TimeoutMs_OutOfRange_ExitsTwoSayingTheRangeOnce(string value, string expected)
    {
        (int code, string stdout, string stderr) = await RunAsync("--event", BasicEvent, "--out", Path.Combine(_dir, "out"), "--timeout-ms", value);

        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal(["error: " + expected, "see 'bootstrap invoke --help'"], stderr.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
        Assert.False(Directory.Exists(Path.Combine(_dir, "out")));
    }

    [Theory]
    [InlineData("1")]
    [InlineData("1000")]
    [InlineData("900000")]
    public async Task TimeoutMs_AtTheBounds_Runs(string value)
    {
        (int code, string stdout, string stderr) = await RunAsync("--event", BasicEvent, "--out", Path.Combine(_dir, "out"), "--timeout-ms", value);

        Assert.True(code == 0, stderr);
        using JsonDocument response = JsonDocument.Parse(stdout);
        int failures = response.RootElement.GetProperty("batchItemFailures").GetArrayLength();
        if (value == "900000")
        {
            Assert.Equal(0, failures);
        }
        else
        {
            // Half of a short budget to work (the margin never takes more): the function may run into its deadline and
            // report a checkpoint; it still answers.
            Assert.InRange(failures, 0, 1);
        }
    }

    [Fact]
    public async Task Out_InUseByAnotherRun_ExitsTwoAndDeletesNothingOfIt()
    {
        string output = Path.Combine(_dir, "shared");
        (int first, _, _) = await RunAsync("--event", PoisonEvent, "--out", output);
        string aggregates = await File.ReadAllTextAsync(Path.Combine(output, SinkTargets.AggregatesFileName));
        string quarantine = await File.ReadAllTextAsync(Path.Combine(output, SinkTargets.QuarantineFileName));

        // Another run holds the directory, exactly as a running invoke does.
        int second;
        string stdout;
        string stderr;
        using (new FileStream(Path.Combine(output, InvokeCommand.LockFileName), FileMode.Open, FileAccess.ReadWrite, FileShare.None))
        {
            (second, stdout, stderr) = await RunAsync("--event", BasicEvent, "--out", output);
        }

        Assert.Equal(0, first);
        AssertUsageError(second, stdout, stderr, $"--out '{output}' is in use by another invoke run; give each run its own --out");
        Assert.Equal(aggregates, await File.ReadAllTextAsync(Path.Combine(output, SinkTargets.AggregatesFileName)));
        Assert.Equal(quarantine, await File.ReadAllTextAsync(Path.Combine(output, SinkTargets.QuarantineFileName)));
    }

    [Fact]
    public async Task Out_ConcurrentRuns_EachRunsAloneOrIsRefusedAndTheFilesAreOneRunsOutput()
    {
        string alone = Path.Combine(_dir, "alone");
        Assert.Equal(0, (await RunAsync("--event", PoisonEvent, "--out", alone)).ExitCode);
        string expectedAggregates = await File.ReadAllTextAsync(Path.Combine(alone, SinkTargets.AggregatesFileName));
        string expectedQuarantine = await File.ReadAllTextAsync(Path.Combine(alone, SinkTargets.QuarantineFileName));
        string shared = Path.Combine(_dir, "shared");

        (int ExitCode, string Stdout, string Stderr)[] runs = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => RunAsync("--event", PoisonEvent, "--out", shared))));

        Assert.All(runs, r => Assert.True(r.ExitCode == 0 || (r.ExitCode == 2 && r.Stderr.Contains("is in use by another invoke run", StringComparison.Ordinal)), r.Stderr));
        Assert.Contains(runs, r => r.ExitCode == 0);
        Assert.Equal(expectedAggregates, await File.ReadAllTextAsync(Path.Combine(shared, SinkTargets.AggregatesFileName)));
        Assert.Equal(expectedQuarantine, await File.ReadAllTextAsync(Path.Combine(shared, SinkTargets.QuarantineFileName)));
    }

    [Fact]
    public async Task CommandLine_ActionThrows_ExitsOneWithOneLineAndNoTrace()
    {
        var root = new RootCommand("test");
        var command = new Command("boom");
        command.SetAction(new Func<ParseResult, int>(_ => throw new IOException("No space left on device")));
        root.Subcommands.Add(command);
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        int code = await SampleLambda.CommandLine.RunAsync("bootstrap", root, ["boom"], stdout, stderr);

        Assert.Equal(1, code);
        Assert.Equal("error: IOException: No space left on device" + Environment.NewLine, stderr.ToString());
        Assert.Empty(stdout.ToString());
    }

    [Theory]
    [InlineData("--dynamodb-endpoint", "--table", "a", "--table ")]
    [InlineData("--dynamodb-endpoint", "--table", "my table", "--table ")]
    [InlineData("--s3-endpoint", "--quarantine-bucket", "s3://poison", "--quarantine-bucket ")]
    public async Task AName_NeitherServiceTakes_ExitsTwoNamingTheOption_NotTheLibrarysOption(string endpoint, string option, string name, string expectedStart)
    {
        // Nothing listens on port 1: the run must stop at the name, before any request.
        (int code, string stdout, string stderr) = await RunAsync("--event", BasicEvent, "--out", _dir, endpoint, "http://127.0.0.1:1", option, name);

        AssertUsageError(code, stdout, stderr, expectedStart + "'" + name + "' is not ");
        Assert.DoesNotContain("SinkOptions", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("(Parameter", stderr, StringComparison.Ordinal);
    }

    private static void AssertUsageError(int code, string stdout, string stderr, string expectedStart)
    {
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        string line = Assert.Single(stderr.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: " + expectedStart, line);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = await InvokeCommand.RunAsync(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
