using System.IO.Enumeration;

namespace WbcPortal.Engine.Imaging;

/// <summary>One entry of a folder from outside: a file (of any kind) or a symbolic link, which is never followed.</summary>
public readonly record struct FolderEntry(string FullPath, bool IsLink);

/// <summary>
/// Walks folders offered by users (an imported folder, a Classify or evaluation server folder). A symbolic link, to a file,
/// to a folder or to nothing, is listed as a link and never followed: a link could reach outside the folder (the server
/// root, the data folder, /etc), loop, or change between the listing and the read. Real subfolders are entered.
/// </summary>
public static class UntrustedFolders
{
    /// <summary>The reason every path gives for a link it did not follow.</summary>
    public const string LinkReason = "a symbolic link: not followed";

    /// <summary>Every file and link under <paramref name="root"/> (folders entered, links not), in no particular order; unreadable folders are skipped.</summary>
    public static IEnumerable<FolderEntry> Walk(string root)
    {
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = true };
        return new FileSystemEnumerable<FolderEntry>(Path.GetFullPath(root), (ref FileSystemEntry e) => new FolderEntry(e.ToFullPath(), IsLink(ref e)), options)
        {
            ShouldIncludePredicate = (ref FileSystemEntry e) => IsLink(ref e) || !e.IsDirectory,
            ShouldRecursePredicate = (ref FileSystemEntry e) => !IsLink(ref e),
        };
    }

    private static bool IsLink(ref FileSystemEntry entry) => (entry.Attributes & FileAttributes.ReparsePoint) != 0;
}
