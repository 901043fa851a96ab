using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Components.Server.Circuits;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Engine.Models.Classifiers;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Engine.Training;
using WbcPortal.Extensions;
using WbcPortal.Services.Accounts;
using WbcPortal.Services.Datasets;
using WbcPortal.Services.Evaluation;
using WbcPortal.Services.Jobs;
using WbcPortal.Services.Storage;
using WbcPortal.Tests.Engine.Onnx;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration.Datasets;

/// <summary>
/// Issue 24 item 4: a staging reservation is a lease owned by the circuit (or page, or request) that uploads, then by the
/// job queued on the finished upload, and released when its owner goes. On the real services (SQLite, the data folder's
/// <c>uploads/</c>), the circuit handler called as Blazor calls it, and a clock the tests move (no waiting).
/// </summary>
[Trait("Category", "Torch")]
public sealed class StagingLeaseTests : IAsyncDisposable
{
    private const long KB = 1024;
    private readonly TempDirectory data = new("wbc-leases");
    private readonly ManualClock clock = new(new DateTimeOffset(2026, 1, 5, 9, 0, 0, TimeSpan.Zero));
    private ServiceProvider? provider;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>One upload may be 1 MB, all of them 1.5 MB; an upload is idle after 5 minutes (the default).</summary>
    private async Task<ServiceProvider> ServicesAsync(long maxUpload = 1024 * KB, long maxStaging = 1536 * KB, bool jobs = false)
    {
        var services = new ServiceCollection().AddPortalCoreForTests(data.Path, new Dictionary<string, string?>
        {
            ["Import:MaxUploadBytes"] = maxUpload.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Import:MaxStagingBytes"] = maxStaging.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        services.AddSingleton<TimeProvider>(clock);
        services.AddCircuitUploads();
        if (jobs) services.AddJobsForTests(data.Path);
        provider = services.BuildServiceProvider();
        await provider.MigrateAsync();
        return provider;
    }

    /// <summary>A Blazor circuit as its handlers see it: this handler reads nothing of it, so an empty one stands in.</summary>
    private static Circuit TestCircuit() => (Circuit)RuntimeHelpers.GetUninitializedObject(typeof(Circuit));

    private static CircuitUploadsHandler HandlerOf(IServiceScope circuit) =>
        Assert.Single(circuit.ServiceProvider.GetServices<CircuitHandler>().OfType<CircuitUploadsHandler>());

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"waited 60 s for {what}");
            await Task.Delay(20, Ct);
        }
    }

    [Theory]
    [InlineData("closed", "the browser tab was closed")]
    [InlineData("connection down", "the browser's connection dropped")]
    public async Task A_circuit_whose_browser_goes_releases_its_uploads_bytes_and_folder_and_stops_the_copy(string how, string because)
    {
        var services = await ServicesAsync();
        var staging = services.GetRequiredService<UploadStaging>();
        using var circuit = services.CreateScope();
        var uploads = circuit.ServiceProvider.GetRequiredService<CircuitUploads>();
        var file = TestBrowserFiles.Stalling("cells.zip", 1024 * KB, sentBytes: 300 * (int)KB);

        var lease = uploads.Reserve(file.Size, "upload of cells.zip");
        string partial = Path.Combine(lease.Folder, "upload.zip");
        var copy = staging.CopyAsync(file, lease, partial, null, Ct);
        await file.Sent.WaitAsync(TimeSpan.FromSeconds(60), Ct);
        Assert.True(File.Exists(partial));
        Assert.Equal(1024 * KB, staging.UsedBytes()); // the whole reservation, though 300 KB are on disk
        var refused = Assert.Throws<InvalidDataException>(() => staging.Reserve(800 * KB, "upload of other.zip"));
        Assert.Contains("Import:MaxStagingBytes", refused.Message);

        var handler = HandlerOf(circuit);
        if (how == "closed") await handler.OnCircuitClosedAsync(TestCircuit(), Ct);
        else await handler.OnConnectionDownAsync(TestCircuit(), Ct);

        // Bounded: a copy the release did not stop would wait for the browser for ever.
        var stopped = await Assert.ThrowsAsync<StagingReleasedException>(() => copy.WaitAsync(TimeSpan.FromSeconds(60), Ct));
        Assert.Contains(because, stopped.Message);
        Assert.True(lease.IsReleased);
        Assert.Equal(0, uploads.Count);
        Assert.False(Directory.Exists(lease.Folder));
        Assert.Empty(Directory.GetFileSystemEntries(staging.Root));
        Assert.Equal(0, staging.UsedBytes());
        using var next = staging.Reserve(1024 * KB, "upload of other.zip");
        Assert.True(Directory.Exists(next.Folder));
    }

    [Fact]
    public async Task A_lease_is_released_once_however_many_owners_let_go_and_a_circuits_scope_ending_releases_what_it_holds()
    {
        var services = await ServicesAsync();
        var staging = services.GetRequiredService<UploadStaging>();
        StagingLease kept;
        using (var circuit = services.CreateScope())
        {
            var uploads = circuit.ServiceProvider.GetRequiredService<CircuitUploads>();
            var first = uploads.Reserve(500 * KB, "upload of a.zip");
            first.Dispose();
            first.Dispose();
            await HandlerOf(circuit).OnCircuitClosedAsync(TestCircuit(), Ct);
            Assert.Equal("the upload or its job ended", first.ReleasedBecause);
            kept = uploads.Reserve(500 * KB, "upload of b.zip");
            Assert.Equal(1, uploads.Count);
        }
        // No handler ran for the second: the circuit's scope ending (its services disposed) released it.
        Assert.True(kept.IsReleased);
        Assert.False(Directory.Exists(kept.Folder));
        Assert.Equal(0, staging.UsedBytes());
    }

    [Fact]
    public async Task An_idle_upload_stops_counting_against_the_quota_and_the_Storage_pages_Delete_removes_it()
    {
        var services = await ServicesAsync();
        var staging = services.GetRequiredService<UploadStaging>();
        var inventory = services.GetRequiredService<DataFolderInventory>();
        using var circuit = services.CreateScope();
        var uploads = circuit.ServiceProvider.GetRequiredService<CircuitUploads>();

        var slow = uploads.Reserve(1024 * KB, "upload of slow.zip");
        ImportFixtures.Write(slow.Folder, "upload.zip", new byte[100 * KB]);
        Assert.Throws<InvalidDataException>(() => staging.Reserve(800 * KB, "upload of other.zip"));

        // Progress keeps it in use: 4 minutes, a chunk, 4 more minutes.
        clock.Advance(TimeSpan.FromMinutes(4));
        slow.Touch();
        clock.Advance(TimeSpan.FromMinutes(4));
        Assert.True(staging.IsInUse(slow.Folder));
        var busy = Assert.Single((await inventory.ListAsync(Ct)).Staging);
        Assert.True(busy.InUse);
        Assert.Contains("in use by its upload of slow.zip", busy.Use);

        // Five minutes without a byte: not in use. Its reservation no longer blocks (what it wrote still counts).
        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.False(staging.IsInUse(slow.Folder));
        Assert.Equal(100 * KB, staging.UsedBytes());
        var idle = Assert.Single((await inventory.ListAsync(Ct)).Staging);
        Assert.False(idle.InUse);
        Assert.Contains("idle", idle.Use);
        using (var other = staging.Reserve(800 * KB, "upload of other.zip"))
        {
            Assert.False(slow.IsReleased); // there was room: nothing had to be swept for it
        }

        // The Storage page's Delete unused: the idle upload goes, its lease released, its copy refused from then on.
        var deleted = inventory.DeleteStaging();
        Assert.Contains($"staged upload {Path.GetFileName(slow.Folder)}", deleted.Removed);
        Assert.Equal(100 * KB, deleted.FreedBytes);
        Assert.True(slow.IsReleased);
        Assert.Contains("copied nothing for 5 minutes", slow.ReleasedBecause);
        Assert.False(Directory.Exists(slow.Folder));
        Assert.Equal(0, uploads.Count);
        Assert.Throws<StagingReleasedException>(() => slow.HandOverToJob());
        await Assert.ThrowsAsync<StagingReleasedException>(() =>
            staging.CopyAsync(TestBrowserFiles.Complete("slow.zip", new byte[10]), slow, Path.Combine(slow.Folder, "upload.zip"), null, Ct));
        Assert.False(Directory.Exists(slow.Folder));
    }

    [Fact]
    public async Task A_quota_full_of_dead_reservations_no_longer_refuses_a_new_upload()
    {
        var services = await ServicesAsync(maxUpload: 1536 * KB, maxStaging: 1536 * KB);
        var staging = services.GetRequiredService<UploadStaging>();
        // Three tabs each reserve a third of the quota: one is closed, one's circuit ends, one stops sending.
        var closed = services.CreateScope();
        var ended = services.CreateScope();
        var stalled = services.CreateScope();
        var leases = new[] { closed, ended, stalled }.Select((c, i) => c.ServiceProvider.GetRequiredService<CircuitUploads>().Reserve(512 * KB, $"upload of tab{i}.zip")).ToList();
        foreach (var lease in leases) ImportFixtures.Write(lease.Folder, "upload.zip", new byte[64 * KB]);
        Assert.Throws<InvalidDataException>(() => staging.Reserve(1, "upload of one-byte.zip"));

        await HandlerOf(closed).OnCircuitClosedAsync(TestCircuit(), Ct);
        ended.Dispose();
        clock.Advance(staging.IdleAfter);

        using var fresh = staging.Reserve(1536 * KB, "upload of big.zip");
        Assert.All(leases, l => Assert.True(l.IsReleased));
        Assert.Equal([fresh.Folder], Directory.GetDirectories(staging.Root));
        stalled.Dispose();
        closed.Dispose();
    }

    [Fact]
    public async Task A_finished_uploads_lease_moves_to_its_import_job_and_is_released_when_the_job_ends_in_success_failure_or_cancel()
    {
        var collection = new ServiceCollection().AddPortalCoreForTests(data.Path, new Dictionary<string, string?>
        {
            ["Import:MaxUploadBytes"] = (1024 * KB).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Import:MaxStagingBytes"] = (1536 * KB).ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        collection.AddSingleton<TimeProvider>(clock);
        collection.AddCircuitUploads();
        collection.AddJobsForTests(data.Path).AddScriptedJobs<ImportJob>();
        provider = collection.BuildServiceProvider();
        await provider.MigrateAsync();
        var services = provider;
        var staging = services.GetRequiredService<UploadStaging>();
        var datasets = services.GetRequiredService<DatasetService>();
        var jobs = services.GetRequiredService<PortalJobs>();
        var work = services.GetRequiredService<ScriptedWork>();
        await using var host = await services.StartJobsAsync(Ct);
        using var circuit = services.CreateScope();
        var uploads = circuit.ServiceProvider.GetRequiredService<CircuitUploads>();
        var zip = ZipOf(("EOSINOPHIL/a.jpg", ImportFixtures.Jpeg(1)), ("NEUTROPHIL/b.jpg", ImportFixtures.Jpeg(2)));

        // Success: the upload completes, the job is queued and holds the lease while the circuit goes and time passes.
        var lease = uploads.Reserve(zip.Length, "upload of cells.zip");
        string path = Path.Combine(lease.Folder, "upload.zip");
        await staging.CopyAsync(TestBrowserFiles.Complete("cells.zip", zip), lease, path, null, Ct);
        var go = new TaskCompletionSource();
        work.On("zip cells.zip", async context =>
        {
            await go.Task.WaitAsync(context.CancellationToken);
            return await datasets.ImportZipAsync("cells", path, "cells.zip", context.Progress.ForImport(), context.CancellationToken);
        });
        var job = await jobs.EnqueueAsync(new ImportJob("cells", lease.Folder, "zip cells.zip", path, "cells.zip"), lease, Ct);
        Assert.True(lease.HeldByJob);
        Assert.Equal(0, uploads.Count);
        await HandlerOf(circuit).OnCircuitClosedAsync(TestCircuit(), Ct);
        clock.Advance(TimeSpan.FromHours(1)); // a job's lease never goes idle
        Assert.Equal(0, staging.Sweep());
        Assert.True(staging.IsInUse(lease.Folder));
        Assert.True(File.Exists(path));
        go.SetResult();
        var done = await jobs.FinishedAsync(job.Id);
        Assert.True(done.State == JobState.Succeeded, done.Error);
        Assert.Equal(2, ((DatasetImportSummary)done.Result!).Images);
        Assert.True(lease.IsReleased);
        Assert.False(Directory.Exists(lease.Folder));

        // Failure and cancel: released all the same.
        var failing = uploads.Reserve(zip.Length, "upload of broken.zip");
        work.On("zip broken.zip", _ => throw new InvalidDataException("Not a readable zip file."));
        var failed = await jobs.EnqueueAsync(new ImportJob("cells", failing.Folder, "zip broken.zip"), failing, Ct);
        var cancelling = uploads.Reserve(zip.Length, "upload of later.zip");
        var started = new TaskCompletionSource();
        work.On("zip later.zip", async context =>
        {
            started.SetResult();
            await Task.Delay(Timeout.Infinite, context.CancellationToken);
            return new object();
        });
        var cancelled = await jobs.EnqueueAsync(new ImportJob("cells", cancelling.Folder, "zip later.zip"), cancelling, Ct);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(60), Ct);
        Assert.True(await jobs.CancelAsync(cancelled.Id, Ct));
        Assert.Equal(JobState.Failed, (await jobs.FinishedAsync(failed.Id)).State);
        Assert.Equal(JobState.Cancelled, (await jobs.FinishedAsync(cancelled.Id)).State);
        Assert.True(failing.IsReleased && cancelling.IsReleased);
        Assert.Empty(Directory.GetFileSystemEntries(staging.Root));
        Assert.Equal(0, staging.UsedBytes());

        // A lease released before its job could take it (here: the tab closed first) queues nothing.
        var gone = uploads.Reserve(zip.Length, "upload of gone.zip");
        await HandlerOf(circuit).OnCircuitClosedAsync(TestCircuit(), Ct);
        int before = jobs.Recent().Count;
        await Assert.ThrowsAsync<StagingReleasedException>(() => jobs.EnqueueAsync(new ImportJob("cells", gone.Folder, "zip gone.zip"), gone, Ct));
        Assert.Equal(before, jobs.Recent().Count);
    }

    [Fact]
    public async Task An_uploaded_evaluation_zips_lease_moves_to_its_job_and_is_released_when_it_succeeds_or_fails()
    {
        var services = await ServicesAsync(maxUpload: 4096 * KB, maxStaging: 8192 * KB, jobs: true);
        var staging = services.GetRequiredService<UploadStaging>();
        int withModel = await RunSeeds.AddRunAsync(services, "eval-run", TrainingPresets.Get("default"), 0.8);
        int withoutModel = await RunSeeds.AddRunAsync(services, "no-model-run", TrainingPresets.Get("default"), 0.8);
        using (var model = ClassifierOnnxExportTests.TrainedLooking(new ResNet18Backbone(PretrainedModelFiles.Default), HeadSpec.Linear, RunSeeds.Labels.Count, seed: 3))
        {
            Directory.CreateDirectory(Path.Combine(data.Path, "runs", "eval-run"));
            new ClassifierOnnxExporter(PretrainedModelFiles.Default).Export(model,
                new ClassifierOnnxMetadata(RunSeeds.Labels, 64, 64, Temperature: 1.5, RejectThreshold: 0.6, RejectTargetAccuracy: 0.95), Path.Combine(data.Path, "runs", "eval-run", "model.onnx"));
        }
        var jobs = services.GetRequiredService<EvaluationJobs>();
        var board = services.GetRequiredService<PortalJobs>();
        await using var running = await services.StartJobsAsync(Ct);
        using var circuit = services.CreateScope();
        var uploads = circuit.ServiceProvider.GetRequiredService<CircuitUploads>();
        var zip = ZipOf(("EOSINOPHIL/a.jpg", ImportFixtures.Jpeg(1)), ("LYMPHOCYTE/b.jpg", ImportFixtures.Jpeg(2)));
        async Task<(StagingLease Lease, JobView Job)> UploadAndStartAsync(int runId, string name)
        {
            var lease = uploads.Reserve(zip.Length, $"upload of {name} for an evaluation");
            string path = Path.Combine(lease.Folder, name);
            await staging.CopyAsync(TestBrowserFiles.Complete(name, zip), lease, path, null, Ct);
            var job = await jobs.StartAsync(runId, new EvaluationTarget.UploadedZip(name, path, lease), Ct);
            Assert.True(lease.HeldByJob);
            return (lease, job);
        }

        var good = await UploadAndStartAsync(withModel, "cells.zip");
        var bad = await UploadAndStartAsync(withoutModel, "other.zip");
        Assert.Equal(0, uploads.Count);
        await HandlerOf(circuit).OnCircuitClosedAsync(TestCircuit(), Ct);
        var goodDone = await board.FinishedAsync(good.Job.Id);
        var badDone = await board.FinishedAsync(bad.Job.Id);

        Assert.True(goodDone.State == JobState.Succeeded, goodDone.Error);
        Assert.IsType<EvaluationDone>(goodDone.Result);
        Assert.Equal(JobState.Failed, badDone.State);
        // Its reason names the zip, never where the server staged it.
        Assert.DoesNotContain(staging.Root, badDone.Error);
        Assert.True(good.Lease.IsReleased && bad.Lease.IsReleased);
        Assert.Empty(Directory.GetFileSystemEntries(staging.Root));
        Assert.Equal(0, staging.UsedBytes());
        Assert.Equal(2, jobs.ForRun(withModel).Count + jobs.ForRun(withoutModel).Count);
    }

    private byte[] ZipOf(params (string Name, byte[] Bytes)[] entries)
    {
        string path = Path.Combine(data.Path, $"{Guid.NewGuid():N}.zip");
        ImportFixtures.Zip(path, entries);
        var bytes = File.ReadAllBytes(path);
        File.Delete(path);
        return bytes;
    }

    public async ValueTask DisposeAsync()
    {
        if (provider is not null) await provider.DisposeAsync();
        data.Dispose();
    }
}
