namespace WbcPortal.Engine.Datasets.Import;

/// <summary>Reads a class (and an optional outer folder such as TRAIN or TEST) from a relative path.</summary>
public static class ClassPath
{
    private static readonly HashSet<string> SystemNames = new(StringComparer.OrdinalIgnoreCase) { ".DS_Store", "Thumbs.db", "desktop.ini" };

    /// <summary>Normalises separators and rejects paths that escape the root or are absolute.</summary>
    public static bool TryNormalize(string path, out string normalized)
    {
        normalized = path.Replace('\\', '/').Trim();
        if (normalized.Length == 0 || normalized.StartsWith('/') || normalized.Contains('\0') || (normalized.Length > 1 && normalized[1] == ':'))
        {
            return false;
        }
        var parts = normalized.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Any(p => p is ".." or ".")) return false;
        normalized = string.Join('/', parts);
        return normalized.Length > 0;
    }

    /// <summary>Files the import passes over without calling them errors: OS metadata, macOS resource forks, hidden files.</summary>
    public static bool IsSystemFile(string normalizedPath)
    {
        var parts = normalizedPath.Split('/');
        return parts.Any(p => p == "__MACOSX" || (p.StartsWith('.') && p.Length > 1)) || SystemNames.Contains(parts[^1]);
    }

    /// <summary>The class is the folder that holds the file; a folder above it (TRAIN, TEST) is kept as the folder part.</summary>
    public static bool TryGetClass(string normalizedPath, out string className, out string? folderPart)
    {
        var parts = normalizedPath.Split('/');
        className = "";
        folderPart = null;
        if (parts.Length < 2) return false;
        className = parts[^2].Trim();
        folderPart = parts.Length >= 3 ? parts[^3] : null;
        return IsValidClassName(className);
    }

    public static bool IsValidClassName(string name) =>
        name.Length is > 0 and <= 64 && name.All(c => char.IsLetterOrDigit(c) || c is '_' or '-' or ' ' or '.') && name.Trim() == name;
}
