using System.Security.Cryptography;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Options;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Services.Accounts;

public sealed record UserSummary(string Id, string Name, PortalRole Role, DateTimeOffset CreatedAt, bool LockedOut, DateTimeOffset? LockedUntil,
    bool MustChangePassword, int ActiveTokens);

/// <summary>A user just made, or a password just reset: <see cref="OneTimePassword"/> is shown once and never stored in clear.</summary>
public sealed record NewPassword(string User, PortalRole Role, string? OneTimePassword);

/// <summary>
/// The portal's users (ASP.NET Core Identity in the portal's database): each has one role. Admins add, change, lock,
/// reset and remove users; everyone changes their own password. The last Admin can be neither demoted, locked nor removed.
/// </summary>
public sealed class UserAccounts(IServiceScopeFactory scopes, IDbContextFactory<WbcDbContext> contexts, AccessControl access, AuditLog audit,
    AccountOptions options, TimeProvider clock, ILogger<UserAccounts> logger)
{
    private const string PasswordAlphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

    public async Task<IReadOnlyList<UserSummary>> ListAsync(CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.ManageUsers);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var users = await db.Users.AsNoTracking().OrderBy(u => u.UserName).ToListAsync(cancellationToken);
        var roles = await RolesByUserAsync(db, cancellationToken);
        var now = clock.GetUtcNow();
        var tokens = await db.ApiTokens.Where(t => t.RevokedAt == null).Select(t => new { t.UserId, t.ExpiresAt }).ToListAsync(cancellationToken);
        return users.Select(u => new UserSummary(u.Id, u.UserName!, roles.GetValueOrDefault(u.Id, PortalRole.Viewer), u.CreatedAt,
            u.LockoutEnd is { } end && end > now, u.LockoutEnd is { } e && e > now ? e : null, u.MustChangePassword,
            tokens.Count(t => t.UserId == u.Id && t.ExpiresAt > now))).ToList();
    }

    [Demands(PortalAction.ManageUsers)]
    public async Task<NewPassword> AddAsync(string name, PortalRole role, string? password = null, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.ManageUsers);
        name = CheckName(name);
        using var scope = scopes.CreateScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
        await EnsureRolesAsync(scope.ServiceProvider);
        if (await users.FindByNameAsync(name) is not null) throw new InvalidOperationException($"A user '{name}' exists already.");
        bool generated = string.IsNullOrEmpty(password);
        string secret = generated ? Generate() : password!;
        var user = new PortalUser { UserName = name, CreatedAt = clock.GetUtcNow(), MustChangePassword = generated, LockoutEnabled = true };
        Check(await users.CreateAsync(user, secret), $"user '{name}'");
        Check(await users.AddToRoleAsync(user, role.ToString()), $"user '{name}'");
        await audit.RecordAsync(AuditAction.UserAdded, $"user '{name}'", $"role {role}", cancellationToken: cancellationToken);
        return new NewPassword(name, role, generated ? secret : null);
    }

    [Demands(PortalAction.ManageUsers)]
    public async Task SetRoleAsync(string name, PortalRole role, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.ManageUsers);
        using var scope = scopes.CreateScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
        var user = await FindAsync(users, name);
        var old = await RoleAsync(users, user);
        if (old == role) return;
        if (old == PortalRole.Admin) await RefuseLastAdminAsync(users, user, "demoted");
        Check(await users.RemoveFromRolesAsync(user, await users.GetRolesAsync(user)), $"user '{name}'");
        Check(await users.AddToRoleAsync(user, role.ToString()), $"user '{name}'");
        // A role change signs the user out of other sessions (their cookie carries the old role).
        await users.UpdateSecurityStampAsync(user);
        await audit.RecordAsync(AuditAction.UserRoleChanged, $"user '{name}'", $"{old} → {role}", cancellationToken: cancellationToken);
    }

    [Demands(PortalAction.ManageUsers)]
    public async Task<NewPassword> ResetPasswordAsync(string name, CancellationToken cancellationToken = default)
    {
        access.Demand(PortalAction.ManageUsers);
        using var scope = scopes.CreateScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
        var user = await FindAsync(users, name);
        string secret = Generate();
        await users.RemovePasswordAsync(user);
        Check(await users.AddPasswordAsync(user, secret), $"user '{name}'");
        user.MustChangePassword = true;
        await users.UpdateAsync(user);
        await users.SetLockoutEndDateAsync(user, null);
        await users.ResetAccessFailedCountAsync(user);
        await users.UpdateSecurityStampAsync(user);
        await audit.RecordAsync(AuditAction.UserPasswordReset, $"user '{name}'", cancellationToken: cancellationToken);
        return new NewPassword(name, await RoleAsync(users, user), secret);
    }

    [Demands(PortalAction.ManageUsers)]
    public async Task SetLockedAsync(string name, bool locked, CancellationToken cancellationToken = default)
    {
        var actor = access.Demand(PortalAction.ManageUsers);
        using var scope = scopes.CreateScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
        var user = await FindAsync(users, name);
        if (locked)
        {
            if (string.Equals(actor.UserName, user.UserName, StringComparison.Ordinal)) throw new InvalidOperationException("You cannot lock yourself out.");
            if (await RoleAsync(users, user) == PortalRole.Admin) await RefuseLastAdminAsync(users, user, "locked");
            await users.SetLockoutEndDateAsync(user, DateTimeOffset.MaxValue);
            await users.UpdateSecurityStampAsync(user);
        }
        else
        {
            await users.SetLockoutEndDateAsync(user, null);
            await users.ResetAccessFailedCountAsync(user);
        }
        await audit.RecordAsync(locked ? AuditAction.UserLocked : AuditAction.UserUnlocked, $"user '{name}'", cancellationToken: cancellationToken);
    }

    [Demands(PortalAction.ManageUsers)]
    public async Task DeleteAsync(string name, CancellationToken cancellationToken = default)
    {
        var actor = access.Demand(PortalAction.ManageUsers);
        using var scope = scopes.CreateScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
        var user = await FindAsync(users, name);
        if (string.Equals(actor.UserName, user.UserName, StringComparison.Ordinal)) throw new InvalidOperationException("You cannot remove yourself; another Admin can.");
        if (await RoleAsync(users, user) == PortalRole.Admin) await RefuseLastAdminAsync(users, user, "removed");
        Check(await users.DeleteAsync(user), $"user '{name}'");
        await audit.RecordAsync(AuditAction.UserDeleted, $"user '{name}'", "their tokens with them; their past actions stay in the audit", cancellationToken: cancellationToken);
    }

    /// <summary>The signed-in user changes their own password (the current one is asked for).</summary>
    public async Task ChangeOwnPasswordAsync(string currentPassword, string newPassword, CancellationToken cancellationToken = default)
    {
        var actor = access.Current;
        if (actor.Kind != ActorKind.User || actor.UserName is null) throw new InvalidOperationException("Sign in to change your password.");
        using var scope = scopes.CreateScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
        var user = await FindAsync(users, actor.UserName);
        if (string.Equals(currentPassword, newPassword, StringComparison.Ordinal)) throw new InvalidOperationException("Choose a password different from the current one.");
        var result = await users.ChangePasswordAsync(user, currentPassword, newPassword);
        if (!result.Succeeded && result.Errors.Any(e => e.Code == "PasswordMismatch")) throw new InvalidOperationException("The current password is not right.");
        Check(result, "the new password");
        user.MustChangePassword = false;
        await users.UpdateAsync(user);
        await audit.RecordAsync(AuditAction.PasswordChanged, $"user '{actor.UserName}'", cancellationToken: cancellationToken);
    }

    /// <summary>
    /// At start: the roles exist, and when there is no user at all, the first Admin is made from configuration, or with a
    /// one-time password written to <paramref name="console"/> once (never to the log).
    /// </summary>
    public async Task EnsureInitialAdminAsync(TextWriter console, CancellationToken cancellationToken = default)
    {
        using var scope = scopes.CreateScope();
        await EnsureRolesAsync(scope.ServiceProvider);
        var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
        if (await users.Users.AnyAsync(cancellationToken)) return;
        bool generated = string.IsNullOrEmpty(options.InitialAdminPassword);
        string secret = generated ? Generate() : options.InitialAdminPassword!;
        var user = new PortalUser { UserName = options.InitialAdmin, CreatedAt = clock.GetUtcNow(), MustChangePassword = generated, LockoutEnabled = true };
        Check(await users.CreateAsync(user, secret), $"the first Admin '{options.InitialAdmin}' (Accounts:InitialAdminPassword)");
        Check(await users.AddToRoleAsync(user, nameof(PortalRole.Admin)), "the first Admin");
        await audit.RecordAsync(Actor.System, AuditAction.UserAdded, $"user '{options.InitialAdmin}'", "first Admin, at first start", cancellationToken: cancellationToken);
        logger.LogWarning("No user existed: the first Admin '{Name}' was created ({How})", options.InitialAdmin,
            generated ? "its one-time password is printed on the console once" : "password from Accounts:InitialAdminPassword");
        if (generated)
        {
            console.WriteLine($"WbcPortal: first Admin '{options.InitialAdmin}' created; one-time password: {secret}");
            console.WriteLine("WbcPortal: sign in with it and choose your own; it is shown only this once (lost: WbcPortal user add NAME --role Admin).");
            console.Flush();
        }
    }

    /// <summary>The user's name and role now (from the database), or null when there is no such user or it is locked out.</summary>
    public async Task<(string Name, PortalRole Role)?> ActiveUserAsync(string userId, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var user = await db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.Id == userId, cancellationToken);
        if (user is null || user.LockoutEnd is { } end && end > clock.GetUtcNow()) return null;
        return (user.UserName!, (await RolesByUserAsync(db, cancellationToken, userId)).GetValueOrDefault(userId, PortalRole.Viewer));
    }

    /// <summary>The role a signed-in principal's claims carry (the one it signed in with; services read the database's).</summary>
    public static PortalRole RoleOf(System.Security.Claims.ClaimsPrincipal user) =>
        HighestRole(user.FindAll(System.Security.Claims.ClaimTypes.Role).Select(c => c.Value));

    public static PortalRole HighestRole(IEnumerable<string> roleNames) =>
        roleNames.Select(r => PortalAccess.TryParseRole(r, out var role) ? role : (PortalRole?)null).Where(r => r is not null).Select(r => r!.Value)
            .DefaultIfEmpty(PortalRole.Viewer).Max();

    private static async Task<Dictionary<string, PortalRole>> RolesByUserAsync(WbcDbContext db, CancellationToken cancellationToken, string? userId = null)
    {
        var pairs = await (from ur in db.UserRoles
                           join r in db.Roles on ur.RoleId equals r.Id
                           where userId == null || ur.UserId == userId
                           select new { ur.UserId, r.Name }).ToListAsync(cancellationToken);
        return pairs.GroupBy(p => p.UserId).ToDictionary(g => g.Key, g => HighestRole(g.Select(p => p.Name!)));
    }

    private static async Task EnsureRolesAsync(IServiceProvider services)
    {
        var roles = services.GetRequiredService<RoleManager<IdentityRole>>();
        foreach (var role in Enum.GetNames<PortalRole>())
        {
            if (!await roles.RoleExistsAsync(role)) await roles.CreateAsync(new IdentityRole(role));
        }
    }

    private static async Task<PortalUser> FindAsync(UserManager<PortalUser> users, string name) =>
        await users.FindByNameAsync(name?.Trim() ?? "") ?? throw new InvalidOperationException($"No user '{name}'.");

    private static async Task<PortalRole> RoleAsync(UserManager<PortalUser> users, PortalUser user) => HighestRole(await users.GetRolesAsync(user));

    private async Task RefuseLastAdminAsync(UserManager<PortalUser> users, PortalUser user, string what)
    {
        var now = clock.GetUtcNow();
        var admins = await users.GetUsersInRoleAsync(nameof(PortalRole.Admin));
        if (!admins.Any(a => a.Id != user.Id && !(a.LockoutEnd is { } end && end > now)))
        {
            throw new InvalidOperationException($"'{user.UserName}' is the last Admin who can sign in and cannot be {what}; make another Admin first.");
        }
    }

    public static string CheckName(string? name)
    {
        string n = name?.Trim() ?? "";
        if (!System.Text.RegularExpressions.Regex.IsMatch(n, @"^[A-Za-z0-9._@-]{1,64}$"))
            throw new InvalidOperationException("A user name is 1-64 letters, digits or . _ @ - (no spaces).");
        return n;
    }

    private static void Check(IdentityResult result, string what)
    {
        if (!result.Succeeded) throw new InvalidOperationException($"Could not save {what}: {string.Join(" ", result.Errors.Select(e => e.Description))}");
    }

    /// <summary>A 16-character one-time password (about 93 bits), without look-alike characters.</summary>
    public static string Generate() => RandomNumberGenerator.GetString(PasswordAlphabet, 16);
}
