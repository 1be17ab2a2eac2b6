namespace ExprAD.Optimization.Tests.Examples;

/// <summary>A fresh temporary folder for an example's plots, removed afterwards, and the check that a plot was written.</summary>
internal sealed class ExampleOutput : IDisposable
{
    public string Folder { get; } = Path.Combine(Path.GetTempPath(), $"exprad-examples-{Guid.NewGuid():N}");

    /// <summary>The data folder of the examples, copied next to the test assembly by the examples project.</summary>
    public static string Data => Path.Combine(AppContext.BaseDirectory, "data");

    /// <summary>Asserts that <paramref name="path"/> is a PNG in this folder: it exists, and starts with the PNG signature.</summary>
    public void AssertPng(string path)
    {
        Assert.That(Path.GetDirectoryName(Path.GetFullPath(path)), Is.EqualTo(Path.GetFullPath(Folder)), "written into the folder given");
        Assert.That(File.Exists(path), Is.True, $"{path} exists");
        var bytes = File.ReadAllBytes(path);
        Assert.That(bytes.Length, Is.GreaterThan(1000), $"{path} is not empty");
        Assert.That(bytes[..8], Is.EqualTo(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }), "PNG signature");
    }

    public void Dispose()
    {
        if (Directory.Exists(Folder)) Directory.Delete(Folder, recursive: true);
    }
}
