using Microsoft.AspNetCore.Mvc;
using WbcPortal.Endpoints;

namespace WbcPortal.Security;

/// <summary>
/// Refuses requests that another site's page makes the browser send (a fetch-metadata resource isolation policy):
/// a page elsewhere may link to the portal, but not post to it, embed its images, open its WebSocket or fetch from it,
/// even in <c>no-cors</c> mode. Browsers say where a request comes from in <c>Sec-Fetch-Site</c> (and <c>Origin</c>);
/// clients that are not browsers (scripts, lab systems) send neither and are let through to the API's own checks.
/// </summary>
public static class CrossSiteGuard
{
    /// <summary>Why a request is refused, or null when it may go on.</summary>
    public static string? Refusal(HttpRequest request, IReadOnlyCollection<string> apiCorsOrigins)
    {
        string site = request.Headers["Sec-Fetch-Site"].ToString();
        string origin = request.Headers.Origin.ToString();
        bool api = request.Path.StartsWithSegments(ApiV1Endpoints.Prefix, StringComparison.OrdinalIgnoreCase);
        bool allowedOrigin = api && origin.Length > 0 && apiCorsOrigins.Contains(origin, StringComparer.OrdinalIgnoreCase);
        bool safe = HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method);

        if (site is "same-origin" or "none") return null;
        if (site.Length == 0)
        {
            // No fetch metadata: a client that is not a browser, or an old browser, which still sends Origin on a cross-origin POST.
            if (safe || origin.Length == 0 || allowedOrigin || SameOrigin(origin, request)) return null;
            return $"A request from {origin} may not change anything here.";
        }
        if (allowedOrigin) return null;
        // A link followed from elsewhere opens a page (a top-level navigation, never a frame).
        if (safe && request.Headers["Sec-Fetch-Mode"] == "navigate" && request.Headers["Sec-Fetch-Dest"] == "document") return null;
        return $"A {site} request{(origin.Length > 0 ? $" from {origin}" : "")} is refused: this portal answers its own pages and API clients only.";
    }

    private static bool SameOrigin(string origin, HttpRequest request) =>
        string.Equals(origin, $"{request.Scheme}://{request.Host.Value}", StringComparison.OrdinalIgnoreCase);

    public static IApplicationBuilder UseCrossSiteGuard(this IApplicationBuilder app) => app.Use(async (http, next) =>
    {
        var options = http.RequestServices.GetRequiredService<SecurityOptions>();
        if (Refusal(http.Request, options.ApiCorsOrigins) is { } reason)
        {
            http.Response.StatusCode = StatusCodes.Status403Forbidden;
            await Endpoints.ApiProblems.WriteAsync(http, Endpoints.ApiProblems.Details(Endpoints.ApiProblems.CrossSiteRefused, reason));
            return;
        }
        await next(http);
    });
}
