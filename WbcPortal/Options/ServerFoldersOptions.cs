namespace WbcPortal.Options;

/// <summary>
/// The one folder on the server whose subfolders pages may read (Classify's "server folder", the dashboard's "Evaluate on
/// a folder"). Section <c>ServerFolders</c>. Empty (the default): pages read no server folder at all, only uploads.
/// </summary>
public sealed class ServerFoldersOptions
{
    public const string Section = "ServerFolders";

    /// <summary>The root, absolute or relative to the working folder; nothing outside it (and no link inside it) is read.</summary>
    public string Root { get; set; } = "";
}
