using System.Security.Cryptography;

namespace WbcPortal.Security;

/// <summary>
/// The headers every response carries, and the per-request nonce of the inline scripts the portal writes (Blazor's
/// import map, and the API reference's configuration).
/// </summary>
public static class SecurityHeaders
{
    private const string NonceKey = "wbc.csp-nonce";

    /// <summary>The nonce of this request's Content-Security-Policy (App.razor puts it on the import map).</summary>
    public static string? Nonce(HttpContext? http) => http?.Items[NonceKey] as string;

    /// <summary>
    /// The Content-Security-Policy of a page. Scripts only from the portal itself (Blazor, MudBlazor, Plotly, Scalar are
    /// served from it), plus the import map and the API reference's configuration by nonce; no eval: Blazor Server, MudBlazor and Plotly.Blazor's charts run without it
    /// (checked in Chromium by <c>SecurityBrowserTests</c>). Styles need 'unsafe-inline': MudBlazor writes its theme as an
    /// inline &lt;style&gt; element and positions popovers, sliders and progress bars with style attributes, and Plotly
    /// injects its stylesheet and styles its SVG inline; a nonce cannot cover style attributes. Inline styles cannot run
    /// code, so the script rules stay strict. connect-src names the WebSocket origin for browsers whose 'self' omits ws:.
    /// </summary>
    public static string ContentSecurityPolicy(string nonce, HttpRequest request)
    {
        string ws = (request.IsHttps ? "wss://" : "ws://") + request.Host.Value;
        return string.Join("; ",
            "default-src 'self'",
            $"script-src 'self' 'nonce-{nonce}'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            $"connect-src 'self' {ws}",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'");
    }

    /// <summary>Features no page of the portal uses: refused to every frame and script.</summary>
    public const string PermissionsPolicy =
        "accelerometer=(), autoplay=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), hid=(), magnetometer=(), microphone=(), midi=(), payment=(), serial=(), usb=()";

    /// <summary>Adds the headers when the response starts, so error pages and static files carry them too.</summary>
    public static IApplicationBuilder UseSecurityHeaders(this IApplicationBuilder app) => app.Use((http, next) =>
    {
        // Hex: nothing in it that HTML attribute encoding would change.
        string nonce = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        http.Items[NonceKey] = nonce;
        http.Response.OnStarting(() =>
        {
            var headers = http.Response.Headers;
            headers.ContentSecurityPolicy = ContentSecurityPolicy(nonce, http.Request);
            headers.XContentTypeOptions = "nosniff";
            headers.XFrameOptions = "DENY";
            headers["Referrer-Policy"] = "same-origin";
            headers["Permissions-Policy"] = PermissionsPolicy;
            headers["Cross-Origin-Opener-Policy"] = "same-origin";
            // Images, models and reports are for the portal's own pages (and API clients, which CORP does not touch).
            headers["Cross-Origin-Resource-Policy"] = "same-origin";
            return Task.CompletedTask;
        });
        return next(http);
    });
}
