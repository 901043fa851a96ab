using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using WbcPortal.Security;
using WbcPortal.Services.Accounts;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Endpoints;

/// <summary>Sign-in and sign-out (form posts with antiforgery, from the sign-in page and the header), and the audit's CSV.</summary>
public static class AccountEndpoints
{
    public static void MapAccountEndpoints(this WebApplication app)
    {
        app.MapPost(PortalAuthentication.SignInPath, SignInAsync).AllowAnonymous().ExcludeFromDescription()
            .RequireRateLimiting(SurfaceHardening.SignInRateLimit)
            .WithMetadata(new RequestSizeLimitAttribute(64 * 1024));
        app.MapPost("/account/signout", SignOutAsync).ExcludeFromDescription();
        app.MapGet("/audit.csv", AuditCsvAsync).RequireAuthorization(PortalAuthentication.AdminPolicy).ExcludeFromDescription();
    }

    private static async Task<IResult> SignInAsync([FromForm] string? userName, [FromForm] string? password, [FromForm] string? returnUrl,
        SignInManager<PortalUser> signIn, AuditLog audit, HttpContext context)
    {
        string name = (userName ?? "").Trim();
        string back = LocalOrHome(returnUrl);
        string remote = context.Connection.RemoteIpAddress?.ToString() ?? "";
        var who = new Actor(ActorKind.Anonymous, name.Length is > 0 and <= 64 ? name : "(no name)", null, null, remote);
        if (name.Length is 0 or > 64 || string.IsNullOrEmpty(password) || password.Length > 512)
        {
            return Results.Redirect($"{PortalAuthentication.SignInPath}?error=missing&returnUrl={Uri.EscapeDataString(back)}");
        }
        var result = await signIn.PasswordSignInAsync(name, password, isPersistent: false, lockoutOnFailure: true);
        if (result.Succeeded)
        {
            await audit.RecordAsync(who with { Kind = ActorKind.User, UserName = name }, AuditAction.SignIn, $"user '{name}'", null);
            var user = await signIn.UserManager.FindByNameAsync(name);
            return Results.Redirect(user is { MustChangePassword: true } ? "/account?change=1" : back);
        }
        string reason = result.IsLockedOut ? "locked" : "wrong";
        await audit.RecordAsync(who, AuditAction.SignInFailed, $"user '{name}'", result.IsLockedOut ? "locked out" : "wrong name or password", succeeded: false);
        return Results.Redirect($"{PortalAuthentication.SignInPath}?error={reason}&returnUrl={Uri.EscapeDataString(back)}");
    }

    private static async Task<IResult> SignOutAsync(SignInManager<PortalUser> signIn, AuditLog audit, HttpContext context)
    {
        if (context.User.Identity?.Name is { } name) await audit.RecordAsync(AuditAction.SignOut, $"user '{name}'");
        await signIn.SignOutAsync();
        return Results.Redirect(PortalAuthentication.SignInPath);
    }

    private static async Task<IResult> AuditCsvAsync(AuditLog audit, AccessControl access, string? actor, string? action, DateTimeOffset? from, DateTimeOffset? to, string? text,
        CancellationToken cancellationToken)
    {
        access.Demand(PortalAction.ReadAudit);
        var filter = new AuditFilter(actor, Enum.TryParse<AuditAction>(action, out var a) ? a : null, from, to, text);
        string csv = await audit.CsvAsync(filter, cancellationToken);
        return Results.File(System.Text.Encoding.UTF8.GetBytes(csv), "text/csv; charset=utf-8", $"audit-{DateTime.UtcNow:yyyyMMdd-HHmm}.csv");
    }

    /// <summary>Only a path on this portal: an absolute or protocol-relative URL would send the user elsewhere.</summary>
    public static string LocalOrHome(string? url) =>
        !string.IsNullOrEmpty(url) && url.StartsWith('/') && !url.StartsWith("//") && !url.StartsWith("/\\") && url.Length < 2000 ? url : "/";
}
