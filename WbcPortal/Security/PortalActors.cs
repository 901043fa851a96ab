using System.Security.Claims;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.Server.Circuits;
using Microsoft.AspNetCore.Identity;
using WbcPortal.Services.Accounts;

namespace WbcPortal.Security;

/// <summary>
/// Turns a signed-in principal into the <see cref="Actor"/> the services check, with the role the database holds: read
/// again at most every <see cref="RoleFreshness"/> per user, so a page's thumbnails and a circuit's events do not each
/// query it, and a demoted or locked user still loses the right within seconds.
/// </summary>
public sealed class PortalActors(UserAccounts accounts, TimeProvider clock)
{
    public static readonly TimeSpan RoleFreshness = TimeSpan.FromSeconds(5);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (PortalRole? Role, DateTimeOffset ReadAt)> roles = new(StringComparer.Ordinal);

    private async Task<PortalRole?> ActiveRoleAsync(string userId, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        if (roles.TryGetValue(userId, out var known) && now - known.ReadAt < RoleFreshness) return known.Role;
        var role = (await accounts.ActiveUserAsync(userId, cancellationToken))?.Role;
        roles[userId] = (role, now);
        return role;
    }

    public async Task<Actor> FromPrincipalAsync(ClaimsPrincipal? user, string? remoteAddress, CancellationToken cancellationToken = default)
    {
        if (user?.Identity is not { IsAuthenticated: true } identity || identity.Name is null) return Actor.Anonymous with { RemoteAddress = remoteAddress };
        if (user.FindFirst(ApiTokenAuthenticationHandler.TokenClaim) is { } token)
        {
            // The token handler resolved the role from the database already.
            return new Actor(ActorKind.Token, token.Value, UserAccounts.RoleOf(user), identity.Name, remoteAddress);
        }
        // A cookie carries the role it was issued with: take the database's.
        string? userId = user.FindFirstValue(ClaimTypes.NameIdentifier);
        var role = userId is null ? null : await ActiveRoleAsync(userId, cancellationToken);
        return role is null ? Actor.Anonymous with { RemoteAddress = remoteAddress } : new Actor(ActorKind.User, identity.Name, role, identity.Name, remoteAddress);
    }
}

/// <summary>Each circuit's UI events and calls run as its signed-in user (<see cref="ActorContext"/>).</summary>
public sealed class ActorCircuitHandler(AuthenticationStateProvider authentication, PortalActors actors, ActorContext context, IHttpContextAccessor http)
    : CircuitHandler, IDisposable
{
    private ClaimsPrincipal? user;
    private string? remoteAddress;

    public override Task OnConnectionUpAsync(Circuit circuit, CancellationToken cancellationToken)
    {
        // The circuit's connection: where its user is (for the audit), read while the connection's request is at hand.
        remoteAddress = http.HttpContext?.Connection.RemoteIpAddress?.ToString() ?? remoteAddress;
        return Task.CompletedTask;
    }

    public override Task OnCircuitOpenedAsync(Circuit circuit, CancellationToken cancellationToken)
    {
        authentication.AuthenticationStateChanged += OnChanged;
        return Task.CompletedTask;
    }

    private void OnChanged(Task<AuthenticationState> state) => _ = Remember(state);

    private async Task Remember(Task<AuthenticationState> state) => user = (await state).User;

    public override Func<CircuitInboundActivityContext, Task> CreateInboundActivityHandler(Func<CircuitInboundActivityContext, Task> next) => async activity =>
    {
        user ??= (await authentication.GetAuthenticationStateAsync()).User;
        var actor = await actors.FromPrincipalAsync(user, remoteAddress);
        using (context.Use(actor)) await next(activity);
    };

    public void Dispose() => authentication.AuthenticationStateChanged -= OnChanged;
}
