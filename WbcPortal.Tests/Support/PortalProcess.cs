using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Text;

namespace WbcPortal.Tests.Support;

/// <summary>
/// The real portal, started as its own process from its build output on a free loopback port with a
/// temporary data folder: what a user runs, not an in-memory test host.
/// </summary>
public sealed class PortalProcess : IAsyncDisposable
{
    private readonly Process process;
    private readonly StringBuilder log = new();
    private readonly TempDirectory? data;

    private PortalProcess(Process process, TempDirectory? data, string dataDirectory, Uri baseAddress)
    {
        this.process = process;
        this.data = data;
        DataDirectory = dataDirectory;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    /// <summary>The first Admin every test portal starts with (<c>Accounts:InitialAdmin</c>, password from its setting).</summary>
    public const string AdminUser = "admin";
    public const string AdminPassword = "test-admin-password-1";

    private string? adminToken;

    /// <summary>An HTTP client for this portal, signed in as its Admin with an API token (every test that calls the portal over HTTP uses it).</summary>
    public HttpClient CreateClient(TimeSpan? timeout = null)
    {
        adminToken ??= CreateTokenAsync(AdminUser, Services.Accounts.PortalRole.Admin).GetAwaiter().GetResult();
        return CreateClientWithToken(adminToken, timeout);
    }

    /// <summary>An HTTP client that sends <paramref name="token"/> on every request, redirects included (HttpClient drops the header on a redirect).</summary>
    public HttpClient CreateClientWithToken(string token, TimeSpan? timeout = null) =>
        new(new BearerHandler(token) { InnerHandler = new HttpClientHandler { AllowAutoRedirect = false } })
        {
            BaseAddress = BaseAddress,
            Timeout = timeout ?? TimeSpan.FromSeconds(100),
        };

    private sealed class BearerHandler(string token) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            for (int hop = 0; ; hop++)
            {
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
                var response = await base.SendAsync(request, cancellationToken);
                if (hop >= 10 || (int)response.StatusCode is not (301 or 302 or 303 or 307 or 308) || response.Headers.Location is not { } location) return response;
                var next = new HttpRequestMessage((int)response.StatusCode is 307 or 308 ? request.Method : HttpMethod.Get, new Uri(request.RequestUri!, location));
                if ((int)response.StatusCode is 307 or 308 && request.Content is not null) next.Content = request.Content;
                response.Dispose();
                request = next;
            }
        }
    }

    /// <summary>An HTTP client with no sign-in: what anyone who reaches the port has.</summary>
    public HttpClient CreateAnonymousClient(TimeSpan? timeout = null) => new() { BaseAddress = BaseAddress, Timeout = timeout ?? TimeSpan.FromSeconds(100) };

    /// <summary>
    /// An API token for <paramref name="user"/> (made, with that role, when missing), written straight into this portal's
    /// database as the CLI's <c>token create</c> would (the token's hash is all the portal needs to know it).
    /// </summary>
    public Task<string> CreateTokenAsync(string user, Services.Accounts.PortalRole role) => CreateTokenAsync(DataDirectory, user, role);

    /// <summary>As above, on a data folder no portal need be running on (a read-only portal's folder, before it starts).</summary>
    public static async Task<string> CreateTokenAsync(string dataDirectory, string user, Services.Accounts.PortalRole role)
    {
        var services = new Microsoft.Extensions.DependencyInjection.ServiceCollection().AddPortalCoreForTests(dataDirectory);
        await using var provider = Microsoft.Extensions.DependencyInjection.ServiceCollectionContainerBuilderExtensions.BuildServiceProvider(services);
        var accounts = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<Services.Accounts.UserAccounts>(provider);
        var tokens = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<Services.Accounts.ApiTokens>(provider);
        if (!(await accounts.ListAsync()).Any(u => u.Name == user)) await accounts.AddAsync(user, role, AdminPassword);
        return (await tokens.CreateAsync(user, "tests", role, 30)).Token;
    }
    public string DataDirectory { get; }
    public int ProcessId => process.Id;
    public bool HasExited => process.HasExited;

    /// <summary>Kills the portal at once (SIGKILL), as a crash or a power cut would; the data folder stays.</summary>
    public async Task KillAsync()
    {
        if (process.HasExited) return;
        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
    }

    /// <summary>Stops the portal as a service manager does (SIGTERM: a graceful shutdown) and waits for it to exit.</summary>
    public async Task StopGracefullyAsync(TimeSpan timeout)
    {
        if (process.HasExited) return;
        using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) await kill.WaitForExitAsync();
        using var cts = new CancellationTokenSource(timeout);
        await process.WaitForExitAsync(cts.Token);
    }

    public string Log { get { lock (log) return log.ToString(); } }

    public static string PortalDll
    {
        get
        {
            string configuration = typeof(PortalProcess).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
            string root = RepositoryRoot();
            return Path.Combine(root, "WbcPortal", "bin", configuration, "net10.0", "linux-x64", "WbcPortal.dll");
        }
    }

    public static Task<PortalProcess> StartAsync(params string[] extraArgs) => StartAsync(new TempDirectory("wbc-portal"), null, extraArgs);

    /// <summary>Starts a portal on a data folder the caller owns (kept when the portal is disposed): restarts, second portals.</summary>
    public static Task<PortalProcess> StartOnAsync(string dataDirectory, params string[] extraArgs) => StartAsync(null, dataDirectory, extraArgs);

    /// <summary>As <see cref="StartOnAsync(string, string[])"/>, with settings as environment variables (<c>Storage__Provider</c>, …).</summary>
    public static Task<PortalProcess> StartOnAsync(string dataDirectory, IReadOnlyDictionary<string, string> environment, params string[] extraArgs) =>
        StartAsync(null, dataDirectory, extraArgs, environment: environment);

    /// <summary>Starts a portal listening on every interface (0.0.0.0), as an operator opening it to the network would; tests still call it on 127.0.0.1.</summary>
    public static Task<PortalProcess> StartOnEveryInterfaceAsync(params string[] extraArgs) => StartAsync(new TempDirectory("wbc-portal"), null, extraArgs, "0.0.0.0");

    /// <summary>Starts a portal with extra environment variables (a private <c>TMPDIR</c>, settings as <c>Section__Key</c>).</summary>
    public static Task<PortalProcess> StartWithEnvironmentAsync(IReadOnlyDictionary<string, string> environment, params string[] extraArgs) =>
        StartAsync(new TempDirectory("wbc-portal"), null, extraArgs, environment: environment);

    private static async Task<PortalProcess> StartAsync(TempDirectory? owned, string? dataDirectory, string[] extraArgs, string bindHost = "127.0.0.1",
        IReadOnlyDictionary<string, string>? environment = null)
    {
        string dataPath = owned?.Path ?? dataDirectory!;
        int port = FreePort();
        var baseAddress = new Uri($"http://127.0.0.1:{port}/");
        var process = Start(["--urls", $"http://{bindHost}:{port}", "--data-dir", dataPath, "--Accounts:InitialAdmin", AdminUser, "--Accounts:InitialAdminPassword", AdminPassword, .. extraArgs], environment);
        var portal = new PortalProcess(process, owned, dataPath, baseAddress);
        process.OutputDataReceived += (_, e) => portal.Append(e.Data);
        process.ErrorDataReceived += (_, e) => portal.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"The portal exited with code {process.ExitCode} before it answered:\n{portal.Log}");
            }
            try
            {
                // The sign-in page: the one page that answers before anyone signs in.
                using var response = await http.GetAsync("account/signin");
                if (response.StatusCode == HttpStatusCode.OK) return portal;
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }
            await Task.Delay(250);
        }
        await portal.DisposeAsync();
        throw new TimeoutException($"The portal did not answer within 60 s:\n{portal.Log}");
    }

    /// <summary>Runs the portal executable to completion (for start-up failures and verbs run as a user would).</summary>
    public static async Task<(int ExitCode, string Output)> RunToExitAsync(params string[] args)
    {
        using var process = Start(args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(cts.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>Runs a verb of the executable to completion within <paramref name="timeout"/> (killed past it), stdout and stderr apart.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunVerbAsync(TimeSpan timeout, params string[] args)
    {
        using var process = Start(args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException($"{string.Join(' ', args)} did not end within {timeout.TotalSeconds:0} s:\n{await stderr}");
        }
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Starts the executable with these arguments, output redirected; the caller waits for it or kills it.</summary>
    public static Process Start(string[] args) => Start(args, null);

    /// <summary>As <see cref="Start(string[])"/>, with extra environment variables (settings such as <c>Import__CommitBatchSize</c>).</summary>
    public static Process Start(string[] args, IReadOnlyDictionary<string, string>? environment)
    {
        string dll = PortalDll;
        if (!File.Exists(dll)) throw new FileNotFoundException($"Build the portal first: {dll} is missing.", dll);
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        info.ArgumentList.Add(dll);
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) info.Environment[key] = value;
        return Process.Start(info) ?? throw new InvalidOperationException("Could not start the portal.");
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (log) log.AppendLine(line);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "WbcPortal.sln"))) return dir.FullName;
        }
        throw new DirectoryNotFoundException("WbcPortal.sln not found above the test output.");
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        process.Dispose();
        data?.Dispose();
    }
}
