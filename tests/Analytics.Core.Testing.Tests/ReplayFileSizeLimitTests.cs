using System.Globalization;
using Analytics.Core.Tests;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// A run whose output the file system refuses part-way. A full disk has had its one-line error since a review found a
/// stack trace, but only reviews on a small tmpfs tested it. A file grown past what the file system or the process's
/// file-size limit allows (EFBIG: FAT32's 4 GiB, <c>ulimit -f</c>) reaches .NET's file writes as an
/// <see cref="ArgumentOutOfRangeException"/>, not an <see cref="IOException"/>, and ended the run with an unhandled
/// exception's stack trace. These run replay as a process of its own under <c>ulimit -f</c>, so the operating system
/// refuses the write, as it would on such a disk.
/// </summary>
public class ReplayFileSizeLimitTests
{
    /// <summary>
    /// 64 KiB per file; SIGXFSZ ignored, so the write fails with EFBIG instead of killing the process (ignored signals
    /// stay ignored across exec); the runtime's W^X mapping, a file of its own, is turned off, or the limit crashes it.
    /// </summary>
    private const string Limited = "ulimit -f 64; trap '' XFSZ; DOTNET_EnableWriteXorExecute=0 exec dotnet \"{0}\" {1}";

    [Theory]
    [InlineData("--scenario retry-storm.json --out \"{0}\" --no-chart --duration 120", "error: the run stopped: its output could not be written: ")]
    [InlineData("compare --scenario incident-before.json --scenario incident-after.json --out \"{0}\" --duration 120 --jobs 1", "error: a run stopped: its output could not be written: ")]
    public void AFileTooLargeForTheFileSystem_EndsTheRunWithOneLine_AndLeavesNoPartialOutput(string arguments, string expected)
    {
        string output = ReplayHarness.Temp();
        try
        {
            string args = string.Format(CultureInfo.InvariantCulture, arguments, output);
            (int exit, _, string stderr) = ReplayHarness.Shell(
                string.Format(CultureInfo.InvariantCulture, Limited, ReplayHarness.ReplayDll, args),
                Path.Combine(RepoPaths.Root, "samples", "scenarios"),
                TimeSpan.FromSeconds(120));

            Assert.Equal(1, exit);
            string[] lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(lines.Length == 1, stderr);
            Assert.StartsWith(expected, lines[0], StringComparison.Ordinal);
            Assert.Contains("ulimit -f", lines[0], StringComparison.Ordinal);

            // The run's files replace the directory's only once it ended: nothing half-written is left to take for output
            // (a run's own hidden folder may be left by a run still going when compare stopped; the next run removes it).
            Assert.DoesNotContain(
                Directory.GetFiles(output, "*", SearchOption.AllDirectories),
                f => !Path.GetRelativePath(output, f).Split(Path.DirectorySeparatorChar).Any(part => part.StartsWith('.')));
        }
        finally
        {
            if (Directory.Exists(output))
            {
                Directory.Delete(output, recursive: true);
            }
        }
    }

    /// <summary>The same limit with room for every file: the run succeeds, so the failure above is the limit's.</summary>
    [Fact]
    public void UnderALimitItsFilesFitIn_TheSameRunSucceeds()
    {
        string output = ReplayHarness.Temp();
        try
        {
            (int exit, string stdout, string stderr) = ReplayHarness.Shell(
                string.Format(CultureInfo.InvariantCulture, Limited.Replace("ulimit -f 64", "ulimit -f 65536", StringComparison.Ordinal), ReplayHarness.ReplayDll, $"--scenario retry-storm.json --out \"{output}\" --no-chart --duration 120"),
                Path.Combine(RepoPaths.Root, "samples", "scenarios"),
                TimeSpan.FromSeconds(120));

            Assert.True(exit == 0, stderr);
            Assert.Contains("records", stdout, StringComparison.Ordinal);
            Assert.True(new FileInfo(Path.Combine(output, "records.jsonl")).Length > 64 * 1024);
        }
        finally
        {
            if (Directory.Exists(output))
            {
                Directory.Delete(output, recursive: true);
            }
        }
    }
}
