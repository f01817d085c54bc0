namespace Analytics.Replay;

/// <summary>Reads a file the operator names (the scenario, its template), refusing what is no such file.</summary>
internal static class InputFile
{
    /// <summary>
    /// The bytes of <paramref name="path"/>, which must be a regular file (a link is judged by what it leads to) of 1 to
    /// <paramref name="maxBytes"/> bytes. A pipe or a device (a FIFO no one writes to, <c>/dev/zero</c>) blocked the run
    /// before any check or grew until it ran out of memory (found by review); such files report no length, and neither
    /// does an empty file.
    /// </summary>
    /// <param name="path">The path given.</param>
    /// <param name="field">Where the path was given (<c>--scenario</c>, <c>$.template</c>), for the error.</param>
    /// <param name="what">What the file should be (<c>the scenario's JSON file</c>).</param>
    /// <param name="maxBytes">The largest file read.</param>
    /// <param name="tooLarge">Why that is the largest, said when a file is larger.</param>
    /// <exception cref="ScenarioException">The path is no regular file, is empty or too large, or cannot be read.</exception>
    public static byte[] Read(string path, string field, string what, long maxBytes, string tooLarge)
    {
        try
        {
            FileSystemInfo info = new FileInfo(path);
            if (info.LinkTarget is not null)
            {
                info = info.ResolveLinkTarget(returnFinalTarget: true) ?? info;
            }

            if (info is FileInfo { Exists: true } file && (file.Length == 0 || file.Length > maxBytes))
            {
                throw new ScenarioException(field, file.Length == 0
                    ? $"{path} is empty or not a regular file (a pipe, a device); give {what}"
                    : $"{path} is {file.Length:N0} bytes; {tooLarge}");
            }

            if (!info.Exists && info.LinkTarget is null && File.Exists(path))
            {
                throw new ScenarioException(field, $"{path} leads to {info.FullName}, which is not a file; give {what}");
            }

            return File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ScenarioException(field, $"cannot read {path}: {ex.Message}");
        }
    }
}
