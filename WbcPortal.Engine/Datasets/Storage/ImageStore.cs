using System.Text.RegularExpressions;

namespace WbcPortal.Engine.Datasets.Storage;

/// <summary>
/// Content-addressed image files under the data folder: <c>images/ab/abcd….jpg</c> and
/// <c>thumbs/ab/abcd….jpg</c>. A file is written once, atomically (temp file, then rename), so a
/// crash never leaves a half-written image under its final name; the database is the source of truth
/// and files no row references can be swept.
/// </summary>
public sealed partial class ImageStore(string dataDirectory)
{
    public string Root { get; } = Path.GetFullPath(dataDirectory);

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

    /// <summary>Removes stored files whose hash is not in <paramref name="referenced"/>; returns how many were removed.</summary>
    public int Sweep(IReadOnlySet<string> referenced)
    {
        int removed = 0;
        foreach (var folder in new[] { "images", "thumbs", "views" })
        {
            var dir = Path.Combine(Root, folder);
            if (!Directory.Exists(dir)) continue;
            foreach (var file in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
            {
                string name = Path.GetFileName(file);
                string sha = name.Split('.')[0];
                if (name.EndsWith(".tmp", StringComparison.Ordinal) || !referenced.Contains(sha))
                {
                    File.Delete(file);
                    removed++;
                }
            }
        }
        return removed;
    }

    private static string Check(string sha) =>
        IsValidSha(sha) ? sha : throw new ArgumentException("Not a SHA-256 hex digest.", nameof(sha));
}
