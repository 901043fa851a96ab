using WbcPortal.Options;

namespace WbcPortal.Services.Storage;

/// <summary>A folder under the server root as a picker shows it: its path relative to the root, its subfolders and the images directly in it.</summary>
public sealed record ServerFolderListing(string Relative, IReadOnlyList<ServerFolderEntry> Folders, int Images, bool Truncated);

/// <summary>A subfolder: its name, its path relative to the root, and the images directly in it.</summary>
public sealed record ServerFolderEntry(string Name, string Relative, int Images);

/// <summary>
/// The server folders pages may read: only under <see cref="ServerFoldersOptions.Root"/>, named by a path relative to it.
/// A path that is absolute, climbs out with "..", or passes through a link is refused with the reason, so a page never
/// reads an arbitrary server path. The CLI, run by whoever runs the server, is not bound by this.
/// </summary>
public sealed class ServerFolders(ServerFoldersOptions options)
{
    private const int MaxListed = 500;
    private static readonly HashSet<string> ImageExtensions = new(StringComparer.OrdinalIgnoreCase) { ".jpg", ".jpeg", ".png" };

    /// <summary>Whether a root is configured (and exists).</summary>
    public bool Enabled => RootFullPath is { } root && Directory.Exists(root);

    /// <summary>The root's full path, or null when none is configured.</summary>
    public string? RootFullPath => string.IsNullOrWhiteSpace(options.Root) ? null : Path.GetFullPath(options.Root).TrimEnd(Path.DirectorySeparatorChar);

    /// <summary>The full path of <paramref name="relative"/> under the root; an <see cref="ArgumentException"/> with the reason otherwise.</summary>
    public string Resolve(string? relative)
    {
        string root = RootFullPath is { } r && Directory.Exists(r)
            ? r
            : throw new ArgumentException("No server folder is open to the portal: set ServerFolders:Root in appsettings.json, or upload the images instead.");
        string rel = (relative ?? "").Trim().Replace('\\', '/').Trim('/');
        if (Path.IsPathRooted(relative?.Trim() ?? "") && rel.Length > 0)
            throw new ArgumentException("Give the folder relative to the server root, not a full path.");
        var parts = rel.Length == 0 ? [] : rel.Split('/');
        if (parts.Any(p => p is "" or "." or ".."))
            throw new ArgumentException($"'{relative}' is not a folder under the server root: no '..', '.' or empty parts.");
        string current = root;
        foreach (var part in parts)
        {
            current = Path.Combine(current, part);
            var info = new DirectoryInfo(current);
            if (!info.Exists) throw new ArgumentException($"There is no folder '{rel}' under the server root.");
            if (info.LinkTarget is not null) throw new ArgumentException($"'{part}' is a link: links under the server root are not followed.");
        }
        string full = Path.GetFullPath(current);
        if (full != root && !full.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ArgumentException($"'{relative}' is outside the server root.");
        return full;
    }

    /// <summary>The path of <paramref name="fullPath"/> relative to the root, with forward slashes ("" for the root).</summary>
    public string Relative(string fullPath)
    {
        string relative = Path.GetRelativePath(RootFullPath ?? throw new InvalidOperationException("No server root."), fullPath).Replace('\\', '/');
        return relative == "." ? "" : relative;
    }

    /// <summary>The subfolders (links left out) and image count of a folder under the root; at most 500 subfolders listed.</summary>
    public ServerFolderListing List(string? relative)
    {
        string full = Resolve(relative);
        var folders = new List<ServerFolderEntry>();
        bool truncated = false;
        foreach (var dir in new DirectoryInfo(full).EnumerateDirectories().Where(d => d.LinkTarget is null && !d.Name.StartsWith('.')).OrderBy(d => d.Name, StringComparer.Ordinal))
        {
            if (folders.Count == MaxListed) { truncated = true; break; }
            folders.Add(new ServerFolderEntry(dir.Name, Relative(dir.FullName), CountImages(dir)));
        }
        return new ServerFolderListing(Relative(full), folders, CountImages(new DirectoryInfo(full)), truncated);
    }

    private static int CountImages(DirectoryInfo dir)
    {
        try
        {
            return dir.EnumerateFiles().Count(f => ImageExtensions.Contains(f.Extension) && f.LinkTarget is null);
        }
        catch (Exception ex) when (ex is UnauthorizedAccessException or IOException)
        {
            return 0;
        }
    }
}
