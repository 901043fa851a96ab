using Microsoft.AspNetCore.Identity;

namespace WbcPortal.Storage.Entities;

/// <summary>A person who signs in to the portal (ASP.NET Core Identity); their one role is an Identity role.</summary>
public sealed class PortalUser : IdentityUser
{
    public DateTimeOffset CreatedAt { get; set; }
    /// <summary>Set when an Admin created or reset the password: the user is asked to choose their own at next sign-in.</summary>
    public bool MustChangePassword { get; set; }
}

/// <summary>
/// An API token for a lab system or a script: only the SHA-256 of the secret is stored; shown once when created.
/// Its role is at most its user's; it stops working when revoked, expired, or its user is locked out or deleted.
/// </summary>
public sealed class ApiToken
{
    public int Id { get; set; }
    public required string UserId { get; set; }
    public required string Name { get; set; }
    /// <summary>The first characters of the token (after "wbc_"), to tell tokens apart on the page; not enough to use it.</summary>
    public required string Prefix { get; set; }
    /// <summary>Hex SHA-256 of the whole token.</summary>
    public required string Hash { get; set; }
    public required string Role { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
    public DateTimeOffset? RevokedAt { get; set; }
    public DateTimeOffset? LastUsedAt { get; set; }
}

/// <summary>One thing someone did (or tried): append-only, the code has no path that updates or deletes a row.</summary>
public sealed class AuditEntry
{
    public long Id { get; set; }
    public DateTimeOffset At { get; set; }
    /// <summary>User name, "token:NAME (USER)", "operator (CLI, unix user)" or "system".</summary>
    public required string Actor { get; set; }
    public required string Action { get; set; }
    /// <summary>What it was done to: "dataset 3 'kaggle'", "user 'ana'", ...</summary>
    public string? Target { get; set; }
    public string? Detail { get; set; }
    public bool Succeeded { get; set; }
    public string? RemoteAddress { get; set; }
}
