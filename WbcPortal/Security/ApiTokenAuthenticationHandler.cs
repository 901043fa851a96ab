using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using WbcPortal.Services.Accounts;

namespace WbcPortal.Security;

/// <summary><c>Authorization: Bearer wbc_…</c>: an API token (<see cref="ApiTokens"/>) signs the request in as its user, with the token's role.</summary>
public sealed class ApiTokenAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, ApiTokens tokens)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string TokenClaim = "wbc:token";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? header = Request.Headers.Authorization;
        if (header is null || !header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return AuthenticateResult.NoResult();
        string presented = header["Bearer ".Length..].Trim();
        var actor = await tokens.AuthenticateAsync(presented, Context.Connection.RemoteIpAddress?.ToString(), Context.RequestAborted);
        if (actor is null) return AuthenticateResult.Fail("The API token is unknown, revoked or expired.");
        var identity = new ClaimsIdentity(
        [
            new Claim(ClaimTypes.Name, actor.UserName!),
            new Claim(ClaimTypes.Role, actor.Role!.Value.ToString()),
            new Claim(TokenClaim, actor.Name),
        ], Scheme.Name);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Scheme.Name));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = "Bearer";
        return PortalAuthentication.WriteProblemAsync(Response, StatusCodes.Status401Unauthorized);
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        PortalAuthentication.WriteProblemAsync(Response, StatusCodes.Status403Forbidden);
}
