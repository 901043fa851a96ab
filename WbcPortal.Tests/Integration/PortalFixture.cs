using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>One real portal process shared by the tests of a class.</summary>
public sealed class PortalFixture : IAsyncLifetime
{
    private PortalProcess? portal;

    public PortalProcess Portal => portal ?? throw new InvalidOperationException("The portal has not started.");

    public async ValueTask InitializeAsync() => portal = await PortalProcess.StartAsync();

    public async ValueTask DisposeAsync()
    {
        if (portal is not null) await portal.DisposeAsync();
    }
}
