namespace Analytics.Replay;

/// <summary>Reads a file the operator names (the scenario, its template), refusing what is no such file.</summary>
internal static class InputFile
{
    /// <summary>
    /// Where relative paths in the file at <paramref name="path"/> start: the directory of the file it leads to, or, for
    /// a pipe, null (the working directory). A scenario piped in looked for its template under /dev (found by review).
    /// </summary>
    public static string? BaseDirectory(string path) =>
        Resolve(path) is FileInfo { Exists: true } file ? file.DirectoryName : null;

    /// <summary>What <paramref name="path"/> leads to, links followed.</summary>
    private static FileSystemInfo Resolve(string path)
    {
        // /dev/fd is itself a link (to /proc/self/fd), which a link of the file's own does not show: <(...) gives /dev/fd/63.
        FileSystemInfo info = new FileInfo(path.StartsWith("/dev/fd/", StringComparison.Ordinal) ? "/proc/self/fd/" + path["/dev/fd/".Length..] : path);
        return info.LinkTarget is not null ? info.ResolveLinkTarget(returnFinalTarget: true) ?? info : info;
    }

    /// <summary>
    /// Whether <paramref name="info"/> is a pipe (<c>pipe:[inode]</c>, as Linux names one under /proc/self/fd) of which
    /// this process holds a write end: its reader sees the end only when every write end is closed. False where there is
    /// no /proc (then nothing is known).
    /// </summary>
    private static bool WrittenHere(FileSystemInfo info)
    {
        string name = info.Name;
        if (!name.StartsWith("pipe:[", StringComparison.Ordinal) || !Directory.Exists("/proc/self/fdinfo"))
        {
            return false;
        }

        foreach (string fd in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget != name)
                {
                    continue;
                }

                // "flags:\t0100001": octal open flags, of which the lowest two bits are the access mode (1 write, 2 both).
                string? flags = File.ReadLines("/proc/self/fdinfo/" + Path.GetFileName(fd)).FirstOrDefault(l => l.StartsWith("flags:", StringComparison.Ordinal));
                if (flags is not null && (Convert.ToInt32(flags["flags:".Length..].Trim(), 8) & 3) is 1 or 2)
                {
                    return true;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                // A descriptor closed while we looked: not one that writes this pipe.
            }
        }

        return false;
    }

    /// <summary>
    /// The bytes of <paramref name="path"/>, read to its end but never past <paramref name="maxBytes"/>: a regular file
    /// or a pipe given as <c>/dev/stdin</c> (from <c>cat</c>, a here-document, <c>&lt;(...)</c>), a link judged by what it
    /// leads to. A device or a named pipe is refused: <c>/dev/zero</c> was read until the run ran out of memory, a named
    /// pipe no one wrote blocked the run, and a terminal would wait for typing (found by review; a first fix that took
    /// only regular files refused piped input, found by the next).
    /// </summary>
    /// <param name="path">The path given.</param>
    /// <param name="field">Where the path was given (<c>--scenario</c>, <c>$.template</c>), for the error.</param>
    /// <param name="what">What the file should be (<c>the scenario's JSON file</c>).</param>
    /// <param name="maxBytes">The largest file read.</param>
    /// <param name="tooLarge">Why that is the largest, said when a file is larger.</param>
    /// <exception cref="ScenarioException">The path holds a NUL, is a directory, a device, a named pipe or a pipe this process writes, is empty or too large, or cannot be read.</exception>
    public static byte[] Read(string path, string field, string what, long maxBytes, string tooLarge)
    {
        // A path from the scenario (its template) may hold a NUL, which no file name can: the file APIs threw an
        // ArgumentException, a stack trace with exit 1 (found by review).
        if (path.Contains('\0', StringComparison.Ordinal))
        {
            throw new ScenarioException(field, "the path holds a NUL character (\\u0000), which no file name can");
        }

        // A directory was read as a file and reported as "Access to the path is denied" (found by review: a template of
        // "" or ".").
        if (Directory.Exists(path))
        {
            throw new ScenarioException(field, $"{path} is a directory; give {what}");
        }

        try
        {
            FileSystemInfo info = Resolve(path);

            // A pipe this process holds the write end of (its own stdout or stderr piped on, /dev/fd/3 and the like,
            // the runtime's own pipes) ends only when this process closes it: reading it waited for ever (found by
            // reviews).
            if (WrittenHere(info))
            {
                throw new ScenarioException(field, $"{path} is a pipe this process itself writes (its own output, or one of the runtime's), which would never end; give {what}");
            }

            // A device, a named pipe (which no one may ever write) and an empty file report no length. A pipe given
            // as /dev/stdin leads to an entry that does not exist (pipe:[n]) and is read as a stream.
            if (info.FullName.StartsWith("/dev/", StringComparison.Ordinal) || info is FileInfo { Exists: true, Length: 0 })
            {
                throw new ScenarioException(field, $"{path} is empty or not a regular file (a named pipe, a device); give {what}");
            }

            if (info is FileInfo { Exists: true } file && file.Length > maxBytes)
            {
                throw new ScenarioException(field, $"{path} is {file.Length:N0} bytes; {tooLarge}");
            }

            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 1);
            using var content = new MemoryStream();
            byte[] chunk = new byte[64 * 1024];
            int read;
            while ((read = stream.Read(chunk)) > 0)
            {
                if (content.Length + read > maxBytes)
                {
                    throw new ScenarioException(field, $"{path} is more than {maxBytes:N0} bytes; {tooLarge}");
                }

                content.Write(chunk, 0, read);
            }

            return content.Length > 0 ? content.ToArray() : throw new ScenarioException(field, $"{path} is empty; give {what}");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ScenarioException(field, $"cannot read {path}: {ex.Message}");
        }
    }
}
