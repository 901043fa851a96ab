using System.Globalization;

namespace WbcPortal.Storage;

/// <summary>
/// Where things live in the data folder: the one place that knows its layout (runs and their checkpoints, models and
/// previews; staged uploads; the job database). Paths relative to the data folder are what the database stores.
/// </summary>
public static class DataFolderLayout
{
    public const string Runs = "runs";
    public const string Uploads = "uploads";
    public const string JobDatabase = "hangfire.db";
    private const string Checkpoints = "checkpoints";
    private const string Model = "model.onnx";

    /// <summary>A run's folder, relative to the data folder ("runs/12").</summary>
    public static string RunRelative(int runId) => Path.Combine(Runs, runId.ToString(CultureInfo.InvariantCulture));

    public static string RunFolder(string dataDirectory, int runId) => Path.Combine(dataDirectory, RunRelative(runId));

    public static string RunsFolder(string dataDirectory) => Path.Combine(dataDirectory, Runs);

    /// <summary>A run's checkpoints, relative to the data folder.</summary>
    public static string CheckpointsRelative(int runId) => Path.Combine(RunRelative(runId), Checkpoints);

    /// <summary>A run's exported model, relative to the data folder (as the run and its registered model store it).</summary>
    public static string ModelRelative(int runId) => Path.Combine(RunRelative(runId), Model);

    public static string ModelPath(string dataDirectory, int runId) => Path.Combine(dataDirectory, ModelRelative(runId));

    public static string UploadsFolder(string dataDirectory) => Path.Combine(dataDirectory, Uploads);

    /// <summary>
    /// A node's own staging folder name in a data folder several nodes share (<c>uploads/NODE</c>, <c>staging/NODE</c>): its
    /// process identity, so another node can tell whether it is gone.
    /// </summary>
    public static string NodeFolderName(ProcessIdentity node) => node.ToString().Replace('/', '_');

    /// <summary>A node's staging folder that nobody will finish: its process is gone (same host), or it was not written to for a day (another host).</summary>
    public static bool IsAbandonedNodeFolder(string folderName) => IsAbandonedNodeFolder(folderName, null);

    public static bool IsAbandonedNodeFolder(string folderName, string? path)
    {
        var node = ProcessIdentity.Parse(folderName);
        if (node is null) return false;
        if (string.Equals(node.Host, ProcessIdentity.Current.Host, StringComparison.Ordinal)) return !node.IsAlive();
        return path is not null && Directory.Exists(path) && Directory.GetLastWriteTimeUtc(path) < DateTime.UtcNow - TimeSpan.FromDays(1);
    }

    public static string JobDatabasePath(string dataDirectory) => Path.Combine(dataDirectory, JobDatabase);

    /// <summary>The run a path relative to the data folder belongs to ("runs/12/…" → 12), or null.</summary>
    public static int? RunOf(string relative)
    {
        var parts = relative.Split('/', '\\');
        return parts.Length >= 2 && parts[0] == Runs && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : null;
    }
}
