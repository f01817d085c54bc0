using System.Text.Json;

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
