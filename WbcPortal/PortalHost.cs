using Microsoft.Data.Sqlite;
using WbcPortal.Extensions;
using WbcPortal.Options;
using WbcPortal.Services;
using WbcPortal.Storage;

namespace WbcPortal;

/// <summary>Builds the web host; used by <c>Program</c> and by the tests that start the real portal.</summary>
public static class PortalHost
{
    /// <summary>
    /// The portal, writable unless asked otherwise; read-only, saying why, when its data folder's disk is full: free
    /// space below <see cref="StorageOptions.MinFreeMegabytes"/>, or a write at start that failed for lack of space.
    /// </summary>
    public static async Task<WebApplication> BuildAsync(string[] args)
    {
        var builder = CreateBuilder(args);
        var storage = builder.Configuration.GetSection(StorageOptions.Section).Get<StorageOptions>() ?? new StorageOptions();
        if (!storage.ReadOnly)
        {
            long free = DataFolderSpace.FreeBytesAt(storage.DataDirectoryFullPath);
            if (DataFolderSpace.IsLow(free, storage.MinFreeBytes)) return await BuildReadOnlyAsync(builder, new DiskFullStart(free));
        }
        builder.AddWbcPortal();
        var app = builder.Build();
        try
        {
            await app.UseWbcPortalAsync();
            return app;
        }
        catch (Exception ex) when (!storage.ReadOnly && UserFacingError.IsDiskFull(ex))
        {
            await app.DisposeAsync();
            SqliteConnection.ClearAllPools();
            var full = new DiskFullStart(DataFolderSpace.FreeBytesAt(storage.DataDirectoryFullPath), UserFacingError.Describe(ex));
            return await BuildReadOnlyAsync(CreateBuilder(args), full);
        }
    }

    private static async Task<WebApplication> BuildReadOnlyAsync(WebApplicationBuilder builder, DiskFullStart full)
    {
        builder.Configuration[$"{StorageOptions.Section}:{nameof(StorageOptions.ReadOnly)}"] = "true";
        builder.Services.PostConfigure<StorageOptions>(o => o.DiskFull = full);
        builder.AddWbcPortal();
        var app = builder.Build();
        await app.UseWbcPortalAsync();
        return app;
    }

    private static WebApplicationBuilder CreateBuilder(string[] args)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ApplicationName = typeof(PortalHost).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Configuration.AddCommandLine(args, new Dictionary<string, string>(CoreServiceExtensions.SwitchMappings));
        return builder;
    }
}
