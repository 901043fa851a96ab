using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Options;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Accounts;

public sealed record TokenSummary(int Id, string User, string Name, string Prefix, PortalRole Role, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt,
    DateTimeOffset? RevokedAt, DateTimeOffset? LastUsedAt)
{
    public bool Active(DateTimeOffset now) => RevokedAt is null && ExpiresAt > now;
}

/// <summary>A token just made: <see cref="Token"/> is shown once; only its hash is kept.</summary>
public sealed record NewToken(string Token, TokenSummary Summary);

/// <summary>
/// API tokens for lab systems and scripts (<c>Authorization: Bearer wbc_…</c>): made and revoked by their user (or an
/// Admin), with a role at most the user's and an expiry; only a SHA-256 of each is stored.
/// </summary>
public sealed class ApiTokens(IDbContextFactory<WbcDbContext> contexts, IServiceScopeFactory scopes, AccessControl access, AuditLog audit, UserAccounts accounts,
    AccountOptions options, StorageOptions storage, TimeProvider clock, DatabaseChanges changes, ILogger<ApiTokens> logger)
{
    public const string Scheme = "Bearer";
    private const string Marker = "wbc_";

    /// <summary>How often a token's last use is written (a use within this of the last written one is not).</summary>
    private static readonly TimeSpan LastUsedPrecision = TimeSpan.FromMinutes(1);

    /// <summary>A token found valid: what its next use needs without the database, while the database is unchanged.</summary>
    private sealed record Validated(string Name, string UserName, PortalRole Role, DateTimeOffset ExpiresAt, DateTimeOffset? LastUsedAt);

    /// <summary>Tokens found valid at one version of the database; a new version starts an empty set.</summary>
    private sealed record ValidatedAt(long Version, System.Collections.Concurrent.ConcurrentDictionary<string, Validated> Tokens);

    private ValidatedAt? validated;

    /// <summary>Makes a token for <paramref name="userName"/>: one's own, or anyone's for an Admin.</summary>
    public async Task<NewToken> CreateAsync(string userName, string name, PortalRole? role = null, int? expiresDays = null, CancellationToken cancellationToken = default)
    {
        var actor = access.Current;
        if (actor.Kind == ActorKind.Anonymous) throw new AccessDeniedException(actor, PortalAction.ManageUsers);
        if (!string.Equals(actor.UserName, userName, StringComparison.Ordinal)) access.Demand(PortalAction.ManageUsers);
        if (actor.Kind == ActorKind.Token) throw new InvalidOperationException("A token cannot make tokens; sign in to the portal.");
        name = (name ?? "").Trim();
        if (name.Length is 0 or > 100) throw new InvalidOperationException("Name the token (1-100 characters), e.g. the system that will use it.");
        int days = expiresDays ?? options.TokenDefaultDays;
        if (days < 1 || days > options.TokenMaxDays) throw new InvalidOperationException($"A token lasts 1 to {options.TokenMaxDays} days (Accounts:TokenMaxDays).");
        using var scope = scopes.CreateScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
        var user = await users.FindByNameAsync(userName) ?? throw new InvalidOperationException($"No user '{userName}'.");
        var userRole = UserAccounts.HighestRole(await users.GetRolesAsync(user));
        var tokenRole = role ?? userRole;
        if (tokenRole > userRole) throw new InvalidOperationException($"A token's role is at most its user's: '{userName}' is {userRole}.");
        string secret = Marker + Base64Url(RandomNumberGenerator.GetBytes(32));
        var now = clock.GetUtcNow();
        var token = new ApiToken
        {
            UserId = user.Id, Name = name, Prefix = secret.Substring(Marker.Length, 8), Hash = Hash(secret), Role = tokenRole.ToString(),
            CreatedAt = now, ExpiresAt = now.AddDays(days),
        };
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            db.ApiTokens.Add(token);
            await db.SaveChangesAsync(cancellationToken);
        }
        await audit.RecordAsync(AuditAction.TokenCreated, $"token {token.Id} '{name}' of '{userName}'", $"role {tokenRole}, expires {token.ExpiresAt:yyyy-MM-dd}", cancellationToken: cancellationToken);
        return new NewToken(secret, Summarise(token, userName));
    }

    /// <summary>Revokes a token: one's own, or anyone's for an Admin.</summary>
    public async Task RevokeAsync(int id, CancellationToken cancellationToken = default)
    {
        var actor = access.Current;
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var token = await db.ApiTokens.FirstOrDefaultAsync(t => t.Id == id, cancellationToken) ?? throw new InvalidOperationException($"No token {id}.");
        var owner = await db.Users.Where(u => u.Id == token.UserId).Select(u => u.UserName).FirstAsync(cancellationToken);
        if (actor.Kind != ActorKind.User || !string.Equals(actor.UserName, owner, StringComparison.Ordinal)) access.Demand(PortalAction.ManageUsers);
        if (token.RevokedAt is not null) return;
        token.RevokedAt = clock.GetUtcNow();
        await db.SaveChangesAsync(cancellationToken);
        await audit.RecordAsync(AuditAction.TokenRevoked, $"token {id} '{token.Name}' of '{owner}'", cancellationToken: cancellationToken);
    }

    /// <summary>One user's tokens (one's own, or anyone's for an Admin); all users' for an Admin when <paramref name="userName"/> is null.</summary>
    public async Task<IReadOnlyList<TokenSummary>> ListAsync(string? userName, CancellationToken cancellationToken = default)
    {
        var actor = access.Current;
        if (userName is null || !string.Equals(actor.UserName, userName, StringComparison.Ordinal)) access.Demand(PortalAction.ManageUsers);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rows = await (from t in db.ApiTokens
                          join u in db.Users on t.UserId equals u.Id
                          where userName == null || u.UserName == userName
                          orderby t.CreatedAt descending
                          select new { Token = t, u.UserName }).AsNoTracking().ToListAsync(cancellationToken);
        return rows.Select(r => Summarise(r.Token, r.UserName!)).ToList();
    }

    /// <summary>
    /// The actor a presented token stands for, or null: unknown, revoked or expired, or its user is gone or locked out.
    /// Its role is the lower of the token's and its user's role now.
    /// </summary>
    /// <remarks>
    /// A token found valid is remembered (by its hash) until the database next changes (<see cref="DatabaseChanges"/>): a
    /// revocation, a locked or deleted user, a changed role, committed by this process or another, takes effect at the
    /// next request. Its expiry is checked at every use, and its last use is still written at most once a minute.
    /// </remarks>
    public async Task<Actor?> AuthenticateAsync(string presented, string? remoteAddress, CancellationToken cancellationToken = default)
    {
        if (!presented.StartsWith(Marker, StringComparison.Ordinal) || presented.Length > 100) return null;
        string hash = Hash(presented);
        // The version is read before the database: a change committed in between makes the next use read it again.
        long? version = changes.Version();
        var now = clock.GetUtcNow();
        if (version is { } current && Volatile.Read(ref validated) is { } set && set.Version == current && set.Tokens.TryGetValue(hash, out var known)
            && known.ExpiresAt > now && (storage.ReadOnly || known.LastUsedAt is { } used && now - used <= LastUsedPrecision))
        {
            return new Actor(ActorKind.Token, $"{known.UserName} (token '{known.Name}')", known.Role, known.UserName, remoteAddress);
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var token = await db.ApiTokens.FirstOrDefaultAsync(t => t.Hash == hash, cancellationToken);
        if (token is null || token.RevokedAt is not null || token.ExpiresAt <= now) return null;
        if (await accounts.ActiveUserAsync(token.UserId, cancellationToken) is not { } user) return null;
        var role = PortalAccess.TryParseRole(token.Role, out var tr) && tr < user.Role ? tr : user.Role;
        // When it was last used, at most once a minute: best effort (a read-only portal writes nothing, a busy database skips it).
        if (!storage.ReadOnly && (token.LastUsedAt is null || now - token.LastUsedAt > LastUsedPrecision))
        {
            token.LastUsedAt = now;
            try
            {
                await db.SaveChangesAsync(cancellationToken);
            }
            catch (Exception ex) when (ex is DbUpdateException or System.Data.Common.DbException)
            {
                logger.LogWarning("Could not record when token {Id} was last used: {Reason}", token.Id, WbcPortal.Services.UserFacingError.Describe(ex));
            }
            // The write moved the version (or failed): the next use reads the token again, and is remembered then.
            version = null;
        }
        if (version is { } read) Remember(read, hash, new Validated(token.Name, user.Name, role, token.ExpiresAt, token.LastUsedAt));
        return new Actor(ActorKind.Token, $"{user.Name} (token '{token.Name}')", role, user.Name, remoteAddress);
    }

    private void Remember(long version, string hash, Validated token)
    {
        var set = Volatile.Read(ref validated);
        if (set is null || set.Version < version)
        {
            var fresh = new ValidatedAt(version, new(StringComparer.Ordinal));
            set = Interlocked.CompareExchange(ref validated, fresh, set) == set ? fresh : Volatile.Read(ref validated);
        }
        if (set?.Version == version) set.Tokens[hash] = token;
    }

    public static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static TokenSummary Summarise(ApiToken t, string user) =>
        new(t.Id, user, t.Name, t.Prefix, PortalAccess.TryParseRole(t.Role, out var r) ? r : PortalRole.Viewer, t.CreatedAt, t.ExpiresAt, t.RevokedAt, t.LastUsedAt);
}
