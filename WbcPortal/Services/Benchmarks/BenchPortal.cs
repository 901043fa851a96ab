using System.Net.Http.Headers;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using WbcPortal.Services.Accounts;
using WbcPortal.Services.Classify;

namespace WbcPortal.Services.Benchmarks;

/// <summary>
/// The real portal (<see cref="PortalHost"/>: the pipeline it serves, with sign-in, rate limits and logging) on a free
/// loopback port and a temporary data folder, for a benchmark: the model imported and made active as an Admin would, and an
/// API token minted as <c>token create</c> does for a Reviewer (the least role that classifies). Only settings differ from
/// a default portal, each given as configuration: <paramref name="settings"/> (for the bench, the API rate limit).
/// </summary>
public sealed class BenchPortal : IAsyncDisposable
{
    public const string ClientUser = "bench-client";

    private BenchPortal(WebApplication app, string dataDirectory, Uri address, string token, ModelCard model)
    {
        App = app;
        DataDirectory = dataDirectory;
        Address = address;
        Token = token;
        Model = model;
    }

    public WebApplication App { get; }
    public string DataDirectory { get; }
    public Uri Address { get; }

    /// <summary>The Reviewer's API token (<c>Authorization: Bearer …</c>).</summary>
    public string Token { get; }

    /// <summary>The active model, imported from the file the benchmark exported.</summary>
    public ModelCard Model { get; }

    public IServiceProvider Services => App.Services;

    /// <summary>Starts the portal on <paramref name="dataDirectory"/> (made if missing), imports <paramref name="onnxPath"/> and makes it active.</summary>
    public static async Task<BenchPortal> StartAsync(string dataDirectory, string onnxPath, IReadOnlyDictionary<string, string> settings, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(dataDirectory);
        string password = Convert.ToBase64String(RandomNumberGenerator.GetBytes(24));
        var args = new List<string>
        {
            "--urls", "http://127.0.0.1:0",
            "--data-dir", dataDirectory,
            "--Accounts:InitialAdmin", "bench-admin",
            "--Accounts:InitialAdminPassword", password,
            // The portal's log, at its own levels, goes to stderr: stdout is the bench's table (or its --json).
            "--Logging:Console:LogToStandardErrorThreshold", "Trace",
        };
        foreach (var (key, value) in settings) args.AddRange([$"--{key}", value]);
        var app = await PortalHost.BuildAsync([.. args]);
        try
        {
            await app.StartAsync(cancellationToken);
            string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            string token;
            ModelCard model;
            // What an operator does with the CLI (or an Admin on the Models and account pages).
            using (app.Services.GetRequiredService<ActorContext>().Use(Actor.Operator(Environment.UserName)))
            {
                var catalog = app.Services.GetRequiredService<ModelCatalog>();
                await using (var file = File.OpenRead(onnxPath))
                    model = await catalog.ImportAsync("bench", file, file.Length, cancellationToken: cancellationToken);
                await catalog.ActivateAsync(model.Id, cancellationToken);
                await app.Services.GetRequiredService<UserAccounts>().AddAsync(ClientUser, PortalRole.Reviewer, cancellationToken: cancellationToken);
                token = (await app.Services.GetRequiredService<ApiTokens>().CreateAsync(ClientUser, "bench", PortalRole.Reviewer, 1, cancellationToken)).Token;
            }
            return new BenchPortal(app, dataDirectory, new Uri(address.EndsWith('/') ? address : address + "/"), token, model);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
    }

    /// <summary>An HTTP client of the portal sending the token (no proxy, connections kept alive).</summary>
    public HttpClient Client()
    {
        var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, PooledConnectionLifetime = Timeout.InfiniteTimeSpan })
        {
            BaseAddress = Address,
            Timeout = TimeSpan.FromMinutes(2),
        };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        return http;
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync(CancellationToken.None);
        await App.DisposeAsync();
    }
}
