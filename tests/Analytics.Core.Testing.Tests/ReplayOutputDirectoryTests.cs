using Analytics.Replay;
using System.Text.Json;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// A run that does not end leaves the output directory as it was (found by review): a process command found unstartable
/// at its first start was refused as a bad scenario (exit 2), but only after the run had replaced an earlier complete
/// run's files with half-written ones and deleted its chart. A run now writes into a folder of its own and its files
/// replace the directory's once it has ended.
/// </summary>
public class ReplayOutputDirectoryTests
{
    [Fact]
    public void ACommandFoundUnstartableAtItsFirstStart_Exits2_AndLeavesTheOutputDirectoryAsItWas()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        string directory = Directory.CreateTempSubdirectory("replay-out-").FullName;
        string output = Path.Combine(directory, "out");
        try
        {
            Dictionary<string, byte[]> before = GoodRun(directory, output);

            string script = Path.Combine(directory, "bootstrap");
            File.WriteAllText(script, "#!/nonexistent/interpreter\necho never\n");
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            string bad = Path.Combine(directory, "bad.json");
            File.WriteAllText(bad, $$$"""{"durationSeconds":5,"producers":[{"ratePerSecond":5}],"handler":{"kind":"process","command":[{{{JsonSerializer.Serialize(script)}}}]}}""");

            (int exit, _, string error) = ReplayHarness.Replay("--scenario", bad, "--out", output);
            Assert.Equal(2, exit);
            Assert.Contains("bad scenario: $.handler.command[0]", error, StringComparison.Ordinal);
            AssertUnchanged(before, output);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    // A run stopped by a signal or a crash never reaches its folder's removal (found by review: such folders stayed,
    // hidden, hundreds of MB each): the next run into the directory, which holds its lock, removes them.
    [Fact]
    public void AFolderAnInterruptedRunLeft_IsRemovedByTheNextRun()
    {
        string directory = Directory.CreateTempSubdirectory("replay-out-").FullName;
        string output = Path.Combine(directory, "out");
        try
        {
            string stale = Path.Combine(output, ReplayRun.StagingPrefix + "0123456789abcdef0123456789abcdef");
            Directory.CreateDirectory(stale);
            File.WriteAllText(Path.Combine(stale, "invocations.jsonl"), "{\"invocation\":1}\n");
            string other = Path.Combine(output, "kept");
            Directory.CreateDirectory(other); // not a run's folder: left alone

            GoodRun(directory, output);
            Assert.False(Directory.Exists(stale));
            Assert.Equal([other], Directory.GetDirectories(output));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static Dictionary<string, byte[]> GoodRun(string directory, string output)
    {
        string good = Path.Combine(directory, "good.json");
        File.WriteAllText(good, """{"durationSeconds":5,"producers":[{"ratePerSecond":5}],"handler":{"kind":"scripted","rules":[]}}""");
        (int exit, _, string error) = ReplayHarness.Replay("--scenario", good, "--out", output);
        Assert.True(exit == 0, error);
        Dictionary<string, byte[]> files = Directory.GetFiles(output).ToDictionary(p => Path.GetFileName(p), File.ReadAllBytes);
        Assert.Contains(ReplayRun.ChartFileName, files.Keys);
        Assert.Contains("invocations.jsonl", files.Keys);
        return files;
    }

    private static void AssertUnchanged(Dictionary<string, byte[]> before, string output)
    {
        Dictionary<string, byte[]> after = Directory.GetFiles(output).ToDictionary(p => Path.GetFileName(p), File.ReadAllBytes);
        Assert.Equal(before.Keys.Order(StringComparer.Ordinal), after.Keys.Order(StringComparer.Ordinal));
        foreach ((string name, byte[] bytes) in before)
        {
            Assert.True(bytes.AsSpan().SequenceEqual(after[name]), name + " was changed by a run that did not end");
        }

        Assert.Empty(Directory.GetDirectories(output)); // the run's own folder is gone
    }
}
