using Microsoft.Extensions.DependencyInjection.Extensions;
using Scalar.AspNetCore;
using MudBlazor.Services;
using WbcPortal.Components;
using WbcPortal.Endpoints;
using WbcPortal.Services.Datasets;
using WbcPortal.Services.Jobs;
using WbcPortal.Services.Training;
using Hangfire;
using WbcPortal.Storage;
using WbcPortal.Security;

namespace WbcPortal.Extensions;

public static class WebServiceExtensions
{
    public static WebApplicationBuilder AddWbcPortal(this WebApplicationBuilder builder)
    {
        builder.WebHost.UseStaticWebAssets();
        // Log messages name uploaded files and folders: the console gets them with control characters escaped.
        builder.Logging.AddTerminalSafeConsole();
        builder.AddHardenedSurface();
        builder.Services.AddWbcCore();
        builder.Services.AddRazorComponents().AddInteractiveServerComponents();
        builder.AddPortalAuthentication();
        builder.Services.AddMudServices();
        // Every problem document gets a stable code and the request's trace id (Endpoints.ApiProblems).
        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = ApiProblems.Complete);
        // ... whatever the request accepts: this writer comes after the framework's and takes what it declines.
        builder.Services.AddSingleton<IProblemDetailsWriter, AnyAcceptProblemWriter>();
        // The API leaves out what does not apply (an image's guess when it is decided), and its numbers are JSON numbers
        // only (the web defaults would also read them from strings, which the OpenAPI document then says they may be).
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull;
            o.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict;
        });
        builder.Services.AddOptions<Options.ApiOptions>().BindConfiguration(Options.ApiOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOpenApi("v1", o => o.Describe());
        builder.Services.AddCircuitUploads();
        builder.Services.AddLiveCircuits();
        builder.Services.AddJobWork();
        // Runs trained by another process (a worker node, a CLI verb) show on this node's pages as they go.
        builder.Services.AddSingleton<RunChangesPoller>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<RunChangesPoller>());
        if (builder.Configuration.GetValue<bool>($"{Options.StorageOptions.Section}:{nameof(Options.StorageOptions.ReadOnly)}"))
        {
            // A read-only portal runs no Hangfire (the process that holds the folder does the work) and must not create
            // its database either; the kinds that write nothing run in process, their records in memory (JobDispatch).
            builder.Services.AddSingleton<IBackgroundJobClient, ReadOnlyJobClient>();
            return builder;
        }
        builder.Services.AddJobStorageAndServers(builder.Configuration);
        return builder;
    }

    /// <summary>Each circuit's upload leases, released when its browser goes (see <see cref="CircuitUploads"/>).</summary>
    public static IServiceCollection AddCircuitUploads(this IServiceCollection services)
    {
        services.AddScoped<CircuitUploads>();
        services.TryAddEnumerable(ServiceDescriptor.Scoped<Microsoft.AspNetCore.Components.Server.Circuits.CircuitHandler, CircuitUploadsHandler>());
        return services;
    }

    public static async Task<WebApplication> UseWbcPortalAsync(this WebApplication app)
    {
        var storage = app.Services.GetRequiredService<Options.StorageOptions>();
        if (storage.DiskFull is { } full)
        {
            await StartReadOnlyOnFullDiskAsync(app, storage, full);
        }
        else if (storage.ReadOnly)
        {
            await app.Services.GetRequiredService<DataFolderStartup>().CheckReadableAsync();
            string folder = storage.DataDirectoryFullPath;
            app.Logger.LogWarning("Read-only: this portal changes nothing in {Folder}; {Holder}", folder,
                DataFolderLock.IsHeld(folder) ? $"held by {DataFolderLock.DescribeHolder(DataFolderLock.FindHolder(folder, out int? pid), pid)}" : "no other process holds it now");
        }
        else
        {
            // One owner of a data folder: refuse to start (naming the holder) rather than share it with another writer.
            // (A folder several nodes share on PostgreSQL has no owner: its nodes claim work row by row, job and run leases.)
            IDisposable? folderLock = storage.SharedByNodes ? null
                : DataFolderLock.Acquire(storage.DataDirectoryFullPath, "WbcPortal portal", $"portal at {string.Join(", ", app.Urls.DefaultIfEmpty(app.Configuration["Urls"] ?? ""))}");
            try
            {
                await app.Services.GetRequiredService<DataFolderStartup>().PrepareAsync();
                // No user yet: the first Admin (from configuration, or a one-time password on the console).
                await app.Services.GetRequiredService<Services.Accounts.UserAccounts>().EnsureInitialAdminAsync(Console.Out);
                // Uploads a stopped portal left staged: none is in use before the first job, except those of queued jobs.
                int adopted = await app.Services.GetRequiredService<PortalJobs>().AdoptQueuedInputsAsync();
                if (adopted > 0) app.Logger.LogInformation("{Count} queued job(s) keep their staged uploads", adopted);
                await app.Services.GetRequiredService<UploadStaging>().SweepAsync();
                // Runs and jobs a stopped process left: Interrupted / Failed, or queued again with Jobs:TakeOver (and every few seconds after).
                int takenOver = await app.Services.GetRequiredService<OrphanedWork>().SettleAsync();
                if (takenOver > 0) app.Logger.LogWarning("{Count} job(s) or run(s) were running when their process stopped; queued again (Jobs:TakeOver)", takenOver);
            }
            catch
            {
                // A start that fails (a full disk starts the portal again read-only) lets the folder go at once.
                folderLock?.Dispose();
                throw;
            }
            if (folderLock is not null) app.Lifetime.ApplicationStopped.Register(folderLock.Dispose);
        }

        app.UseHardenedSurface();
        app.UseStatusCodePagesWithReExecute("/not-found", createScopeForStatusCodePages: true);
        app.UseRouting();
        app.UseHardenedRouting();
        // Every endpoint below needs a signed-in user (a cookie, or an API token), but the sign-in page and its assets.
        app.UsePortalAuthentication();
        app.UseApiV1Refusals();
        app.UseAntiforgery();
        app.MapStaticAssets().AllowAnonymous();
        app.MapAccountEndpoints();
        app.MapImageEndpoints();
        app.MapImageViewEndpoints();
        app.MapReportEndpoints();
        app.MapReviewEndpoints();
        app.MapApiV1();
        app.MapClassifyEndpoints();
        app.MapSmearEndpoints();
        app.MapDiagnosticsEndpoints();
        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapApiReference();
        if (!storage.ReadOnly)
        {
            // Hangfire's dashboard, for Admins only (its own filter checks the role too).
            app.MapHangfireDashboard("/jobs/hangfire", new DashboardOptions { Authorization = [new AdminDashboardFilter()], AppPath = "/runs", DisplayStorageConnectionString = false })
                .RequireAuthorization(PortalAuthentication.AdminPolicy);
        }
        app.MapRazorComponents<App>().AddInteractiveServerRenderMode();
        return app;
    }

    /// <summary>
    /// A portal whose disk is full starts read-only (no lock, so <c>storage --delete-…</c> can run beside it) and says so
    /// in the log and on every page. It needs a little room to read its database (SQLite's shared-memory index): taken
    /// from the folder's reserve when the disk has none. When even that fails, one line says what to do.
    /// </summary>
    private static async Task StartReadOnlyOnFullDiskAsync(WebApplication app, Options.StorageOptions storage, DiskFullStart full)
    {
        app.Services.GetRequiredService<DataFolderSpace>().BorrowRoomToRead();
        try
        {
            await app.Services.GetRequiredService<DataFolderStartup>().CheckReadableAsync();
        }
        catch (Exception ex) when (ex is IOException or Microsoft.Data.Sqlite.SqliteException or InvalidOperationException)
        {
            throw new DataFolderFullException(
                $"The data folder's disk is full ({full.FreeMegabytes} MB free) and the portal cannot start, even read-only: {Services.UserFacingError.Describe(ex)}. " +
                $"Free space (for example `{DiskFullStart.FreeSpaceCommand}`) and restart.");
        }
        app.Logger.LogWarning("{Reason}{Failure}", full.Message, full.Failure is null ? "" : $" (at start: {full.Failure})");
    }
}

/// <summary>The Hangfire dashboard shows and changes jobs: Admins only.</summary>
internal sealed class AdminDashboardFilter : Hangfire.Dashboard.IDashboardAuthorizationFilter
{
    public bool Authorize(Hangfire.Dashboard.DashboardContext context) =>
        Hangfire.Dashboard.AspNetCoreDashboardContextExtensions.GetHttpContext(context).User.IsInRole(nameof(Services.Accounts.PortalRole.Admin));
}

/// <summary>A read-only portal's job client: it queues nothing and says why.</summary>
internal sealed class ReadOnlyJobClient(Options.StorageOptions storage) : IBackgroundJobClient
{
    public string Create(Hangfire.Common.Job job, Hangfire.States.IState state) =>
        throw new InvalidOperationException(storage.ReadOnlyReason ?? "This portal is read-only (--read-only): it starts no runs. Start it without --read-only once no other process holds the data folder.");

    public bool ChangeState(string jobId, Hangfire.States.IState state, string expectedState) =>
        throw new InvalidOperationException(storage.ReadOnlyReason ?? "This portal is read-only (--read-only): it changes no job.");
}
