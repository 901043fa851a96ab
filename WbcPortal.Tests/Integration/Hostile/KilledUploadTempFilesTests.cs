using System.Net.Sockets;
using System.Text;
using WbcPortal.Services.Accounts;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration.Hostile;

/// <summary>
/// Issue 24, smaller finding 2: a multipart upload cut mid-body, or a portal killed under it, leaves nothing in the temp
/// folder. The framework's form reader buffered each part over 64 KB to <c>ASPNETCORE_*.tmp</c> there; the API now reads
/// its parts in memory within its request limit, and the other forms are buffered in memory up to theirs. The portal gets
/// a temp folder of its own (<c>TMPDIR</c>), so what it writes there is all that is in it.
/// </summary>
public sealed class KilledUploadTempFilesTests : IAsyncLifetime
{
    private const int MB = 1024 * 1024;
    private readonly TempDirectory temp = new("wbc-portal-tmp");
    private PortalProcess portal = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() =>
        portal = await PortalProcess.StartWithEnvironmentAsync(new Dictionary<string, string> { ["TMPDIR"] = temp.Path + "/" });

    public async ValueTask DisposeAsync()
    {
        await portal.DisposeAsync();
        temp.Dispose();
    }

    private List<string> AspNetTempFiles() =>
        Directory.EnumerateFiles(temp.Path, "ASPNETCORE_*", SearchOption.AllDirectories).Select(Path.GetFileName).ToList()!;

    [Fact]
    public async Task A_multipart_upload_cut_mid_body_and_a_portal_killed_under_it_leave_no_ASPNETCORE_temp_file()
    {
        string token = await portal.CreateTokenAsync(PortalProcess.AdminUser, PortalRole.Admin);
        var open = new List<TcpClient>();
        try
        {
            // 30 MB of a 40 MB image part sent to each API route: more than the sockets' buffers hold, so the portal has
            // read most of it when the writes return. The old reader had a temp file of ~20 MB per request by then.
            foreach (var route in new[] { "/api/v1/predict", "/api/v1/smears" })
            {
                open.Add(await SendPartOfAsync(route, token, declared: 40 * MB, sent: 30 * MB));
            }
            // The sign-in form (anonymous, 1 MB at most): 900 KB of a file part.
            open.Add(await SendPartOfAsync("/account/signin", null, declared: 1000 * 1024, sent: 900 * 1024));
            Assert.Empty(AspNetTempFiles());

            // The uploads are cut (a reset, as a client killed mid-way), then the portal is killed as a crash would.
            foreach (var client in open) Reset(client);
            open.Clear();
            Assert.False(portal.HasExited, portal.Log);
            await portal.KillAsync();
            Assert.Empty(AspNetTempFiles());
        }
        finally
        {
            foreach (var client in open) Reset(client);
        }
    }

    /// <summary>Opens a connection and sends a multipart request's headers and <paramref name="sent"/> bytes of a body that declares <paramref name="declared"/>.</summary>
    private async Task<TcpClient> SendPartOfAsync(string route, string? token, int declared, int sent)
    {
        var client = new TcpClient();
        await client.ConnectAsync(portal.BaseAddress.Host, portal.BaseAddress.Port, Ct);
        var stream = client.GetStream();
        string head = $"--b\r\nContent-Disposition: form-data; name=\"images\"; filename=\"big.jpg\"\r\nContent-Type: application/octet-stream\r\n\r\n";
        var request = new StringBuilder()
            .Append($"POST {route} HTTP/1.1\r\n")
            .Append($"Host: {portal.BaseAddress.Authority}\r\n")
            .Append(token is null ? "" : $"Authorization: Bearer {token}\r\n")
            .Append("Content-Type: multipart/form-data; boundary=b\r\n")
            .Append($"Content-Length: {declared}\r\n\r\n")
            .Append(head);
        using var writing = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        writing.CancelAfter(TimeSpan.FromSeconds(60));
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request.ToString()), writing.Token);
        var chunk = new byte[MB / 4];
        chunk.AsSpan().Fill(0xFF);
        for (int done = head.Length; done < sent; done += chunk.Length)
        {
            await stream.WriteAsync(chunk.AsMemory(0, Math.Min(chunk.Length, sent - done)), writing.Token);
        }
        await stream.FlushAsync(writing.Token);
        return client;
    }

    private static void Reset(TcpClient client)
    {
        try
        {
            client.Client.LingerState = new LingerOption(true, 0);
            client.Dispose();
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
