namespace WbcPortal.Engine.Datasets.Storage;

/// <summary>What a start-up recovery did with an interrupted import's staged files.</summary>
public sealed record StagingRecovery(int Promoted, int Removed);

/// <summary>
/// One import's private staging folder (<c>staging/&lt;id&gt;/images/ab/…</c>, <c>…/thumbs/ab/…</c>). The importer
/// writes new files here; once their rows are committed, <see cref="Promote"/> moves them into the store (a rename
/// on the same file system). Disposing deletes whatever was not promoted: an import that fails or stops leaves
/// nothing behind, and one that is killed leaves only this folder, which the next start settles.
/// </summary>
public sealed class ImageStaging : IDisposable
{
    private readonly ImageStore store;

    internal ImageStaging(ImageStore store, string folder)
    {
        this.store = store;
        Folder = folder;
    }

    public string Folder { get; }

    public string ImagePath(string sha, string format) => Path.Combine(Folder, Path.GetRelativePath(store.Root, store.ImagePath(sha, format)));

    public string ThumbnailPath(string sha) => Path.Combine(Folder, Path.GetRelativePath(store.Root, store.ThumbnailPath(sha)));

    /// <summary>True when the store already holds this image and its thumbnail: nothing needs staging.</summary>
    public bool IsStored(string sha, string format) => File.Exists(store.ImagePath(sha, format)) && File.Exists(store.ThumbnailPath(sha));

    /// <summary>Moves the staged files of these images into the store (those already there are dropped from staging).</summary>
    public void Promote(IEnumerable<(string Sha, string Format)> images)
    {
        foreach (var (sha, format) in images)
        {
            Move(ImagePath(sha, format), store.ImagePath(sha, format));
            Move(ThumbnailPath(sha), store.ThumbnailPath(sha));
        }
    }

    /// <summary>Promotes the staged files whose hash is referenced and deletes the rest; returns (promoted, removed).</summary>
    internal (int Promoted, int Removed) Settle(IReadOnlySet<string> referenced)
    {
        int promoted = 0, removed = 0;
        if (!Directory.Exists(Folder)) return (0, 0);
        foreach (var file in Directory.EnumerateFiles(Folder, "*", SearchOption.AllDirectories).ToList())
        {
            string name = Path.GetFileName(file);
            string sha = name.Split('.')[0];
            string relative = Path.GetRelativePath(Folder, file);
            bool isStoreFile = !name.EndsWith(".tmp", StringComparison.Ordinal) && ImageStore.IsValidSha(sha)
                && (relative.StartsWith("images" + Path.DirectorySeparatorChar, StringComparison.Ordinal) || relative.StartsWith("thumbs" + Path.DirectorySeparatorChar, StringComparison.Ordinal));
            if (isStoreFile && referenced.Contains(sha))
            {
                Move(file, Path.Combine(store.Root, relative));
                promoted++;
            }
            else
            {
                File.Delete(file);
                removed++;
            }
        }
        return (promoted, removed);
    }

    private static void Move(string staged, string final)
    {
        if (!File.Exists(staged)) return;
        if (File.Exists(final))
        {
            File.Delete(staged);
            return;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(final)!);
        try
        {
            File.Move(staged, final, overwrite: false);
        }
        catch (IOException) when (File.Exists(final))
        {
            File.Delete(staged);
        }
    }

    public void Dispose()
    {
        try
        {
            if (Directory.Exists(Folder)) Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
            // Left for the next start's recovery, which deletes what no row references.
        }
    }
}
