using System.Globalization;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Options;
using WbcPortal.Services.Accounts;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Training;

/// <summary>
/// A run's name and notes: the labels people give it. A run is tied to its job, lease, checkpoints, model file and
/// cross-validation by its id, so both change in any status (<see cref="RunLifecycle"/>'s Rename and EditNotes); the
/// registered model keeps the name it was registered under.
/// </summary>
public sealed class RunEdits(IDbContextFactory<WbcDbContext> contexts, StorageOptions storage, RunChanges changes, AccessControl access, AuditLog audit)
{
    /// <summary>The longest run name (the column's length).</summary>
    public const int MaxNameLength = 200;

    /// <summary>The longest notes (the column's length).</summary>
    public const int MaxNotesLength = 4000;

    /// <summary>
    /// Null when <paramref name="name"/> is a valid run name on its own, otherwise why not (one line). Uniqueness needs the
    /// database: <see cref="RenameAsync"/> checks it.
    /// </summary>
    public static string? NameProblem(string? name)
    {
        string trimmed = name?.Trim() ?? "";
        if (trimmed.Length == 0) return "A run needs a name.";
        if (trimmed.Length > MaxNameLength) return $"A run name has at most {MaxNameLength} characters ({trimmed.Length} given).";
        if (trimmed.Any(char.IsControl)) return "A run name cannot hold control characters (line breaks, tabs).";
        // The CLI and the API take a run's id or its name: a name of digits alone would read as another run's id.
        if (trimmed.All(char.IsAsciiDigit)) return "A run name cannot be digits alone: it would read as a run's id.";
        return null;
    }

    /// <summary>Renames run <paramref name="runId"/>; refuses a name another run (or a cross-validation, which <c>resume</c> looks up first) has, in any case.</summary>
    [Demands(PortalAction.EditRuns)]
    public async Task<string> RenameAsync(int runId, string name, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.EditRuns);
        RefuseReadOnly();
        if (NameProblem(name) is { } problem) throw new ArgumentException(problem);
        string newName = name.Trim();
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var run = await db.Runs.SingleOrDefaultAsync(r => r.Id == runId, cancellationToken) ?? throw new ArgumentException($"No run {runId}.");
        if (RunLifecycle.Refusal(run.Status, RunAction.Rename, run.Name) is { } refusal) throw new InvalidOperationException(refusal);
        if (run.Name == newName) return newName;
        string lower = newName.ToLowerInvariant();
        // ToLower is translated by SQLite for ASCII, which is what names that only differ by case usually differ by.
        if (await db.Runs.Where(r => r.Id != runId && r.Name.ToLower() == lower).Select(r => r.Name).FirstOrDefaultAsync(cancellationToken) is { } taken)
        {
            throw new ArgumentException(taken == newName ? $"A run named '{taken}' exists already." : $"Run '{taken}' exists already; a name that differs only by case would be confused with it.");
        }
        if (await db.CrossValidations.Where(c => c.Name.ToLower() == lower).Select(c => c.Name).FirstOrDefaultAsync(cancellationToken) is { } cv)
        {
            throw new ArgumentException($"Cross-validation '{cv}' has that name: `resume {cv}` would resume it, not the run. Choose another name.");
        }
        string oldName = run.Name;
        run.Name = newName;
        await db.SaveChangesAsync(cancellationToken);
        await audit.RecordAsync(AuditAction.RunRenamed, $"run {runId} '{oldName}'", $"renamed '{newName}'", cancellationToken: CancellationToken.None);
        changes.Notify(runId);
        return newName;
    }

    /// <summary>Sets run <paramref name="runId"/>'s notes (trimmed); empty clears them.</summary>
    [Demands(PortalAction.EditRuns)]
    public async Task SetNotesAsync(int runId, string? notes, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.EditRuns);
        RefuseReadOnly();
        string? text = string.IsNullOrWhiteSpace(notes) ? null : notes.Trim().ReplaceLineEndings("\n");
        if (text?.Length > MaxNotesLength) throw new ArgumentException($"Notes have at most {MaxNotesLength.ToString("N0", CultureInfo.InvariantCulture)} characters ({text.Length.ToString("N0", CultureInfo.InvariantCulture)} given).");
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var run = await db.Runs.SingleOrDefaultAsync(r => r.Id == runId, cancellationToken) ?? throw new ArgumentException($"No run {runId}.");
        if (RunLifecycle.Refusal(run.Status, RunAction.EditNotes, run.Name) is { } refusal) throw new InvalidOperationException(refusal);
        if (run.Notes == text) return;
        run.Notes = text;
        await db.SaveChangesAsync(cancellationToken);
        await audit.RecordAsync(AuditAction.RunNotesChanged, $"run {runId} '{run.Name}'", text is null ? "notes cleared" : $"notes: {text}", cancellationToken: CancellationToken.None);
        changes.Notify(runId);
    }

    private void RefuseReadOnly()
    {
        if (storage.ReadOnly) throw new InvalidOperationException("This portal is read-only: runs are renamed and annotated on the portal that holds the data folder.");
    }
}
