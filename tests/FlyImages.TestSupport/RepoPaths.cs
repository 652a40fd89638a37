namespace FlyImages.TestSupport;

/// <summary>Finds the repository from a test's output folder.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string Tests => Path.Combine(Root, "tests");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "FlyImages.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"The repository root (FlyImages.slnx) was not found above {AppContext.BaseDirectory}.");
    }
}
