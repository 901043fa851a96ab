using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace WbcPortal.Services.Benchmarks;

/// <summary>
/// A real portal node for a benchmark: this very program started again as its own process (as an operator starts it), on a free
/// loopback port and a fresh temporary data folder, with an initial Admin whose password is drawn here. Its output is drained
/// (the last lines kept for a failure's message). Disposing kills it and removes the folder.
/// </summary>
public sealed class PortalNode : IAsyncDisposable
{
    private const int KeptLines = 200;
    private readonly Process process;
    private readonly Queue<string> lastLines = new();

    private PortalNode(Process process, string dataDirectory, Uri address, string adminPassword)
    {
        this.process = process;
        DataDirectory = dataDirectory;
        Address = address;
        AdminPassword = adminPassword;
    }

    public const string AdminUser = "bench-admin";

    public string DataDirectory { get; }
    public Uri Address { get; }
    public string AdminPassword { get; }
    public int ProcessId => process.Id;

    /// <summary>VmRSS of the node now, in bytes.</summary>
    public long ResidentBytes() => ProcessTree.ResidentBytes(process.Id);

    /// <summary>Starts the node and waits (at most 90 s) until its sign-in page answers.</summary>
    public static async Task<PortalNode> StartAsync(CancellationToken cancellationToken)
    {
        string data = Path.Combine(Path.GetTempPath(), $"wbc-bench-node-{Guid.NewGuid():N}");
        Directory.CreateDirectory(data);
        int port = FreePort();
        string password = Convert.ToBase64String(RandomNumberGenerator.GetBytes(24));
        var info = Executable();
        foreach (var arg in new[]
        {
            "--urls", $"http://127.0.0.1:{port}", "--data-dir", data,
            "--Accounts:InitialAdmin", AdminUser, "--Accounts:InitialAdminPassword", password,
        })
        {
            info.ArgumentList.Add(arg);
        }
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start the portal node.");
        var node = new PortalNode(process, data, new Uri($"http://127.0.0.1:{port}/"), password);
        process.OutputDataReceived += (_, e) => node.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => node.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = node.Address, Timeout = TimeSpan.FromSeconds(5) };
            var deadline = DateTime.UtcNow.AddSeconds(90);
            while (true)
            {
                if (process.HasExited) throw new InvalidOperationException($"The portal node exited with code {process.ExitCode} before it answered:\n{node.Log()}");
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"The portal node did not answer within 90 s:\n{node.Log()}");
                try
                {
                    using var response = await http.GetAsync("account/signin", cancellationToken);
                    if (response.StatusCode == HttpStatusCode.OK) return node;
                }
                catch (HttpRequestException)
                {
                }
                catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                }
                await Task.Delay(250, cancellationToken);
            }
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// How to start this program again: the apphost this process runs as, or <c>dotnet WbcPortal.dll</c> (beside this
    /// assembly) when it runs under the dotnet host or inside another program (a test host).
    /// </summary>
    private static ProcessStartInfo Executable()
    {
        string? self = Environment.ProcessPath;
        string dll = typeof(PortalNode).Assembly.Location;
        if (self is not null && string.Equals(Path.GetFileNameWithoutExtension(self), Path.GetFileNameWithoutExtension(dll), StringComparison.Ordinal))
        {
            return new ProcessStartInfo(self) { WorkingDirectory = Path.GetDirectoryName(self)! };
        }
        string runtimeConfig = Path.ChangeExtension(dll, ".runtimeconfig.json");
        if (!File.Exists(runtimeConfig)) throw new FileNotFoundException($"Cannot start a portal node: {runtimeConfig} is missing (run the bench from the portal's build output).", runtimeConfig);
        string host = self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";
        var info = new ProcessStartInfo(host) { WorkingDirectory = Path.GetDirectoryName(dll)! };
        info.ArgumentList.Add(dll);
        return info;
    }

    private void Keep(string? line)
    {
        if (line is null) return;
        lock (lastLines)
        {
            lastLines.Enqueue(line);
            if (lastLines.Count > KeptLines) lastLines.Dequeue();
        }
    }

    public string Log()
    {
        lock (lastLines) return string.Join('\n', lastLines);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        process.Dispose();
        try { Directory.Delete(DataDirectory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
