using Bunit;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Components;

/// <summary>bUnit context with MudBlazor and the portal's real core services over a temporary data folder.</summary>
public abstract class PortalTestContext : BunitContext
{
    private readonly TempDirectory data = new("wbc-bunit");

    protected PortalTestContext()
    {
        JSInterop.Mode = JSRuntimeMode.Loose;
        Services.AddMudServices();
        Services.AddPortalCoreForTests(data.Path);
    }

    protected string DataDirectory => data.Path;

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) data.Dispose();
    }

    // xunit disposes asynchronously when it can: the data folder must go on that path too.
    protected override async ValueTask DisposeAsyncCore()
    {
        await base.DisposeAsyncCore();
        data.Dispose();
    }
}
