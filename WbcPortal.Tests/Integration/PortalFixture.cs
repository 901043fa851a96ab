using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>One real portal process shared by the tests of a class, on a data folder the fixture owns.</summary>
public sealed class PortalFixture : IAsyncLifetime
{
    private readonly TempDirectory data = new("wbc-portal");
    private readonly TempDirectory serverRoot = new("wbc-server-root");
    private PortalProcess? portal;

    /// <summary>The portal's server root (<c>ServerFolders:Root</c>): the only server folder its pages may read.</summary>
    public string ServerRoot => serverRoot.Path;

    public PortalProcess Portal => portal ?? throw new InvalidOperationException("The portal has not started.");

    public string DataDirectory => data.Path;

    public async ValueTask InitializeAsync() => portal = await PortalProcess.StartOnAsync(data.Path, "--ServerFolders:Root", serverRoot.Path);

    /// <summary>
    /// Stops the portal, lets <paramref name="work"/> use the data folder as a CLI user would (a data folder has one
    /// writer at a time), then starts the portal again on the same folder: <see cref="Portal"/> is then the new process.
    /// </summary>
    public async Task WithPortalStoppedAsync(Func<string, Task> work)
    {
        if (portal is not null) await portal.DisposeAsync();
        portal = null;
        try
        {
            await work(data.Path);
        }
        finally
        {
            portal = await PortalProcess.StartOnAsync(data.Path, "--ServerFolders:Root", serverRoot.Path);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (portal is not null) await portal.DisposeAsync();
        data.Dispose();
        serverRoot.Dispose();
    }
}
