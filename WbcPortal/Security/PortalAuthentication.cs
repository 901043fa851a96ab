using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Components.Server.Circuits;
using Microsoft.AspNetCore.Identity;
using WbcPortal.Options;
using WbcPortal.Services.Accounts;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Security;

/// <summary>
/// Sign-in for the web host: a cookie for people (ASP.NET Core Identity), a bearer token for the API and scripts, and
/// one rule for every endpoint (signed in, or refused); role checks live in the services (<see cref="AccessControl"/>).
/// </summary>
public static class PortalAuthentication
{
    /// <summary>The scheme that picks the cookie or the bearer token by the request.</summary>
    public const string Scheme = "portal";
    public const string SignInPath = "/account/signin";
    public const string AdminPolicy = "admin";

    public static WebApplicationBuilder AddPortalAuthentication(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        new IdentityBuilder(typeof(PortalUser), typeof(IdentityRole), services).AddSignInManager();
        services.AddAuthentication(o =>
            {
                o.DefaultScheme = Scheme;
                o.DefaultChallengeScheme = Scheme;
                o.DefaultSignInScheme = IdentityConstants.ApplicationScheme;
            })
            .AddPolicyScheme(Scheme, "Cookie or API token", o => o.ForwardDefaultSelector = context =>
                context.Request.Headers.Authorization.ToString().StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
                    ? ApiTokens.Scheme
                    : IdentityConstants.ApplicationScheme)
            .AddScheme<AuthenticationSchemeOptions, ApiTokenAuthenticationHandler>(ApiTokens.Scheme, null)
            .AddIdentityCookies();
        services.AddOptions<Microsoft.AspNetCore.Authentication.Cookies.CookieAuthenticationOptions>(IdentityConstants.ApplicationScheme)
            .Configure<AccountOptions>((o, accounts) =>
            {
                o.Cookie.Name = "wbc.session";
                o.Cookie.HttpOnly = true;
                o.Cookie.SameSite = SameSiteMode.Strict;
                o.Cookie.SecurePolicy = Microsoft.AspNetCore.Http.CookieSecurePolicy.SameAsRequest;
                o.LoginPath = SignInPath;
                o.LogoutPath = "/account/signout";
                o.AccessDeniedPath = "/account/denied";
                o.ExpireTimeSpan = TimeSpan.FromHours(accounts.SessionHours);
                o.SlidingExpiration = true;
                o.Events.OnRedirectToLogin = context => Refuse(context, StatusCodes.Status401Unauthorized);
                o.Events.OnRedirectToAccessDenied = context => Refuse(context, StatusCodes.Status403Forbidden);
            });
        // A changed role, a reset password or a lock reaches every session within a minute.
        services.Configure<SecurityStampValidatorOptions>(o => o.ValidationInterval = TimeSpan.FromMinutes(1));
        services.AddAuthorizationBuilder()
            .SetFallbackPolicy(new AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build())
            .AddPolicy(AdminPolicy, p => p.RequireAuthenticatedUser().RequireRole(nameof(PortalRole.Admin)));
        services.AddCascadingAuthenticationState();
        services.AddSingleton<PortalActors>();
        services.AddHttpContextAccessor();
        services.AddScoped<CircuitHandler, ActorCircuitHandler>();
        return builder;
    }

    /// <summary>
    /// The endpoint checks the caller's role before anything else (before a missing model or a bad form could answer first);
    /// the services check again. A refusal is a 403 problem document saying which role is needed.
    /// </summary>
    public static RouteHandlerBuilder Demanding(this RouteHandlerBuilder builder, PortalAction action) =>
        builder.AddEndpointFilter(async (context, next) =>
        {
            var actor = context.HttpContext.RequestServices.GetRequiredService<ActorContext>().Current;
            return actor.Can(action) ? await next(context) : Denied(new AccessDeniedException(actor, action));
        })
        .Produces<Endpoints.ApiProblem>(StatusCodes.Status403Forbidden, "application/problem+json");

    public static IResult Denied(AccessDeniedException denied) =>
        Endpoints.ApiProblems.Result(denied.Actor.Kind == ActorKind.Anonymous ? Endpoints.ApiProblems.SignInRequired : Endpoints.ApiProblems.RoleForbidden, denied.Message);

    /// <summary>Authentication, authorisation, and the actor of each request for the services.</summary>
    public static WebApplication UsePortalAuthentication(this WebApplication app)
    {
        app.UseAuthentication();
        app.UseAuthorization();
        app.Use(async (context, next) =>
        {
            var actor = await context.RequestServices.GetRequiredService<PortalActors>()
                .FromPrincipalAsync(context.User, context.Connection.RemoteIpAddress?.ToString(), context.RequestAborted);
            using (context.RequestServices.GetRequiredService<ActorContext>().Use(actor)) await next(context);
        });
        return app;
    }

    /// <summary>Pages go to the sign-in page; the API, scripts and non-GET requests get the status, not a redirect.</summary>
    private static Task Refuse(Microsoft.AspNetCore.Authentication.RedirectContext<Microsoft.AspNetCore.Authentication.Cookies.CookieAuthenticationOptions> context, int status)
    {
        var request = context.Request;
        bool page = HttpMethods.IsGet(request.Method) && !request.Path.StartsWithSegments("/api") && !request.Path.StartsWithSegments("/openapi")
            && request.Headers.Accept.ToString().Contains("text/html", StringComparison.OrdinalIgnoreCase);
        if (page)
        {
            context.Response.Redirect(context.RedirectUri);
        }
        else
        {
            return WriteProblemAsync(context.Response, status);
        }
        return Task.CompletedTask;
    }

    /// <summary>A refusal a script can read (and that the status-code pages leave alone, since it has a body).</summary>
    public static Task WriteProblemAsync(HttpResponse response, int status)
    {
        response.StatusCode = status;
        var problem = status == StatusCodes.Status401Unauthorized
            ? Endpoints.ApiProblems.Details(Endpoints.ApiProblems.SignInRequired, "Sign in to the portal, or send an API token: Authorization: Bearer TOKEN (made on your account page).")
            : Endpoints.ApiProblems.Details(Endpoints.ApiProblems.RoleForbidden, "Your role does not allow this; ask an Admin.");
        return Endpoints.ApiProblems.WriteAsync(response.HttpContext, problem);
    }
}
