using WbcPortal.Extensions;

namespace WbcPortal;

/// <summary>Builds the web host; used by <c>Program</c> and by the tests that start the real portal.</summary>
public static class PortalHost
{
    public static async Task<WebApplication> BuildAsync(string[] args)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ApplicationName = typeof(PortalHost).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Configuration.AddCommandLine(args, new Dictionary<string, string>(CoreServiceExtensions.SwitchMappings));
        builder.AddWbcPortal();
        var app = builder.Build();
        await app.UseWbcPortalAsync();
        return app;
    }
}
