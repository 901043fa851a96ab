namespace WbcPortal.Storage.Migrations;

/// <summary>
/// The data of <c>TypedSplitParts</c>, the same on SQLite and PostgreSQL (both migration sets call it): an evaluation's part is a
/// split part ("train", "val", "test", the names <c>SplitParts.Name</c> maps) or none. Older databases stored "folder" for a folder or
/// zip evaluation; <see cref="Up"/> makes that (and any word that is not a part) NULL, after <c>TypedSplitParts</c> made the column
/// nullable (in <c>TypedSplitPartsData</c>, a migration of its own: SQLite rebuilds the table at the end of a migration), and
/// <see cref="Down"/> puts "folder" back, before the column is made NOT NULL again. Split members keep their words: no change.
/// </summary>
internal static class TypedSplitPartsSql
{
    private const string Table = "\"run_evaluations\"";

    /// <summary>The word printed (and stored by older databases) for an evaluation with no part.</summary>
    public const string Folder = "folder";

    public static string Up() => $"UPDATE {Table} SET \"Part\" = NULL WHERE \"Part\" NOT IN ('train', 'val', 'test')";

    public static string Down() => $"UPDATE {Table} SET \"Part\" = '{Folder}' WHERE \"Part\" IS NULL";
}
