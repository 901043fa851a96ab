using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using WbcPortal.Engine.Training;
using WbcPortal.Services.Datasets;
using WbcPortal.Services.Jobs;
using WbcPortal.Services.Storage;
using WbcPortal.Services.Training;
using WbcPortal.Storage;
using WbcPortal.Storage.Entities;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration.Datasets;

/// <summary>Upload staging (sweeps, quota), cancelling dataset jobs and the storage service's refusals, on the real services.</summary>
public sealed class StagingJobsAndStorageTests : IAsyncDisposable
{
    private readonly TempDirectory data = new("wbc-staging");
    private ServiceProvider? provider;

    private async Task<ServiceProvider> ServicesAsync(IDictionary<string, string?>? settings = null)
    {
        provider = new ServiceCollection().AddPortalCoreForTests(data.Path, settings).BuildServiceProvider();
        await provider.MigrateAsync();
        return provider;
    }

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"waited 30 s for {what}");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task An_upload_that_would_take_staging_over_its_quota_is_refused_before_copying_and_leftovers_are_swept_first()
    {
        var services = await ServicesAsync(new Dictionary<string, string?>
        {
            ["Import:MaxUploadBytes"] = (1024 * 1024).ToString(),
            ["Import:MaxStagingBytes"] = (1536 * 1024).ToString(),
        });
        var staging = services.GetRequiredService<UploadStaging>();

        var tooBig = Assert.Throws<InvalidDataException>(() => staging.Reserve(2 * 1024 * 1024, "upload of big.zip"));
        Assert.Contains("Import:MaxUploadBytes", tooBig.Message);

        var first = staging.Reserve(1024 * 1024, "upload of first.zip"); // reserved while its upload copies
        Assert.True(staging.IsInUse(first.Folder));
        var full = Assert.Throws<InvalidDataException>(() => staging.Reserve(800 * 1024, "upload of second.zip"));
        Assert.Contains("Import:MaxStagingBytes", full.Message);
        Assert.Contains("wait for those imports", full.Message);
        Assert.Single(Directory.GetDirectories(staging.Root));

        // The first import ends; a leftover of a stopped portal sits there too: it is swept to make room.
        first.Dispose();
        ImportFixtures.Write(Path.Combine(staging.Root, "leftover"), "upload.zip", new byte[1200 * 1024]);
        using var second = staging.Reserve(800 * 1024, "upload of second.zip");
        Assert.False(Directory.Exists(Path.Combine(staging.Root, "leftover")));
        Assert.True(Directory.Exists(second.Folder));
    }

    [Fact]
    public async Task The_sweep_removes_every_staged_upload_no_import_holds_and_keeps_those_in_use()
    {
        var services = await ServicesAsync();
        var staging = services.GetRequiredService<UploadStaging>();
        using var lease = staging.Reserve(10, "upload of kept.zip");
        var inUse = lease.Folder;
        ImportFixtures.Write(inUse, "upload.zip", new byte[10]);
        ImportFixtures.Write(Path.Combine(staging.Root, "stale"), "upload.zip", new byte[5000]);
        ImportFixtures.Write(staging.Root, "stray.part", new byte[7]);

        Assert.Equal(5007, staging.Sweep());
        Assert.Equal([inUse], Directory.GetDirectories(staging.Root));
        Assert.Empty(Directory.GetFiles(staging.Root));

        // At start-up nothing is in use: a fresh process (no reservations) sweeps everything.
        var restarted = new ServiceCollection().AddPortalCoreForTests(data.Path).BuildServiceProvider();
        await using (restarted)
        {
            Assert.Equal(10, await restarted.GetRequiredService<UploadStaging>().SweepAsync(TestContext.Current.CancellationToken));
        }
        Assert.Empty(Directory.GetDirectories(staging.Root));
    }

    [Fact]
    public async Task A_cancelled_job_ends_Cancelled_with_its_note_its_input_is_given_back_and_a_queued_one_never_starts()
    {
        provider = new ServiceCollection().AddPortalCoreForTests(data.Path).AddJobsForTests(data.Path)
            .AddScriptedJobs<ImportJob>().AddScriptedJobs<SplitJob>().BuildServiceProvider();
        await provider.MigrateAsync();
        var services = provider;
        var staging = services.GetRequiredService<UploadStaging>();
        var jobs = services.GetRequiredService<PortalJobs>();
        var work = services.GetRequiredService<ScriptedWork>();
        await using var running_ = await services.StartJobsAsync(TestContext.Current.CancellationToken);
        var started = new TaskCompletionSource();
        bool secondRan = false;
        var lease = staging.Reserve(1, "upload of cells.zip");
        var folder = lease.Folder;
        work.On("zip cells.zip", async context =>
        {
            context.Progress.Report(new JobProgress(0.4, "checked 40 of 100"));
            started.SetResult();
            await Task.Delay(Timeout.Infinite, context.CancellationToken);
            return new object();
        });
        var split = new SplitJob("cells", new WbcPortal.Services.Splits.SplitRequest("cells", WbcPortal.Engine.Datasets.Splitting.SplitStrategy.Grouped,
            new WbcPortal.Engine.Datasets.Splitting.SplitRatios(0.7, 0.15, 0.15), 42));
        work.On(split.Description, _ => { secondRan = true; return Task.FromResult(new object()); });
        var running = await jobs.EnqueueAsync(new ImportJob("cells", folder, "zip cells.zip", Path.Combine(folder, "upload.zip"), "cells.zip"), lease, cancellationToken: TestContext.Current.CancellationToken);
        var queued = await jobs.EnqueueAsync(split, cancellationToken: TestContext.Current.CancellationToken);

        await started.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.True(await jobs.CancelAsync(queued.Id, TestContext.Current.CancellationToken));
        Assert.True(await jobs.CancelAsync(running.Id, TestContext.Current.CancellationToken));
        var cancelled = await jobs.FinishedAsync(running.Id);
        var neverRan = await jobs.FinishedAsync(queued.Id);

        Assert.Equal(JobState.Cancelled, cancelled.State);
        Assert.Null(cancelled.Error);
        Assert.Equal("checked 40 of 100", cancelled.Progress.Text);
        Assert.Equal("images already committed stay in the dataset; the staged copy was removed", cancelled.CancelledNote);
        Assert.True(lease.IsReleased);
        Assert.False(Directory.Exists(folder));
        Assert.Equal(JobState.Cancelled, neverRan.State);
        Assert.Equal("no split was stored", neverRan.CancelledNote);
        Assert.False(await jobs.CancelAsync(running.Id, TestContext.Current.CancellationToken)); // finished: nothing to cancel
        // A while later the queued one has still not run (its Hangfire job found it cancelled).
        await Task.Delay(500, TestContext.Current.CancellationToken);
        Assert.False(secondRan);

        // A failing job still ends Failed, with a one-line reason, stored for every node.
        work.On("zip empty.zip", _ => throw new ArgumentException("Nothing to import: no files were found."));
        var failing = await jobs.EnqueueAsync(new ImportJob("cells", Path.Combine(staging.Root, "none"), "zip empty.zip"), cancellationToken: TestContext.Current.CancellationToken);
        var failed = await jobs.FinishedAsync(failing.Id);
        Assert.Equal(JobState.Failed, failed.State);
        Assert.Equal("Nothing to import: no files were found.", failed.Error);
        await using var db = await services.GetRequiredService<Microsoft.EntityFrameworkCore.IDbContextFactory<WbcDbContext>>().CreateDbContextAsync(TestContext.Current.CancellationToken);
        var stored = await db.Jobs.AsNoTracking().SingleAsync(j => j.Id == failing.Id, TestContext.Current.CancellationToken);
        Assert.Equal(JobState.Failed, stored.State);
        Assert.Equal("Nothing to import: no files were found.", stored.Error);
        Assert.Equal(JobKind.Import, stored.Kind);
    }

    [Fact]
    public async Task A_run_or_a_dataset_in_use_is_refused_with_the_reason_and_deleted_with_its_runs_when_confirmed()
    {
        var services = await ServicesAsync();
        int runId = await RunSeeds.AddRunAsync(services, "kept-run", TrainingPresets.Get("default"), 0.8, split: "used-split");
        ImportFixtures.Write(data.Path, "runs/kept-run/model.onnx", new byte[2048]);
        var contexts = services.GetRequiredService<IDbContextFactory<WbcDbContext>>();
        await using (var db = await contexts.CreateDbContextAsync(TestContext.Current.CancellationToken))
        {
            await db.Runs.Where(r => r.Id == runId).ExecuteUpdateAsync(s => s.SetProperty(r => r.Status, RunStatus.Running), TestContext.Current.CancellationToken);
        }
        var inventory = services.GetRequiredService<DataFolderInventory>();
        var report = await inventory.ListAsync(TestContext.Current.CancellationToken);
        var run = Assert.Single(report.Runs);
        Assert.NotNull(run.NotDeletable);
        Assert.Equal(["kept-run"], Assert.Single(report.Datasets).Runs);

        var running = await Assert.ThrowsAsync<InvalidOperationException>(() => services.GetRequiredService<RunDeletion>().DeleteAsync("kept-run", cancellationToken: TestContext.Current.CancellationToken));
        Assert.Contains("is Running", running.Message);
        var datasetRunning = await Assert.ThrowsAsync<InvalidOperationException>(() => inventory.DeleteDatasetAsync("used-split-cells", withRuns: true, TestContext.Current.CancellationToken));
        Assert.Contains("is Running", datasetRunning.Message);

        await using (var db = await contexts.CreateDbContextAsync(TestContext.Current.CancellationToken))
        {
            await db.Runs.Where(r => r.Id == runId).ExecuteUpdateAsync(s => s.SetProperty(r => r.Status, RunStatus.Succeeded), TestContext.Current.CancellationToken);
        }
        var used = await Assert.ThrowsAsync<InvalidOperationException>(() => inventory.DeleteDatasetAsync("used-split-cells", withRuns: false, TestContext.Current.CancellationToken));
        Assert.Contains("used by 1 run(s) (kept-run)", used.Message);

        var deleted = await inventory.DeleteDatasetAsync("used-split-cells", withRuns: true, TestContext.Current.CancellationToken);
        Assert.Contains("run kept-run", deleted.Removed);
        Assert.Contains("dataset used-split-cells", deleted.Removed);
        var after = await inventory.ListAsync(TestContext.Current.CancellationToken);
        Assert.Empty(after.Runs);
        Assert.Empty(after.Datasets);
    }

    public async ValueTask DisposeAsync()
    {
        if (provider is not null) await provider.DisposeAsync();
        data.Dispose();
    }
}
