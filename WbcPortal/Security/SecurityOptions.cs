using System.ComponentModel.DataAnnotations;
using System.Net;
using Microsoft.Extensions.Options;

namespace WbcPortal.Security;

/// <summary>What the portal's web surface lets in (README, Security). Section <c>Security</c>.</summary>
public sealed class SecurityOptions
{
    public const string Section = "Security";

    /// <summary>
    /// Host names (no scheme, no port) the portal answers to besides its own when it listens on every interface
    /// (0.0.0.0, [::], *): the names users type, the reverse proxy's public name. Used only while <c>AllowedHosts</c> is
    /// <c>*</c> or unset; an explicit <c>AllowedHosts</c> list wins.
    /// </summary>
    public string[] PublicHosts { get; set; } = [];

    /// <summary>IP addresses of the reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed. Empty: none.</summary>
    public string[] KnownProxies { get; set; } = [];

    /// <summary>Origins (<c>https://lims.lab.example</c>) whose pages may call <c>/api/v1</c> from a browser. Empty: none.</summary>
    public string[] ApiCorsOrigins { get; set; } = [];

    /// <summary>Largest request body for everything but the API (which takes <c>Inference:MaxRequestBytes</c>), in bytes.</summary>
    [Range(1024, 1L << 34)]
    public long MaxRequestBytes { get; set; } = 1024 * 1024;

    /// <summary>API requests one client IP may make per minute, on average (token bucket).</summary>
    [Range(1, 1_000_000)]
    public int ApiRequestsPerMinute { get; set; } = 600;

    /// <summary>API requests one client IP may make at once before the per-minute rate applies.</summary>
    [Range(1, 1_000_000)]
    public int ApiBurst { get; set; } = 60;

    /// <summary>Sign-in attempts one client IP may make per minute.</summary>
    [Range(1, 10_000)]
    public int SignInAttemptsPerMinute { get; set; } = 10;

    /// <summary>How long browsers remember to use HTTPS only (HSTS), in days; sent over HTTPS only.</summary>
    [Range(1, 3650)]
    public int HstsMaxAgeDays { get; set; } = 365;

    internal IReadOnlyList<IPAddress> KnownProxyAddresses => KnownProxies.Select(IPAddress.Parse).ToList();
}

/// <summary>Refuses settings that would open more than they say: wildcards, schemes where host names go, addresses that do not parse.</summary>
public sealed class SecurityOptionsValidator : IValidateOptions<SecurityOptions>
{
    public ValidateOptionsResult Validate(string? name, SecurityOptions options)
    {
        var failures = new List<string>();
        foreach (var host in options.PublicHosts)
        {
            if (string.IsNullOrWhiteSpace(host) || host.Contains('*') || Uri.CheckHostName(host.Trim('[', ']')) == UriHostNameType.Unknown)
                failures.Add($"Security:PublicHosts: '{host}' is not a host name (give names such as portal.lab.example, without scheme, port or wildcard).");
        }
        foreach (var proxy in options.KnownProxies)
        {
            if (!IPAddress.TryParse(proxy, out _))
                failures.Add($"Security:KnownProxies: '{proxy}' is not an IP address.");
        }
        foreach (var origin in options.ApiCorsOrigins)
        {
            if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.AbsolutePath != "/" || origin.EndsWith('/') || origin.Contains('*'))
                failures.Add($"Security:ApiCorsOrigins: '{origin}' is not an origin (scheme://host[:port], no path, no wildcard).");
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
