using System.Text.RegularExpressions;

namespace WbcPortal.Engine.Datasets.Storage;

/// <summary>
/// Content-addressed image files under the data folder: <c>images/ab/abcd….jpg</c> and
/// <c>thumbs/ab/abcd….jpg</c>. A file is written once, atomically (temp file, then rename), so a
/// crash never leaves a half-written image under its final name. Imports write into <see cref="StagingRoot"/>
/// first and move files here only after their rows are committed, so a file in the store is never one that
/// a running import may still abandon; nothing here is ever swept automatically.
/// </summary>
/// <param name="stagingNode">
/// When several processes share the data folder (worker nodes), this process's name: its imports stage under
/// <c>staging/NODE/</c>, and a start-up recovery touches only its own folder and those of nodes that are gone.
/// </param>
public sealed partial class ImageStore(string dataDirectory, string? stagingNode = null)
{
    public string Root { get; } = Path.GetFullPath(dataDirectory);

    /// <summary>A temporary file this old in a shared folder was left by a writer that died (writes take milliseconds).</summary>
    public static readonly TimeSpan AbandonedTempAge = TimeSpan.FromHours(1);

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex ShaPattern();

    public static bool IsValidSha(string sha) => ShaPattern().IsMatch(sha);

    public string ImagePath(string sha, string format) => Path.Combine(Root, "images", Check(sha)[..2], $"{sha}.{Extension(format)}");

    public string ThumbnailPath(string sha) => Path.Combine(Root, "thumbs", Check(sha)[..2], $"{sha}.jpg");

    /// <summary>A derived rendition of an image (<c>views/ab/abcd….luma.png</c>): written once, swept with the image.</summary>
    public string ViewPath(string sha, string name) => Path.Combine(Root, "views", Check(sha)[..2], $"{sha}.{name}");

    public static string Extension(string format) => format switch
    {
        "jpeg" => "jpg",
        "png" => "png",
        _ => throw new ArgumentException($"Unknown stored format '{format}'.", nameof(format)),
    };

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> unless a file is already there.</summary>
    public static void WriteOnce(string path, ReadOnlySpan<byte> bytes)
    {
        if (File.Exists(path)) return;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        string temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 4096, FileOptions.WriteThrough))
        {
            stream.Write(bytes);
        }
        try
        {
            File.Move(temp, path, overwrite: false);
        }
        catch (IOException) when (File.Exists(path))
        {
            File.Delete(temp); // another writer stored the same content first
        }
    }

    /// <summary>Where imports write before their rows are committed: the only place a start-up sweep may delete from.</summary>
    public string StagingRoot => stagingNode is null ? Path.Combine(Root, "staging") : Path.Combine(Root, "staging", stagingNode);

    /// <summary>The staging folders of the other nodes sharing this data folder (name, folder); none for a folder with one owner.</summary>
    public IReadOnlyList<(string Node, string Folder)> OtherNodesStaging()
    {
        var shared = Path.Combine(Root, "staging");
        if (stagingNode is null || !Directory.Exists(shared)) return [];
        return Directory.EnumerateDirectories(shared).Select(d => (Path.GetFileName(d), d))
            .Where(n => !string.Equals(n.Item1, stagingNode, StringComparison.Ordinal)).ToList();
    }

    /// <summary>A private staging folder for one import; files move into the store once their rows are committed.</summary>
    public ImageStaging BeginStaging() => new(this, Path.Combine(StagingRoot, Guid.NewGuid().ToString("N")));

    /// <summary>
    /// Settles what an interrupted import left in staging: a staged file whose row was committed (<paramref name="referenced"/>)
    /// is moved into the store; any other staged file is deleted, as are half-written <c>.tmp</c> files. Files already in
    /// the store are never deleted here, referenced or not: only the user deletes those (the Storage page).
    /// Call it only while holding the data folder's lock, so no import of another process is writing.
    /// </summary>
    /// <param name="abandoned">
    /// In a shared folder: whether another node's staging folder was left by a node that is gone (then it is settled and
    /// removed like this process's own); a live node's is never touched, nor a temporary file younger than <see cref="AbandonedTempAge"/>.
    /// </param>
    public StagingRecovery RecoverStaging(IReadOnlySet<string> referenced, Func<string, bool>? abandoned = null)
    {
        int promoted = 0, removed = 0;
        var roots = new List<string> { StagingRoot };
        if (abandoned is not null) roots.AddRange(OtherNodesStaging().Where(n => abandoned(n.Node)).Select(n => n.Folder));
        foreach (var root in roots.Where(Directory.Exists))
        {
            foreach (var folder in Directory.EnumerateDirectories(root))
            {
                var staging = new ImageStaging(this, folder);
                (int p, int r) = staging.Settle(referenced);
                promoted += p;
                removed += r;
                staging.Dispose();
            }
            foreach (var stray in Directory.EnumerateFiles(root))
            {
                File.Delete(stray);
                removed++;
            }
            if (root != StagingRoot) Directory.Delete(root, recursive: true);
        }
        var cutoff = DateTime.UtcNow - AbandonedTempAge;
        foreach (var folder in new[] { "images", "thumbs", "views" })
        {
            var dir = Path.Combine(Root, folder);
            if (!Directory.Exists(dir)) continue;
            foreach (var temp in Directory.EnumerateFiles(dir, "*.tmp", SearchOption.AllDirectories))
            {
                // Another node may be writing this one now.
                if (stagingNode is not null && File.GetLastWriteTimeUtc(temp) > cutoff) continue;
                File.Delete(temp);
                removed++;
            }
        }
        return new StagingRecovery(promoted, removed);
    }

    /// <summary>Deletes an image's files (either format), its thumbnail and its derived views; for a hash no row references any more.</summary>
    public void Delete(string sha)
    {
        foreach (var format in new[] { "jpeg", "png" }) File.Delete(ImagePath(sha, format));
        File.Delete(ThumbnailPath(sha));
        var views = Path.GetDirectoryName(ViewPath(sha, "x"))!;
        if (!Directory.Exists(views)) return;
        foreach (var view in Directory.EnumerateFiles(views, sha + ".*")) File.Delete(view);
    }

    /// <summary>True when the store holds at least one image file (a cheap check: stops at the first).</summary>
    public bool HasStoredFiles()
    {
        var dir = Path.Combine(Root, "images");
        return Directory.Exists(dir) && Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Any(f => !f.EndsWith(".tmp", StringComparison.Ordinal));
    }

    public int CountStoredFiles()
    {
        var dir = Path.Combine(Root, "images");
        return Directory.Exists(dir) ? Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Count(f => !f.EndsWith(".tmp", StringComparison.Ordinal)) : 0;
    }

    private static string Check(string sha) =>
        IsValidSha(sha) ? sha : throw new ArgumentException("Not a SHA-256 hex digest.", nameof(sha));
}
