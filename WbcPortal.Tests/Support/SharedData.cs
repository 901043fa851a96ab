namespace WbcPortal.Tests.Support;

/// <summary>
/// The real images in ../shared/data (never committed). Tests that need them call <see cref="RequireTrainSet"/>,
/// which skips the test with a clear message when the folder is absent (a fresh clone elsewhere).
/// </summary>
public static class SharedData
{
    public static string? Root { get; } = Find();

    public static string TrainSet => Path.Combine(Root ?? "", "blood-cell-images", "TRAIN");
    public static string Bccd => Path.Combine(Root ?? "", "bccd");

    public static string RequireTrainSet()
    {
        if (Root is null || !Directory.Exists(TrainSet))
        {
            Assert.Skip("Needs the real Kaggle TRAIN images in ../shared/data/blood-cell-images/TRAIN, which are not on this machine.");
        }
        return TrainSet;
    }

    private static string? Find()
    {
        var env = Environment.GetEnvironmentVariable("WBC_SHARED_DATA");
        if (!string.IsNullOrEmpty(env) && Directory.Exists(env)) return env;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "WbcPortal.sln")))
            {
                var candidate = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "data"));
                return Directory.Exists(candidate) ? candidate : null;
            }
        }
        return null;
    }
}
