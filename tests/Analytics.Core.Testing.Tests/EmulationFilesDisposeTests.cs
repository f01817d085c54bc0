namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Files disposed before the run are named in the error (found by review: the error named an internal
/// <c>Utf8JsonWriter</c>, after part of <c>metrics.csv</c> was written).
/// </summary>
public class EmulationFilesDisposeTests
{
    [Fact]
    public void ARunGivenDisposedFiles_FailsNamingThem_AndWritesNothing()
    {
        string directory = Path.Combine(Path.GetTempPath(), "files-disposed-" + Guid.NewGuid().ToString("N"));
        try
        {
            var files = new EmulationFiles(directory);
            files.Dispose();
            var emulator = new StreamEmulator(Emulate.Texts("a", "b"), Emulate.Succeed());

            ObjectDisposedException error = Assert.Throws<ObjectDisposedException>(() => emulator.Run(files));

            Assert.Equal(typeof(EmulationFiles).FullName, error.ObjectName);
            Assert.All(Directory.GetFiles(directory).Where(f => !f.EndsWith("metrics.csv", StringComparison.Ordinal)), f => Assert.Equal(0, new FileInfo(f).Length));
            Assert.Single(File.ReadAllLines(Path.Combine(directory, "metrics.csv")));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
