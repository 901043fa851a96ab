using System.Net;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.AspNetCore.HostFiltering;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;
using WbcPortal.Options;

namespace WbcPortal.Security;

/// <summary>
/// The portal's web surface (README, Security): allowed hosts from the listening URLs, forwarded headers from known
/// proxies only, HTTPS redirection and HSTS when served over TLS, security headers, a closed CORS policy, cross-site
/// requests refused, rate limits, request size limits per route, exceptions without their text, and page links whose
/// values do not parse redirected to the page without them.
/// </summary>
public static class SurfaceHardening
{
    /// <summary>The CORS policy of <c>/api/v1</c>: the origins of <see cref="SecurityOptions.ApiCorsOrigins"/>, none by default.</summary>
    public const string ApiCorsPolicy = "api";

    /// <summary>The rate limit of <c>/api/v1</c>: a token bucket per client IP.</summary>
    public const string ApiRateLimit = "api";

    /// <summary>The rate limit of sign-in: a fixed window per client IP (<see cref="SecurityOptions.SignInAttemptsPerMinute"/>).</summary>
    public const string SignInRateLimit = "sign-in";

    public static WebApplicationBuilder AddHardenedSurface(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<SecurityOptions>().BindConfiguration(SecurityOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IValidateOptions<SecurityOptions>, SecurityOptionsValidator>();
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<SecurityOptions>>().Value);
        services.AddSingleton(sp => ListenAddresses.From(sp.GetRequiredService<IConfiguration>()));

        // The framework filters hosts first in the pipeline; with AllowedHosts "*" or unset, the hosts come from the URLs.
        services.AddOptions<HostFilteringOptions>().PostConfigure<ListenAddresses, IOptions<SecurityOptions>>((hosts, listen, security) =>
        {
            if (hosts.AllowedHosts.Count == 0 || hosts.AllowedHosts.Contains("*"))
            {
                hosts.AllowedHosts = listen.AllowedHosts(security.Value.PublicHosts).ToList();
            }
        });
        services.AddOptions<ForwardedHeadersOptions>().Configure<IOptions<SecurityOptions>>((forwarded, security) =>
        {
            forwarded.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            // The framework trusts loopback by default; only the configured proxies are trusted here.
            forwarded.KnownIPNetworks.Clear();
            forwarded.KnownProxies.Clear();
            foreach (var proxy in security.Value.KnownProxyAddresses) forwarded.KnownProxies.Add(proxy);
        });
        services.AddHsts(o => o.MaxAge = TimeSpan.FromDays(builder.Configuration.GetValue($"{SecurityOptions.Section}:{nameof(SecurityOptions.HstsMaxAgeDays)}", 365)));
        services.AddHttpsRedirection(o => o.HttpsPort = ListenAddresses.From(builder.Configuration).HttpsPort);

        services.AddCors();
        services.AddOptions<CorsOptions>().Configure<IOptions<SecurityOptions>>((cors, security) => cors.AddPolicy(ApiCorsPolicy, policy => policy
            .WithOrigins(security.Value.ApiCorsOrigins)
            .WithMethods(HttpMethods.Get, HttpMethods.Post)
            .WithHeaders("Authorization", "Content-Type")
            .WithExposedHeaders("Retry-After")));

        services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.OnRejected = OnRejectedAsync;
            o.AddPolicy(ApiRateLimit, http =>
            {
                var security = http.RequestServices.GetRequiredService<SecurityOptions>();
                return RateLimitPartition.GetTokenBucketLimiter(ClientKey(http), _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = security.ApiBurst,
                    TokensPerPeriod = Math.Max(1, security.ApiRequestsPerMinute / 60),
                    ReplenishmentPeriod = security.ApiRequestsPerMinute >= 60 ? TimeSpan.FromSeconds(1) : TimeSpan.FromSeconds(60.0 / security.ApiRequestsPerMinute),
                    QueueLimit = 0,
                });
            });
            o.AddPolicy(SignInRateLimit, http =>
            {
                var security = http.RequestServices.GetRequiredService<SecurityOptions>();
                return RateLimitPartition.GetFixedWindowLimiter(ClientKey(http), _ => new FixedWindowRateLimiterOptions
                {
                    PermitLimit = security.SignInAttemptsPerMinute,
                    Window = TimeSpan.FromMinutes(1),
                    QueueLimit = 0,
                });
            });
        });
        // Forms (sign-in, sign-out, anything posted to a page) are read in memory within the request size limit: the
        // framework would buffer a part over 64 KB to an ASPNETCORE_*.tmp file in the temp folder, which a request or a
        // portal killed mid-way leaves behind. (The API reads its multipart bodies itself, in memory too.)
        services.AddOptions<FormOptions>().Configure<IOptions<SecurityOptions>>((form, security) =>
        {
            form.MemoryBufferThreshold = (int)Math.Min(int.MaxValue, security.Value.MaxRequestBytes);
            form.MultipartBodyLengthLimit = security.Value.MaxRequestBytes;
        });
        services.AddExceptionHandler<ApiExceptionHandler>();
        return builder;
    }

    /// <summary>The part before routing: forwarded headers, HSTS and HTTPS redirection, security headers, the exception handler.</summary>
    public static WebApplication UseHardenedSurface(this WebApplication app)
    {
        var security = app.Services.GetRequiredService<SecurityOptions>();
        var listen = app.Services.GetRequiredService<ListenAddresses>();
        if (security.KnownProxies.Length > 0) app.UseForwardedHeaders();
        if (listen.ServesTls || security.KnownProxies.Length > 0) app.UseHsts();
        if (listen.ServesTls) app.UseHttpsRedirection();
        app.UseSecurityHeaders();
        // Every environment: pages get the Error page, the API a problem document (ApiExceptionHandler); never the exception's text.
        app.UseExceptionHandler(new ExceptionHandlerOptions { ExceptionHandlingPath = "/Error", CreateScopeForErrors = true });
        WarnWhenReachable(app, listen, security);
        return app;
    }

    /// <summary>The part after routing: CORS, cross-site refusal, rate limits, request size limits and page links.</summary>
    public static WebApplication UseHardenedRouting(this WebApplication app)
    {
        app.UseCors();
        app.UseCrossSiteGuard();
        app.UseRateLimiter();
        app.Use((http, next) =>
        {
            if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
            {
                var endpoint = http.GetEndpoint();
                size.MaxRequestBodySize = endpoint?.Metadata.GetMetadata<Microsoft.AspNetCore.Http.Metadata.IRequestSizeLimitMetadata>()?.MaxRequestBodySize
                    ?? (endpoint?.Metadata.GetMetadata<HardenedApiMetadata>() is not null
                        ? http.RequestServices.GetRequiredService<InferenceOptions>().MaxRequestBytes
                        : http.RequestServices.GetRequiredService<SecurityOptions>().MaxRequestBytes);
            }
            return next(http);
        });
        app.UsePageQueryGuard();
        return app;
    }

    /// <summary>
    /// The API's conventions: the closed CORS policy, the API rate limit, its request size (<c>Inference:MaxRequestBytes</c>),
    /// and state-changing requests only from clients that are not another site's page (<see cref="CrossSiteGuard"/>).
    /// </summary>
    public static TBuilder WithHardenedApi<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.RequireCors(ApiCorsPolicy).RequireRateLimiting(ApiRateLimit).WithMetadata(new HardenedApiMetadata());

    private static string ClientKey(HttpContext http) => http.Connection.RemoteIpAddress is { } ip
        ? (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).ToString()
        : "unknown";

    private static async ValueTask OnRejectedAsync(OnRejectedContext context, CancellationToken cancellationToken)
    {
        var http = context.HttpContext;
        int seconds = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)) : 60;
        http.Response.StatusCode = StatusCodes.Status429TooManyRequests;
        http.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await Endpoints.ApiProblems.WriteAsync(http, Endpoints.ApiProblems.Details(Endpoints.ApiProblems.RateLimited, $"This client sent more requests than the portal takes; try again in {seconds} s."));
    }

    private static void WarnWhenReachable(WebApplication app, ListenAddresses listen, SecurityOptions security)
    {
        if (!listen.BeyondLoopback) return;
        var hosts = app.Services.GetRequiredService<IOptions<HostFilteringOptions>>().Value.AllowedHosts;
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            string message = $"WbcPortal listens beyond this machine ({string.Join(", ", listen.Urls)}). "
                + (listen.ServesTls ? "" : "Serve it over TLS (an https URL, or a reverse proxy that terminates TLS, listed in Security:KnownProxies). ")
                + $"Requests must name one of these hosts: {string.Join(", ", hosts)}; add the names users type to Security:PublicHosts (or set AllowedHosts). "
                + (security.KnownProxies.Length == 0 ? "No proxy is trusted (Security:KnownProxies): client addresses and the scheme are read from the connection. " : "")
                + "See README, Security.";
            app.Logger.LogWarning("{Message}", message);
            Console.Error.WriteLine($"WbcPortal: warning: {message}");
        });
    }
}

/// <summary>Marks the API's endpoints for <see cref="SurfaceHardening.UseHardenedRouting"/> (their request size).</summary>
public sealed class HardenedApiMetadata;
