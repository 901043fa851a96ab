namespace WbcPortal.Storage.Migrations;

/// <summary>
/// The data of <c>TypedEvaluationSources</c>, the same on SQLite and PostgreSQL (both migration sets call it): the evaluation source
/// stored as one formatted string ("split NAME / PART", "folder PATH", "zip NAME", each maybe ending " (flips on)" or " (flips off)"),
/// renamed to SourceName, is taken apart into SourceKind, SourceName, SourcePart and SourceFlips; <see cref="Down"/> puts it back
/// together. The printed form is <c>EvaluationSource.ToString</c>'s; a text in none of these forms keeps its text with no kind.
/// </summary>
internal static class TypedEvaluationSourcesSql
{
    private const string Table = "\"run_evaluations\"";

    public static IEnumerable<string> Up()
    {
        foreach (var (suffix, flips) in new[] { (" (flips on)", "TRUE"), (" (flips off)", "FALSE") })
        {
            yield return $"UPDATE {Table} SET \"SourceFlips\" = {flips}, \"SourceName\" = substr(\"SourceName\", 1, length(\"SourceName\") - {suffix.Length}) " +
                         $"WHERE \"SourceName\" LIKE '%{suffix}'";
        }
        foreach (var part in new[] { "train", "val", "test" })
        {
            string suffix = $" / {part}";
            yield return $"UPDATE {Table} SET \"SourceKind\" = 'split', \"SourcePart\" = '{part}', " +
                         $"\"SourceName\" = substr(\"SourceName\", {"split ".Length + 1}, length(\"SourceName\") - {"split ".Length + suffix.Length}) " +
                         $"WHERE \"SourceKind\" IS NULL AND \"SourceName\" LIKE 'split %{suffix}' AND length(\"SourceName\") > {"split ".Length + suffix.Length}";
        }
        foreach (var kind in new[] { "folder", "zip" })
        {
            yield return $"UPDATE {Table} SET \"SourceKind\" = '{kind}', \"SourceName\" = substr(\"SourceName\", {kind.Length + 2}) " +
                         $"WHERE \"SourceKind\" IS NULL AND \"SourceName\" LIKE '{kind} %' AND length(\"SourceName\") > {kind.Length + 1}";
        }
    }

    public static string Down() =>
        $"UPDATE {Table} SET \"SourceName\" = " +
        "(CASE \"SourceKind\" WHEN 'split' THEN 'split ' || \"SourceName\" || ' / ' || \"SourcePart\" " +
        "WHEN 'folder' THEN 'folder ' || \"SourceName\" WHEN 'zip' THEN 'zip ' || \"SourceName\" ELSE \"SourceName\" END) || " +
        "(CASE WHEN \"SourceFlips\" = TRUE THEN ' (flips on)' WHEN \"SourceFlips\" = FALSE THEN ' (flips off)' ELSE '' END) " +
        "WHERE \"SourceName\" IS NOT NULL";
}
