using System.Runtime.InteropServices;

namespace Analytics.Replay;

/// <summary>What stands at a path replay writes, when it is not a regular file.</summary>
internal static class OutputFile
{
    /// <summary>
    /// What <paramref name="path"/> is when it is neither a regular file nor nothing: "a directory", "a named pipe
    /// (FIFO)", "a socket", "a device", or, when <paramref name="followLinks"/> is false, "a symbolic link (to ...)".
    /// Null for a regular file, or none. Only this asks without opening: opening a named pipe for writing waits for a
    /// reader, and a run with one where its invocation log goes blocked for ever (found by review).
    /// </summary>
    public static string? NotRegular(string path, bool followLinks)
    {
        if (!followLinks && new FileInfo(path).LinkTarget is { } target)
        {
            return $"a symbolic link (to {target})";
        }

        if (Directory.Exists(path))
        {
            return "a directory";
        }

        if (OperatingSystem.IsWindows() || !File.Exists(path))
        {
            return null;
        }

        // The file's type, which no managed API gives: .NET's own native shim (libSystem.Native, which its file APIs
        // call) fills the same status, its type bits the same on every Unix. A status not read says nothing, and neither
        // does a shim without these entries (not a public contract: a runtime that drops them skips the check, as before).
        // A link was answered above unless it is to be followed, so stat (which follows) is all that is asked.
        var status = default(Status);
        try
        {
            if (Stat(path, ref status) != 0)
            {
                return null;
            }
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return null;
        }

        return (status.Mode & TypeMask) switch
        {
            Regular => null,
            Fifo => "a named pipe (FIFO)",
            Socket => "a socket",
            CharacterDevice or BlockDevice => "a device",
            _ => "not a regular file",
        };
    }

    private const int TypeMask = 0xF000, Fifo = 0x1000, CharacterDevice = 0x2000, BlockDevice = 0x6000, Regular = 0x8000, Socket = 0xC000;

    /// <summary>
    /// The start of the shim's <c>FileStatus</c> (<c>Flags</c>, then <c>Mode</c>), with room for the rest: only the mode
    /// is read, and the struct has grown at its end between versions.
    /// </summary>
    [StructLayout(LayoutKind.Sequential, Size = 512)]
    private struct Status
    {
        public int Flags;
        public int Mode;
    }

    [DllImport("libSystem.Native", EntryPoint = "SystemNative_Stat", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Stat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, ref Status status);
}
