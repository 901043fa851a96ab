using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using WbcPortal.Extensions;
using WbcPortal.Storage;

namespace WbcPortal.Tests.Support;

/// <summary>The portal's real core services (real SQLite in a temporary data folder), for component and service tests.</summary>
public static class PortalServices
{
    public static IServiceCollection AddPortalCoreForTests(this IServiceCollection services, string dataDirectory, IDictionary<string, string?>? settings = null)
    {
        var values = new Dictionary<string, string?> { ["Storage:DataDirectory"] = dataDirectory };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>()) values[key] = value;
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Warning));
        services.AddWbcCore();
        return services;
    }

    public static async Task MigrateAsync(this IServiceProvider services) =>
        await services.GetRequiredService<DatabaseMigrator>().MigrateAsync();
}
