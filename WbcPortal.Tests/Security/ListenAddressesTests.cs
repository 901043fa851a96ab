using System.Net;
using Microsoft.Extensions.Configuration;
using WbcPortal.Security;

namespace WbcPortal.Tests.Security;

public class ListenAddressesTests
{
    private static ListenAddresses From(params (string Key, string Value)[] settings) =>
        ListenAddresses.From(new ConfigurationBuilder().AddInMemoryCollection(settings.ToDictionary(s => s.Key, s => (string?)s.Value)).Build());

    [Fact]
    public void A_loopback_portal_answers_loopback_names_only()
    {
        var listen = From(("urls", "http://127.0.0.1:5080"));
        Assert.False(listen.BeyondLoopback);
        Assert.False(listen.ServesTls);
        Assert.Equal(["127.0.0.1", "[::1]", "localhost"], listen.AllowedHosts(["portal.lab.example"]).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_wildcard_binding_adds_the_machines_names_and_the_public_hosts()
    {
        foreach (var url in new[] { "http://0.0.0.0:5080", "http://*:5080", "http://+:5080", "http://[::]:5080" })
        {
            var listen = From(("urls", url));
            Assert.True(listen.BeyondLoopback, url);
            var hosts = listen.AllowedHosts(["portal.lab.example"]);
            Assert.Contains("portal.lab.example", hosts);
            Assert.Contains(Dns.GetHostName(), hosts, StringComparer.OrdinalIgnoreCase);
            Assert.Contains("localhost", hosts);
            Assert.DoesNotContain("*", hosts);
            Assert.DoesNotContain(hosts, h => h.Contains('*') || h.Contains(':') && !h.StartsWith('['));
        }
    }

    [Fact]
    public void Tls_and_named_hosts_come_from_urls_and_kestrel_endpoints()
    {
        var listen = From(("urls", "http://127.0.0.1:5080;https://portal.lab.example:8443"));
        Assert.True(listen.ServesTls);
        Assert.Equal(8443, listen.HttpsPort);
        Assert.True(listen.BeyondLoopback);
        Assert.Contains("portal.lab.example", listen.AllowedHosts([]));

        var kestrel = From(("Kestrel:Endpoints:Https:Url", "https://10.1.2.3:443"));
        Assert.Equal(["https://10.1.2.3:443"], kestrel.Urls);
        Assert.Contains("10.1.2.3", kestrel.AllowedHosts([]));
        Assert.Equal(["http://localhost:5000"], From().Urls);
        Assert.Equal(["http://*:8080"], From(("http_ports", "8080")).Urls);
    }
}
