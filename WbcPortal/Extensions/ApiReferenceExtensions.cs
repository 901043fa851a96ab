using Scalar.AspNetCore;
using WbcPortal.Security;

namespace WbcPortal.Extensions;

/// <summary>
/// The API reference at /api/reference: Scalar's page on the v1 OpenAPI document, served whole by the portal (its script
/// from the package, no web fonts), with nothing that calls Scalar's cloud and a way back to the portal.
/// </summary>
public static class ApiReferenceExtensions
{
    public const string Path = "/api/reference";

    public static IEndpointConventionBuilder MapApiReference(this IEndpointRouteBuilder app) =>
        app.MapScalarApiReference(Path, (options, http) => options
            .WithTitle("WbcPortal API")
            .WithOpenApiRoutePattern("/openapi/{documentName}.json")
            // Offline: no fonts from a CDN, no telemetry.
            .DisableDefaultFonts()
            .DisableTelemetry()
            // No cloud features: "Ask AI" (Agent Scalar), MCP, and the developer toolbar (Share, Generate SDK, Deploy),
            // which Scalar shows on localhost, where a lab's portal often runs.
            .DisableAgent()
            .DisableMcp()
            .HideDeveloperTools()
            // "Open API Client" opens client.scalar.com; the in-page client ("Test Request") links there too.
            .HideClientButton()
            .HideTestRequestButton()
            // Its script is the one the page's Content-Security-Policy allows by this request's nonce (no 'unsafe-inline').
            .WithNonce(SecurityHeaders.Nonce(http) ?? throw new InvalidOperationException("The security headers middleware runs before the API reference."))
            .AddHeaderContent(BackLink($"{http.Request.PathBase}/")));

    /// <summary>A bar above the reference with the way back to the portal (an attribute-styled link: no script, no stylesheet).</summary>
    private static string BackLink(string portal) =>
        $"""<nav aria-label="WbcPortal" style="padding:8px 16px;font:14px system-ui,sans-serif;border-bottom:1px solid #ddd"><a href="{System.Net.WebUtility.HtmlEncode(portal)}" data-testid="reference-back">← Back to WbcPortal</a></nav>""";
}
