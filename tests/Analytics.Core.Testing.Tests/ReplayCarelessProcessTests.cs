using System.Text.Json;
using Analytics.Core.Tests;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Review (careless operator): process handlers whose command passes the loader's check (an executable file) but can
/// never serve an event. docs/emulator.md, "Scenario file": a command that cannot be started is refused (exit 2) so that
/// a run is not "a run of errors instead of one message" (ScenarioLoader); a process past its deadline ends at its
/// virtual deadline. Lambda's init phase is itself bounded (10 s), so an environment that never asks for an event costs
/// the run at least that much virtual time per attempt, not a millisecond.
/// </summary>
public class ReplayCarelessProcessTests
{
    [Fact]
    public void ABootstrapTheKernelCannotExecute_IsABadScenario_NotARunOfThousandsOfFailedStarts()
    {
        // A bootstrap built for another architecture (SAM's arm64 build on an x86 machine), or a script whose interpreter
        // is missing: executable bit set, so the loader takes it, but exec fails ("Exec format error").
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        string bootstrap = Path.GetTempFileName();
        string file = Path.GetTempFileName();
        string output = ReplayHarness.Temp();
        try
        {
            // An ELF header for aarch64 (e_machine 0xB7) and nothing runnable after it.
            byte[] elf = new byte[256];
            new byte[] { 0x7F, (byte)'E', (byte)'L', (byte)'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0xB7, 0 }.CopyTo(elf, 0);
            File.WriteAllBytes(bootstrap, elf);
            File.SetUnixFileMode(bootstrap, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            File.WriteAllText(file, $$$"""
                {"durationSeconds":2,"records":[{"partitionKey":"k","text":"a","atMs":0}],
                 "handler":{"kind":"process","command":[{{{JsonSerializer.Serialize(bootstrap)}}}]}}
                """);

            (int exit, string stdout, string error) = ReplayHarness.Replay("--scenario", file, "--out", output, "--no-chart");

            // Observed: exit 0, 1,999 invocations, every one a failed start of the same file.
            Assert.True(exit == 2, $"exit {exit}; stderr: {error}; stdout: {stdout}");
            Assert.Contains("$.handler.command", error, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(bootstrap);
            File.Delete(file);
            if (Directory.Exists(output))
            {
                Directory.Delete(output, recursive: true);
            }
        }
    }

    [Fact]
    public async Task AProcessThatNeverAsksForAnEvent_DoesNotTurnATwoSecondScenarioIntoHours()
    {
        // A command that starts but never speaks the Runtime API (a wrong binary, a server, a bootstrap that blocks at
        // init). Each attempt waits 10 s of real time for GET /next, then fails 1 ms of virtual time after it began, and
        // Lambda's default infinite retries start the next one: about 2,000 attempts for a 2 s scenario, 10 s each.
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        string file = Path.GetTempFileName();
        string output = ReplayHarness.Temp();
        try
        {
            File.WriteAllText(file, """
                {"durationSeconds":2,"records":[{"partitionKey":"k","text":"a","atMs":0}],
                 "handler":{"kind":"process","command":["/bin/sleep","25"]}}
                """);

            var run = Task.Run(() => ReplayHarness.Replay("--scenario", file, "--out", output, "--no-chart"));

            // An attempt that waited 10 s for its init lasted at least that long: one attempt, maybe two, fit in 2 s.
            Task first = await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(90)));
            Assert.True(first == run, "replay of a 2 s scenario still running after 90 s of real time (10 s of real time per 1 ms of virtual time)");
        }
        finally
        {
            File.Delete(file);
        }
    }
}

/// <summary>
/// Review (careless operator): a value out of AWS's range in the SAM template a scenario names. The template's own
/// mistakes are reported as <c>$.template</c> with the property (<c>IncidentTests.Template_ThatChangesShape_IsAnError_NamingWhere</c>);
/// an out-of-range value is reported under a scenario field the scenario does not have (<c>$.mapping.BatchSize</c>), so the
/// user searches the scenario for a field that is not there.
/// </summary>
public class ReplayTemplateRangeTests
{
    [Theory]
    [InlineData("            BatchSize: 100\n", "            BatchSize: 0\n", "BatchSize")]
    [InlineData("      Timeout: 120\n", "      Timeout: 0\n", "Timeout")]
    [InlineData("            ParallelizationFactor: 10\n", "            ParallelizationFactor: 11\n", "ParallelizationFactor")]
    public void AnOutOfRangeTemplateValue_IsReportedAsTheTemplates_NotAsAScenarioFieldThatIsNotThere(string find, string replace, string property)
    {
        string yaml = File.ReadAllText(Path.Combine(RepoPaths.Root, "samples", "Analytics.SampleLambda", "template.yaml")).Replace("\r\n", "\n", StringComparison.Ordinal);
        Assert.Contains(find, yaml, StringComparison.Ordinal);
        string directory = Directory.CreateTempSubdirectory("replay-template-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(directory, "template.yaml"), yaml.Replace(find, replace, StringComparison.Ordinal));
            var error = Assert.Throws<Analytics.Replay.ScenarioException>(() => Analytics.Replay.ScenarioLoader.Parse("""{"template":"template.yaml","handler":{"kind":"sample"}}"""u8, directory));

            // The scenario holds no mapping or function: naming one sends the user to a field that is not in any file.
            Assert.Equal("$.template", error.Field);
            Assert.Contains(property, error.Reason, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}

/// <summary>
/// Review (careless operator): a whole number too large for its field is reported as "a value of another kind", which
/// sends the user looking for a quoted number or a fraction; the field's range (docs/emulator.md: durationSeconds 1 to
/// 604,800) is what they need.
/// </summary>
public class ReplayHugeNumberTests
{
    [Theory]
    [InlineData("""{"durationSeconds":99999999999,"handler":{"kind":"sample"}}""", "$.durationSeconds")]
    [InlineData("""{"mapping":{"BatchSize":4294967296},"handler":{"kind":"sample"}}""", "$.mapping.BatchSize")]
    public void AWholeNumberTooLarge_IsReportedAsOutOfRange_NotAsAnotherKindOfValue(string json, string field)
    {
        var error = Assert.Throws<Analytics.Replay.ScenarioException>(() => Analytics.Replay.ScenarioLoader.Parse(System.Text.Encoding.UTF8.GetBytes(json)));
        Assert.Equal(field, error.Field);
        Assert.DoesNotContain("another kind", error.Reason, StringComparison.Ordinal);
    }
}

/// <summary>
/// Review (careless operator): a variable Lambda reserves, given in the process handler's environment, was replaced
/// without a word (AWS_LAMBDA_RUNTIME_API) or took the place of the scenario's own setting (a memory size of 99 under a
/// function of 1,024 MB). Lambda refuses them in a function's configuration; so does the scenario.
/// </summary>
public class ReplayReservedVariableTests
{
    [Theory]
    [InlineData("AWS_LAMBDA_RUNTIME_API")]
    [InlineData("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")]
    [InlineData("_HANDLER")]
    public void AReservedVariable_IsRefusedNamingIt(string name)
    {
        string json = """{"handler":{"kind":"process","command":["/bin/sh"],"environment":{""" + "\"" + name + "\":\"99\"}}}";
        var error = Assert.Throws<Analytics.Replay.ScenarioException>(() => Analytics.Replay.ScenarioLoader.Parse(System.Text.Encoding.UTF8.GetBytes(json)));
        Assert.Equal("$.handler.environment." + name, error.Field);
        Assert.Contains("reserved", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void TheRegionAndCredentials_AreTheScenarios_ToGive()
    {
        const string Json = """{"handler":{"kind":"process","command":["/bin/sh"],"environment":{"AWS_REGION":"eu-west-1","AWS_ACCESS_KEY_ID":"test","AWS_SECRET_ACCESS_KEY":"test"}}}""";
        Analytics.Replay.ScenarioLoader.Parse(System.Text.Encoding.UTF8.GetBytes(Json));
    }
}

/// <summary>Review (new consumer): the model took a table whose sort key has the partition key's name, which DynamoDB refuses.</summary>
public class DynamoDbModelCreateTableTests
{
    [Fact]
    public void ASortKeyNamedAsThePartitionKey_IsRefused()
    {
        using var model = new DynamoDbModel(new VirtualClock(DateTimeOffset.UnixEpoch), DynamoDbModelOptions.Default);
        ArgumentException e = Assert.Throws<ArgumentException>(() => model.CreateTable("t-1", "pk", "pk"));
        Assert.Equal("sortKey", e.ParamName);
    }
}

/// <summary>
/// A scenario's <c>template</c> that is no template's file (found by review): a FIFO blocked replay before any check,
/// <c>/dev/zero</c> grew until memory ran out. Each is a bad scenario now, named; a link to a template is read.
/// </summary>
public class ReplayTemplateFileTests
{
    [Theory]
    [InlineData("fifo", "is empty or not a regular file")]
    [InlineData("/dev/zero", "is empty or not a regular file")]
    [InlineData("empty", "is empty or not a regular file")]
    [InlineData("huge", "a template is at most 1,048,576")]
    public async Task ATemplateThatIsNoTemplatesFile_IsABadScenario(string kind, string reason)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        string directory = Directory.CreateTempSubdirectory("replay-template-file-").FullName;
        try
        {
            string template = kind.StartsWith('/') ? kind : Path.Combine(directory, "template.yaml");
            switch (kind)
            {
                case "fifo":
                    using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", template))
                    {
                        await mkfifo.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
                        Assert.Equal(0, mkfifo.ExitCode);
                    }

                    Assert.True(File.Exists(template));
                    break;
                case "empty":
                    File.WriteAllText(template, string.Empty);
                    break;
                case "huge":
                    File.WriteAllText(template, "# " + new string('x', Analytics.Replay.Incident.SamTemplate.MaxBytes));
                    break;
            }

            // Bounded: before, the FIFO blocked the read for good.
            Task<Analytics.Replay.ScenarioException> refused = Task.Run(() => Assert.Throws<Analytics.Replay.ScenarioException>(() =>
                Analytics.Replay.ScenarioLoader.Parse(System.Text.Encoding.UTF8.GetBytes("{\"template\":" + System.Text.Json.JsonSerializer.Serialize(template) + ",\"handler\":{\"kind\":\"sample\"}}"), directory)));
            Analytics.Replay.ScenarioException error = await refused.WaitAsync(TimeSpan.FromSeconds(20)); // a TimeoutException if the read did not end
            Assert.Equal("$.template", error.Field);
            Assert.Contains(reason, error.Reason, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void ALinkToATemplate_IsRead()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        string directory = Directory.CreateTempSubdirectory("replay-template-link-").FullName;
        try
        {
            string real = Path.Combine(directory, "real.yaml");
            File.Copy(Path.Combine(RepoPaths.Root, "samples", "Analytics.SampleLambda", "template.yaml"), real);
            File.CreateSymbolicLink(Path.Combine(directory, "template.yaml"), real);
            Analytics.Replay.LoadedScenario loaded = Analytics.Replay.ScenarioLoader.Parse("""{"template":"template.yaml","handler":{"kind":"sample"}}"""u8, directory);
            Assert.Equal(100, loaded.Scenario.Mapping.BatchSize);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
