using System.Globalization;
using System.Text;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Accounts;

/// <summary>What the audit records; stored by name.</summary>
public enum AuditAction
{
    SignIn, SignInFailed, SignOut, PasswordChanged,
    UserAdded, UserRoleChanged, UserPasswordReset, UserLocked, UserUnlocked, UserDeleted,
    TokenCreated, TokenRevoked,
    Import, DatasetDeleted, GroupsFound, SplitCreated, DatasetVersionCreated, DatasetFromSmears,
    RunStarted, RunStopped, RunResumed, RunDeleted, RunRenamed, RunNotesChanged, CrossValidationStarted, CrossValidationStopped, CrossValidationResumed,
    Evaluated, Calibrated, LabelIssueSearch,
    ReviewDecided, ReviewUndone, SmearCorrected, SmearCorrectionUndone,
    ModelImported, ModelActivated, ModelMadeFromCrossValidation,
    StorageDeleted, Backup, Restore,
}

public sealed record AuditFilter(string? Actor = null, AuditAction? Action = null, DateTimeOffset? From = null, DateTimeOffset? To = null, string? Text = null,
    int Skip = 0, int Take = 100);

public sealed record AuditResults(IReadOnlyList<AuditEntry> Entries, int Total);

/// <summary>
/// The audit: who did what, when, to what. Append-only: this class only adds rows and reads them (the database refuses
/// any update or delete with triggers, and a test checks no code path writes them otherwise).
/// </summary>
public sealed class AuditLog(IDbContextFactory<WbcDbContext> contexts, ActorContext actors, TimeProvider clock, Options.StorageOptions storage, ILogger<AuditLog> logger)
{
    public const int MaxCsvRows = 100_000;

    /// <summary>Records what the current actor did. A failure to record is logged, never thrown at the one who acted.</summary>
    public Task RecordAsync(AuditAction action, string? target = null, string? detail = null, bool succeeded = true, CancellationToken cancellationToken = default) =>
        RecordAsync(actors.Current, action, target, detail, succeeded, cancellationToken);

    public async Task RecordAsync(Actor actor, AuditAction action, string? target, string? detail, bool succeeded = true, CancellationToken cancellationToken = default)
    {
        if (storage.ReadOnly)
        {
            // A read-only portal writes nothing (a sign-in on it, say): the log keeps what the audit cannot.
            logger.LogWarning("Not recorded in the audit (this portal is read-only): {Action} by {Actor} on {Target}{Failed}", action, actor.Name, target, succeeded ? "" : " (failed)");
            return;
        }
        try
        {
            await using var db = await contexts.CreateDbContextAsync(cancellationToken);
            db.AuditEntries.Add(new AuditEntry
            {
                At = clock.GetUtcNow(),
                Actor = Clip(actor.Name, 300)!,
                Action = action.ToString(),
                Target = Clip(target, 500),
                Detail = Clip(detail, 2000),
                Succeeded = succeeded,
                RemoteAddress = Clip(actor.RemoteAddress, 64),
            });
            await db.SaveChangesAsync(CancellationToken.None);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogError(ex, "Could not record {Action} by {Actor} on {Target} in the audit", action, actor.Name, target);
        }
    }

    /// <summary>Entries matching the filter, newest first (the audit page and its CSV read the same query).</summary>
    public async Task<AuditResults> QueryAsync(AuditFilter filter, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var query = Filtered(db, filter);
        int total = await query.CountAsync(cancellationToken);
        var entries = await query.OrderByDescending(e => e.At).ThenByDescending(e => e.Id)
            .Skip(Math.Max(0, filter.Skip)).Take(Math.Clamp(filter.Take, 1, MaxCsvRows)).AsNoTracking().ToListAsync(cancellationToken);
        return new AuditResults(entries, total);
    }

    public async Task<IReadOnlyList<string>> ActorsAsync(CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.AuditEntries.Select(e => e.Actor).Distinct().OrderBy(a => a).ToListAsync(cancellationToken);
    }

    /// <summary>The filtered entries as CSV (at most <see cref="MaxCsvRows"/>), cells that could start a spreadsheet formula quoted.</summary>
    public async Task<string> CsvAsync(AuditFilter filter, CancellationToken cancellationToken = default)
    {
        var page = await QueryAsync(filter with { Skip = 0, Take = MaxCsvRows }, cancellationToken);
        var csv = new StringBuilder("id,at_utc,actor,action,target,detail,succeeded,remote_address\n");
        foreach (var e in page.Entries)
        {
            csv.AppendJoin(',', e.Id.ToString(CultureInfo.InvariantCulture), e.At.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                Cell(e.Actor), Cell(e.Action), Cell(e.Target), Cell(e.Detail), e.Succeeded ? "true" : "false", Cell(e.RemoteAddress)).Append('\n');
        }
        return csv.ToString();
    }

    private static IQueryable<AuditEntry> Filtered(WbcDbContext db, AuditFilter filter)
    {
        var query = db.AuditEntries.AsQueryable();
        if (!string.IsNullOrWhiteSpace(filter.Actor)) query = query.Where(e => e.Actor == filter.Actor);
        if (filter.Action is { } action) query = query.Where(e => e.Action == action.ToString());
        if (filter.From is { } from) query = query.Where(e => e.At >= from);
        if (filter.To is { } to) query = query.Where(e => e.At < to);
        if (!string.IsNullOrWhiteSpace(filter.Text))
        {
            string text = filter.Text.Trim();
            query = query.Where(e => (e.Target != null && EF.Functions.Like(e.Target, $"%{text}%")) || (e.Detail != null && EF.Functions.Like(e.Detail, $"%{text}%")));
        }
        return query;
    }

    private static string? Clip(string? text, int max)
    {
        if (text is null) return null;
        // Control characters would reach a terminal or a spreadsheet raw.
        var clean = new string(text.Select(c => char.IsControl(c) ? ' ' : c).ToArray());
        return clean.Length <= max ? clean : clean[..(max - 1)] + "…";
    }

    private static string Cell(string? value)
    {
        if (string.IsNullOrEmpty(value)) return "";
        string v = value;
        if (v[0] is '=' or '+' or '-' or '@' or '\t' or '\r') v = "'" + v;
        return v.IndexOfAny([',', '"', '\n', '\r']) >= 0 || v != value ? "\"" + v.Replace("\"", "\"\"") + "\"" : v;
    }
}
