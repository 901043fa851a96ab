using System.Net;
using System.Net.NetworkInformation;

namespace WbcPortal.Security;

/// <summary>
/// The addresses the portal is configured to listen on (<c>Urls</c>, <c>--urls</c>, <c>ASPNETCORE_URLS</c>,
/// <c>Kestrel:Endpoints</c>, <c>HTTP_PORTS</c>), and what follows from them: the host names a request may carry,
/// whether the portal is reachable beyond this machine, and whether it serves TLS.
/// </summary>
public sealed class ListenAddresses
{
    private static readonly string[] LoopbackNames = ["localhost", "127.0.0.1", "[::1]"];

    private ListenAddresses(IReadOnlyList<string> urls) => Urls = urls;

    /// <summary>The configured URLs as written (Kestrel's default http://localhost:5000 when none is).</summary>
    public IReadOnlyList<string> Urls { get; }

    public static ListenAddresses From(IConfiguration configuration)
    {
        var urls = (configuration["urls"] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        urls.AddRange(configuration.GetSection("Kestrel:Endpoints").GetChildren().Select(e => e["Url"]).OfType<string>());
        if (urls.Count == 0)
        {
            foreach (var (key, scheme) in new[] { ("http_ports", "http"), ("https_ports", "https") })
            {
                urls.AddRange((configuration[key] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => $"{scheme}://*:{p}"));
            }
        }
        if (urls.Count == 0) urls.Add("http://localhost:5000");
        return new ListenAddresses(urls);
    }

    /// <summary>The host part of a URL as Kestrel reads it ("*" and "+" stay as they are; IPv6 in brackets).</summary>
    internal static string HostOf(string url)
    {
        int start = url.IndexOf("://", StringComparison.Ordinal) is var s and >= 0 ? s + 3 : 0;
        string rest = url[start..];
        int slash = rest.IndexOf('/');
        if (slash >= 0) rest = rest[..slash];
        if (rest.StartsWith('[')) return rest[..(rest.IndexOf(']') + 1)];
        int colon = rest.LastIndexOf(':');
        return colon >= 0 ? rest[..colon] : rest;
    }

    private static bool IsWildcard(string host) => host is "*" or "+" or "0.0.0.0" or "[::]" or "::" or "";

    private static bool IsLoopback(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    /// <summary>True when some URL is reachable from other machines (a wildcard, a LAN address or a name).</summary>
    public bool BeyondLoopback => Urls.Select(HostOf).Any(h => !IsLoopback(h));

    /// <summary>True when the portal itself serves HTTPS on some URL.</summary>
    public bool ServesTls => Urls.Any(u => u.StartsWith("https://", StringComparison.OrdinalIgnoreCase));

    /// <summary>The port of the first HTTPS URL (for the redirect from HTTP), when it is written.</summary>
    public int? HttpsPort => Urls.Where(u => u.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        .Select(u => Uri.TryCreate(u.Replace("://*", "://localhost").Replace("://+", "://localhost"), UriKind.Absolute, out var uri) ? uri.Port : (int?)null)
        .FirstOrDefault(p => p is > 0);

    /// <summary>
    /// The host names a request may carry: the loopback names always, every named host of the URLs, and for a
    /// wildcard binding this machine's names and addresses; <paramref name="publicHosts"/> whenever the portal is reachable
    /// beyond loopback. A name that only an attacker's DNS maps to this machine (DNS rebinding) is not among them.
    /// </summary>
    public IReadOnlyList<string> AllowedHosts(IEnumerable<string> publicHosts)
    {
        var hosts = new SortedSet<string>(LoopbackNames, StringComparer.OrdinalIgnoreCase);
        foreach (var host in Urls.Select(HostOf))
        {
            if (IsWildcard(host)) hosts.UnionWith(MachineHosts());
            else hosts.Add(host);
        }
        if (BeyondLoopback) hosts.UnionWith(publicHosts);
        return hosts.ToList();
    }

    private static IEnumerable<string> MachineHosts()
    {
        var names = new List<string>();
        try
        {
            string name = Dns.GetHostName();
            names.Add(name);
            string full = Dns.GetHostEntry(name).HostName;
            if (full.Length > 0) names.Add(full);
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or ArgumentException)
        {
            // No resolvable name: the addresses below and Security:PublicHosts still apply.
        }
        try
        {
            foreach (var address in NetworkInterface.GetAllNetworkInterfaces().SelectMany(n => n.GetIPProperties().UnicastAddresses).Select(a => a.Address))
            {
                if (address.IsIPv6LinkLocal) continue;
                names.Add(address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{new IPAddress(address.GetAddressBytes())}]" : address.ToString());
            }
        }
        catch (NetworkInformationException)
        {
        }
        return names;
    }
}
