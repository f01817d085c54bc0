using System.Net.Sockets;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Anything but a regular file where replay writes one of its files is refused before the run, with exit 2 and one line
/// naming it (found by review): a named pipe blocked the run for ever (its check opened it for writing, which waits for
/// a reader), a socket said "No such device or address", and a link (to /dev/stdout, to a file elsewhere) was replaced
/// by the run's own file with exit 0, its target never written. Each runs replay as a process of its own, bounded: a
/// run that blocks is killed and the test fails.
/// </summary>
public class ReplayOutputFileKindTests
{
    private const string Scenario = """{"durationSeconds":5,"producers":[{"ratePerSecond":5}],"handler":{"kind":"sample"}}""";

    private static readonly TimeSpan s_bound = TimeSpan.FromSeconds(90);

    [Theory]
    [InlineData("fifo", "a named pipe (FIFO)")]
    [InlineData("socket", "a socket")]
    [InlineData("link to /dev/stdout", "a symbolic link (to /dev/stdout)")]
    [InlineData("link to a file", "a symbolic link (to ../elsewhere.jsonl)")]
    [InlineData("link to nothing", "a symbolic link (to ../nothing.jsonl)")]
    [InlineData("directory", "a directory")]
    public void AnOutputFileThatIsNotARegularFile_Exits2_NamingIt(string kind, string shown) => InDirectory(directory =>
    {
        File.WriteAllText(Path.Combine(directory, "elsewhere.jsonl"), "kept\n");
        Directory.CreateDirectory(Path.Combine(directory, "out"));
        string target = Path.Combine(directory, "out", "invocations.jsonl");
        using Socket? socket = Make(kind, target, directory);

        AssertRefused(Replay(directory, "--scenario s.json --out out"), $"error: --out out: cannot write there: invocations.jsonl there is {shown}, not a regular file; replay writes its outputs as regular files: remove it, or give another --out.");
        Assert.Equal("kept\n", File.ReadAllText(Path.Combine(directory, "elsewhere.jsonl")));
        Assert.Equal(kind.StartsWith("link", StringComparison.Ordinal), new FileInfo(target).LinkTarget is not null); // left as it was
    });

    /// <summary>The same for a comparison's chart, named by <c>--chart</c>: a named pipe there blocked its check for ever.</summary>
    [Fact]
    public void Compare_AChartThatIsANamedPipe_Exits2_NamingIt() => InDirectory(directory =>
    {
        using Socket? none = Make("fifo", Path.Combine(directory, "chart.png"), directory);

        AssertRefused(Replay(directory, "compare --scenario a.json --scenario b.json --out out --chart chart.png"), "error: --chart chart.png: cannot write there: it is a named pipe (FIFO), not a regular file; give the chart's file name (e.g. compare.png)");
    });

    /// <summary>A named pipe given as <c>--out</c> itself: "The file ... already exists" before; now what it is.</summary>
    [Fact]
    public void AnOutputDirectoryThatIsANamedPipe_Exits2_NamingIt() => InDirectory(directory =>
    {
        using Socket? none = Make("fifo", Path.Combine(directory, "out"), directory);

        AssertRefused(Replay(directory, "--scenario s.json --out out"), "error: --out out: cannot write there: it is a named pipe (FIFO), not a directory; --out names the directory the run writes its files into (made when missing).");
    });

    /// <summary>A link to nothing given as <c>--out</c> is named as a link, not as "a file".</summary>
    [Fact]
    public void AnOutputDirectoryThatIsALinkToNothing_Exits2_NamingIt() => InDirectory(directory =>
    {
        File.CreateSymbolicLink(Path.Combine(directory, "out"), "nowhere");

        AssertRefused(Replay(directory, "--scenario s.json --out out"), "error: --out out: cannot write there: it is a symbolic link (to nowhere), not a directory; --out names the directory the run writes its files into (made when missing).");
    });

    /// <summary>
    /// A comparison's table is written where it stands, through a link, not renamed into place: a link there to a
    /// regular file (kept elsewhere on purpose) was written through with exit 0 before such links were refused, and is
    /// again. A named pipe there is still refused.
    /// </summary>
    [Fact]
    public void Compare_ATableThatIsALinkToARegularFile_IsWrittenThrough() => InDirectory(directory =>
    {
        File.WriteAllText(Path.Combine(directory, "latest.md"), "kept\n");
        Directory.CreateDirectory(Path.Combine(directory, "out"));
        File.CreateSymbolicLink(Path.Combine(directory, "out", "comparison.md"), "../latest.md");

        (int exit, string stdout, string stderr) = Replay(directory, "compare --scenario a.json --scenario b.json --out out");

        Assert.True(exit == 0, $"exit {exit}: {stderr}");
        Assert.StartsWith("| scenario |", File.ReadAllText(Path.Combine(directory, "latest.md")), StringComparison.Ordinal);
        Assert.Equal("../latest.md", new FileInfo(Path.Combine(directory, "out", "comparison.md")).LinkTarget);
        Assert.Contains("== a", stdout, StringComparison.Ordinal);

        File.Delete(Path.Combine(directory, "out", "comparison.md"));
        using Socket? none = Make("fifo", Path.Combine(directory, "out", "comparison.md"), directory);
        (exit, _, stderr) = Replay(directory, "compare --scenario a.json --scenario b.json --out out");
        Assert.True(exit == 2, $"exit {exit}: {stderr}");
        Assert.Contains("comparison.md there is a named pipe (FIFO), not a regular file", stderr, StringComparison.Ordinal);
    });

    /// <summary>
    /// Runs <paramref name="test"/> in a new directory that holds the scenarios <c>s.json</c>, <c>a.json</c> and
    /// <c>b.json</c>, removed after. Not on Windows, which has neither named pipes nor these links.
    /// </summary>
    private static void InDirectory(Action<string> test)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        string directory = Directory.CreateTempSubdirectory("replay-out-kind-").FullName;
        try
        {
            foreach (string name in (string[])["s.json", "a.json", "b.json"])
            {
                File.WriteAllText(Path.Combine(directory, name), Scenario);
            }

            test(directory);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Runs replay with <paramref name="arguments"/> in <paramref name="directory"/>, as a process of its own, bounded.</summary>
    private static (int Exit, string Stdout, string Stderr) Replay(string directory, string arguments) =>
        ReplayHarness.Shell($"dotnet \"{ReplayHarness.ReplayDll}\" {arguments}", directory, s_bound);

    /// <summary>The run was refused before it started: exit 2, <paramref name="error"/> its one line, nothing on standard output.</summary>
    private static void AssertRefused((int Exit, string Stdout, string Stderr) run, string error)
    {
        Assert.True(run.Exit == 2, $"exit {run.Exit}: {run.Stderr}");
        Assert.Equal(error, run.Stderr.TrimEnd('\n'));
        Assert.Equal(string.Empty, run.Stdout);
    }

    /// <summary>Puts <paramref name="kind"/> at <paramref name="path"/>; the socket bound there, held until the test ends.</summary>
    private static Socket? Make(string kind, string path, string directory)
    {
        switch (kind)
        {
            case "fifo":
                (int made, _, string error) = ReplayHarness.Shell($"mkfifo \"{path}\"", directory, s_bound);
                Assert.True(made == 0, error);
                return null;
            case "socket":
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                socket.Bind(new UnixDomainSocketEndPoint(path));
                return socket;
            case "link to /dev/stdout":
                File.CreateSymbolicLink(path, "/dev/stdout");
                return null;
            case "link to a file":
                File.CreateSymbolicLink(path, "../elsewhere.jsonl");
                return null;
            case "link to nothing":
                File.CreateSymbolicLink(path, "../nothing.jsonl");
                return null;
            default:
                Directory.CreateDirectory(path);
                return null;
        }
    }
}
