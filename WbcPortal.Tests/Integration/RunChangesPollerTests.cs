using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using WbcPortal.Engine.Training;
using WbcPortal.Services.Jobs;
using WbcPortal.Services.Training;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>
/// A run trained by another process (a worker node) changes only the database: this node's pages hear of it through the
/// poller, epoch by epoch and at its end (issue 27: runs read in one place, wherever they train).
/// </summary>
public sealed class RunChangesPollerTests : IAsyncDisposable
{
    private readonly TempDirectory data = new("wbc-run-poll");
    private readonly ServiceProvider services;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public RunChangesPollerTests()
    {
        services = new ServiceCollection().AddPortalCoreForTests(data.Path).BuildServiceProvider();
    }

    public async ValueTask DisposeAsync()
    {
        await services.DisposeAsync();
        data.Dispose();
    }

    [Fact]
    public async Task Runs_changed_elsewhere_are_told_once_per_change_and_at_their_end()
    {
        await services.MigrateAsync();
        int quiet = await RunSeeds.AddRunAsync(services, "done-long-ago", new TrainingConfig(), 0.9);
        int runId = await RunSeeds.AddRunAsync(services, "elsewhere", new TrainingConfig(), 0.9);
        var contexts = services.GetRequiredService<IDbContextFactory<WbcDbContext>>();
        await SetAsync(contexts, runId, RunStatus.Running, epochsToKeep: 1);

        var changes = services.GetRequiredService<RunChanges>();
        var poller = new RunChangesPoller(contexts, changes, Microsoft.Extensions.Options.Options.Create(new JobsOptions()), Microsoft.Extensions.Logging.Abstractions.NullLogger<RunChangesPoller>.Instance);
        var told = new System.Collections.Concurrent.ConcurrentQueue<int>();
        using var subscription = changes.Subscribe(told.Enqueue);

        Assert.Equal(0, await poller.PollAsync(Ct)); // the first look learns what is there
        Assert.Equal(0, await poller.PollAsync(Ct)); // nothing changed

        // Another process records an epoch: told once.
        await using (var db = await contexts.CreateDbContextAsync(Ct))
        {
            db.RunEpochs.Add(new RunEpoch { RunId = runId, Round = 1, Epoch = 2 });
            await db.SaveChangesAsync(Ct);
        }
        Assert.Equal(1, await poller.PollAsync(Ct));
        Assert.Equal(0, await poller.PollAsync(Ct));

        // ... and ends it: told once more, then no longer watched.
        await using (var db = await contexts.CreateDbContextAsync(Ct))
        {
            await db.Runs.Where(r => r.Id == runId).ExecuteUpdateAsync(s => s.SetProperty(r => r.Status, RunStatus.Succeeded), Ct);
        }
        Assert.Equal(1, await poller.PollAsync(Ct));
        Assert.Equal(0, await poller.PollAsync(Ct));
        Assert.Equal([runId, runId], told.ToArray());
        Assert.DoesNotContain(quiet, told);
    }

    private static async Task SetAsync(IDbContextFactory<WbcDbContext> contexts, int runId, RunStatus status, int epochsToKeep)
    {
        await using var db = await contexts.CreateDbContextAsync(Ct);
        await db.Runs.Where(r => r.Id == runId).ExecuteUpdateAsync(s => s.SetProperty(r => r.Status, status), Ct);
        var extra = await db.RunEpochs.Where(e => e.RunId == runId).OrderBy(e => e.Round).ThenBy(e => e.Epoch).Skip(epochsToKeep).ToListAsync(Ct);
        db.RunEpochs.RemoveRange(extra);
        await db.SaveChangesAsync(Ct);
    }
}
